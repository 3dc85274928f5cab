"""Model resolution: the packaged default is assembled and hash-checked; bad references fail clearly."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from graphwright import ModelLoadError, ModelNotFoundError
from graphwright.models import _weights
from graphwright.models import DEFAULT_MODEL, default_gguf_path, resolve


def test_default_gguf_is_assembled_with_the_published_size_and_hash() -> None:
    path = default_gguf_path()
    assert path.stat().st_size == 491_400_064
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 24):
            digest.update(chunk)
    assert digest.hexdigest() == "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
    with path.open("rb") as fh:
        assert fh.read(4) == b"GGUF"


def test_default_model_resolves_to_a_dense_transformers_folder() -> None:
    resolved = resolve(None)
    assert resolved == resolve(DEFAULT_MODEL)
    assert (resolved.folder / "config.json").is_file()
    assert (resolved.folder / "model.safetensors").is_file()
    assert (resolved.folder / "tokenizer.json").is_file()


def written(root: Path) -> list[Path]:
    """The files under `root` but the builders' lock files, which stay, empty, for the next build to take."""
    files = [p for p in root.rglob("*") if p.is_file()]
    assert all(p.stat().st_size == 0 for p in files if p.suffix == ".lock")
    return [p for p in files if p.suffix != ".lock"]


def test_a_damaged_assembly_is_rejected_and_leaves_nothing_behind(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("GRAPHWRIGHT_CACHE", str(tmp_path))
    monkeypatch.setattr(_weights, "_DEFAULT_SHA256", "0" * 64)
    with pytest.raises(ModelLoadError, match="is damaged"):
        default_gguf_path()
    assert written(tmp_path) == []


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda tmp: tmp / "missing.gguf", "not found"),
        (lambda tmp: tmp, "is not a model"),
        (lambda tmp: "Qwen/Qwen2.5-0.5B-Instruct", "hub ids are not downloaded"),
    ],
    ids=["missing-file", "folder-without-model", "hub-id"],
)
def test_bad_model_references_raise_model_not_found(tmp_path: Path, make, message: str) -> None:
    with pytest.raises(ModelNotFoundError, match=message):
        resolve(make(tmp_path))


def test_a_file_that_is_not_gguf_fails_to_convert_and_caches_nothing(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("GRAPHWRIGHT_CACHE", str(tmp_path / "cache"))
    bogus = tmp_path / "bogus.gguf"
    bogus.write_bytes(b"not a gguf file at all")
    with pytest.raises(ModelLoadError, match="could not read GGUF model"):
        resolve(bogus)
    assert written(tmp_path / "cache") == []


_SLOW_CONVERT = """
import os, sys, time
from pathlib import Path
from graphwright.models import _weights

def convert(gguf, out):  # stands in for the GGUF conversion: slow, and leaves a trace of each run
    with open(sys.argv[2], "a") as log:
        log.write(f"{os.getpid()}\\n")
    time.sleep(1.0)
    (out / "config.json").write_text("{}")

_weights._convert = convert
print(_weights.resolve(sys.argv[1]).folder)
"""


def test_concurrent_first_uses_convert_a_model_once(tmp_path: Path, monkeypatch) -> None:
    """Threads of this process and two other processes ask for the same uncached GGUF at once: one of them
    converts it, the others wait and get the same folder (many conversions at once ran a machine out of memory:
    each holds the model several times over)."""
    monkeypatch.setenv("GRAPHWRIGHT_CACHE", str(tmp_path / "cache"))
    gguf, log = tmp_path / "model.gguf", tmp_path / "conversions.log"
    gguf.write_bytes(b"weights")
    script = tmp_path / "convert.py"
    script.write_text(_SLOW_CONVERT)
    others = [subprocess.Popen([sys.executable, str(script), str(gguf), str(log)], stdout=subprocess.PIPE, text=True)
              for _ in range(2)]

    def convert(_gguf: Path, out: Path) -> None:
        with log.open("a") as handle:
            handle.write("this process\n")
        threading.Event().wait(1.0)
        (out / "config.json").write_text("{}")

    monkeypatch.setattr(_weights, "_convert", convert)
    folders: list[Path] = []
    threads = [threading.Thread(target=lambda: folders.append(resolve(gguf).folder)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    printed = [Path(p.communicate(timeout=120)[0].strip()) for p in others]
    assert [p.returncode for p in others] == [0, 0]
    assert len(log.read_text().splitlines()) == 1
    assert len(folders) == 4 and set(folders) | set(printed) == {folders[0]}
    assert (folders[0] / "config.json").is_file()
