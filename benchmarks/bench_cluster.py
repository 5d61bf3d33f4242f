"""Milvus store and Ray embedding against the local store and the single-process embedder.

    python benchmarks/bench_cluster.py BEIR_FOLDER --work DIR [--port 19540] [--ray] [--retrievals hybrid,dense,lexical]
    python benchmarks/bench_cluster.py BEIR_FOLDER --work DIR --throughput 2048 [--rounds 3] [--workers 2]

Store mode, on a BEIR dataset (chunked the project's way, exactly as `rag eval` does: this is
`rag.evaluation.run_beir` on both stores):
1. start a milvus-lite server on 127.0.0.1 (stopped at the end) and run `run_beir` with
   `store=milvus://127.0.0.1:PORT/bench` (= `rag eval BEIR_FOLDER --store ...`), embedding in
   this process, or on a local Ray cluster with `--ray`;
2. run `run_beir` on the local store (= `rag eval BEIR_FOLDER --index-dir DIR/local`);
3. for each retrieval mode, the two stores' nDCG@10, Recall@100, MRR@10 and search latency
   (one query at a time, first 100 queries), measured alternately in the same run.
Both stores are incremental: a second run on the same DIR embeds nothing and measures again.

Throughput mode: passages per second embedding the first N SciFact passages with the default
embedder (the onnx-int8 backend), single process (ONNX Runtime on every core) vs a local Ray
cluster of W one-CPU actors (one ONNX thread each), alternated `--rounds` times.

Prints a JSON summary and writes it to DIR. Figures are from one run on a shared machine:
compare numbers of the same run only, and note the load average printed with them.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rag.evaluation import run_beir  # noqa: E402
from rag.evaluation.datasets import load_beir  # noqa: E402


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _row(res) -> dict:  # noqa: ANN001 - a RunResult
    m = res.metrics
    return {"ndcg_at_10": round(m["ndcg_at_10"], 4), "recall_at_100": round(m["recall_at_100"], 4),
            "mrr_at_10": round(m["mrr_at_10"], 4), "search_ms_p50": round(m["search_ms_p50"], 1),
            "search_ms_p95": round(m["search_ms_p95"], 1), "queries": res.counts["queries"],
            "chunks": res.counts["chunks"], "index_written": res.settings["index_written"],
            "embedded_chunks": res.settings.get("embedded_chunks"), "index_s": m["index_s"],
            "load_avg_after": _load()}


def stores(args: argparse.Namespace) -> dict:
    from rag.stores.milvus_server import LiteServer

    out: dict = {"dataset": args.beir.name, "split": args.split, "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                 "load_avg_start": _load(), "ray": args.ray}

    def log(msg: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)

    common = dict(split=args.split, k=100, latency_sample=args.latency_sample, runs_root=args.work / "runs")
    with LiteServer(args.work / "milvus-data", port=args.port) as server:
        url = server.url("bench")
        if args.ray:  # build (or update) the store with passages embedded on Ray, scoring one query
            from rag.config import DEFAULT_EMBEDDER
            from rag.index.distributed import RayEmbedder

            t = time.perf_counter()
            with RayEmbedder(DEFAULT_EMBEDDER, "local", local_cpus=args.workers) as remote:
                out["ray_start_s"] = round(time.perf_counter() - t, 1)
                out["ray_workers"] = remote.workers
                res = run_beir(args.beir, index_root=args.work / "milvus-corpus", store=url, embedder=remote,
                               **{**common, "limit": 1, "latency_sample": 0})
                out["ray_build"] = {"seconds": res.metrics["index_s"], "chunks": res.counts["chunks"],
                                    "embedded_chunks": res.settings.get("embedded_chunks"),
                                    "restarted_workers": remote.restarted_workers}
            log(f"ray build: {out['ray_build']}")
        for retrieval in args.retrievals:  # the two stores alternately, each searched the same way
            res = run_beir(args.beir, index_root=args.work / "milvus-corpus", retrieval=retrieval,
                           store=url, **common)
            out[f"milvus_{retrieval}"] = _row(res)
            log(f"milvus {retrieval}: {out[f'milvus_{retrieval}']}")
            res = run_beir(args.beir, index_root=args.work / "local", retrieval=retrieval, **common)
            out[f"local_{retrieval}"] = _row(res)
            log(f"local {retrieval}: {out[f'local_{retrieval}']}")
    out["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    return out


def throughput(args: argparse.Namespace) -> dict:
    """Passages per second embedding the first N passages: single process (every core) vs a
    local Ray cluster of `workers` one-CPU actors, alternated `rounds` times (median). Ray
    start-up and model loading are timed apart, not in the rate."""
    from rag.index.chunking import ChunkingParams, chunk_document, passage_text
    from rag.config import DEFAULT_EMBEDDER
    from rag.index.distributed import RayEmbedder
    from rag.index.embedding import backend_of, load_embedder
    from rag.types import Document

    data = load_beir(args.beir, args.split)
    single = load_embedder(DEFAULT_EMBEDDER)
    texts: list[str] = []
    for did, (title, text) in data.corpus.items():
        d = Document(id=did, title=title, text=text or title, source="corpus.jsonl", sha256=did)
        texts += [passage_text(d.title, c.heading, c.text)
                  for c in chunk_document(d, single.count_tokens, ChunkingParams())]
        if len(texts) >= args.throughput:
            break
    texts = texts[:args.throughput]
    rates: dict[str, list[float]] = {"single": [], "ray": []}
    load_start = _load()
    t = time.perf_counter()
    with RayEmbedder(DEFAULT_EMBEDDER, "local", local_cpus=args.workers, batch_size=64) as remote:
        remote.embed(texts[:args.workers * 64])  # every actor has loaded the model
        startup = time.perf_counter() - t
        for _ in range(args.rounds):
            t = time.perf_counter()
            single.embed(texts)
            rates["single"].append(len(texts) / (time.perf_counter() - t))
            t = time.perf_counter()
            remote.embed(texts)
            rates["ray"].append(len(texts) / (time.perf_counter() - t))
        workers, ray_backend = remote.workers, remote.backend
    med = {k: round(statistics.median(v), 1) for k, v in rates.items()}
    return {"passages": len(texts), "rounds": args.rounds, "workers": workers,
            "backend_single": backend_of(single), "backend_ray": ray_backend,
            "single_per_s_median": med["single"], "ray_per_s_median": med["ray"],
            "ray_over_single": round(med["ray"] / med["single"], 2),
            "all_rates": {k: [round(x, 1) for x in v] for k, v in rates.items()},
            "ray_start_and_load_s": round(startup, 1), "load_avg_start": load_start, "load_avg_end": _load()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("beir", type=Path)
    ap.add_argument("--work", type=Path, required=True, help="scratch folder (indexes, server data, runs)")
    ap.add_argument("--port", type=int, default=19540)
    ap.add_argument("--split", default="test")
    ap.add_argument("--ray", action="store_true", help="embed the Milvus store's passages on a local Ray cluster")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--retrievals", default="hybrid", help="comma-separated: hybrid,dense,lexical")
    ap.add_argument("--latency-sample", type=int, default=100)
    ap.add_argument("--throughput", type=int, default=0, metavar="N",
                    help="only compare embedding throughput on the first N passages (single vs Ray)")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    args.retrievals = [r.strip() for r in args.retrievals.split(",") if r.strip()]
    args.work.mkdir(parents=True, exist_ok=True)
    res = throughput(args) if args.throughput else stores(args)
    name = "throughput.json" if args.throughput else "summary.json"
    (args.work / name).write_text(json.dumps(res, indent=2))
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
