"""The index kept in Milvus instead of the local folder: write it, open it, search it.

Optional (`pip install ".[scale]"`); `pymilvus` is imported only when a Milvus store is used.
A store is named by a URL, `milvus://HOST:PORT/COLLECTION` (`--store`, env `RAG_STORE`);
`open_index` and `build_index` dispatch on it, and everything above them (hits, answers,
citations, `rag eval`) is unchanged.

Layout, for a store named `news`::

    news        one row per chunk: id (int64, a hash of the chunk id, so a retried or repeated
                write upserts the same row), chunk_id, doc_id, n, start, end, title, heading,
                text, document sha256/date/url/publisher, `lex` (the stemmed words of title,
                heading and text), `sparse` (Milvus' BM25 function over `lex`), `vec` (the
                normalized dense vector, inner product)
                property `rag_manifest`: JSON as the local manifest (embedder name and
                dimension, chunking, counts), checked on open
    news_docs   one row per document: doc_id, title, sha256, canonical (the document whose chunks
                it shares, "" when indexed itself), source, url, date, publisher

Lexical search is Milvus' own BM25 (full-text search). The words are stemmed (Snowball English)
on the client before Milvus sees them, so the same query matches the same words on every Milvus
(milvus-lite's analyzer has no stemmer) and matches what the local store's porter tokenizer
does. Hybrid search is Milvus `hybrid_search` with weighted ranking (the default, 0.5/0.5 over
arctan-normalized scores) or RRF; `client` fusion fetches the two lists and fuses them as the
local store does.

Writes are incremental by content hash with the local store's plan (rag/plan.py), streaming the
documents in its two passes (rag/indexing.py). Milvus has no transactions:
a chunk row is written before its document row and removed after it, so a run stopped
part-way leaves documents either complete or absent from the document table, and the next run
finishes the job (its chunk rows are upserted by their stable ids, stale ones deleted first).
One writer at a time is assumed: nothing locks a collection.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from .chunking import ChunkingParams
from .embedding import Embedder, backend_of, manifest_backend
from .errors import IndexMismatchError, InputError, NoIndexError, RagError
from .retrieval import FUSION, Fusion, Index
from .store import ChunkRow
from .types import Chunk, Document

SCHEME = "milvus"
FORMAT = "rag-milvus/1"
MANIFEST_KEY = "rag_manifest"
RANKERS = ("rrf", "weighted", "client")
# Chosen on SciFact's train split (809 queries, benchmarks/RESULTS-cluster.md): hybrid nDCG@10
# weighted 0.7363, client 0.7345, rrf 0.7252.
DEFAULT_RANKER = "weighted"
_VARCHAR_MAX = 65535
_FIELD_MAX = 2048  # bytes kept of an id, a source path, a url, a date or a publisher
_TEXT_FIELDS = ("chunk_id", "doc_id", "title", "heading", "text", "sha256", "date", "url", "publisher")
_CHUNK_FIELDS = ["id", "chunk_id", "doc_id", "n", "start", "end", "title", "heading", "text"]
_URL = re.compile(r"^milvus:/{1,2}([^/]+)/(.+?)/*$", re.IGNORECASE)


class StoreError(RagError):
    """The Milvus store cannot be reached, or holds something else than expected."""


@dataclass(frozen=True)
class StoreURL:
    host: str
    port: int
    collection: str

    @property
    def uri(self) -> str:
        return f"http://{self.host}:{self.port}"

    def __str__(self) -> str:
        return f"{SCHEME}://{self.host}:{self.port}/{self.collection}"


def parse_store_url(value: object) -> StoreURL | None:
    """A `milvus://HOST:PORT/COLLECTION` URL (also as a `Path`, which folds `//` into `/`);
    None for anything else (a local index folder). A path under the collection
    (`.../news/beir-scifact`) names the collection `news_beir_scifact`."""
    if value is None:
        return None
    text = str(value)
    if not text.lower().startswith(f"{SCHEME}:"):
        return None
    m = _URL.match(text)
    if not m:
        raise InputError(f"a store URL looks like milvus://HOST:PORT/COLLECTION, not {text!r}")
    hostport, coll = m.groups()
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise InputError(f"the store URL {text!r} needs HOST:PORT, e.g. milvus://127.0.0.1:19530/news")
    name = re.sub(r"[^A-Za-z0-9_]+", "_", coll).strip("_")
    if not name or not re.match(r"[A-Za-z_]", name):
        raise InputError(f"the store URL {text!r} needs a collection name made of letters, digits and _")
    return StoreURL(host, int(port), name)


def is_store_url(value: object) -> bool:
    return str(value).lower().startswith(f"{SCHEME}:") if value is not None else False


# -- words ------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def _stemmer() -> Any:
    import Stemmer  # PyStemmer (Snowball), already a dependency

    return Stemmer.Stemmer("english").stemWords


def lexical_words(text: str) -> list[str]:
    """Lower-cased word tokens, Snowball-stemmed: what the `lex` field holds and queries use."""
    return list(_stemmer()(re.findall(r"\w+", text.lower())))


def _clip(text: str, limit: int = _VARCHAR_MAX) -> str:
    """Cut to at most `limit` UTF-8 bytes (Milvus VARCHAR lengths count bytes)."""
    b = text.encode("utf-8")
    return text if len(b) <= limit else b[:limit].decode("utf-8", "ignore")


def row_id(chunk_id: str) -> int:
    """A stable positive int64 primary key for a chunk id."""
    return int.from_bytes(hashlib.blake2b(chunk_id.encode("utf-8"), digest_size=8).digest(), "little") >> 1


# -- connection ------------------------------------------------------------------------------
class MilvusStore:
    """A connection to one store: its two collections and its manifest."""

    def __init__(self, url: StoreURL | str, timeout: float = 60.0) -> None:
        parsed = url if isinstance(url, StoreURL) else parse_store_url(url)
        if parsed is None:
            raise InputError(f"not a Milvus store URL: {url!r}")
        self.url = parsed
        self.chunks = parsed.collection
        self.docs = parsed.collection + "_docs"
        try:
            from pymilvus import MilvusClient
        except ImportError as exc:
            raise StoreError(f"the Milvus store needs pymilvus ({exc}); install the extra: "
                             "pip install \".[scale]\"") from exc
        try:
            # A connection of our own, closed with us: pymilvus otherwise keeps a shared one alive
            # after close(), and its idle keep-alive pings get it dropped by servers that allow
            # few pings (milvus-lite), so a later client in this process could not connect.
            self.client = MilvusClient(uri=parsed.uri, timeout=timeout, dedicated=True,
                                       grpc_options={"grpc.keepalive_permit_without_calls": False})
        except Exception as exc:
            raise StoreError(f"cannot reach Milvus at {parsed.uri} ({type(exc).__name__}: {exc}); "
                             "is the server running?") from exc

    def exists(self) -> bool:
        return bool(self.client.has_collection(self.chunks)) and bool(self.client.has_collection(self.docs))

    def manifest(self) -> dict[str, Any] | None:
        if not self.client.has_collection(self.chunks):
            return None
        props = self.client.describe_collection(self.chunks).get("properties") or {}
        raw = props.get(MANIFEST_KEY)
        if raw is None:
            raise StoreError(f"collection {self.chunks!r} at {self.url.uri} was not written by rag "
                             "(no manifest); choose another collection name")
        m = json.loads(raw)
        if m.get("format") != FORMAT:
            raise IndexMismatchError(f"store {self.url} has format {m.get('format')!r}, this rag reads "
                                     f"{FORMAT!r}; rebuild it with `rag index --rebuild --store {self.url}`")
        return m

    def set_manifest(self, manifest: dict[str, Any]) -> None:
        self.client.alter_collection_properties(
            self.chunks, properties={MANIFEST_KEY: json.dumps(manifest, ensure_ascii=False)})

    def drop(self) -> None:
        for name in (self.chunks, self.docs):
            if self.client.has_collection(name):
                self.client.drop_collection(name)

    def create(self, dim: int) -> None:
        from pymilvus import DataType, Function, FunctionType, MilvusClient

        s = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False,
                                       description="rag chunks")
        s.add_field("id", DataType.INT64, is_primary=True)
        s.add_field("n", DataType.INT64)
        s.add_field("start", DataType.INT64)
        s.add_field("end", DataType.INT64)
        for f in _TEXT_FIELDS:
            s.add_field(f, DataType.VARCHAR, max_length=_VARCHAR_MAX if f in ("text", "title", "heading") else _FIELD_MAX)
        s.add_field("lex", DataType.VARCHAR, max_length=_VARCHAR_MAX, enable_analyzer=True, enable_match=True,
                    analyzer_params={"tokenizer": "standard"})
        s.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
        s.add_field("vec", DataType.FLOAT_VECTOR, dim=dim)
        s.add_function(Function(name="lex_bm25", function_type=FunctionType.BM25,
                                input_field_names=["lex"], output_field_names=["sparse"]))
        ip = self.client.prepare_index_params()
        ip.add_index("vec", index_type="FLAT", metric_type="IP")
        ip.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
        self.client.create_collection(self.chunks, schema=s, index_params=ip)

        d = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False, description="rag documents")
        d.add_field("doc_id", DataType.VARCHAR, is_primary=True, max_length=_FIELD_MAX)
        for f in ("title", "sha256", "canonical", "source", "url", "date", "publisher"):
            d.add_field(f, DataType.VARCHAR, max_length=_VARCHAR_MAX if f == "title" else _FIELD_MAX)
        d.add_field("_v", DataType.FLOAT_VECTOR, dim=2)  # Milvus needs a vector field in a collection
        dp = self.client.prepare_index_params()
        dp.add_index("_v", index_type="FLAT", metric_type="L2")
        self.client.create_collection(self.docs, schema=d, index_params=dp)

    # -- reads ---------------------------------------------------------------------------
    def query_all(self, collection: str, fields: list[str], flt: str = "", batch: int = 1000) -> list[dict]:
        """Every row matching `flt` (all rows when empty), paged by primary key."""
        import logging

        out: list[dict] = []
        # milvus-lite has no MVCC timestamp to give; the iterator warns and uses the client's.
        logging.getLogger("pymilvus.client.iterator.query_iterator").setLevel(logging.ERROR)
        it = self.client.query_iterator(collection, batch_size=batch, filter=flt, output_fields=fields)
        try:
            while True:
                page = it.next()
                if not page:
                    break
                out.extend(page)
        finally:
            it.close()
        return out

    def count(self, collection: str, flt: str = "") -> int:
        res = self.client.query(collection, filter=flt, output_fields=["count(*)"])
        return int(res[0]["count(*)"]) if res else 0

    def close(self) -> None:
        try:
            self.client.close()
        except Exception:  # noqa: BLE001 - closing a dead connection is not an error
            pass


def _quote_list(values: Iterable[str]) -> str:
    return "[" + ",".join(json.dumps(v, ensure_ascii=False) for v in values) + "]"


# -- reading: the same surface as store.IndexReader -------------------------------------------
class MilvusReader:
    """What `retrieval.Index` reads, from Milvus: dense and lexical candidates, chunk rows,
    documents and their duplicates, term frequencies."""

    def __init__(self, url: StoreURL | str) -> None:
        self.store = MilvusStore(url)
        manifest = self.store.manifest()
        if manifest is None or not self.store.exists():
            self.store.close()
            raise NoIndexError(f"no index in the Milvus store {self.store.url}; build it with "
                               f"`rag index PATH --store {self.store.url}`")
        self.manifest = manifest
        self.client = self.store.client
        self.store.client.load_collection(self.store.chunks)
        self.store.client.load_collection(self.store.docs)
        self._publishers: list[str] | None = None

    def dense(self, query_vectors: np.ndarray, n: int) -> list[list[tuple[int, float]]]:
        if self.manifest["counts"]["chunks"] == 0 or len(query_vectors) == 0:
            return [[] for _ in range(len(query_vectors))]
        res = self.client.search(self.store.chunks, data=[v.tolist() for v in query_vectors],
                                 anns_field="vec", limit=n, output_fields=["id"],
                                 search_params={"metric_type": "IP"})
        return [[(int(h["id"]), float(h["distance"])) for h in row] for row in res]

    def lexical(self, query: str, n: int) -> list[tuple[int, float]]:
        words = lexical_words(query)
        if not words or self.manifest["counts"]["chunks"] == 0:
            return []
        res = self.client.search(self.store.chunks, data=[" ".join(words)], anns_field="sparse", limit=n,
                                 output_fields=["id"], search_params={"metric_type": "BM25"})
        # Best first as Milvus returns them; milvus-lite reports BM25 as a negated distance.
        return [(int(h["id"]), abs(float(h["distance"]))) for h in res[0]]

    def hybrid(self, query_vectors: np.ndarray, queries: Sequence[str], n: int, depth: int,
               ranker: str, dense_weight: float = 0.5, rrf_k: int = 60,
               dense_scores: bool = False) -> list[list[tuple[int, float, float | None]]]:
        """Milvus `hybrid_search`: top-`depth` of each list fused by the server, best `n` kept, as
        (row id, fused score, question–passage cosine). The cosine is computed only with
        `dense_scores` (from the passage vectors Milvus returns; the answer layer needs it), else
        None."""
        from pymilvus import AnnSearchRequest, RRFRanker, WeightedRanker

        if self.manifest["counts"]["chunks"] == 0:
            return [[] for _ in queries]
        rk = RRFRanker(rrf_k) if ranker == "rrf" else WeightedRanker(dense_weight, 1 - dense_weight,
                                                                      norm_score=True)
        out = []
        for vec, q in zip(query_vectors, queries):
            words = lexical_words(q)
            reqs = [AnnSearchRequest(data=[vec.tolist()], anns_field="vec", param={"metric_type": "IP"},
                                     limit=depth)]
            if words:
                reqs.append(AnnSearchRequest(data=[" ".join(words)], anns_field="sparse",
                                             param={"metric_type": "BM25"}, limit=depth))
            res = self.client.hybrid_search(self.store.chunks, reqs, ranker=rk, limit=n,
                                            output_fields=["id", "vec"] if dense_scores else ["id"])
            q = np.asarray(vec, dtype=np.float32)
            out.append([(int(h["id"]), float(h["distance"]),
                         float(np.asarray(_field(h, "vec"), dtype=np.float32) @ q) if dense_scores else None)
                        for h in res[0]])
        return out

    def doc_freq(self, terms: Sequence[str]) -> dict[str, int]:
        """How many chunks contain each term (after stemming; whole words, not prefixes)."""
        out = {}
        for t in terms:
            if not re.fullmatch(r"\w+", t):
                continue
            stems = lexical_words(t)
            if not stems:
                continue
            out[t] = self.store.count(self.store.chunks, f"TEXT_MATCH(lex, {json.dumps(stems[0], ensure_ascii=False)})")
        return out

    def chunk_rows(self, rowids: Sequence[int]) -> dict[int, ChunkRow]:
        out: dict[int, ChunkRow] = {}
        ids = list(dict.fromkeys(int(r) for r in rowids))
        for i in range(0, len(ids), 500):
            part = ids[i:i + 500]
            for r in self.client.query(self.store.chunks, filter=f"id in {part}", output_fields=_CHUNK_FIELDS):
                out[int(r["id"])] = _chunk_row(r)
        return out

    def chunks_of(self, doc_id: str) -> list[ChunkRow]:
        rows = self.client.query(self.store.chunks, filter=f"doc_id == {json.dumps(doc_id, ensure_ascii=False)}",
                                 output_fields=_CHUNK_FIELDS)
        return sorted((_chunk_row(r) for r in rows), key=lambda c: c.n)

    def documents(self) -> list[tuple[str, str, str, str | None]]:
        rows = self.store.query_all(self.store.docs, ["doc_id", "title", "sha256", "canonical"])
        return sorted((r["doc_id"], r["title"], r["sha256"], r["canonical"] or None) for r in rows)

    def publishers(self) -> list[str]:
        """The distinct publisher names of the documents (read once per reader)."""
        if self._publishers is None:
            rows = self.store.query_all(self.store.docs, ["publisher"], 'publisher != ""')
            self._publishers = sorted({r["publisher"] for r in rows if r.get("publisher")})
        return self._publishers

    def doc_dates(self, doc_ids: Iterable[str]) -> dict[str, str | None]:
        """Publication date (YYYY-MM-DD) per document, None when it has none."""
        ids = sorted(set(doc_ids))
        out: dict[str, str | None] = {}
        for i in range(0, len(ids), 500):
            rows = self.client.query(self.store.docs, filter=f"doc_id in {_quote_list(ids[i:i + 500])}",
                                     output_fields=["doc_id", "date"])
            out.update({r["doc_id"]: r["date"] or None for r in rows})
        return out

    def duplicates_of(self, doc_ids: Iterable[str]) -> dict[str, list[str]]:
        ids = sorted(set(doc_ids))
        out: dict[str, list[str]] = {}
        for i in range(0, len(ids), 500):
            rows = self.client.query(self.store.docs, filter=f"canonical in {_quote_list(ids[i:i + 500])}",
                                     output_fields=["doc_id", "canonical"])
            for r in sorted(rows, key=lambda r: r["doc_id"]):
                out.setdefault(r["canonical"], []).append(r["doc_id"])
        return out

    def close(self) -> None:
        self.store.close()


def _field(hit: Any, name: str) -> Any:
    """A returned field of a search hit (pymilvus nests them under "entity" in some versions)."""
    try:
        return hit[name]
    except (KeyError, TypeError):
        return hit["entity"][name]


def _chunk_row(r: dict) -> ChunkRow:
    return ChunkRow(int(r["id"]), r["chunk_id"], r["doc_id"], int(r["n"]), int(r["start"]), int(r["end"]),
                    r["title"], r["heading"] or None, r["text"])


class MilvusIndex(Index):
    """A `retrieval.Index` whose rows live in Milvus: the same `search`, `search_many`,
    `search_documents`, `counts`, `embedder`, `reader.doc_freq`, `close` and the same `Hit`s
    (passage merging, `also_in`). Hybrid retrieval is Milvus `hybrid_search` with `ranker`
    "rrf" or "weighted"; "client" fuses the two Milvus lists here, as the local store does."""

    def __init__(self, url: StoreURL | str, embedder: Embedder | str | None = None,
                 fusion: Fusion = FUSION, ranker: str = DEFAULT_RANKER) -> None:
        if ranker not in RANKERS:
            raise InputError(f"ranker must be one of {', '.join(RANKERS)}, not {ranker!r}")
        self.reader = MilvusReader(url)  # type: ignore[assignment]
        self.manifest = self.reader.manifest
        self.fusion = fusion
        self.ranker = ranker
        built = self.manifest["embedder"]
        if embedder is not None:
            name = embedder if isinstance(embedder, str) else embedder.name
            dim = None if isinstance(embedder, str) else embedder.dim
            if name != built["name"] or (dim is not None and dim != built["dim"]):
                self.reader.close()
                raise IndexMismatchError(
                    f"store {url} was built with embedder {built['name']!r} (dimension {built['dim']}), "
                    f"not {name!r}; search with that embedder or rebuild with "
                    f"`rag index --rebuild --embedder {name} --store {url}`")
            ours, theirs = backend_of(embedder), manifest_backend(built)
            if ours and theirs and ours != theirs:
                self.reader.close()
                raise IndexMismatchError(
                    f"store {url} was embedded with the {theirs!r} backend of {built['name']!r}, not "
                    f"{ours!r}; search with that backend or rebuild with `rag index --rebuild --store {url}`")
        self._embedder = embedder if not isinstance(embedder, str) else None

    def _native(self, retrieval: str) -> bool:
        return retrieval == "hybrid" and self.ranker != "client"

    def _ranked(self, questions: Sequence[str], depth: int,
                retrieval: str) -> list[list[tuple[int, float, float | None, float | None]]]:
        if not self._native(retrieval):
            return super()._ranked(questions, depth, retrieval)
        return self._native_hybrid(questions, depth, dense_scores=True)

    def _native_hybrid(self, questions: Sequence[str], depth: int,
                       dense_scores: bool) -> list[list[tuple[int, float, float | None, float | None]]]:
        """Milvus-fused candidates; with `dense_scores` each carries its question–passage cosine
        (`Hit.dense_score`, which the extractive answerer weighs), as the local fusion's do."""
        for q in questions:
            if not q or not q.strip():
                raise InputError("the question is empty")
        fused = self.reader.hybrid(self.embedder.embed(list(questions)), questions, n=depth,
                                   depth=max(depth, self.fusion.depth), ranker=self.ranker,
                                   dense_weight=self.fusion.dense_weight, rrf_k=self.fusion.rrf_k,
                                   dense_scores=dense_scores)
        return [[(r, s, ds, None) for r, s, ds in row] for row in fused]

    def search_documents(self, questions: Sequence[str], k: int = 100,
                         retrieval: str = "hybrid") -> list[list[tuple[str, float]]]:
        if not self._native(retrieval):
            return super().search_documents(questions, k=k, retrieval=retrieval)
        depth = max(k * 5, self.fusion.depth)
        out = []
        for cands in self._native_hybrid(questions, depth, dense_scores=False):
            rows = self.reader.chunk_rows([c[0] for c in cands])
            best: dict[str, float] = {}
            for rowid, score, _, _ in cands:
                best.setdefault(rows[rowid].doc_id, score)
            out.append(list(best.items())[:k])
        return out


