"""Milvus store and Ray embedding against the local store and the single-process embedder.

    python benchmarks/bench_cluster.py BEIR_FOLDER --work DIR [--port 19540] [--limit-docs N]
    python benchmarks/bench_cluster.py BEIR_FOLDER --work DIR --throughput 1024 [--rounds 3]

On a BEIR dataset (chunked the project's way, as `rag eval` does):
1. index it into a milvus-lite server on 127.0.0.1 (started and stopped here), embedding on a
   local Ray cluster of 2 one-CPU workers;
2. index it into the local store with the single-process embedder (torch using every core);
3. score both (nDCG@10, Recall@100, MRR@10 on the split's judged queries, BEIR's
   ignore_identical_ids) and time searches one query at a time (first 100 queries).
Prints a JSON summary and writes it to DIR/summary.json. Figures are from one run on a shared
machine: compare numbers of the same run only.
"""

from __future__ import annotations

import argparse
import csv
import json
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rag import metrics as M  # noqa: E402
from rag.indexing import build_index  # noqa: E402
from rag.retrieval import open_index  # noqa: E402


def load_beir(folder: Path, split: str) -> tuple[dict, dict, dict]:
    corpus = {}
    with open(folder / "corpus.jsonl", encoding="utf-8") as fh:
        for line in fh:
            r = json.loads(line)
            corpus[str(r["_id"])] = (r.get("title") or "", r.get("text") or "")
    qrels: dict[str, dict[str, int]] = {}
    with open(folder / "qrels" / f"{split}.tsv", encoding="utf-8") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            qrels.setdefault(row["query-id"], {})[row["corpus-id"]] = int(row["score"])
    queries = {}
    with open(folder / "queries.jsonl", encoding="utf-8") as fh:
        for line in fh:
            r = json.loads(line)
            if str(r["_id"]) in qrels:
                queries[str(r["_id"])] = r["text"]
    return corpus, queries, qrels


def write_corpus(corpus: dict, path: Path, limit: int | None) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with open(path, "w", encoding="utf-8") as fh:
        for did, (title, text) in corpus.items():
            if limit is not None and n >= limit:
                break
            if not (title.strip() or text.strip()):
                continue
            fh.write(json.dumps({"id": did, "title": title, "text": text if text.strip() else title},
                                ensure_ascii=False) + "\n")
            n += 1
    return n


def score(idx, queries: dict, qrels: dict, retrieval: str = "hybrid", k: int = 100) -> dict:
    qids = list(queries)
    per = {"ndcg_at_10": [], "recall_at_100": [], "mrr_at_10": []}
    t = time.perf_counter()
    for b in range(0, len(qids), 64):
        part = qids[b:b + 64]
        found = idx.search_documents([queries[q] for q in part], k=k + 1, retrieval=retrieval)
        for q, docs in zip(part, found):
            dups = idx.reader.duplicates_of(d for d, _ in docs)
            ids = []
            for d, _ in docs:
                ids += [d, *dups.get(d, ())]
            ranked = [x for x in (d.split("#", 1)[1] for d in ids) if x != q][:k]
            per["ndcg_at_10"].append(M.ndcg_at_k(ranked, qrels[q], 10))
            per["recall_at_100"].append(M.recall_at_k(ranked, qrels[q], k))
            per["mrr_at_10"].append(M.mrr_at_k(ranked, qrels[q], 10))
    batch_s = time.perf_counter() - t
    lat = []
    for q in qids[:100]:
        t = time.perf_counter()
        idx.search_documents([queries[q]], k=k + 1, retrieval=retrieval)
        lat.append((time.perf_counter() - t) * 1000)
    return {**{key: round(M.mean(v), 4) for key, v in per.items()}, "queries": len(qids),
            "search_ms_p50": round(M.percentile(lat, 50), 1), "search_ms_p95": round(M.percentile(lat, 95), 1),
            "queries_per_s_batched": round(len(qids) / batch_s, 1)}


def throughput(jsonl: Path, embedder: str, n: int, rounds: int, workers: int) -> dict:
    """Passages per second embedding the first `n` passages: single process (torch on every
    core) vs a local Ray cluster of `workers` one-CPU actors, alternated `rounds` times (median).
    Ray start-up and model loading are timed apart, not in the rate."""
    import statistics

    from rag.chunking import ChunkingParams, chunk_document, passage_text
    from rag.distributed import RayEmbedder
    from rag.ingest import load_documents
    from rag.embedding import load_embedder

    single = load_embedder(embedder)
    texts: list[str] = []
    for d in load_documents([jsonl]).documents:
        texts += [passage_text(d.title, c.heading, c.text) for c in chunk_document(d, single.count_tokens, ChunkingParams())]
        if len(texts) >= n:
            break
    texts = texts[:n]
    rates: dict[str, list[float]] = {"single": [], "ray": []}
    t = time.perf_counter()
    with RayEmbedder(embedder, "local", local_cpus=workers, batch_size=64) as remote:
        remote.embed(texts[:workers * 64])  # every actor has loaded the model
        startup = time.perf_counter() - t
        for _ in range(rounds):
            t = time.perf_counter()
            single.embed(texts)
            rates["single"].append(len(texts) / (time.perf_counter() - t))
            t = time.perf_counter()
            remote.embed(texts)
            rates["ray"].append(len(texts) / (time.perf_counter() - t))
    med = {k: round(statistics.median(v), 1) for k, v in rates.items()}
    return {"passages": len(texts), "rounds": rounds, "workers": workers,
            "single_per_s_median": med["single"], "ray_per_s_median": med["ray"],
            "ray_over_single": round(med["ray"] / med["single"], 2),
            "all_rates": {k: [round(x, 1) for x in v] for k, v in rates.items()},
            "ray_start_and_load_s": round(startup, 1)}


