"""The store at scale: a synthetic index of N chunks written, updated and searched through the
real code (rag.stores.local's writer and reader, rag.retrieval's fusion).

Usage:
    python benchmarks/bench_scale.py [--chunks 1000000] [--work /tmp] [--out benchmarks/RESULTS-scale.md]

Embedding a million passages is out of reach of a 2-core CPU, so vectors are synthetic and texts
are words drawn from a Zipf distribution. The vectors are clustered (1,000 random unit centres,
each vector a centre plus Gaussian noise, normalized), because real sentence embeddings are:
on uniformly random vectors no approximate index can find neighbours, and its recall would say
nothing about real use. Queries are data vectors plus noise. Lexical queries are the first six
words of a fresh Zipf text, so they mix common and rare words as questions do.

Measured: write throughput of a new index, replacing one document and adding 100 documents (each
a committed, fsynced transaction), opening the index, dense / lexical / hybrid latency (top 100,
p50 / p95 over the queries), ANN recall@10 against exact search over the same vectors, how often
the lexical top 10 equals FTS5's own bm25() top 10 (the ranking the impact file reproduces), disk
size, and the peak memory of a separate search process (open + all queries). The search runs
after the two updates (so over a base, tombstones and a delta), before the optional compaction.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rag.index.chunking import ChunkingParams  # noqa: E402
from rag.retrieval import fuse  # noqa: E402
from rag.stores.local.generations import FTS_TOKENIZER, current_generation
from rag.stores.local.writer import GenerationWriter, IndexLock
from rag.stores.local.reader import IndexReader, query_terms
from rag.types import Chunk, Document  # noqa: E402

DIM = 384
CHUNKS_PER_DOC = 10
WORDS_PER_CHUNK = 60
CENTRES = 1000
NOISE = 0.05     # per-dimension sd of a vector around its centre (cosine to it ~0.7)
QUERY_NOISE = 0.03


class Corpus:
    """Deterministic synthetic documents: Zipf texts and clustered unit vectors."""

    def __init__(self, seed: int = 0, stream: int = 0) -> None:
        """Same `seed`: same vocabulary and centres; `stream` picks an independent draw of texts
        and vectors from them (the search process uses another stream than the writer)."""
        rng = np.random.default_rng(seed)
        letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
        self.vocab = ["".join(rng.choice(letters, size=rng.integers(3, 10))) for _ in range(50_000)]
        c = rng.standard_normal((CENTRES, DIM)).astype(np.float32)
        self.centres = c / np.linalg.norm(c, axis=1, keepdims=True)
        self.rng = rng if stream == 0 else np.random.default_rng([seed, stream])

    def texts(self, n: int) -> list[str]:
        ranks = np.minimum(self.rng.zipf(1.2, size=(n, WORDS_PER_CHUNK)), len(self.vocab)) - 1
        return [" ".join(self.vocab[r] for r in row) for row in ranks]

    def vectors(self, n: int) -> np.ndarray:
        v = self.centres[self.rng.integers(0, CENTRES, n)] + \
            NOISE * self.rng.standard_normal((n, DIM), dtype=np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    def write_docs(self, writer: GenerationWriter, first: int, count: int) -> None:
        for k, d in enumerate(range(first, first + count)):
            if k % 1000 == 0:  # vectors drawn in batches, so the generator's memory stays small
                vecs = self.vectors(min(1000, count - k) * CHUNKS_PER_DOC)
            body = self.texts(CHUNKS_PER_DOC)
            text = "\n\n".join(body)
            doc = Document(id=f"doc{d:07d}.txt", title=f"Document {d}", text=text, source="synthetic",
                           sha256=f"{d:064x}")
            writer.add_document(doc, None)
            chunks, at = [], 0
            for n, t in enumerate(body):
                chunks.append(Chunk(id=f"{doc.id}#{n}", doc_id=doc.id, n=n, text=t, start=at, end=at + len(t)))
                at += len(t) + 2
            j = k % 1000
            writer.add_chunks(doc.title, chunks, vecs[j * CHUNKS_PER_DOC:(j + 1) * CHUNKS_PER_DOC])


def manifest() -> dict:
    return {"embedder": {"name": "synthetic-clustered", "dim": DIM, "max_tokens": 256},
            "chunking": ChunkingParams().as_dict(),
            "lexical": {"engine": "sqlite-fts5", "tokenizer": FTS_TOKENIZER, "weights": [0.5, 0.5, 1.0]},
            "sources": []}


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM: reset by exec, unlike ru_maxrss, which a
    child inherits from its parent). Mapped file pages that were read count too."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def pct(xs: list[float], p: float) -> float:
    return float(np.percentile(np.asarray(xs), p))


def search_phase(index_dir: Path, queries: int, seed: int) -> dict:
    """Runs in its own process so its peak memory is the search process's alone."""
    corpus = Corpus(seed, stream=1)
    gen = current_generation(index_dir)
    raw = np.memmap(next(gen.glob("base-*.f32")), dtype=np.float32, mode="r").reshape(-1, DIM)
    ids = np.fromfile(next(gen.glob("base-*.ids")), dtype=np.int64)
    pick = np.sort(corpus.rng.choice(len(raw), size=queries, replace=False))
    qv = np.asarray(raw[pick]) + QUERY_NOISE * corpus.rng.standard_normal((queries, DIM)).astype(np.float32)
    qv = (qv / np.linalg.norm(qv, axis=1, keepdims=True)).astype(np.float32)
    qt = [" ".join(t.split()[:6]) for t in corpus.texts(queries)]
    del raw

    t = time.perf_counter()
    reader = IndexReader(index_dir)
    _ = reader.vectors
    open_s = time.perf_counter() - t
    lat: dict[str, list[float]] = {"dense": [], "lexical": [], "hybrid": []}
    got10 = []
    for i in range(queries):
        t = time.perf_counter()
        d = reader.dense(qv[i:i + 1], 100)[0]
        lat["dense"].append((time.perf_counter() - t) * 1000)
        got10.append([r for r, _ in d[:10]])
        t = time.perf_counter()
        reader.lexical(qt[i], 100)
        lat["lexical"].append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        d = reader.dense(qv[i:i + 1], 100)[0]
        lx = reader.lexical(qt[i], 100)
        fused = fuse(d, lx)
        reader.chunk_rows([r for r, *_ in fused[:5]])
        lat["hybrid"].append((time.perf_counter() - t) * 1000)
    # The impact file must give FTS5's bm25() ranking (up to the base's average length, which
    # the delta does not change until compaction): top-10 overlap on the first 20 queries, a
    # chunk outside FTS5's top 10 counting as agreeing when FTS5 scores it as its 10th (a tie:
    # Zipf text has hundreds; relative 1e-6 allows for the float32 sums).
    same = []
    weights = reader.manifest["lexical"]["weights"]
    for q in qt[:20]:
        terms = query_terms(q)
        want = dict(reader._lexical_fts(terms, 10)) if terms else {}
        got = reader.lexical(q, 10)
        ok = 0
        for r, _ in got:
            if r not in want:  # FTS5's own score of this chunk
                match = " OR ".join(f'"{t}"' for t in terms)
                fts = reader.conn.execute(
                    "SELECT -bm25(chunks_fts, ?, ?, ?) FROM chunks_fts WHERE chunks_fts MATCH ? AND rowid = ?",
                    (*weights, match, r)).fetchone()
                if fts is None or fts[0] < min(want.values()) * (1 - 1e-6):
                    continue
            ok += 1
        same.append(ok / max(len(want), 1))
    kind, nprobe = reader._base_meta.get("kind"), reader.nprobe
    dead, delta, delta_ids = reader._tombstones, reader._delta, reader._delta_ids
    reader.close()
    peak_mb = peak_rss_mb()

    # Exact top-10 over the same (live, base) vectors, streamed, for recall.
    raw = np.memmap(next(gen.glob("base-*.f32")), dtype=np.float32, mode="r").reshape(-1, DIM)
    best = np.full((queries, 10), -np.inf, np.float32)
    best_ids = np.zeros((queries, 10), np.int64)
    for i in range(0, len(raw), 200_000):
        s = qv @ np.asarray(raw[i:i + 200_000]).T
        s[:, np.isin(ids[i:i + 200_000], dead)] = -np.inf
        both = np.concatenate([best, s], axis=1)
        both_ids = np.concatenate([best_ids, np.broadcast_to(ids[i:i + 200_000], s.shape)], axis=1)
        top = np.argpartition(-both, 9, axis=1)[:, :10]
        best, best_ids = np.take_along_axis(both, top, 1), np.take_along_axis(both_ids, top, 1)
    s = qv @ delta.T  # the live vectors are the base minus tombstones plus the delta
    both = np.concatenate([best, s], axis=1)
    both_ids = np.concatenate([best_ids, np.broadcast_to(delta_ids, s.shape)], axis=1)
    top = np.argpartition(-both, 9, axis=1)[:, :10]
    best, best_ids = np.take_along_axis(both, top, 1), np.take_along_axis(both_ids, top, 1)
    recall = float(np.mean([len(set(g) & set(e)) / 10 for g, e in zip(got10, best_ids)]))
    return {"open_s": open_s, "lat": lat, "peak_mb": peak_mb, "recall_at_10": recall,
            "kind": kind, "nprobe": nprobe, "lexical_vs_fts5": float(np.mean(same))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--chunks", type=int, default=1_000_000)
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--work", type=Path, default=None, help="where the index is built (deleted after)")
    ap.add_argument("--keep", type=Path, default=None, help="build here and keep it (or reuse it if present)")
    ap.add_argument("--compact", action="store_true", help="also time `rag index --compact` after the updates")
    ap.add_argument("--search-only", type=Path, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "RESULTS-scale.md")
    args = ap.parse_args()
    if args.search_only:
        print(json.dumps(search_phase(args.search_only, args.queries, args.seed)))
        return

    corpus = Corpus(args.seed)
    docs = args.chunks // CHUNKS_PER_DOC
    tmp = Path(tempfile.mkdtemp(prefix="rag-scale-", dir=args.work))
    index_dir = args.keep or tmp / "index"
    figures: dict[str, str] = {}
    try:
        if not (index_dir / "CURRENT").exists():
            t = time.perf_counter()
            with IndexLock(index_dir):
                w = GenerationWriter(index_dir, None, DIM)
                corpus.write_docs(w, 0, docs)
                w.commit(manifest())
            build_s = time.perf_counter() - t
            figures["write a new index (s, chunks/s)"] = f"{build_s:.0f} s ({args.chunks / build_s:,.0f} chunks/s)"
            figures["build process peak memory (MB)"] = \
                f"{peak_rss_mb():,.0f}"
        gen = current_generation(index_dir)

        t = time.perf_counter()
        with IndexLock(index_dir):
            w = GenerationWriter(index_dir, gen, DIM)
            w.remove_documents(["doc0000000.txt"])
            corpus.write_docs(w, 0, 1)
            w.commit(manifest())
        figures["replace one document (s)"] = f"{time.perf_counter() - t:.2f}"

        t = time.perf_counter()
        with IndexLock(index_dir):
            w = GenerationWriter(index_dir, gen, DIM)
            corpus.write_docs(w, docs + 1_000_000 + w.counts()["documents"], 100)  # ids not yet used
            w.commit(manifest())
        figures["add 100 documents (s)"] = f"{time.perf_counter() - t:.2f}"
        figures["disk (GB)"] = f"{sum(p.stat().st_size for p in gen.iterdir()) / 1e9:.2f}"

        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        out = subprocess.run([sys.executable, __file__, "--search-only", str(index_dir),
                              "--queries", str(args.queries), "--seed", str(args.seed)],
                             env=env, capture_output=True, text=True, check=True)
        s = json.loads(out.stdout.strip().splitlines()[-1])
        figures["open (s)"] = f"{s['open_s']:.2f}"
        for mode in ("dense", "lexical", "hybrid"):
            xs = s["lat"][mode]
            figures[f"{mode} search p50 / p95 (ms)"] = f"{pct(xs, 50):.1f} / {pct(xs, 95):.1f}"
        figures["ANN recall@10 vs exact"] = f"{s['recall_at_10']:.3f} ({s['kind']}, nprobe {s['nprobe']})"
        figures["search process peak memory (MB)"] = f"{s['peak_mb']:,.0f}"
        figures["lexical top-10 = FTS5 bm25 top-10, ties aside (20 queries)"] = f"{s['lexical_vs_fts5']:.3f}"
        if args.compact:
            from rag.stores.local.compaction import compact_generation

            t = time.perf_counter()
            with IndexLock(index_dir):
                compact_generation(gen, DIM)
            figures["compact (s)"] = f"{time.perf_counter() - t:.0f}"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    print(json.dumps(figures, indent=2))
    record(args.out, args.chunks, figures)


ROWS = ["open (s)", "dense search p50 / p95 (ms)", "lexical search p50 / p95 (ms)",
        "hybrid search p50 / p95 (ms)", "replace one document (s)", "add 100 documents (s)",
        "search process peak memory (MB)", "ANN recall@10 vs exact", "write a new index (s, chunks/s)",
        "build process peak memory (MB)", "disk (GB)", "compact (s)",
        "lexical top-10 = FTS5 bm25 top-10, ties aside (20 queries)"]


def record(path: Path, chunks: int, figures: dict[str, str]) -> None:
    """Add this run as a column of the one table in RESULTS-scale.md (rows stay fixed)."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    start = text.find("<!-- table -->")
    end = text.find("<!-- /table -->")
    columns: list[tuple[str, dict[str, str]]] = []
    if start >= 0 and end > start:
        lines = [ln for ln in text[start:end].splitlines() if ln.startswith("|")]
        heads = [h.strip() for h in lines[0].strip("|").split("|")][1:]
        cells = {ln.strip("|").split("|")[0].strip(): [c.strip() for c in ln.strip("|").split("|")[1:]]
                 for ln in lines[2:]}
        columns = [(h, {r: cells.get(r, [""] * len(heads))[i] for r in cells}) for i, h in enumerate(heads)]
    columns.append((f"{chunks:,} chunks, {time.strftime('%Y-%m-%d')}", figures))
    rows = ROWS + [r for c in columns for r in c[1] if r not in ROWS]
    rows = list(dict.fromkeys(rows))
    table = ["| what | " + " | ".join(h for h, _ in columns) + " |",
             "|---|" + "---|" * len(columns)]
    table += [f"| {r} | " + " | ".join(c.get(r, "") for _, c in columns) + " |" for r in rows]
    block = "<!-- table -->\n" + "\n".join(table) + "\n<!-- /table -->"
    if start >= 0 and end > start:
        text = text[:start] + block + text[end + len("<!-- /table -->"):]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    path.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
