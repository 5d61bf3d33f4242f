"""`rag serve` under load: concurrent MCP clients over HTTP against the same questions asked
in-process, and an index update while clients ask.

Usage:
    python benchmarks/bench_serve.py [--calls 200] [--clients 8] [--rounds 1] [--time-limit 300]
        [--out benchmarks/RESULTS-serve.md]

Everything runs on 127.0.0.1, extractive mode, over a copy of seeds/ indexed with `rag index`
(the bundled MiniLM):

1. Throughput. `--calls` questions (the 20 of seeds/questions.jsonl, cycled) asked in-process one
   after another on one opened index (`rag.serve.engine.call_ask`, the call the server makes), then the
   same `--calls` sent as `ask` tool calls by `--clients` concurrent MCP clients (the SDK's own
   client, one session each, opened before the clock starts) to `rag serve --http 127.0.0.1:0` in a
   subprocess; and the same calls from one client, one after another (the protocol's cost per
   call). Reported: failures
   (tool errors, exceptions, calls left when the time limit struck), p50/p95/max latency per call
   as a client sees it, answers per second of each, and served / in-process (must be >= 0.5).
   With `--rounds N` both are run N times, alternating; the table shows each round.
2. Update while asking. A second server on a writable copy; `--clients` clients ask the seeds
   questions plus questions only new articles answer, in a loop, while `rag index` adds three
   articles and inserts a paragraph near the top of two seed articles (so every later passage of
   theirs moves). Each document's text is read through the server (resources) before and after.
   Every answer must be whole (its citations supported and naming its sources) and consistent
   with one of the two states: every source's text and every citation's quote is found at its
   offsets in that state's documents. After the update, the new articles must be found.

The run stops by itself: at most `--calls` calls per phase, and `--time-limit` seconds per phase.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"

NEW_ARTICLES = {
    "zorvath.txt": ("The Zorvath footbridge over the Mekong opens\n\nVIENTIANE — The Zorvath footbridge, a 410-metre "
                    "walkway over the Mekong, opened to the public on Saturday. The bridge was designed by the Austrian "
                    "engineer Ilse Marquardt, whose firm also built two river crossings in Cambodia. Local officials "
                    "said about 3,000 people crossed it on the first day.\n",
                    "Who designed the Zorvath footbridge?", "Ilse Marquardt"),
    "quillfeather.txt": ("Quillfeather orchestra names a new conductor\n\nHANOI — The Quillfeather Chamber Orchestra named "
                         "the Chilean conductor Renata Oyarzún as its music director on Monday. She succeeds a founder who "
                         "led the ensemble for eleven years, and her first season opens in September with works by "
                         "Vietnamese composers.\n",
                         "Who is the new music director of the Quillfeather Chamber Orchestra?", "Renata Oyarzún"),
    "brantwick.txt": ("Brantwick salt mine reopens as a museum\n\nThe Brantwick salt mine, closed since 1994, reopened "
                      "on Sunday as an underground museum. The project cost 18 million euros and was led by the "
                      "historian Tomasz Wielgosz, who catalogued the miners' tools found in the lower galleries.\n",
                      "Who led the project to reopen the Brantwick salt mine as a museum?", "Tomasz Wielgosz"),
}
EDITED = ("002_7bf4c8803009745d.txt", "003_e411960df6774cf9.txt")
EDITOR_NOTE = ("Editor's note: this article was updated with reactions from Washington, Kyiv and Beijing, "
               "and with figures on trade between the two countries.\n\n")


def env() -> dict[str, str]:
    e = dict(os.environ)
    e["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), e.get("PYTHONPATH")]))
    for k in ("RAG_MODE", "RAG_K", "RAG_RETRIEVAL"):
        e.pop(k, None)
    return e


def questions(n: int) -> list[str]:
    qs = [json.loads(line)["question"] for line in (SEEDS / "questions.jsonl").read_text(encoding="utf-8").splitlines()
          if line.strip()]
    return [qs[i % len(qs)] for i in range(n)]


def build(corpus: Path, index_dir: Path) -> None:
    subprocess.run([sys.executable, "-m", "rag.cli", "index", str(corpus), "--index-dir", str(index_dir)],
                   cwd=ROOT, env=env(), check=True, capture_output=True, text=True)


class Server:
    """`rag serve --http 127.0.0.1:0 --mode extractive` in a subprocess."""

    def __init__(self, index_dir: Path, queue: int) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "rag.cli", "serve", "--http", "127.0.0.1:0", "--mode", "extractive",
             "--queue", str(queue), "--index-dir", str(index_dir)],
            cwd=ROOT, env=env(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            text=True)
        self.lines: list[str] = []
        self.url = ""
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not self.url:
            line = self.proc.stderr.readline()  # type: ignore[union-attr]
            if not line:
                break
            self.lines.append(line)
            m = re.search(r"serving MCP at (http://\S+/mcp)", line)
            self.url = m.group(1) if m else ""
        if not self.url:
            self.stop()
            raise SystemExit("the server did not start:\n" + "".join(self.lines))
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


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(p / 100 * len(s) + 0.5) - 1))]


# -- 1. throughput ----------------------------------------------------------------------------
def in_process(index_dir: Path, qs: list[str], time_limit: float) -> dict[str, Any]:
    from rag import Settings, open_index
    from rag.serve.engine import call_ask

    settings = Settings.from_env(index_dir=index_dir, mode="extractive")
    lat: list[float] = []
    with open_index(index_dir) as idx:
        call_ask(qs[0], settings, idx, None)  # the embedder loaded, as the server does before serving
        t0 = time.perf_counter()
        for q in qs:
            if time.perf_counter() - t0 > time_limit:
                break
            t = time.perf_counter()
            call_ask(q, settings, idx, None)
            lat.append(time.perf_counter() - t)
        wall = time.perf_counter() - t0
    return {"calls": len(qs), "answered": len(lat), "failures": len(qs) - len(lat), "wall_s": wall,
            "per_s": len(lat) / wall, "p50_ms": pct(lat, 50) * 1000, "p95_ms": pct(lat, 95) * 1000,
            "max_ms": max(lat) * 1000}


async def served(url: str, qs: list[str], clients: int, time_limit: float) -> dict[str, Any]:
    from mcp import Client

    todo: asyncio.Queue[str] = asyncio.Queue()
    for q in qs:
        todo.put_nowait(q)
    lat: list[float] = []
    errors: list[str] = []

    connected: list[int] = []
    go = asyncio.Event()

    async def client() -> None:
        async with Client(url) as c:
            await c.list_tools()
            connected.append(1)
            if len(connected) == clients:
                go.set()
            await go.wait()  # the clock starts once every session is open
            while True:
                try:
                    q = todo.get_nowait()
                except asyncio.QueueEmpty:
                    return
                t = time.perf_counter()
                try:
                    res = await c.call_tool("ask", {"question": q, "mode": "extractive"})
                except Exception as exc:  # noqa: BLE001 - counted as a failure
                    errors.append(f"{type(exc).__name__}: {exc}")
                    continue
                if res.is_error or not res.structured_content or not res.structured_content.get("answer"):
                    errors.append(res.content[0].text if res.content else "empty result")
                    continue
                lat.append(time.perf_counter() - t)

    tasks = [asyncio.create_task(client()) for _ in range(clients)]
    await asyncio.wait_for(go.wait(), timeout=60)
    t0 = time.perf_counter()
    done, pending = await asyncio.wait(tasks, timeout=time_limit)
    for task in pending:
        task.cancel()
    wall = time.perf_counter() - t0
    for task in done:
        if task.exception() is not None:
            errors.append(f"client: {task.exception()!r}")
    return {"calls": len(qs), "answered": len(lat), "failures": len(qs) - len(lat), "errors": errors[:5],
            "wall_s": wall, "per_s": len(lat) / wall, "p50_ms": pct(lat, 50) * 1000,
            "p95_ms": pct(lat, 95) * 1000, "max_ms": max(lat) * 1000 if lat else float("nan")}


# -- 2. an update while clients ask -----------------------------------------------------------
async def read_all(c: Any) -> dict[str, str]:
    docs: dict[str, str] = {}
    cursor = None
    while True:
        page = await c.list_resources(cursor=cursor, cache_mode="bypass") if cursor else \
            await c.list_resources(cache_mode="bypass")
        for r in page.resources:
            docs[r.name] = (await c.read_resource(r.uri, cache_mode="bypass")).contents[0].text
        cursor = page.next_cursor
        if not cursor:
            return docs


def whole(answer: dict) -> str | None:
    """Why the answer is not whole, or None."""
    if not isinstance(answer.get("answer"), str) or not answer["answer"].strip():
        return "empty answer"
    ns = {s["n"] for s in answer["sources"]}
    if not answer["abstained"]:
        if not answer["citations"]:
            return "an answer without citations"
        for c in answer["citations"]:
            if c["passage"] not in ns or not c["supported"]:
                return f"citation [{c['n']}] unsupported or naming no source"
    return None


def consistent(answer: dict, docs: dict[str, str]) -> bool:
    """Every source and every quote of `answer` is found at its offsets in `docs`."""
    for s in answer["sources"]:
        if docs.get(s["doc_id"], "\0")[s["start"]:s["end"]] != s["text"]:
            return False
    for c in answer["citations"]:
        if docs.get(c["doc_id"], "\0")[c["quote_start"]:c["quote_end"]] != c["quote"]:
            return False
    return True


async def update_while_asking(url: str, corpus: Path, index_dir: Path, clients: int, calls: int,
                              time_limit: float) -> dict[str, Any]:
    from mcp import Client

    base_qs = questions(20)
    new_qs = [(q, name) for name, (_, q, _) in NEW_ARTICLES.items()]
    async with Client(url) as c:
        before = await read_all(c)
        first = (await c.call_tool("info", {})).meta["rag/index"]["number"]

    answers: list[tuple[dict, int, str]] = []  # (answer, snapshot number, asked)
    errors: list[str] = []
    updated = asyncio.Event()
    after_update: list[int] = [0]
    t0 = time.perf_counter()

    async def client(i: int) -> None:
        async with Client(url) as c:
            n = i
            while len(answers) + len(errors) < calls and time.perf_counter() - t0 < time_limit:
                if updated.is_set() and after_update[0] >= 8 * clients:
                    return
                q = new_qs[n % 3][0] if n % 4 == 3 else base_qs[n % len(base_qs)]
                n += clients
                try:
                    res = await c.call_tool("ask", {"question": q, "mode": "extractive"})
                except Exception as exc:  # noqa: BLE001
                    errors.append(f"{type(exc).__name__}: {exc}")
                    continue
                if res.is_error:
                    errors.append(res.content[0].text)
                    continue
                number = res.meta["rag/index"]["number"]
                answers.append((res.structured_content, number, q))
                if number > first:
                    after_update[0] += 1

    async def update() -> float:
        await asyncio.sleep(2.0)
        for name, (text, _, _) in NEW_ARTICLES.items():
            (corpus / name).write_text(text, encoding="utf-8")
        for name in EDITED:
            path = corpus / name
            title, _, body = path.read_text(encoding="utf-8").partition("\n\n")
            path.write_text(f"{title}\n\n{EDITOR_NOTE}{body}", encoding="utf-8")
        t = time.perf_counter()
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "rag.cli", "index", str(corpus), "--index-dir", str(index_dir),
            cwd=str(ROOT), env=env(), stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
        _, err = await proc.communicate()
        if proc.returncode != 0:
            raise SystemExit(f"rag index failed: {err.decode()}")
        updated.set()
        return time.perf_counter() - t

    results = await asyncio.gather(update(), *(client(i) for i in range(clients)), return_exceptions=True)
    index_s = results[0]
    if isinstance(index_s, BaseException):
        raise index_s
    errors += [repr(r) for r in results[1:] if isinstance(r, BaseException)]

    async with Client(url) as c:
        after = await read_all(c)
        found = []
        for q, name in new_qs:  # found: answered, and only from the new article that holds the answer
            res = await c.call_tool("ask", {"question": q, "mode": "extractive"})
            a = res.structured_content
            found.append(not res.is_error and not a["abstained"] and
                         {ci["doc_id"] for ci in a["citations"]} == {name})

    numbers = sorted({n for _, n, _ in answers})
    last = max(numbers) if numbers else first
    broken = [why for a, _, _ in answers if (why := whole(a))]
    mixed = []
    for a, n, q in answers:
        states = [before] if n == first else [after] if n == last else [before, after]
        if not any(consistent(a, docs) for docs in states):
            mixed.append((q, n))
    assert set(NEW_ARTICLES) <= set(after) and not set(NEW_ARTICLES) & set(before)
    assert all(before[d] != after[d] for d in EDITED)
    return {"answers": len(answers), "errors": errors[:5], "failures": len(errors), "snapshots": numbers,
            "on_old": sum(n == first for _, n, _ in answers), "on_new": sum(n > first for _, n, _ in answers),
            "not_whole": len(broken), "mixed": len(mixed), "mixed_examples": mixed[:3], "index_s": index_s,
            "new_found": sum(found), "new_asked": len(found), "documents": (len(before), len(after))}


# -- main -------------------------------------------------------------------------------------
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--calls", type=int, default=200)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--time-limit", type=float, default=300.0, help="seconds per phase")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "RESULTS-serve.md")
    args = ap.parse_args()
    command = "python benchmarks/bench_serve.py " + " ".join(sys.argv[1:])

    import mcp  # noqa: F401
    from importlib.metadata import version

    work = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    try:
        corpus = work / "articles"
        shutil.copytree(SEEDS, corpus, ignore=shutil.ignore_patterns("*.jsonl"))
        index_dir = work / "index"
        build(corpus, index_dir)
        qs = questions(args.calls)

        rounds = []
        server = Server(index_dir, queue=max(args.clients, 16))
        try:
            for r in range(args.rounds):
                local = in_process(index_dir, qs, args.time_limit)
                one = asyncio.run(served(server.url, qs, 1, args.time_limit))
                remote = asyncio.run(served(server.url, qs, args.clients, args.time_limit))
                rounds.append((local, one, remote))
                print(f"round {r + 1}: in-process {local['per_s']:.1f}/s (p50 {local['p50_ms']:.0f} ms), "
                      f"1 client {one['per_s']:.1f}/s (p50 {one['p50_ms']:.0f} ms), "
                      f"served {remote['per_s']:.1f}/s (p50 {remote['p50_ms']:.0f} ms, p95 {remote['p95_ms']:.0f} ms), "
                      f"failures {remote['failures']}, ratio {remote['per_s'] / local['per_s']:.2f}", flush=True)
        finally:
            code = server.stop()
        assert code == 0, "".join(server.lines)

        corpus2 = work / "articles2"
        shutil.copytree(SEEDS, corpus2, ignore=shutil.ignore_patterns("*.jsonl"))
        index2 = work / "index2"
        build(corpus2, index2)
        server = Server(index2, queue=max(args.clients, 16))
        try:
            upd = asyncio.run(update_while_asking(server.url, corpus2, index2, args.clients, 4 * args.calls,
                                                  args.time_limit))
        finally:
            code = server.stop()
        assert code == 0, "".join(server.lines)
        print(f"update: {upd}", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    lines = [
        "# `rag serve`: concurrent MCP clients over HTTP, and an index update while they ask",
        "",
        f"Machine: {os.cpu_count()} CPU cores ({platform.machine()}), Python {platform.python_version()}, "
        f"mcp {version('mcp')}, no GPU, shared with other jobs while measured (times are noisy). "
        "All traffic on 127.0.0.1.",
        "",
        f"Run: `{command}` on {time.strftime('%Y-%m-%d')}. Index: seeds/ (5 articles) with `rag index` "
        "(bundled MiniLM, ONNX int8); extractive answers; the server is `rag serve --http 127.0.0.1:0 "
        f"--mode extractive --queue {max(args.clients, 16)}` in its own process, the {args.clients} clients "
        "are the MCP SDK's own `Client` (one session each, opened before the clock starts; it validates every "
        "result against the tool's output schema) in the benchmark's process, sharing its event loop.",
        "",
        f"## {args.calls} `ask` calls: {args.clients} concurrent clients over HTTP vs in-process, one after another",
        "",
        "| round | how | calls | failures | p50 ms | p95 ms | max ms | answers/s | served / in-process |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r, (local, one, remote) in enumerate(rounds, 1):
        lines.append(f"| {r} | in-process, sequential | {local['calls']} | {local['failures']} | {local['p50_ms']:.0f} | "
                     f"{local['p95_ms']:.0f} | {local['max_ms']:.0f} | {local['per_s']:.1f} | |")
        lines.append(f"| {r} | `rag serve` HTTP, 1 client, sequential | {one['calls']} | {one['failures']} | "
                     f"{one['p50_ms']:.0f} | {one['p95_ms']:.0f} | {one['max_ms']:.0f} | {one['per_s']:.1f} | "
                     f"{one['per_s'] / local['per_s']:.2f} |")
        lines.append(f"| {r} | `rag serve` HTTP, {args.clients} clients | {remote['calls']} | {remote['failures']} | "
                     f"{remote['p50_ms']:.0f} | {remote['p95_ms']:.0f} | {remote['max_ms']:.0f} | {remote['per_s']:.1f} | "
                     f"{remote['per_s'] / local['per_s']:.2f} |")
    lines += [
        "",
        "Latency is per call as its client sees it. The server computes one request at a time "
        f"(rag/serve/engine.py), so with {args.clients} clients a call mostly waits for the ones before it: p50 is about "
        f"{args.clients} times one served answer's time. The 1-client row gives the protocol's own cost per call "
        "(its p50 minus the in-process p50): JSON-RPC over HTTP, the result checked against the output schema "
        "by the server (pydantic) and again by the client (jsonschema), JSON both ways. With "
        f"{args.clients} clients the server parses the next requests while it answers one, but on 2 cores it "
        "shares them with the clients' own process.",
        "",
        f"## An index update while {args.clients} clients ask",
        "",
        "`rag index` adds three articles and inserts a paragraph near the top of two seed articles (every "
        "later passage of theirs moves), while the clients ask the 20 seeds questions and the three questions "
        "only the new articles answer. Each document's text is read through the server before and after.",
        "",
        "| answers | failures | on the old index | on the new | not whole | mixing two states | `rag index` s | "
        "new articles found after |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| {upd['answers']} | {upd['failures']} | {upd['on_old']} | {upd['on_new']} | {upd['not_whole']} | "
        f"{upd['mixed']} | {upd['index_s']:.1f} | {upd['new_found']} of {upd['new_asked']} |",
        "",
        f"Snapshots seen by the answers: {upd['snapshots']} (documents {upd['documents'][0]} before, "
        f"{upd['documents'][1]} after). \"Whole\": a non-empty answer whose every citation is supported and names "
        "one of its sources (abstentions included). \"Mixing\": a source's text or a citation's quote not found at "
        "its offsets in the documents of the state the answer says it used (before or after the update). "
        "\"Found\": after the update, each question that only a new article answers gets an answer (not an "
        "abstention) citing that article alone.",
    ]
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"written to {args.out}")
    ok = all(remote["failures"] == 0 and one["failures"] == 0 and remote["per_s"] >= 0.5 * local["per_s"]
             for local, one, remote in rounds) \
        and upd["failures"] == 0 and upd["not_whole"] == 0 and upd["mixed"] == 0 and upd["new_found"] == upd["new_asked"]
    if not ok:
        raise SystemExit("a target was missed (see above)")


if __name__ == "__main__":
    main()