class StoredVectors:
    """An embedder that returns the vectors a store already holds for each passage text (so a
    second store gets byte-identical vectors without a second embedding pass). Tokens are
    counted by the real model, so the chunks are the same. A passage it has no vector for is an
    error, never a made-up vector."""

    def __init__(self, store, model: str) -> None:
        from rag.chunking import passage_text
        from rag.embedding import load_embedder

        real = load_embedder(model)
        self.name, self.dim, self.max_tokens = real.name, real.dim, real.max_tokens
        self.count_tokens = real.count_tokens
        rows = store.query_all(store.chunks, ["title", "heading", "text", "vec"])
        self.vectors = {passage_text(r["title"], r["heading"] or None, r["text"]): r["vec"] for r in rows}

    def embed(self, texts, *, batch_size=64, progress=None):
        import numpy as np

        missing = [t for t in texts if t not in self.vectors]
        if missing:
            raise KeyError(f"{len(missing)} passage(s) have no stored vector, e.g. {missing[0][:80]!r}")
        return np.asarray([self.vectors[t] for t in texts], dtype=np.float32).reshape(len(texts), self.dim)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("beir", type=Path)
    ap.add_argument("--work", type=Path, required=True, help="scratch folder (indexes, server data)")
    ap.add_argument("--port", type=int, default=19540)
    ap.add_argument("--split", default="test")
    ap.add_argument("--embedder", default="all-MiniLM-L6-v2")
    ap.add_argument("--limit-docs", type=int, default=None, help="index only the first N documents")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--skip-local", action="store_true")
    ap.add_argument("--throughput", type=int, default=0, metavar="N",
                    help="only compare embedding throughput on the first N passages (single vs Ray)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--subset-of", metavar="COLLECTION",
                    help="score both stores on the documents (and vectors) a stopped run left in COLLECTION")
    ap.add_argument("--local-from-milvus", action="store_true",
                    help="build the local store from the vectors already in the Milvus store (no second "
                         "embedding pass) and score it")
    args = ap.parse_args()
    if args.throughput:
        corpus, _, _ = load_beir(args.beir, args.split)
        jsonl = args.work / f"beir-{args.beir.name.removeprefix('beir-')}-throughput.jsonl"
        write_corpus(corpus, jsonl, max(args.throughput // 2, 1))
        res = throughput(jsonl, args.embedder, args.throughput, args.rounds, args.workers)
        args.work.mkdir(parents=True, exist_ok=True)
        (args.work / "throughput.json").write_text(json.dumps(res, indent=2))
        print(json.dumps(res, indent=2))
        return

    from rag.distributed import RayEmbedder
    from rag.milvus_store import LiteServer, MilvusIndex

    corpus, queries, qrels = load_beir(args.beir, args.split)
    name = args.beir.name.removeprefix("beir-")
    jsonl = args.work / f"beir-{name}.jsonl"
    n_docs = write_corpus(corpus, jsonl, args.limit_docs)
    out: dict = {"dataset": args.beir.name, "split": args.split, "documents": n_docs,
                 "embedder": args.embedder, "machine": f"{platform.machine()}, shared CPU",
                 "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}

    def log(msg: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)

    if args.subset_of:
        # The documents a stopped Ray -> Milvus run had finished (document rows are written after
        # their chunks), with the vectors it stored: both stores get exactly those, no new embedding.
        from rag.milvus_store import MilvusStore

        with LiteServer(args.work / "milvus-data", port=args.port) as server:
            old = MilvusStore(server.url(args.subset_of))
            old.client.load_collection(old.chunks)
            old.client.load_collection(old.docs)
            done = {r["doc_id"].split("#", 1)[1] for r in old.query_all(old.docs, ["doc_id"])}
            stored = StoredVectors(old, args.embedder)
            old.close()
            sub = args.work / f"beir-{name}-subset.jsonl"
            n_sub = write_corpus({d: corpus[d] for d in corpus if d in done}, sub, None)
            qrels = {q: {d: g for d, g in rel.items() if d in done} for q, rel in qrels.items()}
            queries = {q: t for q, t in queries.items() if any(g > 0 for g in qrels[q].values())}
            out.update({"subset_documents": n_sub, "subset_queries": len(queries),
                        "subset_note": "documents a stopped Ray->Milvus run had fully written; judged "
                                       "queries with a relevant document among them; qrels restricted to them"})
            log(f"subset: {n_sub} documents, {len(queries)} queries")
            url = server.url(f"beir_{name}_subset".replace("-", "_"))
            t = time.perf_counter()
            rep = build_index([sub], url, embedder=stored, rebuild=True)
            out["milvus_write"] = {"chunks": rep.chunks, "seconds": round(time.perf_counter() - t, 1)}
            local = args.work / "local-subset-index"
            t = time.perf_counter()
            rep = build_index([sub], local, embedder=stored, rebuild=True)
            out["local_write"] = {"chunks": rep.chunks, "seconds": round(time.perf_counter() - t, 1)}
            log(f"written: {out['milvus_write']} {out['local_write']}")
            with open_index(local, embedder=args.embedder) as idx:
                for mode in ("hybrid", "dense", "lexical"):
                    out[f"local_{mode}"] = score(idx, queries, qrels, retrieval=mode)
                    log(f"local {mode}: {out[f'local_{mode}']}")
            for ranker in ("rrf", "weighted", "client"):
                with MilvusIndex(url, ranker=ranker) as idx:
                    out[f"milvus_hybrid_{ranker}"] = score(idx, queries, qrels)
                log(f"milvus {ranker}: {out[f'milvus_hybrid_{ranker}']}")
            with MilvusIndex(url) as idx:
                for mode in ("dense", "lexical"):
                    out[f"milvus_{mode}"] = score(idx, queries, qrels, retrieval=mode)
                    log(f"milvus {mode}: {out[f'milvus_{mode}']}")
        out["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        (args.work / "subset-summary.json").write_text(json.dumps(out, indent=2))
        print(json.dumps(out, indent=2))
        return

    if args.local_from_milvus:
        with LiteServer(args.work / "milvus-data", port=args.port) as server:
            with MilvusIndex(server.url(f"beir_{name}".replace("-", "_"))) as idx:
                stored = StoredVectors(idx.reader.store, args.embedder)
        local = args.work / "local-index"
        rep = build_index([jsonl], local, embedder=stored, rebuild=True)
        out["local_index_from_milvus_vectors"] = {"chunks": rep.chunks, "documents": rep.documents}
        with open_index(local, embedder=args.embedder) as idx:
            for mode in ("hybrid", "dense", "lexical"):
                out[f"local_{mode}"] = score(idx, queries, qrels, retrieval=mode)
                log(f"local {mode}: {out[f'local_{mode}']}")
        prev = json.loads((args.work / "summary.json").read_text()) if (args.work / "summary.json").exists() else {}
        out = {**prev, **out, "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        (args.work / "summary.json").write_text(json.dumps(out, indent=2))
        print(json.dumps(out, indent=2))
        return

    with LiteServer(args.work / "milvus-data", port=args.port) as server:
        url = server.url(f"beir_{name}".replace("-", "_"))
        t = time.perf_counter()
        with RayEmbedder(args.embedder, "local", local_cpus=args.workers) as emb:
            t_ready = time.perf_counter()
            log(f"ray up with {emb.workers} workers in {t_ready - t:.1f}s")
            rep = build_index([jsonl], url, embedder=emb, rebuild=True)
            out["ray_milvus_index"] = {
                "workers": emb.workers, "ray_start_s": round(t_ready - t, 1), "seconds": round(rep.seconds, 1),
                "embed_s": round(rep.timings.get("chunk_embed_s", 0), 1), "chunks": rep.chunks,
                "chunks_per_s": round(rep.embedded_chunks / rep.timings["chunk_embed_s"], 1),
                "restarted_workers": emb.restarted_workers}
        log(f"milvus+ray: {out['ray_milvus_index']}")
        for ranker in ("rrf", "weighted", "client"):
            with MilvusIndex(url, ranker=ranker) as idx:
                out[f"milvus_{ranker}"] = score(idx, queries, qrels)
            log(f"milvus {ranker}: {out[f'milvus_{ranker}']}")
        with MilvusIndex(url) as idx:
            for mode in ("dense", "lexical"):
                out[f"milvus_{mode}"] = score(idx, queries, qrels, retrieval=mode)
                log(f"milvus {mode}: {out[f'milvus_{mode}']}")
        Path(args.work / "summary.json").write_text(json.dumps(out, indent=2))

    if not args.skip_local:
        local = args.work / "local-index"
        rep = build_index([jsonl], local, embedder=args.embedder, rebuild=True)
        out["single_process_local_index"] = {
            "seconds": round(rep.seconds, 1), "embed_s": round(rep.timings.get("chunk_embed_s", 0), 1),
            "chunks": rep.chunks, "chunks_per_s": round(rep.embedded_chunks / rep.timings["chunk_embed_s"], 1)}
        log(f"local: {out['single_process_local_index']}")
        with open_index(local) as idx:
            for mode in ("hybrid", "dense", "lexical"):
                out[f"local_{mode}"] = score(idx, queries, qrels, retrieval=mode)
                log(f"local {mode}: {out[f'local_{mode}']}")
    out["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    Path(args.work / "summary.json").write_text(json.dumps(out, indent=2))
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
