"""`rag serve`: the real server in a subprocess (stdio, and streamable HTTP on 127.0.0.1), talked to
with the MCP SDK's own client. Also the engine's bounded queue, and the flags that guard binding."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
SEEDS = ROOT / "seeds"
QUESTION = "Which Vietnamese president welcomed Putin in Hanoi?"
NEW_ARTICLE = """The Zorvath footbridge over the Mekong opens

VIENTIANE — The Zorvath footbridge, a 410-metre walkway over the Mekong, opened to the public on
Saturday. The bridge was designed by the Austrian engineer Ilse Marquardt, whose firm also built
two river crossings in Cambodia. Local officials said about 3,000 people crossed it on the first day.
"""
NEW_QUESTION = "Who designed the Zorvath footbridge?"


def _env(**extra: str) -> dict[str, str]:
    env = {**os.environ, **extra}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.pop("RAG_MODE", None)
    return env


def _serve_cmd(index_dir: Path, *args: str) -> list[str]:
    mode = [] if "--mode" in args else ["--mode", "extractive"]
    return [sys.executable, "-m", "rag.cli", "serve", "--index-dir", str(index_dir), *mode, *args]


class HttpServer:
    """`rag serve --http 127.0.0.1:0` in a subprocess; `url` once it says it listens."""

    def __init__(self, index_dir: Path, *args: str, timeout: float = 120) -> None:
        self.proc = subprocess.Popen(_serve_cmd(index_dir, "--http", "127.0.0.1:0", *args), cwd=ROOT,
                                     env=_env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        self.url = ""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.proc.stderr.readline()  # type: ignore[union-attr]
            if not line:
                break
            self.lines.append(line)
            m = re.search(r"serving MCP at (http://\S+/mcp)", line)
            if m:
                self.url = m.group(1)
                break
        if not self.url:
            self.stop()
            raise AssertionError("the server did not start:\n" + "".join(self.lines))
        # Keep draining stderr so that the server never blocks on a full pipe.
        threading.Thread(target=lambda: self.lines.extend(self.proc.stderr), daemon=True).start()  # type: ignore[arg-type]

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def __enter__(self) -> "HttpServer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _stdio_client(index_dir: Path, *args: str, env: dict[str, str] | None = None) -> Any:
    from mcp import Client, StdioServerParameters

    cmd = _serve_cmd(index_dir, *args)
    return Client(StdioServerParameters(command=cmd[0], args=cmd[1:], env=env or _env(), cwd=str(ROOT)))


def _run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, timeout=300))


BAD_ASKS = [
    ({"question": ""}, "the question is empty"),
    ({"question": "   "}, "the question is empty"),
    ({"question": "Who? " * 20000}, "100,000 characters long"),
    ({"question": QUESTION, "k": 0}, "greater than or equal to 1"),
    ({"question": QUESTION, "k": 51}, "less than or equal to 50"),
    ({"question": QUESTION, "since": "2024-13-01"}, "since must be a date as YYYY-MM-DD"),
    ({"question": QUESTION, "until": "yesterday"}, "until must be a date as YYYY-MM-DD"),
    ({"question": QUESTION, "as_of": "2024/06/20"}, "as_of must be a date as YYYY-MM-DD"),
    ({"question": QUESTION, "since": "2024-06-21", "until": "2024-06-01"}, "is after until"),
    ({"question": QUESTION, "mode": "oracle"}, "'auto', 'llm' or 'extractive'"),
    ({"question": QUESTION, "mode": "llm"}, "this server has no LLM loaded"),
    ({}, "question"),
]


async def _check_session(client: Any, expect_documents: int, mode: str = "extractive") -> None:
    """What every transport must do: tools, an answer with a verified citation, search, info, a cited
    document read back, bad input answered as tool errors, and answers still coming afterwards."""
    from mcp.shared.exceptions import MCPError

    tools = {t.name: t for t in (await client.list_tools()).tools}
    assert {"ask", "search", "info", "document"} <= set(tools)
    assert tools["ask"].output_schema and "citations" in tools["ask"].output_schema["properties"]

    res = await client.call_tool("ask", {"question": QUESTION, "mode": "extractive"})
    assert not res.is_error, res.content
    answer = res.structured_content
    assert "To Lam" in answer["answer"] and not answer["abstained"] and answer["mode"] == "extractive"
    assert answer["citations"] and all(c["supported"] for c in answer["citations"])
    assert {c["passage"] for c in answer["citations"]} <= {s["n"] for s in answer["sources"]}
    assert res.meta["rag/index"]["number"] >= 1
    cited = answer["citations"][0]
    links = [b.uri for b in res.content if b.type == "resource_link"]
    uri = next(u for u in links if u.endswith(cited["doc_id"]))

    # The cited document, read as a resource: the quote is where the citation says it is.
    read = await client.read_resource(uri)
    text = read.contents[0].text
    assert text[cited["quote_start"]:cited["quote_end"]] == cited["quote"]
    doc = await client.call_tool("document", {"doc_id": cited["doc_id"]})
    assert not doc.is_error and doc.structured_content["text"] == text

    res = await client.call_tool("search", {"query": "Putin visit to Hanoi", "k": 3})
    assert not res.is_error
    hits = res.structured_content["hits"]
    assert 1 <= len(hits) <= 3 and hits[0]["score"] >= hits[-1]["score"]

    res = await client.call_tool("info", {})
    info = res.structured_content
    assert info["documents"] == expect_documents and info["chunks"] > expect_documents
    assert info["embedder"] == "all-MiniLM-L6-v2" and info["mode"] == mode and info["model"] is None

    # "The articles don't say" is an answer, not an error.
    res = await client.call_tool("ask", {"question": "Who won the 1987 Tour de France?", "mode": "extractive"})
    assert not res.is_error and res.structured_content["abstained"]

    for args, message in BAD_ASKS:
        res = await client.call_tool("ask", args)
        assert res.is_error, args
        assert message in res.content[0].text, (args, res.content[0].text)
    for tool, args, message in [("search", {"query": ""}, "the query is empty"),
                                ("search", {"query": "Putin", "k": 101}, "less than or equal to 100"),
                                ("search", {"query": "Putin", "since": "2024-02-30"}, "since must be a date"),
                                ("document", {"doc_id": "no/such/article.txt"}, "no document 'no/such/article.txt'"),
                                ("document", {"doc_id": ""}, "the document id is empty")]:
        res = await client.call_tool(tool, args)
        assert res.is_error and message in res.content[0].text, (tool, args, res.content[0].text)
    with pytest.raises(MCPError, match="no document 'nope.txt'"):
        await client.read_resource("rag://document/nope.txt")

    res = await client.call_tool("ask", {"question": QUESTION})  # still answering, in the server's mode
    assert not res.is_error and "To Lam" in res.structured_content["answer"]
    assert res.structured_content["mode"] == "extractive"
    if mode == "auto":  # without the recommended LLM, auto mode says so, as `rag ask` does
        assert "rag models pull" in res.structured_content["notice"]


@pytest.mark.model
def test_stdio_server_answers_with_verified_citations(seed_index, tmp_path):
    # Auto mode, the server's default, where the recommended LLM is not downloaded: extractive answers.
    env = _env(RAG_MODELS_DIR=str(tmp_path / "no-models"))

    async def main() -> None:
        async with _stdio_client(seed_index, "--mode", "auto", env=env) as client:
            await _check_session(client, expect_documents=5, mode="auto")
            listed = await client.list_resources()
            assert len(listed.resources) == 5 and all(r.uri.startswith("rag://document/") for r in listed.resources)

    _run(main())


@pytest.mark.model
def test_http_server_answers_concurrent_clients(seed_index):
    from mcp import Client

    with HttpServer(seed_index) as server:
        assert server.url.startswith("http://127.0.0.1:")

        async def one() -> str:
            async with Client(server.url) as client:
                res = await client.call_tool("ask", {"question": QUESTION, "mode": "extractive"})
                assert not res.is_error, res.content
                return res.structured_content["answer"]

        async def main() -> None:
            async with Client(server.url) as client:
                await _check_session(client, expect_documents=5)
            answers = await asyncio.gather(*(one() for _ in range(4)))
            assert len(set(answers)) == 1 and "To Lam" in answers[0]

        _run(main())
        assert server.proc.poll() is None, "".join(server.lines)
        assert server.stop() == 0, "".join(server.lines)
    assert "Traceback" not in "".join(server.lines)


@pytest.mark.model
def test_an_index_update_while_serving_is_used_at_the_next_request(tmp_path, minilm):
    from mcp import Client

    from rag.index.build import build_index

    corpus = tmp_path / "articles"
    shutil.copytree(SEEDS, corpus, ignore=shutil.ignore_patterns("*.jsonl"))
    index_dir = tmp_path / "index"
    build_index([corpus], index_dir, embedder=minilm)

    with HttpServer(index_dir) as server:
        async def ask(client: Any, question: str) -> tuple[dict, dict]:
            res = await client.call_tool("ask", {"question": question, "mode": "extractive"})
            assert not res.is_error, res.content
            return res.structured_content, res.meta["rag/index"]

        async def before(client: Any) -> int:
            answer, snap = await ask(client, NEW_QUESTION)
            assert answer["abstained"], answer["answer"]
            return snap["number"]

        async def after(client: Any, number: int) -> None:
            answer, snap = await ask(client, NEW_QUESTION)
            assert not answer["abstained"] and {c["doc_id"] for c in answer["citations"]} == {"zorvath.txt"}
            assert snap["number"] == number + 1 and snap["documents"] == 6
            info = (await client.call_tool("info", {})).structured_content
            assert info["documents"] == 6 and info["snapshot"] == number + 1
            text = (await client.read_resource("rag://document/zorvath.txt")).contents[0].text
            assert "Ilse Marquardt" in text
            answer, snap = await ask(client, QUESTION)  # the old articles are still answered
            assert "To Lam" in answer["answer"] and snap["number"] == number + 1

        async def main() -> None:
            async with Client(server.url) as client:
                number = await before(client)
                (corpus / "zorvath.txt").write_text(NEW_ARTICLE, encoding="utf-8")
                done = subprocess.run([sys.executable, "-m", "rag.cli", "index", str(corpus), "--index-dir",
                                       str(index_dir)], cwd=ROOT, env=_env(), capture_output=True, text=True,
                                      timeout=300)
                assert done.returncode == 0, done.stderr
                await after(client, number)

        _run(main())
        assert server.stop() == 0, "".join(server.lines)


@pytest.mark.model
def test_past_its_queue_the_server_says_it_is_busy(seed_index):
    from mcp import Client

    with HttpServer(seed_index, "--queue", "0") as server:
        async def one(ready: list[int] | None = None, go: asyncio.Event | None = None) -> tuple[bool, str]:
            async with Client(server.url) as client:
                if ready is not None and go is not None:  # all sessions open, then all ask at once
                    ready.append(1)
                    if len(ready) == 8:
                        go.set()
                    await go.wait()
                res = await client.call_tool("ask", {"question": QUESTION, "mode": "extractive", "k": 50})
                return res.is_error, res.content[0].text

        async def main() -> None:
            ready: list[int] = []
            go = asyncio.Event()
            results = await asyncio.gather(*(one(ready, go) for _ in range(8)))
            busy = [text for failed, text in results if failed]
            assert busy and all("the server is busy" in text and "try again" in text for text in busy), results
            assert len(busy) < len(results)
            failed, text = await one()  # once the others are done, a request is answered
            assert not failed, text

        _run(main())
        assert server.proc.poll() is None


@pytest.mark.parametrize("listen", ["0.0.0.0:0", "192.0.2.1:8000"])
def test_binding_a_non_loopback_address_needs_allow_remote(tmp_path, listen):
    done = subprocess.run([sys.executable, "-m", "rag.cli", "serve", "--http", listen, "--index-dir",
                           str(tmp_path / "none")], cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "--allow-remote" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "none").exists()  # refused before anything is built


@pytest.mark.model
def test_the_queue_is_bounded_and_runs_one_request_at_a_time(seed_index):
    from rag import Settings
    from rag.serve.engine import Engine, ServerBusy

    engine = Engine(Settings(index_dir=seed_index, mode="extractive"), queue=1)
    try:
        release = threading.Event()
        running: list[int] = []

        def job(n: int) -> int:
            running.append(n)
            assert len(running) - len(done) == 1  # never two at once
            release.wait(10)
            done.append(n)
            return n

        done: list[int] = []
        first = engine.submit(job, 1)
        second = engine.submit(job, 2)  # waits
        with pytest.raises(ServerBusy, match="the server is busy: one request is being answered and 1 is waiting"):
            engine.submit(job, 3)
        release.set()
        assert (first.result(10), second.result(10)) == (1, 2)
        for _ in range(100):
            if engine.pending == 0:
                break
            time.sleep(0.01)
        assert engine.pending == 0
        assert "To Lam" in engine.submit(engine.ask, QUESTION).result(60).value.answer
    finally:
        engine.close()


@pytest.mark.model
def test_an_idle_server_takes_up_an_update_without_a_request(tmp_path, minilm):
    from rag import Settings
    from rag.index.build import build_index
    from rag.serve.engine import Engine

    corpus = tmp_path / "articles"
    shutil.copytree(SEEDS, corpus, ignore=shutil.ignore_patterns("*.jsonl"))
    build_index([corpus], tmp_path / "index", embedder=minilm)
    engine = Engine(Settings(index_dir=tmp_path / "index", mode="extractive"), refresh_s=0.1)
    try:
        assert engine.start().number == 1
        (corpus / "zorvath.txt").write_text(NEW_ARTICLE, encoding="utf-8")
        build_index([corpus], tmp_path / "index", embedder=minilm)
        for _ in range(100):
            if engine.index.snapshot.number == 2:
                break
            time.sleep(0.05)
        assert engine.index.snapshot.number == 2 and engine.index.snapshot.documents == 6
        assert engine.pending == 0
        served = engine.submit(engine.ask, NEW_QUESTION).result(60)
        assert served.snapshot.number == 2 and not served.value.abstained
    finally:
        engine.close()


def test_serve_help_and_bad_settings(tmp_path):
    from typer.testing import CliRunner

    from rag.cli import app

    res = CliRunner().invoke(app, ["serve", "--help"])
    assert res.exit_code == 0 and "Example:" in res.output and "--allow-remote" in res.output
    for flag, value, message in [("--mode", "oracle", "mode must be one of"),
                                 ("--retrieval", "fuzzy", "retrieval must be one of"),
                                 ("--http", "127.0.0.1:http", "--http takes HOST:PORT")]:
        res = CliRunner().invoke(app, ["serve", flag, value, "--index-dir", str(tmp_path / "none")])
        assert res.exit_code == 1 and message in res.stderr, res.output
    assert not (tmp_path / "none").exists()  # refused before any index is built


def test_listen_addresses():
    from rag.errors import InputError
    from rag.serve.mcp_server import document_uri, is_loopback, parse_listen

    assert parse_listen("8000") == ("127.0.0.1", 8000)
    assert parse_listen(":8001") == ("127.0.0.1", 8001)
    assert parse_listen("localhost:0") == ("localhost", 0)
    assert parse_listen("[::1]:9000") == ("::1", 9000)
    for bad in ("host:port", "127.0.0.1:70000", ""):
        with pytest.raises(InputError, match="HOST:PORT"):
            parse_listen(bad)
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("example.org")
    assert document_uri("news/a b.jsonl#7") == "rag://document/news%2Fa%20b.jsonl%237"


@pytest.mark.model
@pytest.mark.llama
def test_llm_answers_through_the_server_one_generation_at_a_time(seed_index, tmp_path):
    """The LLM path over MCP with a tiny random-weight GGUF: loaded once when the server starts,
    named by `info`, and concurrent llm-mode questions all answered (one generation at a time)."""
    pytest.importorskip("llama_cpp")
    from tests.tiny_gguf import make_tiny_gguf

    model = make_tiny_gguf(tmp_path / "tiny.gguf")
    env = _env(RAG_MAX_TOKENS="24")

    async def main() -> None:
        async with _stdio_client(seed_index, "--mode", "llm", "--model", str(model), "--device", "cpu",
                                 env=env) as client:
            info = (await client.call_tool("info", {})).structured_content
            assert info["mode"] == "llm" and info["model"] == "tiny"
            results = await asyncio.gather(*(client.call_tool("ask", {"question": q}) for q in
                                             (QUESTION, "When did the ICC issue an arrest warrant for Putin?",
                                              "Which country is Vietnam's largest arms supplier?")))
            for res in results:
                assert not res.is_error, res.content
                data = res.structured_content
                assert data["mode"] == "llm" and data["model"] == "tiny" and data["device"] == "cpu"
                assert data["abstained"] or re.search(r"\[\d\]", data["answer"])
            res = await client.call_tool("ask", {"question": QUESTION, "mode": "extractive"})
            assert res.structured_content["mode"] == "extractive" and "To Lam" in res.structured_content["answer"]

    _run(main())


def test_the_engine_checks_requests_by_the_library_rules_and_reads_documents(corpus, tmp_path, hashing):
    """Without a server or the real embedder: bad requests are InputErrors with the library's
    messages (`check_question`, `parse_date`, `DateFilter`), and a document read through the
    engine is the text its passages' offsets point into."""
    from rag import Settings
    from rag.errors import InputError, ModelError
    from rag.index.build import build_index
    from rag.serve.engine import Engine

    build_index([corpus], tmp_path / "index", embedder=hashing)
    with pytest.raises(InputError, match="mode must be one of"):
        Engine(Settings(index_dir=tmp_path / "index", mode="oracle"))
    with pytest.raises(InputError, match="retrieval must be one of"):
        Engine(Settings(index_dir=tmp_path / "index", retrieval="fuzzy"))
    engine = Engine(Settings(index_dir=tmp_path / "index", mode="extractive"), refresh_s=0)
    try:
        snap = engine.start()
        assert snap.number == 1 and snap.generation and snap.generation.startswith("gen-") and snap.documents == 5
        for call, message in [(lambda: engine.ask(""), "the question is empty"),
                              (lambda: engine.ask("Who? " * 1000), "5,000 characters long"),
                              (lambda: engine.ask(QUESTION, since="2024-02-30"), "since must be a date as YYYY-MM-DD"),
                              (lambda: engine.ask(QUESTION, as_of="today"), "as_of must be a date as YYYY-MM-DD"),
                              (lambda: engine.ask(QUESTION, since="2024-06-21", until="2024-06-01"), "is after until"),
                              (lambda: engine.ask(QUESTION, k=0), "k must be a whole number from 1 to 50"),
                              (lambda: engine.ask(QUESTION, mode="oracle"), "mode must be one of"),
                              (lambda: engine.search(" "), "the query is empty"),
                              (lambda: engine.search("Putin", k=101), "k must be a whole number from 1 to 100"),
                              (lambda: engine.document("no/such.txt"), "no document 'no/such.txt'")]:
            with pytest.raises(InputError, match=re.escape(message)):
                call()
        with pytest.raises(ModelError, match="no LLM loaded"):
            engine.ask(QUESTION, mode="llm")
        info = engine.info().value
        assert (info.documents, info.generation, info.embedder) == (5, snap.generation, hashing.name)
        hits = engine.search("Putin Hanoi", k=3).value.hits
        assert 1 <= len(hits) <= 3
        doc = engine.document(hits[0].doc_id).value
        assert doc.text[hits[0].start:hits[0].end] == hits[0].text and doc.title == hits[0].title
        rows, total = engine.documents(0, 2).value
        assert total == 5 and len(rows) == 2
    finally:
        engine.close()
