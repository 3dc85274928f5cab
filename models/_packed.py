"""The load cache: a model's tensors written once in the layout the kernels read, memory-mapped afterwards.

Loading the default model the long way (parse safetensors, build the modules, quantize every linear layer to
int8, pack it for the kernels) costs seconds of compute on every start. After that first load, `save` writes
every tensor the loaded model holds (packed int8 weights, scales, embeddings, norms, the joined q/k/v weight)
to one file in the cache; `load` builds the model's modules on the meta device (no weight memory) and points
each tensor at its bytes in a read-only memory map of that file: no conversion, quantization or packing, and
the pages are the page cache's, so every process that maps the file on one machine shares them. A stray
in-place write to a weight faults instead of changing the cache.

The file: a fixed header (magic, manifest length, data length, sha256 of the manifest), the manifest (JSON:
the cache key, each storage's offset, size and a sample checksum, each tensor's storage, offset, shape, strides
and dtype), then the data, every storage at a 4096-byte boundary. `load` refuses a file, and the caller
rebuilds it, when the key differs (another graphwright format, torch, Transformers, kernel build, model files
or quantization), the size is not what the header says (a truncated file), the manifest does not hash to the
header's digest (damaged bytes in the header), a tensor's shape is not the one the model's config builds, or a
storage's sample checksum differs. The sample covers a few KiB at each storage's start, middle and end:
hashing all the weights' bytes would cost more than the rest of the load, so damage deep inside a weight that
leaves size and header intact is not detected.
"""

from __future__ import annotations

import hashlib
import json
import mmap
import os
import struct
import tempfile
import warnings
import zlib
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ._filelock import exclusive

FORMAT = "gw-packed-2"
"""Bump when what is written or how modules are rebuilt changes, so older caches are rebuilt."""
MAGIC = b"GWPACK\x00\x01"
_HEADER = struct.Struct("<8sQQ32s")  # magic, manifest bytes, data bytes, sha256 of the manifest
_ALIGN = 4096
_SAMPLE = 4096  # bytes checksummed at a storage's start, middle and end
_DTYPES = {str(d).removeprefix("torch."): d for d in (torch.uint8, torch.int8, torch.bfloat16, torch.float16, torch.float32, torch.int64, torch.int32, torch.bool)}


class StaleCache(Exception):
    """The cache file cannot be used as it is (missing, another version, or damaged); the reason is the message."""


def source_key(folder: Path) -> dict[str, Any]:
    """The identity of a Transformers folder's files: each file's name, size and modification time, so a folder
    saved again (a LoRA-merged model written over an older one) gets a new cache entry."""
    files = sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in folder.iterdir() if p.is_file())
    return {"folder": str(folder.resolve()), "files": files}


def cache_path(root: Path, key: dict[str, Any]) -> Path:
    """Where the cache file for `key` lives under `root`: named by its source folder, then by the whole key."""
    folder = hashlib.sha256(json.dumps(key["source"]["folder"]).encode()).hexdigest()[:12]
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    return root / "packed" / f"{folder}-{digest}.gwpack"


def open_model(folder: Path, *, dtype: str, quantize: str, root: Path) -> tuple[nn.Module, str]:
    """Return the model in Transformers folder `folder` with int8 layers (`quantize`, see `LocalModel.load`) and
    its fast path, and where its weights came from: `"mapped"` from the cache under `root`, or `"built"` from
    the folder (then written to the cache for the next load; a cache that cannot be written is skipped).

    Mapped from the cache, the model is graphwright's own decoder (`models/_qwen2.py`) where that computes it
    (`read_config`), so that a load from the cache never imports Transformers; else Transformers' model. The
    first load builds Transformers' model from the folder's weights and writes the cache from it, then maps
    what it wrote, so that the first load and later ones run the same decoder; both decoders give the same
    logits (tests/models/test_qwen2.py). One process builds a folder's cache at a time; the others wait and
    then map what it wrote (`models/_filelock.py`).

    Raises:
        ModelLoadError: the folder could not be loaded as a causal LM.
    """
    from ._qwen2 import read_config

    key = cache_key(folder, dtype=dtype, quantize=quantize)
    path = cache_path(root, key)
    config = read_config(folder)
    try:
        return _mapped(folder, dtype, quantize, config, path, key), "mapped"
    except StaleCache:
        pass
    with exclusive(path.with_name(path.name.split("-")[0] + ".lock")):  # one builder per folder at a time
        try:  # another process may have written it while this one waited
            return _mapped(folder, dtype, quantize, config, path, key), "mapped"
        except StaleCache:
            pass
        return _build(folder, dtype, quantize, config, path, key)