RANKER_ENV = "RAG_MILVUS_RANKER"


def open_milvus_index(url: StoreURL | str, embedder: Embedder | str | None = None,
                      ranker: str | None = None) -> MilvusIndex:
    """The store at `url`; hybrid search fused by `ranker`, default env RAG_MILVUS_RANKER, else
    DEFAULT_RANKER. "client" fuses Milvus' dense and BM25 lists here with the local store's fusion."""
    import os

    return MilvusIndex(url, embedder=embedder, ranker=ranker or os.environ.get(RANKER_ENV) or DEFAULT_RANKER)


# -- writing: build or update a store from folders of articles ----------------------------
def build_milvus_index(paths: Sequence[str | Path], url: StoreURL | str, *, embedder: Any = None,
                       backend: str | None = None, params: ChunkingParams = ChunkingParams(),
                       rebuild: bool = False, progress: Any = None) -> Any:
    """Make the store hold exactly the documents found under `paths` (see `indexing.build_index`).

    The same two streaming passes as the local store (`indexing._scan`, `indexing._documents`:
    memory stays bounded on a folder of any size), the same decision of what to add, re-embed,
    remove and reuse (`plan.plan_update`) and the same embedding loop (`indexing._embed_into`);
    only the writes differ."""
    import tempfile

    from .indexing import IndexReport, _documents, _embed_into, _resolve_embedder, _scan
    from .plan import plan_update

    t0 = time.perf_counter()
    roots = [Path(p) for p in paths]
    store = MilvusStore(url)
    try:
        manifest = store.manifest()
        if manifest is not None and not store.exists():
            manifest = None
        stored: dict[str, tuple[str, str | None]] = {}
        stored_meta: dict[str, tuple[str, str, str]] = {}
        if manifest is not None and not rebuild:
            store.client.load_collection(store.docs)
            for r in store.query_all(store.docs, ["doc_id", "sha256", "canonical", "url", "date", "publisher"]):
                stored[r["doc_id"]] = (r["sha256"], r["canonical"] or None)
                stored_meta[r["doc_id"]] = (r["url"] or "", r["date"] or "", r["publisher"] or "")
        hint = {d: sha for d, (sha, _) in stored.items()} \
            if manifest is not None and manifest["chunking"] == params.as_dict() else {}
        with _scan(roots, hint, progress, Path(tempfile.gettempdir())) as scan:
            if not scan.entries:
                detail = "; ".join(p.message for p in scan.problems) or "no articles found"
                raise InputError(f"nothing could be indexed ({detail})")
            t_load = time.perf_counter()
            emb = _resolve_embedder(embedder, manifest, rebuild, backend)
            if manifest is not None and not rebuild and (
                    manifest["chunking"] != params.as_dict() or manifest["embedder"]["dim"] != emb.dim):
                rebuild = True  # another chunking: every chunk changes anyway
            if rebuild or manifest is None:
                store.drop()
                store.create(emb.dim)
                manifest, stored = None, {}
                # Marked as rag's at once: a first build stopped part-way is resumed, not refused.
                store.set_manifest(_manifest(emb, params, paths, {"documents": 0, "indexed_documents": 0,
                                                                  "chunks": 0}, complete=False))
            store.client.load_collection(store.chunks)
            store.client.load_collection(store.docs)

            # Compared as written: the store keeps each field cut to _FIELD_MAX bytes.
            plan = plan_update({i: e[0] for i, e in scan.entries.items()}, stored, scan.stale(stored_meta, _metadata))
            report = dict(index_dir=str(store.url), added=plan.added, changed=plan.changed,
                          removed=plan.removed, unchanged=plan.unchanged, duplicates=plan.duplicates,
                          problems=tuple(scan.problems), notes=tuple(scan.notes), embedder=emb.name,
                          rebuilt=manifest is None)
            if manifest is not None and manifest.get("complete", True) and plan.nothing_to_do:
                c = manifest["counts"]
                return IndexReport(documents=c["documents"], chunks=c["chunks"],
                                   seconds=time.perf_counter() - t0, written=False, **report)  # type: ignore[arg-type]

            # Chunks and vectors of outgoing documents can serve a new id with the same text.
            reusable: dict[str, list[dict]] = {}
            for sha, doc_id in plan.reusable().items():
                rows = store.client.query(store.chunks, filter=f"doc_id == {json.dumps(doc_id, ensure_ascii=False)}",
                                          output_fields=["n", "start", "end", "heading", "text", "vec"])
                reusable[sha] = sorted(rows, key=lambda r: r["n"])
            # Document rows go first, then their chunks (a document row always has all its chunks).
            outgoing = list(plan.outgoing)
            for i in range(0, len(outgoing), 500):
                part = _quote_list(outgoing[i:i + 500])
                store.client.delete(store.docs, filter=f"doc_id in {part}")
                store.client.delete(store.chunks, filter=f"doc_id in {part}")

            reused = 0
            copies: list[tuple[Document, str | None]] = []

            def fresh_documents() -> Iterable[Document]:
                """The second pass, streamed: duplicates get their document row (in batches),
                documents with reusable chunks are written at once, the rest are handed on."""
                nonlocal reused
                for d in _documents(roots, plan.todo, scan):
                    canon = plan.wanted[d.id][1]
                    if canon is not None:
                        copies.append((d, canon))
                        if len(copies) >= 500:
                            _write_docs(store, copies)
                            copies.clear()
                    elif d.sha256 in reusable:
                        rows = reusable.pop(d.sha256)
                        chunks = [Chunk(id=f"{d.id}#{r['n']}", doc_id=d.id, n=int(r["n"]), text=r["text"],
                                        start=int(r["start"]), end=int(r["end"]), heading=r["heading"] or None)
                                  for r in rows]
                        vecs = np.asarray([r["vec"] for r in rows], dtype=np.float32).reshape(len(rows), emb.dim)
                        _write_chunks(store, [(d, c) for c in chunks], vecs)
                        _write_docs(store, [(d, None)])
                        reused += len(chunks)
                    else:
                        yield d

            def write(batch: list[tuple[Document, list[Chunk], np.ndarray]]) -> None:
                """A batch's chunk rows, then its document rows."""
                if batch:
                    _write_chunks(store, [(d, c) for d, cs, _ in batch for c in cs],
                                  np.concatenate([v for _, _, v in batch]))
                    _write_docs(store, [(d, None) for d, _, _ in batch])

            embedded, ran = _embed_into(write, fresh_documents(), plan.to_embed(reusable), emb, params, progress)
            _write_docs(store, copies)
        # Sealed segments get cached search indexes (milvus-lite rebuilds an unflushed one per search).
        store.client.flush(store.chunks)
        store.client.flush(store.docs)
        t_embed = time.perf_counter()

        counts = {"documents": store.count(store.docs),
                  "indexed_documents": store.count(store.docs, 'canonical == ""'),
                  "chunks": store.count(store.chunks)}
        store.set_manifest(_manifest(emb, params, paths, counts, complete=True))
        t_end = time.perf_counter()
        return IndexReport(
            documents=counts["documents"], chunks=counts["chunks"], embedded_chunks=embedded,
            embedded_texts=ran, reused_chunks=reused, seconds=t_end - t0, written=True,
            timings={"load_s": t_load - t0, "chunk_embed_s": t_embed - t_load, "write_s": t_end - t_embed},
            **report)  # type: ignore[arg-type]
    finally:
        store.close()


