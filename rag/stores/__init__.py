"""Where an index lives, behind one `Store` protocol (rag/stores/base.py): the local folder
(rag/stores/local/) or a Milvus server (rag/stores/milvus.py, the optional scale extra).

`open_store` chooses between them from a path or a `milvus://HOST:PORT/COLLECTION` URL; nothing
above this package names a concrete store to read one.
"""

from __future__ import annotations

import os
from pathlib import Path

from rag.stores.base import ChunkRow, Store

__all__ = ["ChunkRow", "Store", "RANKER_ENV", "generation_stamp", "is_store_url", "open_store"]

RANKER_ENV = "RAG_MILVUS_RANKER"


def is_store_url(value: object) -> bool:
    """Whether `value` names a Milvus store (`milvus://...`) rather than a local index folder."""
    return value is not None and str(value).lower().startswith("milvus:")


def open_store(where: str | Path = "index", ranker: str | None = None) -> Store:
    """A read-only snapshot of the index at `where`: a local folder, or the Milvus store a
    `milvus://HOST:PORT/NAME` URL names. `ranker` (Milvus only) is how Milvus fuses hybrid search:
    default env RAG_MILVUS_RANKER, else "weighted"; "client" fuses its two lists in
    `retrieval.Index`, as for the local store."""
    if is_store_url(where):
        from rag.stores.milvus import DEFAULT_RANKER, MilvusReader

        return MilvusReader(where, ranker=ranker or os.environ.get(RANKER_ENV) or DEFAULT_RANKER)
    from rag.stores.local.reader import IndexReader

    return IndexReader(where)


def generation_stamp(where: str | Path) -> tuple | None:
    """A value that changes whenever `rag index` commits to the local index at `where`, so that a
    long-lived reader (`rag serve`) knows to open it again; equal stamps mean the same state. None
    for a Milvus store (read live, there is no snapshot to renew) or a folder with no index."""
    if is_store_url(where):
        return None
    from rag.stores.local.generations import generation_stamp as local_stamp

    return local_stamp(Path(where))
