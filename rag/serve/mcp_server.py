"""`rag serve`: the `Engine` (rag/serve/engine.py) behind the Model Context Protocol, over stdio or
streamable HTTP, with the official MCP Python SDK (`mcp` on PyPI).

Tools: `ask`, `search`, `info` and `document`; each returns its result as structured content (the
same frozen dataclasses `--json` prints, as `dataclasses.asdict` makes them) and the same JSON as
text, plus links to the documents it names. Resources: every indexed document, at
`rag://document/{doc_id}` (the id percent-encoded, `document_uri`), as its cleaned text.

A result's `_meta["rag/index"]` says which index snapshot it was computed on (`Snapshot`).
Anticipated failures (bad input, a busy server, no LLM in llm mode, an index that cannot be
opened) are tool errors with the library's one-line message; anything else is logged on stderr
with its traceback and reported to the client as a failed call, and the server goes on.

No `from __future__ import annotations` here: the SDK reads the tools' annotations at runtime.
"""

import asyncio
import dataclasses
import ipaddress
import json
import signal
import threading
from typing import Annotated, Any, Callable, Literal, Optional
from urllib.parse import quote

from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError, ToolError
from mcp.server.mcpserver.resources import ResourceSecurity
from mcp.shared.exceptions import MCPError
from mcp_types import (INTERNAL_ERROR, INVALID_PARAMS, CallToolResult, ListResourcesResult, PaginatedRequestParams,
                       Resource, ResourceLink, TextContent, ToolAnnotations)
from pydantic import Field

from rag import __version__
from rag.errors import InputError, RagError
from rag.serve.engine import ASK_K, SEARCH_K, DocumentText, Engine, IndexInfo, SearchResult, Served
from rag.types import Answer

DOCUMENT_URI = "rag://document/{doc_id}"
PAGE = 200  # documents per resources/list page
META_KEY = "rag/index"

INSTRUCTIONS = (
    "Answers questions from a local collection of news articles, with citations checked against "
    "the articles. Call `ask` with a question: the answer's sentences carry [n] markers that name "
    "its `sources`; each citation quotes the passage sentence that supports it. `abstained: true` "
    "(answer \"The articles don't say.\") means the articles hold no answer: report that, do not "
    "guess. `search` returns matching passages; `info` describes the collection; `document` (or the "
    "resource rag://document/{doc_id}) returns an article's full text.")


def document_uri(doc_id: str) -> str:
    """The resource URI of a document (its id percent-encoded, slashes and '#' included)."""
    return DOCUMENT_URI.replace("{doc_id}", quote(doc_id, safe=""))


def _plain(obj: Any) -> Any:
    """A frozen dataclass as `--json` prints it: `dataclasses.asdict`, tuples as lists."""
    return json.loads(json.dumps(dataclasses.asdict(obj), ensure_ascii=False))


def _result(served: Served, docs: list[tuple[str, str]] = ()) -> CallToolResult:
    data = _plain(served.value)
    links = [ResourceLink(uri=document_uri(d), name=d, title=t or None, mime_type="text/plain")
             for d, t in dict(docs).items()]
    return CallToolResult(content=[TextContent(type="text", text=json.dumps(data, ensure_ascii=False)), *links],
                          structured_content=data,
                          _meta={META_KEY: dataclasses.asdict(served.snapshot)})


async def _run(engine: Engine, fn: Callable[..., Served], *args: Any, **kwargs: Any) -> Served:
    """`fn` on the engine's worker, after the requests before it; the library's anticipated
    errors become tool errors with its message."""
    try:
        return await asyncio.wrap_future(engine.submit(fn, *args, **kwargs))
    except RagError as exc:
        raise ToolError(str(exc)) from exc