def _manifest(emb: Any, params: ChunkingParams, paths: Sequence[str | Path], counts: dict[str, int],
              complete: bool) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "embedder": {"name": emb.name, "dim": emb.dim, "max_tokens": emb.max_tokens,
                     **({"backend": backend_of(emb)} if backend_of(emb) else {})},
        "chunking": params.as_dict(),
        "lexical": {"engine": "milvus-bm25", "field": "lex", "words": "snowball-english"},
        "sources": [str(Path(p).resolve()) for p in paths],
        "counts": counts,
        "complete": complete,  # False while a run is writing, and after one that stopped part-way
        "written_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def _metadata(metadata: tuple[str, str, str]) -> tuple[str, str, str]:
    """`Document.metadata` (url, date, publisher) as the store keeps it."""
    return tuple(_clip(x, _FIELD_MAX) for x in metadata)  # type: ignore[return-value]


def _metadata_fields(doc: Document) -> dict[str, str]:
    return dict(zip(("url", "date", "publisher"), _metadata(doc.metadata)))


def _write_chunks(store: MilvusStore, chunks: Sequence[tuple[Document, Chunk]], vecs: np.ndarray,
                  per_call: int = 1000) -> None:
    rows = [{
        "id": row_id(c.id), "chunk_id": _clip(c.id, _FIELD_MAX), "doc_id": _clip(doc.id, _FIELD_MAX), "n": c.n,
        "start": c.start, "end": c.end, "title": _clip(doc.title), "heading": _clip(c.heading or ""),
        "text": _clip(c.text), "sha256": doc.sha256, **_metadata_fields(doc),
        "lex": _clip(" ".join(lexical_words(f"{doc.title}\n{c.heading or ''}\n{c.text}"))),
        "vec": v.astype(np.float32).tolist(),
    } for (doc, c), v in zip(chunks, vecs)]
    for i in range(0, len(rows), per_call):
        store.client.upsert(store.chunks, rows[i:i + per_call])


