"""The bot behind a server: one index and one LLM shared by every request, one request computed at
a time, and the index reopened when `rag index` has written since the last request.

`Engine` is the transport-free part of `rag serve` (rag/serve/mcp_server.py puts it behind MCP). Its
`ask`, `search`, `info` and `document` are plain blocking calls on the caller's thread; a server
hands them to `Engine.submit`, which runs them one after another on the engine's own worker thread
and refuses, with `ServerBusy`, a request that would make more than `queue` wait.

Why one at a time: the LLM generates one answer at a time anyway, and an extractive answer is
CPU-bound Python (one core under the GIL), so a second worker would add contention, not answers.
It also means the opened index is only ever used from one thread.

Index updates: a request first compares the index's stamp (`rag.stores.generation_stamp`, which
changes with every commit of `rag index`) with the one the open snapshot was taken at; when they
differ it opens the index again, passing the loaded embedder on, and closes the old snapshot. A
request sees one snapshot from start to end (the local store's reader holds one SQLite read
transaction and leases its files), so an answer never mixes passages of two index states. An idle
server looks every `refresh_s` seconds too, so that it lets go of the old snapshot's files without
waiting for a request.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, TypeVar

from rag.answer.dates import parse_date
from rag.answer.extractive import MAX_QUESTION_CHARS
from rag.answer.pipeline import MODES, Hooks, ask, check_question, load_generator
from rag.config import Settings
from rag.errors import IndexMismatchError, InputError, ModelError, RagError
from rag.retrieval import RETRIEVAL_MODES, DateFilter, Index, open_index
from rag.stores import generation_stamp, is_store_url
from rag.types import Answer, Hit

T = TypeVar("T")

ASK_K = (1, 50)  # as `rag ask -k`
SEARCH_K = (1, 100)  # as `rag search -k`
DEFAULT_QUEUE = 16  # requests that may wait while one is computed
IDLE_REFRESH_S = 10.0  # an idle server looks for an index update this often


class ServerBusy(RagError):
    """More requests are waiting than the server's queue holds."""


@dataclass(frozen=True)
class Snapshot:
    """Which state of the index a result was computed on. `number` counts the snapshots this
    server has opened (1 for the first); `generation` and `written_at` are the index's own."""

    number: int
    generation: str | None
    written_at: str | None
    documents: int
    chunks: int


@dataclass(frozen=True)
class SearchResult:
    query: str
    hits: tuple[Hit, ...]


@dataclass(frozen=True)
class IndexInfo:
    """What the served index holds and how the server answers."""

    index: str  # the index folder, or the store URL
    generation: str | None
    written_at: str | None
    documents: int
    indexed_documents: int  # documents whose text is not a duplicate of another's
    chunks: int
    first_date: str | None  # earliest publication date among the documents (YYYY-MM-DD)
    last_date: str | None
    undated_documents: int
    embedder: str
    embedder_dim: int
    retrieval: str
    mode: str  # the server's default answer mode
    model: str | None  # the LLM loaded for answers; None: answers quote the articles
    k: int  # passages per answer unless a request says otherwise
    queue: int
    snapshot: int


@dataclass(frozen=True)
class DocumentText:
    """An indexed document. `text` is the cleaned text that citations' and sources' character
    offsets (quote_start/quote_end, start/end) point into."""

    doc_id: str
    title: str
    text: str
    date: str | None = None
    url: str | None = None
    publisher: str | None = None


@dataclass(frozen=True)
class Served:
    """A result and the index snapshot it was computed on."""

    value: Any
    snapshot: Snapshot


def call_ask(question: str, settings: Settings, index: Index, generator: Any) -> Answer:
    """The one call of `rag.ask`: the shared index and the loaded LLM (None: extractive, and then
    `settings.mode` must be extractive, or `ask` would load one of its own)."""
    return ask(question, settings, index=index, hooks=Hooks(generator=generator))


# -- the index, reopened after updates ---------------------------------------------------------
class SharedIndex:
    """The one opened index of a server. `get()` returns it, first reopening it when the folder's
    stamp changed; only the engine's worker thread calls it."""

    def __init__(self, where: str | Path) -> None:
        self.where = where
        self.live = is_store_url(where)
        self._idx: Index | None = None
        self._stamp: tuple | None = None
        self._number = 0
        self.snapshot: Snapshot | None = None

    def get(self) -> tuple[Index, Snapshot]:
        stamp = generation_stamp(self.where)  # before opening: a write after it is seen next time
        if self._idx is None or (not self.live and stamp != self._stamp):
            self._reopen(stamp)
        assert self._idx is not None and self.snapshot is not None
        return self._idx, self.snapshot

    def _reopen(self, stamp: tuple | None) -> None:
        old = self._idx
        embedder = old.embedder if old is not None else None  # loaded once: the new snapshot reuses it
        try:
            new = open_index(self.where, embedder)
        except IndexMismatchError:
            if embedder is None:
                raise
            new = open_index(self.where)  # rebuilt with another embedder: load that one
        self._idx, self._stamp = new, stamp
        self._number += 1
        m = new.manifest
        self.snapshot = Snapshot(number=self._number, generation=new.reader.generation,
                                 written_at=m.get("written_at"), documents=int(m["counts"].get("documents", 0)),
                                 chunks=int(m["counts"].get("chunks", 0)))
        if old is not None:
            old.close()

    def close(self) -> None:
        if self._idx is not None:
            self._idx.close()
            self._idx = None


