"""Loading: turn the paths a user gives into documents, one file at a time.

`iter_documents` yields one `FileResult` per file (and one per path that cannot be used), so a
caller can index a folder of any size while holding one file's documents at a time;
`load_documents` collects them into a `LoadResult`.

Ids: with one folder, the path relative to it (`sub/a.txt`); with several paths, each folder's
files are prefixed with the folder's name (`seeds/000_x.txt`); a file given directly is its
name. `.jsonl` records are `file.jsonl#<id or line number>`.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Container, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rag.ingest.files import SUPPORTED_SUFFIXES, FileProblem, Problem, decode, is_supported, read_file, walk
from rag.ingest.formats import LOADERS, Loaded, load_jsonl
from rag.types import Document

__all__ = ["FileResult", "LoadResult", "iter_documents", "load_documents"]


@dataclass(frozen=True)
class FileResult:
    """What one file gave: its documents, its problems, and notes on decisions taken reading it
    (an encoding detected, NUL bytes dropped). `removed` maps a document id to the
    `(rule name, line)` pairs the cleaner dropped from it. `counted` is False for a result
    that is not a file looked at (a path that does not exist, a folder with nothing to read)."""

    path: str
    documents: tuple[Document, ...] = ()
    problems: tuple[Problem, ...] = ()
    notes: tuple[Problem, ...] = ()
    removed: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    counted: bool = True


@dataclass(frozen=True)
class LoadResult:
    """`files_seen` counts the files with a supported suffix that were looked at (loaded or not).

    `removed` maps a document id to the `(rule name, line)` pairs the cleaner dropped from it
    (documents with nothing removed are absent): what a `--debug` view shows. `notes` are
    decisions worth telling the user that did not stop a file from loading.
    """

    documents: list[Document]
    problems: list[Problem]
    files_seen: int
    removed: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    notes: list[Problem] = field(default_factory=list)


_HTML = (".html", ".htm")


def _load_file(path: Path, doc_id: str, display: str) -> tuple[list[Loaded], list[Problem], list[Problem]]:
    suffix = path.suffix.lower()
    notes: list[Problem] = []
    try:
        text, note = decode(read_file(path), html=suffix in _HTML)
        if note:
            notes.append(Problem(display, f"{display}: {note}"))
        if suffix == ".jsonl":
            loaded, problems = load_jsonl(path, doc_id, display, text)
            return loaded, problems, notes
        return [LOADERS[suffix](path, doc_id, text)], [], notes
    except FileProblem as exc:
        return [], [Problem(display, f"{display} {exc}")], notes


def _root_labels(roots: list[Path]) -> list[str]:
    """Id prefixes for several roots: the folder (or file) name, with as many parent folder
    names as it takes to tell apart roots that share a name."""
    parts = [Path(os.path.abspath(root)).parts for root in roots]
    depth = [1] * len(roots)
    while True:
        labels = ["/".join(p[-d:]).lstrip("/") or "/" for p, d in zip(parts, depth)]
        counts = Counter(labels)
        grew = False
        for i, label in enumerate(labels):
            if counts[label] > 1 and depth[i] < len(parts[i]):
                depth[i] += 1
                grew = True
        if not grew:
            return labels


def _path_problem(path: Path, message: str) -> FileResult:
    return FileResult(str(path), problems=(Problem(str(path), message),), counted=False)


def iter_documents(paths: Sequence[Path], only: Container[str] | None = None) -> Iterator[FileResult]:
    """One `FileResult` per supported file under `paths` (folders are walked, files read
    directly), in order, plus one per path or folder that cannot be used. Nothing here raises
    for a bad file: it becomes a problem and the others still load.

    With `only`, just the files whose path (as `FileResult.path` gives it) is in `only` are read;
    the others are still walked, so ids are the same as in a full pass. Problems with the paths
    and folders themselves are not repeated then."""
    roots: list[Path] = []
    seen_roots: set[str] = set()
    for given in paths:
        path = Path(given)
        key = os.path.abspath(path)
        if key in seen_roots:
            continue  # the same path twice would only duplicate every document
        seen_roots.add(key)
        if only is not None:
            if path.exists() and (path.is_dir() or (path.is_file() and is_supported(path))):
                roots.append(path)
        elif not path.exists():
            yield _path_problem(path, f"{path}: no such file or folder")
        elif not (path.is_dir() or path.is_file()):
            yield _path_problem(path, f"{path}: not a regular file or folder")
        elif path.is_file() and not is_supported(path):
            yield _path_problem(
                path,
                f"{path}: unsupported file type '{path.suffix or '(none)'}' "
                f"(supported: {', '.join(SUPPORTED_SUFFIXES)})",
            )
        else:
            roots.append(path)

    labels = _root_labels(roots)
    # Counted over the distinct paths given, existing or not, so that ids do not change when one
    # of several folders is missing.
    several = len(seen_roots) > 1
    used_ids: set[str] = set()
    for root, label in zip(roots, labels):
        if root.is_dir():
            walk_problems: list[Problem] = []
            files = walk(root, walk_problems)
            if walk_problems and only is None:
                yield FileResult(str(root), problems=tuple(walk_problems), counted=False)
            # An unreadable folder is already reported; "no supported files" would be noise.
            if not files and not walk_problems and only is None:
                yield _path_problem(
                    root,
                    f"{root}: folder has no supported files "
                    f"({', '.join(SUPPORTED_SUFFIXES)}; hidden files are skipped)",
                )
            jobs = [(f, "/".join(f.relative_to(root).parts)) for f in files]
            if several:
                jobs = [(f, f"{label}/{rel}") for f, rel in jobs]
        else:
            jobs = [(root, label if several else root.name)]
        for file, doc_id in jobs:
            if only is not None and str(file) not in only:
                continue
            loaded, problems, notes = _load_file(file, doc_id, str(file))
            documents: list[Document] = []
            removed: dict[str, list[tuple[str, str]]] = {}
            for doc, report in loaded:
                if doc.id in used_ids:  # only possible with odd names; never silently replace
                    problems.append(
                        Problem(str(file), f"{file}: id '{doc.id}' is already taken; skipped")
                    )
                    continue
                used_ids.add(doc.id)
                documents.append(doc)
                if report:
                    removed[doc.id] = report
            yield FileResult(
                str(file),
                documents=tuple(documents),
                problems=tuple(problems),
                notes=tuple(notes),
                removed=removed,
            )


def load_documents(paths: Sequence[Path]) -> LoadResult:
    """Every supported article under `paths`, collected from `iter_documents`."""
    documents: list[Document] = []
    problems: list[Problem] = []
    notes: list[Problem] = []
    removed: dict[str, list[tuple[str, str]]] = {}
    files_seen = 0
    for result in iter_documents(paths):
        files_seen += result.counted
        documents.extend(result.documents)
        problems.extend(result.problems)
        notes.extend(result.notes)
        removed.update(result.removed)
    return LoadResult(
        documents=documents, problems=problems, files_seen=files_seen, removed=removed, notes=notes
    )