def _build(folder: Path, dtype: str, quantize: str, config: Any, path: Path, key: dict[str, Any]) -> tuple[nn.Module, str]:
    """Build the model from `folder` the long way, write the cache at `path`, and map what was written."""
    model = read_model(folder, dtype, quantize)
    try:
        save(model, path, key)
    except OSError:
        return model, "built"  # a read-only or full cache: this load worked, the next one builds again
    for older in path.parent.glob(path.name.split("-")[0] + "-*.gwpack"):
        if older != path:  # the same folder under an older key (files saved again, another version)
            older.unlink(missing_ok=True)
    if config is not None:  # every load of a folder then runs the same decoder, the first one too
        try:
            return _mapped(folder, dtype, quantize, config, path, key), "built"
        except StaleCache:
            pass
    return model, "built"


def _mapped(folder: Path, dtype: str, quantize: str, config: Any, path: Path, key: dict[str, Any]) -> nn.Module:
    """The model's modules (graphwright's decoder for a `config`, else Transformers') with their tensors mapped
    from the cache file at `path`, and the fast path.

    Raises:
        StaleCache: the file cannot be used (see `load`).
    """
    model = _skeleton(folder, dtype, quantize, config)
    load(path, key, model)
    _finish(model)
    return model


def cache_key(folder: Path, *, dtype: str, quantize: str) -> dict[str, Any]:
    """Everything the cached bytes depend on: this format, the model's files, the weight modes, torch and
    Transformers (module layout), the kernels' build (`avx512` or `avx2`, with its source, flags and compiler)
    and the packed weights' layout, so that a cache written by one build or machine kind is rebuilt, never
    mapped, by another."""
    from importlib.metadata import version

    from ._native import LAYOUT, library_name

    library = library_name()
    return {
        "format": FORMAT,
        "source": source_key(folder),
        "dtype": dtype,
        "quantize": quantize,
        "torch": torch.__version__,
        "transformers": version("transformers"),  # its model code wrote the cache; not imported to say so
        "kernels": library,
        "layout": LAYOUT if library else None,  # None: torch's int8 [out, in] weights, no packing
    }


def _skeleton(folder: Path, dtype: str, quantize: str, config: Any = None) -> nn.Module:
    """The model's modules, int8 layers included, on the meta device: shapes and dtypes, no weights; graphwright's
    decoder for a `config` (`models/_qwen2.py`), else Transformers' model for the folder's config."""
    from ._quant import quantize_int8

    if config is not None:
        from ._qwen2 import build

        model = build(folder, config, getattr(torch, dtype))
    else:
        model = _transformers_skeleton(folder, dtype)
    quantize_int8(model, keep_dense=quantize == "int8")
    return model


def _transformers_skeleton(folder: Path, dtype: str) -> nn.Module:
    from transformers import AutoConfig, AutoModelForCausalLM, GenerationConfig

    try:
        config = AutoConfig.from_pretrained(folder, local_files_only=True)
        with torch.device("meta"):
            model = AutoModelForCausalLM.from_config(config, dtype=getattr(torch, dtype))
        if (folder / "generation_config.json").is_file():
            model.generation_config = GenerationConfig.from_pretrained(folder, local_files_only=True)
    except Exception as exc:  # transformers raises many types; the long way reports the folder's problem
        raise StaleCache(f"the model's modules cannot be built from its config: {exc}") from exc
    model.eval()
    return model