# -- checks of what a request asks (the library's own rules, before any work) -----------------
def _check_date(name: str, value: str | None) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InputError(f"{name} must be a date as YYYY-MM-DD, not {value!r}")
    return parse_date(value, name)


def _check_dates(since: str | None, until: str | None) -> DateFilter:
    """The publication range asked for; InputError for a malformed date or since after until."""
    return DateFilter(since=_check_date("since", since), until=_check_date("until", until))


def _check_k(k: int | None, bounds: tuple[int, int]) -> int | None:
    if k is None:
        return None
    if isinstance(k, bool) or not isinstance(k, int) or not bounds[0] <= k <= bounds[1]:
        raise InputError(f"k must be a whole number from {bounds[0]} to {bounds[1]}, not {k!r}")
    return k


def _check_query(query: str) -> str:
    """A search query is held to what a question is (`check_question`): not empty, not a document."""
    if not isinstance(query, str) or not query.strip():
        raise InputError("the query is empty")
    if len(query) > MAX_QUESTION_CHARS:
        raise InputError(f"the query is {len(query):,} characters long; send at most {MAX_QUESTION_CHARS:,} "
                         f"(a query, not a document)")
    return query


# -- the engine --------------------------------------------------------------------------------
class Engine:
    """One index and at most one LLM, shared by all requests; see the module docstring."""

    def __init__(self, settings: Settings, *, queue: int = DEFAULT_QUEUE, refresh_s: float = IDLE_REFRESH_S) -> None:
        if settings.mode not in MODES:
            raise InputError(f"mode must be one of {', '.join(MODES)}, not {settings.mode!r}")
        if settings.retrieval not in RETRIEVAL_MODES:
            raise InputError(f"retrieval must be one of {', '.join(RETRIEVAL_MODES)}, not {settings.retrieval!r}")
        if queue < 0:
            raise InputError(f"the queue must hold 0 or more requests, not {queue}")
        self.settings = settings
        self.queue = queue
        self.index = SharedIndex(settings.index_dir)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rag-serve")
        self._lock = threading.Lock()
        self._pending = 0
        self._llm: Any = None
        self._llm_looked = False
        self._llm_notice: str | None = None
        self._closed = threading.Event()
        self._refresh_s = refresh_s

    # -- running requests --------------------------------------------------------------
    def submit(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> "Future[T]":
        """Run `fn` on the worker thread after the requests already there; ServerBusy when
        `queue` requests are already waiting."""
        with self._lock:
            if self._pending > self.queue:
                waiting = self._pending - 1
                raise ServerBusy(f"the server is busy: one request is being answered and {waiting} "
                                 f"{'is' if waiting == 1 else 'are'} waiting (the queue holds {self.queue}); "
                                 f"try again in a moment")
            self._pending += 1
        try:
            fut = self._pool.submit(fn, *args, **kwargs)
        except BaseException:
            self._done()
            raise
        fut.add_done_callback(lambda _f: self._done())
        return fut

    def _done(self) -> None:
        with self._lock:
            self._pending -= 1

    @property
    def pending(self) -> int:
        """Requests submitted and not finished (the one running included)."""
        with self._lock:
            return self._pending

    def start(self) -> Snapshot:
        """Open the index, load its embedder and the LLM the settings ask for, before the first
        request (on the worker thread, as every later use)."""
        return self.submit(self._start).result()

    def _start(self) -> Snapshot:
        idx, snap = self.index.get()
        idx.embedder  # noqa: B018 - loaded now, not inside the first answer
        self._generator(self.settings.mode)  # the LLM loaded now, or found absent
        if self._refresh_s > 0:
            threading.Thread(target=self._refresh_when_idle, name="rag-serve-refresh", daemon=True).start()
        return snap

    def _refresh_when_idle(self) -> None:
        """Every `refresh_s` seconds while nothing is asked, take up an index update, so that an
        idle server does not hold on to the old snapshot's files (a writer leaves leased files)."""
        while not self._closed.wait(self._refresh_s):
            if self.pending:
                continue
            try:  # on the worker, as every use of the index, but not counted as a request
                self._pool.submit(self.index.get).result()
            except Exception:  # noqa: BLE001 - the next request reports what is wrong
                pass

    def close(self) -> None:
        self._closed.set()
        self._pool.shutdown(wait=True)
        self.index.close()
        close = getattr(self._llm, "close", None)
        if close is not None:
            close()

    # -- the LLM, loaded once -----------------------------------------------------------
    def _generator(self, mode: str) -> tuple[Any, str | None]:
        """The LLM a request in `mode` answers with (None: extractive) and, in auto mode without
        one, the notice `rag ask` gives. Which LLM, if any, is decided once, by the server's own
        settings as `rag ask` decides it (auto: the recommended model when downloaded; llm: the
        named or first present one, else ModelError; extractive: none), and loaded once."""
        if not self._llm_looked:
            self._llm_looked = True
            if self.settings.mode != "extractive":
                self._llm, self._llm_notice = load_generator(self.settings)
        if mode == "extractive":
            return None, None
        if self._llm is not None:
            return self._llm, None
        if mode == "llm":
            why = self._llm_notice or f"it was started with --mode {self.settings.mode}"
            raise ModelError(f"this server has no LLM loaded, so it cannot answer in llm mode ({why}); "
                             f"ask in mode auto or extractive, or restart it with --mode llm")
        return None, self._llm_notice

    @property
    def model(self) -> str | None:
        return getattr(self._llm, "name", None) if self._llm is not None else None

    # -- requests (blocking; a server runs them through `submit`) -------------------------
    def ask(self, question: str, *, as_of: str | None = None, since: str | None = None,
            until: str | None = None, k: int | None = None, mode: str | None = None) -> Served:
        """The checked answer to `question` on the current index snapshot."""
        if not isinstance(question, str):
            raise InputError("the question is empty")
        check_question(question)
        dates = _check_dates(since, until)
        as_of = _check_date("as_of", as_of)
        k = _check_k(k, ASK_K)
        if mode is not None and mode not in MODES:
            raise InputError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
        mode = mode or self.settings.mode
        gen, notice = self._generator(mode)
        settings = self.settings.with_(k=k, since=dates.since, until=dates.until, as_of=as_of,
                                       mode=mode if gen is not None else "extractive")
        idx, snap = self.index.get()
        answer = call_ask(question, settings, idx, gen)
        if gen is None and notice and mode == "auto":
            # What `rag ask` says in auto mode without the recommended LLM, as it says it.
            answer = replace(answer, notice=f"{answer.notice} {notice}" if answer.notice else notice)
        return Served(answer, snap)

    def search(self, query: str, *, k: int | None = None, since: str | None = None,
               until: str | None = None) -> Served:
        """The k passages that best match `query`, best first (as `rag search`)."""
        _check_query(query)
        dates = _check_dates(since, until)
        k = _check_k(k, SEARCH_K) or self.settings.k
        idx, snap = self.index.get()
        hits = idx.search(query, k=k, retrieval=self.settings.retrieval, dates=dates)
        return Served(SearchResult(query=query, hits=tuple(hits)), snap)

    def info(self) -> Served:
        """What the index holds (documents, chunks, dates, embedder) and how answers are made."""
        idx, snap = self.index.get()
        m = idx.manifest
        counts = m["counts"]
        ids = [row[0] for row in idx.reader.documents()]
        dates = sorted(d[:10] for d in idx.reader.doc_dates(ids).values() if d)
        return Served(IndexInfo(
            index=str(self.settings.index_dir), generation=snap.generation, written_at=m.get("written_at"),
            documents=int(counts.get("documents", len(ids))),
            indexed_documents=int(counts.get("indexed_documents", counts.get("documents", len(ids)))),
            chunks=int(counts.get("chunks", 0)), first_date=dates[0] if dates else None,
            last_date=dates[-1] if dates else None, undated_documents=len(ids) - len(dates),
            embedder=str(m["embedder"]["name"]), embedder_dim=int(m["embedder"]["dim"]),
            retrieval=self.settings.retrieval, mode=self.settings.mode, model=self.model,
            k=self.settings.k, queue=self.queue, snapshot=snap.number), snap)

    def documents(self, offset: int = 0, limit: int = 200) -> Served:
        """A page of the indexed documents, sorted by id: ([(doc_id, title), ...], how many in all)."""
        idx, snap = self.index.get()
        rows = idx.reader.documents()
        return Served(([(r[0], r[1]) for r in rows[offset:offset + limit]], len(rows)), snap)

    def document(self, doc_id: str) -> Served:
        """The document `doc_id` as indexed: its cleaned text (what citation offsets point into),
        title and what is known of it; InputError for an id the index does not hold."""
        if not isinstance(doc_id, str) or not doc_id.strip():
            raise InputError("the document id is empty")
        idx, snap = self.index.get()
        reader = idx.reader
        unknown = InputError(f"no document {doc_id!r} in the index (a document id is the doc_id of a "
                             f"source or citation of an answer, or of a search hit)")
        try:
            text = reader.document_text(doc_id)
        except KeyError:
            raise unknown from None
        chunks = reader.chunks_of(doc_id)
        title = chunks[0].title if chunks else next((r[1] for r in reader.documents() if r[0] == doc_id), "")
        url, date, publisher = reader.document_metadata().get(doc_id, ("", "", ""))
        date = date or reader.doc_dates([doc_id]).get(doc_id) or ""
        return Served(DocumentText(doc_id=doc_id, title=title, text=text, date=date[:10] or None,
                                   url=url or None, publisher=publisher or None), snap)

