"""Model resolution: the packaged default is assembled and hash-checked; bad references fail clearly."""

from __future__ import annotations

import hashlib
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


def test_a_damaged_assembly_is_rejected_and_leaves_nothing_behind(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("GRAPHWRIGHT_CACHE", str(tmp_path))
    monkeypatch.setattr(_weights, "_DEFAULT_SHA256", "0" * 64)
    with pytest.raises(ModelLoadError, match="is damaged"):
        default_gguf_path()
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


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
    leftovers = [p for p in (tmp_path / "cache").rglob("*") if p.is_file()]
    assert leftovers == []