class _Server(MCPServer):
    """MCPServer whose resources/list pages through the indexed documents (they change as the
    index does, so they are not registered one by one)."""

    engine: Engine

    async def _handle_list_resources(self, ctx: Any, params: Optional[PaginatedRequestParams]
                                     ) -> ListResourcesResult:
        cursor = params.cursor if params is not None else None
        try:
            offset = int(cursor) if cursor else 0
            if offset < 0:
                raise ValueError
        except ValueError:
            raise MCPError(code=INVALID_PARAMS, message=f"invalid cursor {cursor!r}") from None
        try:
            served = await asyncio.wrap_future(self.engine.submit(self.engine.documents, offset, PAGE))
        except RagError as exc:
            raise MCPError(code=INTERNAL_ERROR, message=str(exc)) from exc
        rows, total = served.value
        nxt = offset + len(rows)
        return ListResourcesResult(
            resources=[Resource(uri=document_uri(d), name=d, title=t or None, mime_type="text/plain")
                       for d, t in rows],
            next_cursor=str(nxt) if nxt < total else None)


def build_server(engine: Engine, *, log_level: str = "WARNING") -> MCPServer:
    """The MCP server of `engine`: its tools and the document resources."""
    server = _Server("rag", version=__version__, instructions=INSTRUCTIONS, log_level=log_level)  # type: ignore[arg-type]
    server.engine = engine
    read_only = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True,
                                open_world_hint=False)
    Date = Annotated[Optional[str], Field(description="A date as YYYY-MM-DD.")]

    @server.tool(annotations=read_only)
    async def ask(
        question: Annotated[str, Field(description="The question about the articles.")],
        as_of: Annotated[Optional[str], Field(description="The date the question is asked on (YYYY-MM-DD; "
                                              "default: today): 'this week', 'last year' are relative to it, "
                                              "and nothing published after it is used.")] = None,
        since: Annotated[Optional[str], Field(description="Only articles published on or after this date "
                                              "(YYYY-MM-DD).")] = None,
        until: Annotated[Optional[str], Field(description="Only articles published on or before this date "
                                              "(YYYY-MM-DD).")] = None,
        k: Annotated[Optional[int], Field(ge=ASK_K[0], le=ASK_K[1], description="Passages to answer from "
                                          "(default: the server's, 5).")] = None,
        mode: Annotated[Optional[Literal["auto", "llm", "extractive"]], Field(
            description="extractive: quote the best sentences of the articles; llm: a local LLM writes "
                        "the answer and only its verified sentences are kept; auto (default): the "
                        "recommended LLM when the server has it, else extractive.")] = None,
    ) -> Annotated[CallToolResult, Answer]:
        """Answer a question from the indexed news articles, with citations checked against them.

        Returns the answer (sentences with [n] markers), `citations` (n, doc_id, title, the quoted
        passage span, whether it supports the sentence) and `sources` (the passages, with their
        documents' publication dates). When the articles hold no answer, `abstained` is true and
        the answer is "The articles don't say." — that is an answer, not an error."""
        served = await _run(engine, engine.ask, question, as_of=as_of, since=since, until=until, k=k, mode=mode)
        a = served.value
        return _result(served, [(s.doc_id, s.title) for s in a.sources if any(c.passage == s.n for c in a.citations)]
                       or [(s.doc_id, s.title) for s in a.sources])

    @server.tool(annotations=read_only)
    async def search(
        query: Annotated[str, Field(description="What to look for.")],
        k: Annotated[Optional[int], Field(ge=SEARCH_K[0], le=SEARCH_K[1],
                                          description="How many passages (default: 5).")] = None,
        since: Date = None,
        until: Date = None,
    ) -> Annotated[CallToolResult, SearchResult]:
        """The passages of the indexed articles that best match `query`, best first, with their
        documents' ids, titles and dates (no answer is written)."""
        served = await _run(engine, engine.search, query, k=k, since=since, until=until)
        return _result(served, [(h.doc_id, h.title) for h in served.value.hits])

    @server.tool(annotations=read_only)
    async def info() -> Annotated[CallToolResult, IndexInfo]:
        """What the index holds (documents, chunks, publication date range, embedder) and how the
        server answers (default mode, the LLM in use, k)."""
        return _result(await _run(engine, engine.info))

    @server.tool(annotations=read_only)
    async def document(
        doc_id: Annotated[str, Field(description="A doc_id from an answer's sources or citations, or a search hit.")],
    ) -> Annotated[CallToolResult, DocumentText]:
        """The full cleaned text of an indexed article, with its title, date, url and publisher.
        Citation and source offsets (quote_start/quote_end, start/end) point into `text`."""
        served = await _run(engine, engine.document, doc_id)
        return _result(served, [(served.value.doc_id, served.value.title)])

    @server.resource(DOCUMENT_URI, name="document", mime_type="text/plain",
                     description="An indexed article's cleaned text, by its doc_id (percent-encoded); "
                                 "citation offsets point into it.",
                     security=ResourceSecurity(exempt_params={"doc_id"}))  # an id looked up, never a path
    async def read_document(doc_id: str) -> str:
        try:
            served = await asyncio.wrap_future(engine.submit(engine.document, doc_id))
        except InputError as exc:
            raise ResourceNotFoundError(str(exc)) from exc
        except RagError as exc:
            raise ResourceError(str(exc)) from exc
        return served.value.text

    return server


