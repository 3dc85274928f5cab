"""Model kernels in C (`models/native.c`), compiled on first use and called through ctypes.

torch's own weight-only int8 kernel (`_weight_int8pack_mm`) converts every weight to float before its
multiply-add, which makes it compute-bound on a CPU: it reads weights well below the memory's speed, though
reading them is all a decode step should cost. `gw_int8_linear` quantizes the activations too (blocks of 128,
as llama.cpp does) and does the dot products on integer instructions over weights packed for them
(`Kernels.pack`): one weight load serves every row of a call, and for prompts the integer products beat a
bf16 matmul as well, so prompts use it too. Where the CPU has AMX-INT8, products of 16 rows and more run on
its tile unit, with bit-identical results (`Kernels.use_amx`; `GRAPHWRIGHT_AMX=0` turns it off). The other
kernels make a decoder layer a handful of calls (`models/_fastpath.py`) and pick greedy tokens under a
grammar. Timings per machine are in bench/README.md.

`native.c` builds two ways (`BUILDS`), and the first whose instructions the CPU has is the one compiled:
`avx512` (AVX-512 F/BW/VL/VNNI, and AMX where there is AMX) and `avx2` (AVX2 + FMA, for the many x86 CPUs
without AVX-512). Both take the same packed weights (`LAYOUT`) and the same int8 activations, and their
integer sums are exact; the AVX2 build's are signed, so its float sums carry no 128 * sum(x) term to take off,
and a result can differ from the other build's in the last bit of a bf16 value now and then.
`GRAPHWRIGHT_NATIVE=avx2` picks the AVX2 build on a CPU that has both (to test it there).

The kernels are compiled with the machine's `gcc` into `cache_dir()/native/` (a short build, once per build,
source, flags and compiler) and linked against torch's own libgomp, so they share torch's OpenMP workers
(`torch.get_num_threads()` of them). Where they cannot run (neither build's instructions, no gcc,
`GRAPHWRIGHT_NATIVE=0`), `kernel()` returns None, `unavailable_reason()` says why, and callers use torch's
kernels.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ._weights import cache_dir

SOURCE = Path(__file__).with_name("native.c")
BUILDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "avx512": (("avx512f", "avx512bw", "avx512vl", "avx512_vnni"), ("-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512vnni", "-mfma")),
    "avx2": (("avx2", "fma"), ("-mavx2", "-mfma")),
}
"""Each build of `native.c`, in order of preference: the CPU flags (as /proc/cpuinfo names them) it needs, and
its compiler flags."""
STRIP = 16
"""Output channels per strip of a packed weight (`Kernels.pack`)."""
LAYOUT = "strips16x4-u8+128"
"""The packed weights' layout (`Kernels.pack`), the same in every build: part of a load cache's key."""
_FLAGS = ["-O3", "-shared", "-fPIC", "-fopenmp"]

_lock = threading.Lock()
_state: dict[str, object] = {}


class Kernels:
    """The loaded kernels: `pack`, `linear` and `silu_mul` (packed int8 weights, bf16 activations), `rmsnorm`,
    `rotary`, `attention` and `argmax`; `build` names the build (`BUILDS`), `amx` says whether prompts' products
    run on AMX tiles (`use_amx`)."""

    def __init__(self, library: ctypes.CDLL) -> None:
        p, i, f, l = ctypes.c_void_p, ctypes.c_int, ctypes.c_float, ctypes.c_long
        self.build = str(_function(library.gw_build, [], ctypes.c_char_p)().decode())
        self._pack = _function(library.gw_pack, [p, i, i, p], None)
        self._call = _function(library.gw_int8_linear, [p, i, i, p, p, p, i, p, p, i], ctypes.c_int)
        self._silu_mul = _function(library.gw_int8_silu_mul, [p, i, i, p, p, p, p, i, p, i], ctypes.c_int)
        self._rmsnorm = _function(library.gw_rmsnorm, [p, i, i, p, f, p], None)
        self._rotary = _function(library.gw_rotary, [p, i, i, i, l, p, p], None)
        self._attend = _function(library.gw_attention, [p, p, p, l, l, l, p, i, i, i, i, i, i, f, p, i], ctypes.c_int)
        self._argmax = _function(library.gw_argmax, [p, l, p], l)
        self._amx = _function(library.gw_amx, [i], i)
        self.block = int(library.gw_block())
        self.max_rows = int(library.gw_max_rows())
        self.use_amx(os.environ.get("GRAPHWRIGHT_AMX", "1") != "0")

    def use_amx(self, on: bool) -> bool:
        """Run prompts' products (16 rows and more) on the CPU's AMX tile unit when `on` and the CPU and the OS
        allow it (the `avx512` build only), on vector instructions otherwise; returns whether AMX is now used.
        Both give bit-identical results; AMX is faster (see `models/native.c`). `GRAPHWRIGHT_AMX=0` starts with
        it off."""
        self.amx = bool(self._amx(int(on)))
        return self.amx

    def fits(self, in_features: int, out_features: int) -> bool:
        """True when a layer of that shape can run here: a whole number of activation blocks (`block`) in, a whole
        number of strips (16 channels) out."""
        return in_features % self.block == 0 and out_features % STRIP == 0

    def pack(self, weight: torch.Tensor) -> torch.Tensor:
        """Return int8 `weight` [out, in] in the kernels' layout: uint8 [out / 16, in * 16], strips of 16 output
        channels, each group of 4 inputs one 64-byte vector, every weight stored as w + 128. Rows [a, b) of the
        result are channels [16a, 16b): slices of it are packed weights too.

        Raises:
            ValueError: the shape does not fit (see `fits`) or `weight` is not int8.
        """
        out, inputs = weight.shape
        if weight.dtype != torch.int8 or not self.fits(inputs, out):
            raise ValueError(f"cannot pack a {weight.dtype} [{out}, {inputs}] weight: needs int8, in % {self.block} == 0, out % {STRIP} == 0")
        if weight.is_meta:  # a model's modules built without weights (`models/_packed.py` fills them)
            return torch.empty(out // STRIP, inputs * STRIP, dtype=torch.uint8, device="meta")
        weight = weight.contiguous()
        packed = torch.empty(out // STRIP, inputs * STRIP, dtype=torch.uint8)
        self._pack(weight.data_ptr(), out, inputs, packed.data_ptr())
        return packed

    def linear(
        self,
        x: torch.Tensor,
        weight: torch.Tensor,
        scale: torch.Tensor,
        bias: torch.Tensor | None,
        residual: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Return `x @ (W * scale[:, None]).T + bias + residual` as bf16 [rows, out] for `x` bf16 [rows, in]
        (at most `max_rows`), `weight` = `pack(W)`, `scale` float32 [out], `bias` bf16 [out] or None, `residual`
        bf16 [rows, out] or None (added after the product is rounded to bf16).

        Example:
            >>> k = kernel()
            >>> w = torch.full((16, 128), 3, dtype=torch.int8)
            >>> x = torch.ones(1, 128, dtype=torch.bfloat16)
            >>> k is None or k.linear(x, k.pack(w), torch.full((16,), 0.5), None)[0, :3].tolist() == [192.0, 192.0, 192.0]
            True
        """
        x = x.contiguous()
        rows, out = x.shape[0], weight.shape[0] * STRIP
        y = torch.empty(rows, out, dtype=torch.bfloat16)
        if residual is not None:
            residual = residual.reshape(rows, out).contiguous()
        status = self._call(x.data_ptr(), rows, x.shape[1], weight.data_ptr(), scale.data_ptr(), _ptr(bias), out,
                            _ptr(residual), y.data_ptr(), torch.get_num_threads())
        if status != 0:
            raise MemoryError(f"int8 kernel failed for a [{rows}, {x.shape[1]}] x [{out}, {x.shape[1]}] product")
        return y

    def silu_mul(
        self, x: torch.Tensor, gate: torch.Tensor, gate_scale: torch.Tensor, up: torch.Tensor, up_scale: torch.Tensor
    ) -> torch.Tensor:
        """Return `silu(x @ G.T) * (x @ U.T)` as bf16 [rows, out] (a gated MLP's first half) for int8 `gate` and
        `up` (both packed by `pack`) with float32 scales [out]; each product is rounded to bf16 before they meet,
        as the bf16 model rounds them."""
        x = x.contiguous()
        rows, out = x.shape[0], gate.shape[0] * STRIP
        y = torch.empty(rows, out, dtype=torch.bfloat16)
        status = self._silu_mul(x.data_ptr(), rows, x.shape[1], gate.data_ptr(), gate_scale.data_ptr(), up.data_ptr(),
                                up_scale.data_ptr(), out, y.data_ptr(), torch.get_num_threads())
        if status != 0:
            raise MemoryError(f"int8 kernel failed for a [{rows}, {x.shape[1]}] x [{out}, {x.shape[1]}] gated product")
        return y

    def rmsnorm(self, x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
        """Return Llama/Qwen2's RMS norm of bf16 rows `x` [rows, n]: `weight * bf16(x / sqrt(mean(x^2) + eps))`.

        Raises:
            ValueError: n is not a multiple of 16 (a layer the int8 kernels fit always has it).
        """
        if x.shape[-1] % 16:
            raise ValueError(f"rmsnorm takes rows of a multiple of 16 values, got {x.shape[-1]}")
        x = x.contiguous()
        y = torch.empty_like(x)
        self._rmsnorm(x.data_ptr(), x.shape[0], x.shape[1], weight.data_ptr(), eps, y.data_ptr())
        return y

    def rotary(self, x: torch.Tensor, heads: int, dim: int, cos: torch.Tensor, sin: torch.Tensor) -> None:
        """Rotate, in place, the first `heads` heads of size `dim` in each row of bf16 `x` [rows, >= heads * dim]
        (last dimension contiguous) by bf16 `cos`/`sin` [rows, dim] (Transformers' `rotate_half` convention)."""
        cos, sin = cos.reshape(-1, dim).contiguous(), sin.reshape(-1, dim).contiguous()
        self._rotary(x.data_ptr(), x.shape[0], heads, dim, x.stride(0), cos.data_ptr(), sin.data_ptr())

    def attention(
        self,
        query: torch.Tensor,
        key: torch.Tensor,
        value: torch.Tensor,
        mask: torch.Tensor | None,
        scale: float,
        per_sequence: int = 1,
    ) -> torch.Tensor | None:
        """Return softmax(q K^T * scale) V as bf16 [R, H, D] for `query` [R, H, D]: R query rows, `per_sequence`
        of them for each sequence (row r belongs to sequence r // per_sequence: 1 for a decode step, the new
        positions for a short prompt), `key`/`value` [B, KV, L, D] (bf16, last dimension contiguous, same
        strides), `mask` [R, L] bool (True: attend; causality is the mask's) or None; query heads h share
        key/value head h // (H / KV). None when the shapes do not fit the kernel (head size not a multiple of 16
        or over 256): the caller computes it another way.

        Example:
            >>> k = kernel()
            >>> q, kv = torch.ones(1, 2, 16, dtype=torch.bfloat16), torch.arange(48.0).reshape(1, 1, 3, 16)
            >>> k is None or k.attention(q, kv.bfloat16(), kv.bfloat16(), torch.tensor([[1, 0, 0]]).bool(), 0.1)[0, 1, :3].tolist() == [0.0, 1.0, 2.0]
            True
        """
        rows, heads, dim = query.shape
        kv_heads, length = key.shape[1], key.shape[2]
        if dim % 16 or dim > 256 or key.stride() != value.stride() or key.stride(-1) != 1 or heads % kv_heads:
            return None
        if rows != key.shape[0] * per_sequence:
            raise ValueError(f"{rows} query rows for {key.shape[0]} sequences of {per_sequence} queries each")
        query = query.contiguous()
        if mask is not None:
            mask = mask.reshape(rows, length).to(torch.uint8).contiguous()
        out = torch.empty(rows, heads, dim, dtype=torch.bfloat16)
        status = self._attend(query.data_ptr(), key.data_ptr(), value.data_ptr(), key.stride(0), key.stride(1),
                              key.stride(2), _ptr(mask), rows, per_sequence, heads, kv_heads, length, dim, scale,
                              out.data_ptr(), torch.get_num_threads())
        if status != 0:
            raise MemoryError(f"attention failed for {rows} queries against {length} positions")
        return out


    def argmax(self, logits: torch.Tensor, allowed: Any = None) -> int | None:
        """Return the index of the largest of bf16 `logits` [vocab] among the tokens `allowed` (a uint32 numpy
        bitmask, token t in bit t % 32 of word t // 32, as llguidance computes it; None: all) (the first on
        ties, as `torch.argmax`), or None when no allowed logit is above -inf.

        Example:
            >>> import numpy as np
            >>> k = kernel()
            >>> logits = torch.tensor([1.0, 5.0, 3.0, 5.0] * 5, dtype=torch.bfloat16)
            >>> k is None or (k.argmax(logits), k.argmax(logits, np.array([0b101 << 16], dtype=np.uint32))) == (1, 18)
            True
        """
        if logits.dtype != torch.bfloat16 or logits.dim() != 1:
            raise ValueError(f"argmax takes one bf16 row, got {logits.dtype} {tuple(logits.shape)}")
        logits = logits.contiguous()
        if allowed is not None:
            allowed = np.ascontiguousarray(allowed, dtype=np.uint32)
            if len(allowed) * 32 < logits.shape[0]:
                raise ValueError(f"a bitmask of {len(allowed) * 32} tokens for {logits.shape[0]} logits")
        found = self._argmax(logits.data_ptr(), logits.shape[0], None if allowed is None else allowed.ctypes.data)
        return None if found < 0 else int(found)


def _function(function: Any, arguments: list[Any], result: Any) -> Any:
    function.argtypes, function.restype = arguments, result
    return function


def _ptr(tensor: torch.Tensor | None) -> int | None:
    return None if tensor is None else tensor.data_ptr()


def kernel() -> Kernels | None:
    """Return the compiled kernels, building them on first use; None when they cannot run on this machine."""
    with _lock:
        if "kernel" not in _state:
            try:
                library = _build()
                _state["kernel"] = Kernels(ctypes.CDLL(str(library)))
                _state["reason"], _state["library"] = None, library.name
            except _Unavailable as exc:
                _state["kernel"], _state["reason"] = None, str(exc)
            except OSError as exc:  # a library that does not load (say, a damaged cache file)
                _state["kernel"], _state["reason"] = None, f"the built kernels do not load: {exc}"
        return _state["kernel"]  # type: ignore[return-value]


def library_name() -> str | None:
    """The file name of the loaded kernels' library (`native-<build>-<digest of source, flags and compiler>.so`),
    or None without them: with `LAYOUT`, what a cache of packed weights is keyed on."""
    return _state.get("library") if kernel() is not None else None  # type: ignore[return-value]


def unavailable_reason() -> str | None:
    """Why `kernel()` is None, or None when the kernels run."""
    kernel()
    return _state["reason"]  # type: ignore[return-value]


class _Unavailable(Exception):
    pass


def _choose() -> tuple[str, list[str]]:
    """The build to compile here and its compiler flags: the first of `BUILDS` the CPU runs, or the one
    `GRAPHWRIGHT_NATIVE` names."""
    wanted = os.environ.get("GRAPHWRIGHT_NATIVE", "1")
    if wanted == "0":
        raise _Unavailable("turned off by GRAPHWRIGHT_NATIVE=0")
    if wanted not in ("1", *BUILDS):
        raise _Unavailable(f"GRAPHWRIGHT_NATIVE={wanted} names no build: 0, 1 or one of {', '.join(BUILDS)}")
    flags, lacking = _cpu_flags(), []
    for name, (needs, options) in BUILDS.items():
        if wanted not in ("1", name):
            continue
        missing = [flag for flag in needs if flag not in flags]
        if not missing:
            return name, [*_FLAGS, *options]
        lacking.append(f"{', '.join(missing)} ({name})")
    raise _Unavailable(f"this CPU lacks {' and '.join(lacking)}")


def _build() -> Path:
    build, options = _choose()
    try:
        version = subprocess.run(["gcc", "-dumpfullversion"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        raise _Unavailable(f"no working gcc to build the kernel ({exc})") from exc
    if not SOURCE.exists():
        raise _Unavailable(f"the kernel source {SOURCE} is missing")
    torch_lib = Path(torch.__file__).parent / "lib"
    digest = hashlib.sha256(SOURCE.read_bytes() + " ".join(options).encode() + version.encode() + str(torch_lib).encode())
    target = cache_dir() / "native" / f"native-{build}-{digest.hexdigest()[:16]}.so"
    if target.exists():
        return target
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        return _compile(target, torch_lib, options)
    except OSError as exc:
        raise _Unavailable(f"could not build the kernels into {target.parent}: {exc}") from exc


def _compile(target: Path, torch_lib: Path, options: list[str]) -> Path:
    with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
        built = Path(scratch) / target.name
        # -rpath: the libgomp.so.1 found is torch's (already loaded under that name once torch is imported).
        command = ["gcc", *options, str(SOURCE), "-lm", "-o", str(built), f"-Wl,-rpath,{torch_lib}"]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            raise _Unavailable(f"gcc could not build {SOURCE.name}: {done.stderr.strip()[-500:]}")
        os.replace(built, target)  # atomic: a concurrent build or a kill leaves no half-written library
    return target


def _cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()