def _write_docs(store: MilvusStore, docs: Sequence[tuple[Document, str | None]]) -> None:
    if not docs:
        return
    store.client.upsert(store.docs, [{
        "doc_id": _clip(d.id, _FIELD_MAX), "title": _clip(d.title), "sha256": d.sha256, "canonical": c or "",
        "source": _clip(d.source, _FIELD_MAX), **_metadata_fields(d), "_v": [0.0, 0.0],
    } for d, c in docs])


def store_info(url: StoreURL | str) -> dict[str, Any]:
    """What `rag info` shows for a Milvus store."""
    store = MilvusStore(url)
    try:
        m = store.manifest()
        if m is None:
            raise NoIndexError(f"no index in the Milvus store {store.url}")
        return {"store": str(store.url), "collections": [store.chunks, store.docs], **m["counts"],
                "embedder": m["embedder"], "chunking": m["chunking"], "lexical": m.get("lexical"),
                "written_at": m.get("written_at"), "sources": m.get("sources", [])}
    finally:
        store.close()


class LiteServer:
    """A milvus-lite gRPC server on 127.0.0.1 in a child process (`milvus-lite server`), for
    tests, benchmarks and trying the Milvus store on one machine; stopped on exit."""

    def __init__(self, data_dir: str | Path, port: int = 19530, start_timeout: float = 60.0) -> None:
        self.data_dir = Path(data_dir)
        self.port = port
        self.start_timeout = start_timeout
        self.proc: Any = None

    def url(self, collection: str) -> str:
        return f"{SCHEME}://127.0.0.1:{self.port}/{collection}"

    def start(self) -> "LiteServer":
        import shutil
        import socket
        import subprocess
        import sys

        exe = Path(sys.executable).with_name("milvus-lite")
        cmd = [str(exe)] if exe.exists() else [shutil.which("milvus-lite") or "milvus-lite"]
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.data_dir / "server.log", "ab")
        try:
            self.proc = subprocess.Popen([*cmd, "server", "--data-dir", str(self.data_dir), "--host",
                                          "127.0.0.1", "--port", str(self.port)],
                                         stdout=log, stderr=subprocess.STDOUT)
        except OSError as exc:
            raise StoreError(f"cannot start milvus-lite ({exc}); install the extra: pip install \".[scale]\"") from exc
        finally:
            log.close()
        deadline = time.monotonic() + self.start_timeout
        while True:
            if self.proc.poll() is not None:
                raise StoreError(f"milvus-lite exited with code {self.proc.returncode}; "
                                 f"see {self.data_dir / 'server.log'}")
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return self
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise StoreError(f"milvus-lite did not listen on port {self.port} within "
                                     f"{self.start_timeout:.0f}s")
                time.sleep(0.1)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except Exception:  # noqa: BLE001 - a server that ignores SIGTERM is killed
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None

    def __enter__(self) -> "LiteServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
