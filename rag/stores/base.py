"""What every store holds and gives back: the `Store` protocol and its rows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Protocol, Sequence, runtime_checkable

import numpy as np


@dataclass(frozen=True)
class ChunkRow:
    rowid: int
    chunk_id: str
    doc_id: str
    n: int
    start: int
    end: int
    title: str
    heading: str | None
    text: str


@runtime_checkable
class Store(Protocol):
    """What retrieval reads from an index, wherever it lives (the local folder's `IndexReader`,
    Milvus' `MilvusReader`). Row ids are the store's own ints; `ChunkRow` carries the passage."""

    manifest: dict[str, Any]  # embedder name and dimension, chunking, counts
    label: str  # how errors name it: "index at index/", "store milvus://..."
    rebuild_flags: str  # what `rag index --rebuild` needs besides the folder to rebuild it
    fuses_hybrid: bool  # True when the store fuses hybrid search itself: it then also has `hybrid()`
    generation: str | None  # the name of the index state this snapshot reads; None where the store has none

    def dense(self, query_vectors: np.ndarray, n: int) -> list[list[tuple[int, float]]]: ...

    def lexical(self, query: str, n: int) -> list[tuple[int, float]]: ...

    def doc_freq(self, terms: Sequence[str]) -> dict[str, int]: ...

    def chunk_rows(self, rowids: Sequence[int]) -> dict[int, ChunkRow]: ...

    def chunks_of(self, doc_id: str) -> list[ChunkRow]: ...

    def documents(self) -> list[tuple[str, str, str, str | None]]: ...

    def document_text(self, doc_id: str) -> str: ...  # KeyError for an id the store does not hold

    def document_metadata(self) -> dict[str, tuple[str, str, str]]: ...  # doc_id -> (url, date, publisher)

    def publishers(self) -> list[str]: ...

    def doc_dates(self, doc_ids: Iterable[str]) -> dict[str, str | None]: ...

    def duplicates_of(self, doc_ids: Iterable[str]) -> dict[str, list[str]]: ...

    def close(self) -> None: ...