# -- transports ----------------------------------------------------------------------------------
def parse_listen(text: str) -> tuple[str, int]:
    """'HOST:PORT', ':PORT', 'PORT' or '[IPv6]:PORT' as (host, port); the host defaults to 127.0.0.1."""
    text = text.strip()
    host, _, port = text.rpartition(":") if ":" in text else ("", "", text)
    host = host.strip("[]") or "127.0.0.1"
    try:
        number = int(port)
        if not 0 <= number <= 65535:
            raise ValueError
    except ValueError:
        raise InputError(f"--http takes HOST:PORT (e.g. 127.0.0.1:8000), not {text!r}") from None
    return host, number


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve_stdio(engine: Engine, *, log_level: str = "WARNING") -> None:
    """Serve over stdin/stdout until the client closes stdin."""
    build_server(engine, log_level=log_level).run("stdio")


def serve_http(engine: Engine, host: str = "127.0.0.1", port: int = 8000, *, allow_remote: bool = False,
               on_ready: Callable[[str], None] | None = None, log_level: str = "WARNING") -> None:
    """Serve over streamable HTTP at http://HOST:PORT/mcp until SIGINT/SIGTERM. A host other than a
    loopback address needs `allow_remote` (the server has no authentication). `on_ready` gets the
    URL once the port is bound (port 0: a free port is chosen)."""
    if not is_loopback(host) and not allow_remote:
        raise InputError(f"{host} is not a loopback address: other machines could reach the server, which "
                         f"has no authentication; pass --allow-remote to bind it anyway")
    server = build_server(engine, log_level=log_level)
    if threading.current_thread() is threading.main_thread():
        # uvicorn shuts down gracefully on SIGTERM, then raises it again: end with exit code 0.
        signal.signal(signal.SIGTERM, _stop)
    asyncio.run(_serve_http(server, host, port, on_ready, log_level))


def _stop(signum: int, frame: Any) -> None:
    raise SystemExit(0)


async def _serve_http(server: MCPServer, host: str, port: int, on_ready: Callable[[str], None] | None,
                      log_level: str) -> None:
    import uvicorn

    app = server.streamable_http_app(host=host, json_response=True)
    userver = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level=log_level.lower(),
                                            access_log=False))
    task = asyncio.create_task(userver.serve())
    while not userver.started and not task.done():
        await asyncio.sleep(0.02)
    if task.done():
        try:
            task.result()
        except SystemExit:
            pass
        raise InputError(f"cannot listen on {host}:{port} (the port is in use, or the host is not an "
                         f"address of this machine)")
    bound = userver.servers[0].sockets[0].getsockname()[1]
    if on_ready is not None:
        shown = f"[{host}]" if ":" in host else host
        on_ready(f"http://{shown}:{bound}/mcp")
    await task
