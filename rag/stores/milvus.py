"""The index kept in Milvus instead of the local folder: write it, open it, search it.

Optional (`pip install ".[scale]"`); `pymilvus` is imported only when a Milvus store is used.
A store is named by a URL, `milvus://HOST:PORT/COLLECTION` (`--store`, env `RAG_STORE`);
`rag.stores.open_store` opens it (`open_index` searches it like the local folder;
`build_index` hands it to `rag.index.build_milvus`), and everything above them (hits, answers,
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

Writes are incremental by content hash with the local store's plan (rag/index/plan.py), streaming the
documents in its two passes (rag/index/build.py). Milvus has no transactions:
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
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import numpy as np

from rag.errors import IndexMismatchError, InputError, NoIndexError, RagError
from rag.stores.base import ChunkRow
from rag.types import Chunk, Document

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


def quote_list(values: Iterable[str]) -> str:
    return "[" + ",".join(json.dumps(v, ensure_ascii=False) for v in values) + "]"


# -- reading: the same surface as the local IndexReader (the `Store` protocol) -------------------------------------------
class MilvusReader:
    """A `Store` (rag/stores/base.py) in Milvus: dense and lexical candidates, chunk rows,
    documents and their duplicates, term frequencies."""

    def __init__(self, url: StoreURL | str, ranker: str = DEFAULT_RANKER) -> None:
        if ranker not in RANKERS:
            raise InputError(f"ranker must be one of {', '.join(RANKERS)}, not {ranker!r}")
        self.ranker = ranker
        # Hybrid retrieval is Milvus `hybrid_search` with ranker "rrf" or "weighted"; "client"
        # fuses the two Milvus lists in `retrieval.Index`, as the local store does.
        self.fuses_hybrid = ranker != "client"
        self.label = f"store {url}"
        self.rebuild_flags = f" --store {url}"
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
        self.generation = None  # read live: no snapshot of its own

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

    def document_text(self, doc_id: str) -> str:
        """A document's text put back together from its chunks (Milvus keeps no document text; a
        duplicate's is its canonical document's); KeyError for an id the store does not hold."""
        rows = self.client.query(self.store.docs, filter=f"doc_id == {json.dumps(doc_id, ensure_ascii=False)}",
                                 output_fields=["doc_id", "canonical"])
        if not rows:
            raise KeyError(doc_id)
        return text_from_chunks(self.chunks_of(rows[0]["canonical"] or doc_id))

    def document_metadata(self) -> dict[str, tuple[str, str, str]]:
        """doc_id -> (url, date, publisher), "" where unknown (`Document.metadata`)."""
        rows = self.store.query_all(self.store.docs, ["doc_id", "url", "date", "publisher"])
        return {r["doc_id"]: (r["url"] or "", r["date"] or "", r["publisher"] or "") for r in rows}

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
            rows = self.client.query(self.store.docs, filter=f"doc_id in {quote_list(ids[i:i + 500])}",
                                     output_fields=["doc_id", "date"])
            out.update({r["doc_id"]: r["date"] or None for r in rows})
        return out

    def duplicates_of(self, doc_ids: Iterable[str]) -> dict[str, list[str]]:
        ids = sorted(set(doc_ids))
        out: dict[str, list[str]] = {}
        for i in range(0, len(ids), 500):
            rows = self.client.query(self.store.docs, filter=f"canonical in {quote_list(ids[i:i + 500])}",
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


def text_from_chunks(chunks: Sequence[ChunkRow]) -> str:
    """A document's text from its chunks (which overlap and point into it by character offsets);
    what lies between two chunks that do not meet is filled with spaces, so offsets still hold."""
    out: list[str] = []
    end = 0
    for c in sorted(chunks, key=lambda c: c.start):
        if c.end <= end:
            continue
        if c.start > end:
            out.append(" " * (c.start - end))
            out.append(c.text)
        else:
            out.append(c.text[end - c.start:])
        end = c.end
    return "".join(out)


def _chunk_row(r: dict) -> ChunkRow:
    return ChunkRow(int(r["id"]), r["chunk_id"], r["doc_id"], int(r["n"]), int(r["start"]), int(r["end"]),
                    r["title"], r["heading"] or None, r["text"])


def stored_metadata(metadata: tuple[str, str, str]) -> tuple[str, str, str]:
    """`Document.metadata` (url, date, publisher) as the store keeps it."""
    return tuple(_clip(x, _FIELD_MAX) for x in metadata)  # type: ignore[return-value]


def metadata_fields(doc: Document) -> dict[str, str]:
    return dict(zip(("url", "date", "publisher"), stored_metadata(doc.metadata)))


def write_chunks(store: MilvusStore, chunks: Sequence[tuple[Document, Chunk]], vecs: np.ndarray,
                  per_call: int = 1000) -> None:
    rows = [{
        "id": row_id(c.id), "chunk_id": _clip(c.id, _FIELD_MAX), "doc_id": _clip(doc.id, _FIELD_MAX), "n": c.n,
        "start": c.start, "end": c.end, "title": _clip(doc.title), "heading": _clip(c.heading or ""),
        "text": _clip(c.text), "sha256": doc.sha256, **metadata_fields(doc),
        "lex": _clip(" ".join(lexical_words(f"{doc.title}\n{c.heading or ''}\n{c.text}"))),
        "vec": v.astype(np.float32).tolist(),
    } for (doc, c), v in zip(chunks, vecs)]
    for i in range(0, len(rows), per_call):
        store.client.upsert(store.chunks, rows[i:i + per_call])


def write_docs(store: MilvusStore, docs: Sequence[tuple[Document, str | None]]) -> None:
    if not docs:
        return
    store.client.upsert(store.docs, [{
        "doc_id": _clip(d.id, _FIELD_MAX), "title": _clip(d.title), "sha256": d.sha256, "canonical": c or "",
        "source": _clip(d.source, _FIELD_MAX), **metadata_fields(d), "_v": [0.0, 0.0],
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
