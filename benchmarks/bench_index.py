"""Indexing throughput, peak memory, search latency and CLI start-up time.

Usage:
    python benchmarks/bench_index.py [--scifact PATH/TO/beir-scifact] [--out benchmarks/RESULTS-index.md]

Each corpus is indexed from scratch in a child process (so its peak RSS is its own), then
searched with its questions in each retrieval mode. Figures are printed and written to --out.
Not a test: numbers depend on the machine (recorded with the machine's description).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = r"""
import json, resource, sys, time
from rag import build_index, open_index
corpus, index_dir, questions_file = sys.argv[1], sys.argv[2], sys.argv[3]
t = time.perf_counter()
rep = build_index([corpus], index_dir)
build_s = time.perf_counter() - t
t = time.perf_counter()
again = build_index([corpus], index_dir)
noop_s = time.perf_counter() - t
questions = [json.loads(l)["question" if "question" in l else "text"] for l in open(questions_file, encoding="utf-8") if l.strip()]
lat = {}
with open_index(index_dir) as idx:
    idx.search("warm up", k=5)
    for mode in ("dense", "lexical", "hybrid"):
        xs = []
        for q in questions:
            t = time.perf_counter()
            idx.search(q, k=10, retrieval=mode)
            xs.append((time.perf_counter() - t) * 1000)
        lat[mode] = xs
print(json.dumps({"documents": rep.documents, "chunks": rep.chunks, "build_s": build_s, "noop_s": noop_s,
                  "embed_s": rep.timings.get("chunk_embed_s"), "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "latency_ms": lat, "noop_embedded": again.embedded_chunks}))
"""


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    k = (len(xs) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def bench_corpus(name: str, corpus: Path, questions: Path) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run([sys.executable, "-c", CHILD, str(corpus), str(Path(tmp) / "index"), str(questions)],
                             capture_output=True, text=True, cwd=ROOT, check=True)
    data = json.loads(out.stdout.strip().splitlines()[-1])
    data["name"] = name
    return data


def startup(cmd: list[str], env: dict, runs: int = 3) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run(cmd, capture_output=True, env=env, cwd=ROOT, check=True)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scifact", type=Path, help="a BEIR SciFact folder (corpus.jsonl, queries.jsonl)")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "RESULTS-index.md")
    args = ap.parse_args()

    results = [bench_corpus("seeds (5 articles)", ROOT / "seeds", ROOT / "seeds" / "questions.jsonl")]
    if args.scifact:
        with tempfile.TemporaryDirectory() as tmp:
            corpus = Path(tmp) / "scifact"
            corpus.mkdir()
            os.symlink(args.scifact.resolve() / "corpus.jsonl", corpus / "corpus.jsonl")
            results.append(bench_corpus("BEIR SciFact (5,183 abstracts)", corpus, args.scifact / "queries.jsonl"))

    rag = str(Path(sys.executable).parent / "rag")
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "RAG_INDEX_DIR": str(Path(tmp) / "index"), "RAG_MODELS_DIR": str(Path(tmp) / "models")}
        subprocess.run([rag, "index", "seeds"], capture_output=True, env=env, cwd=ROOT, check=True)
        starts = {
            "rag --help": startup([rag, "--help"], env),
            "rag search (lexical)": startup([rag, "search", "To Lam", "--retrieval", "lexical"], env),
            "rag search (hybrid)": startup([rag, "search", "Who welcomed Putin?"], env),
            "rag ask (extractive)": startup([rag, "ask", "Who welcomed Putin?"], env),
        }

    cpu = platform.processor() or platform.machine()
    lines = [f"# Indexing and search benchmark\n",
             f"Machine: {os.cpu_count()} CPU cores ({cpu}), Python {platform.python_version()}, no GPU. "
             f"Embedder all-MiniLM-L6-v2 on the CPU; exact FAISS inner-product search; SQLite FTS5 BM25.\n",
             f"Run: `python benchmarks/bench_index.py --scifact PATH` on {time.strftime('%Y-%m-%d')}.\n",
             "| corpus | documents | chunks | index build s | chunks/s | re-run (unchanged) s | peak RSS MB |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        lines.append(f"| {r['name']} | {r['documents']} | {r['chunks']} | {r['build_s']:.1f} | "
                     f"{r['chunks'] / r['build_s']:.0f} | {r['noop_s']:.2f} | {r['peak_rss_mb']:.0f} |")
    lines += ["", "Search latency per query (k=10, model loaded, ms):", "",
              "| corpus | mode | p50 | p95 |", "|---|---|---:|---:|"]
    for r in results:
        for mode, xs in r["latency_ms"].items():
            lines.append(f"| {r['name']} | {mode} | {pct(xs, 50):.1f} | {pct(xs, 95):.1f} |")
    lines += ["", "Start-up, whole command, median of 3 runs (seconds):", "", "| command | s |", "|---|---:|"]
    for cmd, s in starts.items():
        lines.append(f"| `{cmd}` | {s:.2f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    args.out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
