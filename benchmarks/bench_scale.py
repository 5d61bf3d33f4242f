"""The store at scale: a synthetic index of N chunks written and searched through the real code.

Usage:
    python benchmarks/bench_scale.py [--chunks 1000000] [--out benchmarks/RESULTS-scale.md]

Embedding a million passages is out of reach of a 2-core CPU (MiniLM runs at ~20 chunks/s here),
so the vectors are random unit vectors and the texts are words drawn from a Zipf distribution;
everything else — the SQLite chunk table with its FTS5 index, the FAISS file, the atomic
generation switch, an incremental update that replaces one document, and dense / lexical /
hybrid search — is the product's own code.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from rag.chunking import ChunkingParams
from rag.retrieval import fuse
from rag.store import FTS_TOKENIZER, GenerationWriter, IndexLock, IndexReader, current_generation
from rag.types import Chunk, Document

ROOT = Path(__file__).resolve().parent.parent
DIM = 384
CHUNKS_PER_DOC = 10
WORDS_PER_CHUNK = 60


def vocabulary(n: int, rng: np.random.Generator) -> list[str]:
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    return ["".join(rng.choice(letters, size=rng.integers(3, 10))) for _ in range(n)]


def texts(rng: np.random.Generator, vocab: list[str], n: int) -> list[str]:
    ranks = np.minimum(rng.zipf(1.2, size=(n, WORDS_PER_CHUNK)), len(vocab)) - 1
    return [" ".join(vocab[r] for r in row) for row in ranks]


def unit(rng: np.random.Generator, n: int) -> np.ndarray:
    v = rng.standard_normal((n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def write_docs(writer: GenerationWriter, rng: np.random.Generator, vocab: list[str], first: int, count: int) -> None:
    for d in range(first, first + count):
        body = texts(rng, vocab, CHUNKS_PER_DOC)
        text = "\n\n".join(body)
        doc = Document(id=f"doc{d:07d}.txt", title=f"Document {d}", text=text, source="synthetic",
                       sha256=f"{d:064x}")
        writer.add_document(doc, None)
        chunks, at = [], 0
        for n, t in enumerate(body):
            chunks.append(Chunk(id=f"{doc.id}#{n}", doc_id=doc.id, n=n, text=t, start=at, end=at + len(t)))
            at += len(t) + 2
        writer.add_chunks(doc.title, chunks, unit(rng, len(chunks)))


def manifest() -> dict:
    return {"embedder": {"name": "synthetic-random", "dim": DIM, "max_tokens": 256},
            "chunking": ChunkingParams().as_dict(),
            "lexical": {"engine": "sqlite-fts5", "tokenizer": FTS_TOKENIZER, "weights": [0.5, 0.5, 1.0]}}


def pct(xs: list[float], p: float) -> float:
    return float(np.percentile(np.asarray(xs), p))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--chunks", type=int, default=1_000_000)
    ap.add_argument("--queries", type=int, default=50)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "RESULTS-scale.md")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    vocab = vocabulary(50_000, rng)
    docs = args.chunks // CHUNKS_PER_DOC
    tmp = Path(tempfile.mkdtemp(prefix="rag-scale-"))
    index_dir = tmp / "index"
    rows = []
    try:
        t = time.perf_counter()
        with IndexLock(index_dir):
            w = GenerationWriter(index_dir, None, DIM)
            write_docs(w, rng, vocab, 0, docs)
            w.commit(manifest())
        build_s = time.perf_counter() - t
        gen = current_generation(index_dir)
        size = sum(p.stat().st_size for p in gen.iterdir())
        rows.append(("write a new index (SQLite + FTS5 + FAISS, fsync, switch)", f"{build_s:.0f} s "
                     f"({args.chunks / build_s:,.0f} chunks/s), {size / 1e9:.2f} GB on disk"))

        t = time.perf_counter()
        with IndexLock(index_dir):
            w = GenerationWriter(index_dir, current_generation(index_dir), DIM)
            w.remove_documents(["doc0000000.txt"])
            write_docs(w, rng, vocab, 0, 1)
            w.commit(manifest())
        rows.append(("incremental update: replace one document (copy, edit, switch)",
                     f"{time.perf_counter() - t:.1f} s"))

        t = time.perf_counter()
        reader = IndexReader(index_dir)
        _ = reader.vectors
        rows.append(("open the index and load the vectors", f"{time.perf_counter() - t:.1f} s"))

        qv = unit(rng, args.queries)
        qt = texts(rng, vocab, args.queries)
        lat: dict[str, list[float]] = {"dense": [], "lexical": [], "hybrid": []}
        for i in range(args.queries):
            q = " ".join(qt[i].split()[:6])
            t = time.perf_counter()
            d = reader.dense(qv[i:i + 1], 100)[0]
            lat["dense"].append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            lx = reader.lexical(q, 100)
            lat["lexical"].append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            d = reader.dense(qv[i:i + 1], 100)[0]
            lx = reader.lexical(q, 100)
            fused = fuse(d, lx)
            reader.chunk_rows([r for r, *_ in fused[:5]])
            lat["hybrid"].append((time.perf_counter() - t) * 1000)
        for mode, xs in lat.items():
            rows.append((f"{mode} search, top 100 (p50 / p95)", f"{pct(xs, 50):.0f} / {pct(xs, 95):.0f} ms"))
        reader.close()
        rows.append(("peak memory of this process", f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB"))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    lines = [f"# The store at {args.chunks:,} chunks", "",
             f"{os.cpu_count()} CPU cores, no GPU; {docs:,} synthetic documents of {CHUNKS_PER_DOC} chunks, "
             f"{WORDS_PER_CHUNK} words each (Zipf over 50,000 words), random {DIM}-d unit vectors. "
             f"Exact FAISS inner product (IndexIDMap2 over IndexFlatIP), SQLite FTS5 BM25. "
             f"Run on {time.strftime('%Y-%m-%d')} with `python benchmarks/bench_scale.py --chunks {args.chunks}`.", "",
             "| what | figure |", "|---|---|"]
    lines += [f"| {a} | {b} |" for a, b in rows]
    text = "\n".join(lines) + "\n"
    print(text)
    args.out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