def read_model(folder: Path, dtype: str, quantize: str | None) -> nn.Module:
    """The long way, without the cache: the folder's weights in `dtype`, quantized as `quantize` says, with
    graphwright's attention and fast path.

    Raises:
        ModelLoadError: the folder could not be loaded as a causal LM.
    """
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as hf_logging

    from ..errors import ModelLoadError
    from ._quant import quantize_int8

    hf_logging.disable_progress_bar()
    try:
        model = AutoModelForCausalLM.from_pretrained(folder, dtype=getattr(torch, dtype), local_files_only=True)
    except Exception as exc:  # transformers raises many types for a bad folder
        raise ModelLoadError(f"could not load model from {str(folder)!r}: {exc}") from exc
    model.eval()
    if quantize is not None:
        quantize_int8(model, keep_dense=quantize == "int8")
    _finish(model)
    return model


def _finish(model: nn.Module) -> None:
    from ._fastpath import use_fast_layers
    from ._qwen2 import Qwen2ForCausalLM

    if not isinstance(model, Qwen2ForCausalLM):  # graphwright's decoder calls this attention itself
        from ._attention import use_attention

        use_attention(model)
    use_fast_layers(model)


def save(model: nn.Module, path: Path, key: dict[str, Any]) -> Path:
    """Write every parameter and buffer of `model` (a loaded, quantized model) to `path` under `key`.

    Tensors that share memory (views of one joined weight, a tied embedding) share it in the file too. The file
    is written under a temporary name and renamed into place, so a kill leaves no half-written cache.
    """
    storages: dict[int, dict[str, Any]] = {}
    tensors = []
    for name, tensor in _named_tensors(model):
        if tensor.device.type != "cpu":
            raise ValueError(f"cannot cache {name} on {tensor.device}")
        storage = tensor.untyped_storage()
        size = tensor.element_size()
        start = tensor.storage_offset() * size
        end = start + (1 + sum((n - 1) * s for n, s in zip(tensor.shape, tensor.stride())) if tensor.numel() else 0) * size
        entry = storages.setdefault(storage.data_ptr(), {"storage": storage, "lo": start, "hi": end, "index": len(storages)})
        entry["lo"], entry["hi"] = min(entry["lo"], start), max(entry["hi"], end)
        tensors.append((name, storage.data_ptr(), start, tensor))
    ordered = sorted(storages.values(), key=lambda e: e["index"])
    offset, table = 0, []
    for entry in ordered:
        entry["lo"] -= entry["lo"] % 64  # keep every dtype's alignment
        entry["offset"] = offset
        data = _bytes_of(entry["storage"])[entry["lo"] : entry["hi"]]
        table.append({"offset": offset, "bytes": entry["hi"] - entry["lo"], "sample": _sample(data)})
        offset += _aligned(entry["hi"] - entry["lo"])
    rows = [
        {
            "name": name,
            "storage": storages[ptr]["index"],
            "offset": start - storages[ptr]["lo"],
            "shape": list(t.shape),
            "stride": list(t.stride()),
            "dtype": str(t.dtype).removeprefix("torch."),
        }
        for name, ptr, start, t in tensors
    ]
    manifest = json.dumps({"key": key, "storages": table, "tensors": rows}, sort_keys=True).encode()
    header = _HEADER.pack(MAGIC, len(manifest), offset, hashlib.sha256(manifest).digest())
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".write-")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(header)
            out.write(manifest)
            out.write(b"\0" * (_aligned(out.tell()) - out.tell()))
            for entry, row in zip(ordered, table):
                data = _bytes_of(entry["storage"])[entry["lo"] : entry["hi"]]
                out.write(memoryview(data.numpy()))
                out.write(b"\0" * (_aligned(row["bytes"]) - row["bytes"]))
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load(path: Path, key: dict[str, Any], skeleton: nn.Module) -> None:
    """Point every parameter and buffer of `skeleton` (the model's modules, built on the meta device) at its
    bytes in a read-only memory map of `path`, after checking the file (see the module's docstring).

    Raises:
        StaleCache: the file is missing, was written under another key, or is damaged.
    """
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        raise StaleCache("no cache file yet") from None
    except OSError as exc:
        raise StaleCache(f"cannot open the cache file: {exc}") from exc
    try:
        size = os.fstat(fd).st_size
        head = os.pread(fd, _HEADER.size, 0)
        if len(head) < _HEADER.size:
            raise StaleCache(f"the file is {size} bytes, shorter than its header")
        magic, manifest_bytes, data_bytes, digest = _HEADER.unpack(head)
        if magic != MAGIC:
            raise StaleCache("the file does not start with the cache's magic bytes")
        data_start = _aligned(_HEADER.size + manifest_bytes)
        if size != data_start + data_bytes:
            raise StaleCache(f"the file is {size} bytes; its header says {data_start + data_bytes}")
        raw = os.pread(fd, manifest_bytes, _HEADER.size)
        if hashlib.sha256(raw).digest() != digest:
            raise StaleCache("the manifest does not match its checksum")
        manifest = json.loads(raw)
        if manifest["key"] != json.loads(json.dumps(key)):
            raise StaleCache("the file was written for another version or model")
        mapped = mmap.mmap(fd, size, flags=mmap.MAP_SHARED, prot=mmap.PROT_READ)
    finally:
        os.close(fd)
    mapped.madvise(mmap.MADV_WILLNEED)
    with warnings.catch_warnings():  # a read-only buffer: torch warns that writes would fail, which is the point
        warnings.simplefilter("ignore")
        whole = torch.frombuffer(mapped, dtype=torch.uint8)
    regions = []
    for entry in manifest["storages"]:
        region = whole[data_start + entry["offset"] : data_start + entry["offset"] + entry["bytes"]]
        if _sample(region) != entry["sample"]:
            raise StaleCache("a weight's bytes do not match their checksum")
        regions.append(region)
    expected = dict(_named_tensors(skeleton))
    if set(expected) != {row["name"] for row in manifest["tensors"]}:
        raise StaleCache("the cached tensors are not the ones this model has")
    views: dict[str, torch.Tensor] = {}
    for row in manifest["tensors"]:
        dtype = _DTYPES.get(row["dtype"])
        want = expected[row["name"]]
        if dtype is None or dtype != want.dtype or row["shape"] != list(want.shape):
            raise StaleCache(f"{row['name']} is {row['dtype']} {row['shape']}; the model has {want.dtype} {list(want.shape)}")
        region = regions[row["storage"]]
        item = torch.empty((), dtype=dtype).element_size()
        span = 1 + sum((n - 1) * s for n, s in zip(row["shape"], row["stride"])) if 0 not in row["shape"] else 0
        if row["offset"] % item or row["offset"] + span * item > region.numel() or min(row["stride"], default=0) < 0:
            raise StaleCache(f"{row['name']} lies outside its stored bytes")
        typed = region[: region.numel() - region.numel() % item].view(dtype)
        views[row["name"]] = typed.as_strided(row["shape"], row["stride"], typed.storage_offset() + row["offset"] // item)
    for name, tensor in views.items():
        _assign(skeleton, name, tensor)


def _named_tensors(model: nn.Module) -> list[tuple[str, torch.Tensor]]:
    named = list(model.named_parameters(remove_duplicate=False)) + list(model.named_buffers(remove_duplicate=False))
    return [(name, tensor) for name, tensor in named if tensor is not None]


def _assign(model: nn.Module, name: str, tensor: torch.Tensor) -> None:
    owner_name, _, attr = name.rpartition(".")
    owner = model.get_submodule(owner_name)
    if attr in owner._parameters:
        owner._parameters[attr] = nn.Parameter(tensor, requires_grad=False)
    else:
        owner._buffers[attr] = tensor


def _bytes_of(storage: Any) -> torch.Tensor:
    return torch.empty(0, dtype=torch.uint8).set_(storage)


def _sample(data: torch.Tensor) -> int:
    n = data.numel()
    middle = max(0, n // 2 - _SAMPLE // 2)
    crc = zlib.crc32(struct.pack("<Q", n))
    for start in sorted({0, middle, max(0, n - _SAMPLE)}):
        crc = zlib.crc32(memoryview(data[start : start + _SAMPLE].numpy()), crc)
    return crc


def _aligned(n: int) -> int:
    return -(-n // _ALIGN) * _ALIGN
