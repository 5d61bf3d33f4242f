"""A local question-answering bot over news articles, with cited passages.

The public API (imported lazily so that `import rag` and `rag --help` stay fast)::

    from rag import Settings, build_index, open_index, ask
    build_index(["seeds"], "index")
    hits = open_index("index").search("Which Vietnamese president welcomed Putin in Hanoi?", k=5)
    answer = ask("Which Vietnamese president welcomed Putin in Hanoi?", Settings(index_dir="index"))
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "build_index": "rag.index.build",
    "IndexReport": "rag.index.build",
    "open_index": "rag.retrieval",
    "Index": "rag.retrieval",
    "ask": "rag.answer.pipeline",
    "Hooks": "rag.answer.pipeline",
    "Conversation": "rag.answer.conversation",
    "Settings": "rag.config",
    "Document": "rag.types",
    "Chunk": "rag.types",
    "Hit": "rag.types",
    "Citation": "rag.types",
    "Source": "rag.types",
    "Answer": "rag.types",
    "RagError": "rag.errors",
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:  # pragma: no cover
    from rag.config import Settings
    from rag.errors import RagError
    from rag.index.build import IndexReport, build_index
    from rag.answer.conversation import Conversation
    from rag.answer.pipeline import Hooks, ask
    from rag.retrieval import Index, open_index
    from rag.types import Answer, Chunk, Citation, Document, Hit, Source


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'rag' has no attribute {name!r}")
