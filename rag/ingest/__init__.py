"""Ingest: read article files into cleaned `Document`s, each with a stable id, a content hash
and, when one can be found, a publication date.

One job per module, in the order data flows:

* `files`     walk folders, read bytes within limits, refuse hostile files, decode text
* `formats`   `.txt`, `.md`, `.html`/`.htm`, `.jsonl` -> documents
* `furniture` the named rules that strip page furniture (phrase lists in `furniture.toml`)
* `titles`    find or make an article's title
* `dates`     find an article's publication date
* `load`      `iter_documents` / `load_documents` over the paths a user gives
"""

from __future__ import annotations

from rag.ingest.files import SUPPORTED_SUFFIXES, Problem
from rag.ingest.formats import markdown_to_text
from rag.ingest.furniture import BLOCK_RULE, RULES, clean_text, clean_with_report
from rag.ingest.load import FileResult, LoadResult, iter_documents, load_documents
from rag.ingest.text import normalize_text
from rag.ingest.titles import split_title

__all__ = [
    "SUPPORTED_SUFFIXES",
    "RULES",
    "BLOCK_RULE",
    "Problem",
    "FileResult",
    "LoadResult",
    "iter_documents",
    "load_documents",
    "clean_text",
    "clean_with_report",
    "normalize_text",
    "split_title",
    "markdown_to_text",
]
