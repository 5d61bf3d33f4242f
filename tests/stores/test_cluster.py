"""The optional scale extra against real servers on 127.0.0.1: a milvus-lite gRPC server process
and a local Ray cluster of two one-CPU workers, both started and stopped here. Skipped, with the
reason, only when pymilvus / milvus-lite / ray are not installed (`pip install ".[scale]"`)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import sys
from pathlib import Path

import numpy as np
import pytest

from rag.config import Settings
from rag.errors import IndexMismatchError, InputError, NoIndexError
from rag.index.build import build_index
from rag.retrieval import Index, open_index
from rag.stores.milvus import MilvusReader, StoreURL, parse_store_url
from rag.stores.milvus_server import LiteServer

pytestmark = pytest.mark.cluster

QUESTION = "Which Vietnamese president welcomed Putin in Hanoi?"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def milvus(tmp_path_factory: pytest.TempPathFactory):
    pytest.importorskip("pymilvus", reason="pymilvus is not installed (pip install '.[scale]')")
    pytest.importorskip("milvus_lite", reason="milvus-lite is not installed (pip install '.[scale]')")
    server = LiteServer(tmp_path_factory.mktemp("milvus"), port=_free_port())
    server.start()
    yield server
    server.stop()
    assert server.proc is None


@pytest.fixture(scope="module")
def ray_cluster():
    ray = pytest.importorskip("ray", reason="ray is not installed (pip install '.[scale]')")
    root = str(Path(__file__).resolve().parents[2])
    ray.init(num_cpus=2, object_store_memory=200 * 1024 * 1024, include_dashboard=False,
             log_to_driver=False, logging_level="ERROR",
             runtime_env={"env_vars": {"PYTHONPATH": root}})
    yield ray
    ray.shutdown()


# -- store URLs (no server) -------------------------------------------------------------------
def test_store_urls_parse_in_both_spellings_and_bad_ones_are_errors():
    assert parse_store_url("milvus://127.0.0.1:19530/news") == StoreURL("127.0.0.1", 19530, "news")
    # a Path folds "//" into "/": the settings hold the store where the index folder would be
    assert parse_store_url(Path("milvus://db.local:19530/news")) == StoreURL("db.local", 19530, "news")
    assert parse_store_url("milvus://h:1/news/beir-scifact").collection == "news_beir_scifact"
    assert parse_store_url("index") is None and parse_store_url(Path("/tmp/x")) is None
    for bad in ("milvus://127.0.0.1/news", "milvus://h:1/", "milvus:news", "milvus://h:x/news"):
        with pytest.raises(InputError):
            parse_store_url(bad)


def test_help_imports_neither_pymilvus_nor_ray():
    import subprocess

    code = ("import sys, rag.cli\n"
            "try:\n    rag.cli.app(['--help'])\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pymilvus', 'ray', 'milvus_lite')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])})
    assert out.stdout.strip().splitlines()[-1] == "[]"


# -- Milvus store ----------------------------------------------------------------------------
def test_milvus_store_gives_the_local_hits(milvus, corpus, tmp_path, hashing):
    url = milvus.url("same_hits")
    rep = build_index([corpus], url, embedder=hashing)
    local = build_index([corpus], tmp_path / "local", embedder=hashing)
    assert rep.written and (rep.documents, rep.chunks) == (local.documents, local.chunks)
    assert rep.embedded_chunks == local.embedded_chunks
    with open_index(url) as m, open_index(tmp_path / "local") as loc:
        assert isinstance(m.reader, MilvusReader) and m.counts["chunks"] == loc.counts["chunks"]
        # The publishers found at ingest (The New York Sun, from its copyright notice) are kept alike.
        assert m.reader.publishers() == loc.reader.publishers() == ["The New York Sun"]
        # Dense retrieval is the same exact inner-product search: the same passages, same scores.
        mh, lh = m.search(QUESTION, k=5, retrieval="dense"), loc.search(QUESTION, k=5, retrieval="dense")
        assert [h.chunk_id for h in mh] == [h.chunk_id for h in lh]
        assert np.allclose([h.score for h in mh], [h.score for h in lh], atol=1e-5)
        # Passages carry the same spans and text as the local store's.
        for a, b in zip(mh, lh):
            assert (a.doc_id, a.title, a.text, a.start, a.end, a.heading) == (b.doc_id, b.title, b.text, b.start, b.end, b.heading)
        # Lexical is Milvus' BM25: the passages found all hold a query word.
        for h in m.search("Hanoi Putin", k=5, retrieval="lexical"):
            assert "hanoi" in h.text.lower() or "putin" in h.text.lower() or "hanoi" in h.title.lower()
        # Native hybrid search (weighted ranking in Milvus, the default) and the documents ranking.
        hy = m.search(QUESTION, k=5)
        assert len(hy) == 5 and all(h.score > 0 for h in hy)
        # Each carries its question-passage cosine, which the extractive answerer weighs (without
        # it every answer on the store abstained): the same as the local store's for that passage.
        local_dense = {h.chunk_id: h.dense_score for h in loc.search(QUESTION, k=64, retrieval="dense")}
        for h in hy:
            assert h.dense_score is not None
            if h.chunk_id in local_dense:
                assert h.dense_score == pytest.approx(local_dense[h.chunk_id], abs=1e-5)
        # Weighted ranking adds the two arctan-normalized scores: the best passage holds both the
        # question's words and its meaning, so it is among the best of one list or the other.
        lex = m.search(QUESTION, k=5, retrieval="lexical")
        assert hy[0].chunk_id in {h.chunk_id for h in (*mh, *lex)}
        docs = m.search_documents([QUESTION], k=3)[0]
        assert len(docs) == 3 and len({d for d, _ in docs}) == 3
        freq = m.reader.doc_freq(["putin", "zzzqqq", "cuồng"])  # non-ASCII words are quoted raw
        assert 0 < freq["putin"] <= m.counts["chunks"] and freq["zzzqqq"] == 0 and freq["cuồng"] >= 0
        # A document read back (`rag serve`'s document tool): its text rebuilt from its chunks, so
        # every passage's offsets hold in it, and the same metadata as the local store's.
        assert m.reader.document_metadata() == loc.reader.document_metadata()
        assert m.reader.generation is None and loc.reader.generation.startswith("gen-")
        for doc_id, *_ in loc.reader.documents():
            text = m.reader.document_text(doc_id)
            assert all(text[c.start:c.end] == c.text for c in loc.reader.chunks_of(doc_id))
        with pytest.raises(KeyError):
            m.reader.document_text("no/such/article.txt")
    for ranker in ("rrf", "client"):
        with Index(url, ranker=ranker) as m2:
            assert len(m2.search(QUESTION, k=5)) == 5
            if ranker == "rrf":
                assert m2.search(QUESTION, k=5)[0].doc_id in {h.doc_id for h in lh[:3]}
    os.environ["RAG_MILVUS_RANKER"] = "client"
    try:
        with open_index(url) as m3:
            assert m3.ranker == "client"
            # Client fusion is the local fusion over Milvus' lists: its hits carry both scores.
            assert all(h.dense_score is not None or h.lexical_score is not None for h in m3.search(QUESTION, k=5))
        os.environ["RAG_MILVUS_RANKER"] = "bogus"
        with pytest.raises(InputError):
            open_index(url)
    finally:
        del os.environ["RAG_MILVUS_RANKER"]


def test_milvus_store_is_incremental_by_content(milvus, corpus, hashing):
    url = milvus.url("incremental")
    first = build_index([corpus], url, embedder=hashing)
    again = build_index([corpus], url, embedder=hashing)
    assert not again.written and again.embedded_chunks == 0 and again.chunks == first.chunks

    files = sorted(corpus.glob("*.txt"))
    files[0].write_text(files[0].read_text(encoding="utf-8") + "\n\nA new closing paragraph about the summit.\n",
                        encoding="utf-8")
    files[1].unlink()
    files[2].rename(corpus / "renamed.txt")  # same text, new id: its vectors are reused, not re-embedded
    shutil.copy(files[3], corpus / "copy.txt")  # identical text: indexed once, recorded as a duplicate
    rep = build_index([corpus], url, embedder=hashing)
    assert rep.changed == (files[0].name,)
    assert set(rep.removed) == {files[1].name, files[2].name}
    assert set(rep.added) == {"renamed.txt", "copy.txt"}
    assert rep.reused_chunks > 0
    with open_index(url) as m:
        ids = [d for d, *_ in m.reader.documents()]
        assert files[1].name not in ids and "renamed.txt" in ids
        assert m.reader.duplicates_of([files[3].name]) in ({files[3].name: ["copy.txt"]},
                                                            {"copy.txt": [files[3].name]})
        assert m.reader.chunks_of(files[1].name) == []
        rows = m.reader.store.query_all(m.reader.store.chunks, ["chunk_id"])
        assert len(rows) == len({r["chunk_id"] for r in rows}) == m.counts["chunks"]
    local = build_index([corpus], Path(str(corpus) + "-local"), embedder=hashing)
    assert rep.chunks == local.chunks and rep.documents == local.documents


def test_milvus_store_writes_a_new_date_on_unchanged_text_without_embedding(milvus, corpus, hashing):
    url = milvus.url("redated")
    build_index([corpus], url, embedder=hashing)
    f = corpus / "002_7bf4c8803009745d.txt"
    title, rest = f.read_text(encoding="utf-8").split("\n", 1)
    f.write_text(f"{title}\n\nJune 20, 2024, 10:15 a.m. ET\n{rest}", encoding="utf-8")  # same text, a date
    rep = build_index([corpus], url, embedder=hashing)
    assert rep.changed == (f.name,) and rep.embedded_chunks == 0 and rep.reused_chunks > 0
    with open_index(url) as m:
        assert m.reader.doc_dates([f.name]) == {f.name: "2024-06-20"}
        assert {h.date for h in m.search("Putin Vietnam", k=20, retrieval="lexical") if h.doc_id == f.name} \
            == {"2024-06-20"}
    assert not build_index([corpus], url, embedder=hashing).written


def test_milvus_manifest_is_checked_on_open(milvus, corpus):
    url = milvus.url("manifest")
    build_index([corpus], url, embedder="hashing-256")
    with pytest.raises(IndexMismatchError):
        open_index(url, embedder="hashing-128")
    with pytest.raises(IndexMismatchError):
        build_index([corpus], url, embedder="hashing-128")
    rep = build_index([corpus], url, embedder="hashing-128", rebuild=True)
    assert rep.rebuilt and rep.embedder == "hashing-128"
    with open_index(url) as m:
        assert m.manifest["embedder"]["dim"] == 128 and m.embedder.dim == 128
    with pytest.raises(NoIndexError):
        open_index(milvus.url("never_written"))


def test_answers_and_cli_on_the_store(milvus, corpus, tmp_path):
    from typer.testing import CliRunner

    from rag.answer.pipeline import ask
    from rag.cli.commands import app

    url = milvus.url("cli")
    runner = CliRunner()
    res = runner.invoke(app, ["index", str(corpus), "--store", url, "--embedder", "hashing-256"])
    assert res.exit_code == 0, res.output
    assert "5 documents" in res.output
    res = runner.invoke(app, ["search", QUESTION, "--store", url, "-k", "3", "--json"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["info", "--store", url, "--json"])
    assert res.exit_code == 0 and '"chunks"' in res.output
    answer = ask(QUESTION, Settings.from_env(index_dir=url, mode="extractive"))
    assert answer.sources and all(s.doc_id.endswith(".txt") for s in answer.sources)
    env = {"RAG_STORE": url}
    res = runner.invoke(app, ["ask", QUESTION, "--mode", "extractive", "--json"], env=env)
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["search", QUESTION, "--store", "milvus://127.0.0.1/x"])
    assert res.exit_code == 1 and "HOST:PORT" in res.output


# -- Ray ------------------------------------------------------------------------------------
def test_ray_embedder_gives_the_same_vectors(ray_cluster, hashing):
    from rag.index.distributed import RayEmbedder

    texts = [f"passage {i} about the summit in Hanoi" for i in range(500)]
    with RayEmbedder("hashing-256", batch_size=40) as remote:
        assert remote.workers == 2
        seen: list[int] = []
        vecs = remote.embed(texts, progress=lambda done, total: seen.append(done))
    assert seen[-1] == len(texts) and seen == sorted(seen)
    assert np.allclose(vecs, hashing.embed(texts))
    assert ray_cluster.is_initialized()  # it joined the running cluster and left it running


def test_a_killed_ray_worker_loses_and_duplicates_nothing(ray_cluster, hashing):
    from rag.index.distributed import RayEmbedder

    texts = [f"text {i}: " + " ".join(f"w{j}" for j in range(i % 50)) for i in range(3000)]
    with RayEmbedder("hashing-256", batch_size=20) as remote:
        victim = remote.worker_pids()[0]
        killed: list[int] = []

        def progress(done: int, total: int) -> None:
            if not killed:  # first batch back: the others are queued or running on both workers
                os.kill(victim, signal.SIGKILL)
                killed.append(victim)

        vecs = remote.embed(texts, progress=progress)
        assert killed and remote.restarted_workers >= 1
        assert victim not in remote.worker_pids()
    assert vecs.shape == (len(texts), 256)
    assert np.allclose(vecs, hashing.embed(texts))


@pytest.mark.model
def test_index_with_ray_into_milvus_with_minilm(ray_cluster, milvus, corpus, tmp_path, minilm):
    from rag.index.distributed import RayEmbedder

    url = milvus.url("minilm_ray")
    with RayEmbedder("all-MiniLM-L6-v2", batch_size=16) as remote:
        rep = build_index([corpus], url, embedder=remote)
    local = build_index([corpus], tmp_path / "local", embedder=minilm)
    assert rep.chunks == local.chunks and rep.embedder == "all-MiniLM-L6-v2"
    with open_index(url) as m, open_index(tmp_path / "local") as loc:
        mh = m.search(QUESTION, k=10, retrieval="dense")
        lh = loc.search(QUESTION, k=10, retrieval="dense")
    # The int8 ONNX embedder quantizes activations per batch, so a text embedded in another batch
    # (Ray's batches of 16, formed as the workers take them, against the local path's length-sorted
    # batches) differs in the third decimal: each passage's score must agree within 0.02 ...
    ms, ls = {h.chunk_id: h.score for h in mh}, {h.chunk_id: h.score for h in lh}
    common = ms.keys() & ls.keys()
    assert len(common) >= 8, (list(ms), list(ls))
    eps = max(abs(ms[c] - ls[c]) for c in common)
    assert eps < 0.02, eps
    # ... and the best passages must be the same but for near-ties: two passages whose scores differ
    # by less than the measured disagreement (twice eps) may swap places, so each passage in one
    # side's top n must score, on the other side, within that of the other side's n-th best.
    # (Comparing the top two in order failed once under heavy CPU load, on such a tie.)
    tie = 2 * eps + 1e-6
    for top, other, other_hits in ((mh, ls, lh), (lh, ms, mh)):
        for n in (1, 2, 5):
            floor = other_hits[n - 1].score - tie
            assert all(h.chunk_id in other and other[h.chunk_id] >= floor for h in top[:n]), (n, mh, lh)


# -- BEIR evaluation on the store (`rag eval BEIR_FOLDER --store ...`) ------------------------
_BEIR_CORPUS = [
    ("d1", "Volcanoes", "Lava flows from an erupting volcano down the mountain slopes."),
    ("d2", "Penguins", "Emperor penguins breed on the Antarctic ice through the winter."),
    ("d3", "Ice shelves", "Antarctic ice shelves float on the sea where penguins hunt."),
    ("d4", "Coffee", "Coffee beans are roasted, ground and brewed with hot water."),
    ("d5", "Tides", "The moon pulls the oceans and causes the tides every day."),
    ("d6", "Tides", "The moon pulls the oceans and causes the tides every day."),  # a copy of d5
    ("d7", "", "Bicycles have two wheels, pedals and a chain driving the rear wheel."),
]
_BEIR_QUERIES = [("q1", "volcano lava eruption"), ("q2", "penguins antarctic ice"), ("q5", "moon oceans tides"),
                 ("q7", "bicycle chain wheels")]
_BEIR_QRELS = [("q1", "d1", 1), ("q2", "d2", 2), ("q2", "d3", 1), ("q5", "d6", 1), ("q7", "d7", 1)]


def _tiny_beir(root: Path) -> Path:
    import json

    folder = root / "beir-tiny"
    (folder / "qrels").mkdir(parents=True)
    (folder / "corpus.jsonl").write_text("".join(json.dumps({"_id": i, "title": t, "text": x}) + "\n"
                                                 for i, t, x in _BEIR_CORPUS), encoding="utf-8")
    (folder / "queries.jsonl").write_text("".join(json.dumps({"_id": i, "text": x}) + "\n"
                                                  for i, x in _BEIR_QUERIES), encoding="utf-8")
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + "".join(
        f"{q}\t{d}\t{s}\n" for q, d, s in _BEIR_QRELS), encoding="utf-8")
    return folder


def test_beir_eval_on_the_store_matches_the_local_store_and_is_incremental(milvus, corpus, tmp_path):
    from rag.evaluation import run_beir
    from rag.stores.milvus import MilvusStore

    folder = _tiny_beir(tmp_path)
    url = milvus.url("evalnews")
    build_index([corpus], url, embedder="hashing-256")  # the store's own index, to be left alone
    kw = dict(index_root=tmp_path / "index", k=10, embedder="hashing-256", latency_sample=4)
    on_store = {r: run_beir(folder, retrieval=r, out_dir=tmp_path / f"m-{r}", store=url, **kw)
                for r in ("dense", "hybrid")}
    local = run_beir(folder, retrieval="dense", out_dir=tmp_path / "local", **kw)

    first = on_store["dense"]
    assert first.settings["store"] == "milvus" and first.settings["index_written"] is True
    assert first.settings["index_dir"] == f"milvus://127.0.0.1:{milvus.port}/evalnews_beir_tiny_chunked"
    assert first.settings["embedded_chunks"] > 0
    assert first.counts["queries"] == 4 and first.counts["chunks"] == local.counts["chunks"]
    assert first.counts["latency_sample"] == 4
    assert first.metrics["search_ms_p95"] >= first.metrics["search_ms_p50"] > 0
    # Dense search is the same exact search over the same vectors: the same scores.
    for key in ("ndcg_at_10", "recall_at_10", "mrr_at_10"):
        assert first.metrics[key] == pytest.approx(local.metrics[key], abs=1e-6)
    rows = {r["id"]: r for r in _rows(first.out_dir)}
    assert {d for d, _ in rows["q5"]["retrieved"][:2]} == {"d5", "d6"}  # the copy is put back
    # Hybrid (Milvus hybrid_search) finds every query's relevant documents on this corpus.
    hy = on_store["hybrid"]
    assert hy.settings["index_written"] is False and hy.settings["embedded_chunks"] == 0
    assert hy.metrics["hit_at_10"] == 1.0 and hy.metrics["recall_at_10"] == 1.0

    # An unchanged corpus is not embedded again; the store's own collection is untouched.
    again = run_beir(folder, retrieval="dense", out_dir=tmp_path / "again", store=url, **kw)
    assert again.settings["index_written"] is False and again.settings["embedded_chunks"] == 0
    assert again.metrics["ndcg_at_10"] == first.metrics["ndcg_at_10"]
    with open_index(url) as m:
        assert {d for d, *_ in m.reader.documents()} == {f.name for f in corpus.glob("*.txt")}
    # A changed corpus re-embeds only what changed.
    lines = (folder / "corpus.jsonl").read_text(encoding="utf-8").splitlines()
    lines[0] = lines[0].replace("mountain slopes", "mountain slopes into the valley")
    (folder / "corpus.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    changed = run_beir(folder, retrieval="dense", out_dir=tmp_path / "changed", store=url, **kw)
    assert changed.settings["index_written"] is True and changed.settings["embedded_chunks"] == 1
    s = MilvusStore(changed.settings["index_dir"])
    try:
        assert s.count(s.docs) == 7 and s.count(s.chunks) == local.counts["chunks"]
    finally:
        s.close()

    with pytest.raises(InputError, match="passage"):
        run_beir(folder, chunked=False, out_dir=tmp_path / "p", store=url, **kw)


def _rows(run_dir: str) -> list[dict]:
    import json

    return [json.loads(line) for line in (Path(run_dir) / "questions.jsonl").read_text().splitlines()]


@pytest.mark.model
def test_rag_eval_beir_folder_on_the_store_cli(milvus, tmp_path, monkeypatch):
    import json

    from typer.testing import CliRunner

    from rag.cli.commands import app

    folder = _tiny_beir(tmp_path)
    monkeypatch.chdir(tmp_path)
    url = milvus.url("clieval")
    runner = CliRunner()
    args = ["eval", str(folder), "--store", url, "--index-dir", str(tmp_path / "idx"), "--json"]
    res = runner.invoke(app, [*args, "--out", str(tmp_path / "r1"), "--min-ndcg", "0.5"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["settings"]["store"] == "milvus" and out["settings"]["index_written"] is True
    assert out["settings"]["index_manifest"]["embedder"]["backend"] == "onnx-int8"
    assert out["metrics"]["ndcg_at_10"] >= 0.5 and out["metrics"]["search_ms_p50"] > 0
    assert (tmp_path / "idx" / "beir-tiny.jsonl").is_file()  # the corpus file stays local
    res = runner.invoke(app, [*args, "--out", str(tmp_path / "r2")])
    assert res.exit_code == 0, res.output
    again = json.loads(res.output)
    assert again["settings"]["index_written"] is False and again["settings"]["embedded_chunks"] == 0
    assert again["metrics"]["ndcg_at_10"] == out["metrics"]["ndcg_at_10"]
    res = runner.invoke(app, ["eval", str(folder), "--store", url, "--passage"])
    assert res.exit_code == 1 and "passage" in res.output
