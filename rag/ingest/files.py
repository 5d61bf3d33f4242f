"""Files: walk the folders given, read each file's bytes within limits and decode them to text.

Nothing here raises for a single bad file: it becomes a `FileProblem` (one file) or a `Problem`
(what the caller reports), and the other files still load.

What is refused or reported, and why:

* A symbolic link found while walking a folder is followed only when its target lies inside the
  folder being indexed; a link out of it (to `/etc/passwd`, to `/dev/zero`) and a link to a
  folder are reported, not read. A path the user names directly is read wherever it points.
* FIFOs, sockets and devices are skipped with a message; opening one never blocks, because the
  file is opened non-blocking and checked with `fstat` before anything is read.
* The size limit counts the bytes actually read, so a file that grows, or lies about its size,
  is refused at the limit instead of being read without end.
* Text that is not UTF-8 is decoded with the encoding `charset-normalizer` detects (a Latin
  script is read as Windows-1252, the superset of Latin-1 that browsers use for both), a few
  stray NUL bytes are dropped, and either decision is returned as a note for the caller to show.
"""

from __future__ import annotations

import codecs
import os
import re
import stat
import unicodedata
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "SUPPORTED_SUFFIXES",
    "MAX_FILE_BYTES",
    "Problem",
    "FileProblem",
    "decode",
    "read_file",
    "is_supported",
    "walk",
]

SUPPORTED_SUFFIXES: tuple[str, ...] = (".txt", ".md", ".html", ".htm", ".jsonl")

# Articles are kilobytes; anything this big is a mistake (an archive, a dump) and would only
# exhaust memory.
MAX_FILE_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class Problem:
    """A file, folder or record that could not be loaded, and why."""

    path: str
    message: str


_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_\-:.]+)""", re.I)

# A text file may carry a few stray NUL bytes (a bad copy, a truncated editor save); a file with
# more than this share of them is binary (or UTF-16 without a byte-order mark).
_MAX_NUL_SHARE = 0.001
_READ_BLOCK = 1 << 20


class FileProblem(Exception):
    """One file cannot be loaded; the message says why (without the file name)."""


def _kind(mode: int) -> str | None:
    """What a non-regular file is, in words; None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISDIR(mode):
        return "a folder"
    return "not a regular file"


def read_file(path: Path, limit: int | None = None) -> bytes:
    """The bytes of a regular file, at most `limit` (default `MAX_FILE_BYTES`) of them;
    `FileProblem` beyond that, counted on the bytes read, not on what `stat` says."""
    limit = MAX_FILE_BYTES if limit is None else limit
    try:
        # Non-blocking, so that opening a FIFO returns at once instead of waiting for a writer.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except PermissionError as exc:
        raise FileProblem("cannot be read: permission denied") from exc
    except IsADirectoryError as exc:
        raise FileProblem("is a folder, not a file") from exc
    except OSError as exc:
        raise FileProblem(f"cannot be read ({exc.strerror or exc})") from exc
    try:
        kind = _kind(os.fstat(fd).st_mode)
        if kind:
            raise FileProblem(f"is {kind}, not a regular file; skipped")
        parts: list[bytes] = []
        total = 0
        while True:
            block = os.read(fd, min(_READ_BLOCK, limit + 1 - total))
            if not block:
                break
            parts.append(block)
            total += len(block)
            if total > limit:
                raise FileProblem(
                    f"is too large to be an article (more than {limit / 2**20:.0f} MiB read; "
                    f"the limit is {limit / 2**20:.0f} MiB)"
                )
        return b"".join(parts)
    except OSError as exc:
        raise FileProblem(f"cannot be read ({exc.strerror or exc})") from exc
    finally:
        os.close(fd)


def _is_latin(text: str) -> bool:
    letters = [c for c in text if ord(c) > 127 and c.isalpha()]
    return all(unicodedata.name(c, "").startswith("LATIN") for c in letters)


def _detect(data: bytes) -> tuple[str, str]:
    """(text, encoding) of bytes that are not UTF-8, or `FileProblem`."""
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is None:
        raise FileProblem("is not text in any encoding that could be detected (is it binary?)")
    text = str(best)
    # On short Western texts the detector hesitates between a dozen single-byte Latin code
    # pages; Windows-1252 is the one such files are almost always in (and a superset of
    # Latin-1's printable characters), so a Latin-script guess is read as Windows-1252.
    if best.encoding != "cp1252" and _is_latin(text):
        try:
            return data.decode("cp1252"), "cp1252"
        except UnicodeDecodeError:
            pass
    return text, best.encoding


def decode(data: bytes, *, html: bool = False) -> tuple[str, str | None]:
    """Text of a file's bytes, and a note saying what was decided when it was not plain UTF-8.

    UTF-8 (with or without BOM) and UTF-16 with a BOM are read as such; HTML that declares its
    charset in a `<meta>` tag is read in that charset; anything else is detected.
    """
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16"), None
        except UnicodeDecodeError as exc:
            raise FileProblem("has a UTF-16 byte-order mark but is not valid UTF-16") from exc
    notes: list[str] = []
    nuls = data.count(b"\x00")
    if nuls:
        if nuls > max(1, len(data) * _MAX_NUL_SHARE):
            raise FileProblem(
                f"is a binary file ({nuls} NUL bytes in {len(data)} bytes), not text"
            )
        data = data.replace(b"\x00", b"")
        notes.append(f"{nuls} stray NUL byte{'s' if nuls > 1 else ''} dropped")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        bad = data[exc.start]
        why = f"not UTF-8 (byte 0x{bad:02x} at offset {exc.start})"
        text = ""
        if html:
            declared = _META_CHARSET.search(data[:4096])
            if declared:
                try:
                    encoding = codecs.lookup(declared[1].decode("ascii")).name
                    text = data.decode(encoding)
                    notes.append(f"{why}; decoded as {encoding}, as its <meta> tag declares")
                except (LookupError, UnicodeDecodeError):
                    text = ""
        if not text:
            text, encoding = _detect(data)
            notes.append(f"{why}; decoded as {encoding} (detected)")
    return text, "; ".join(notes) or None


def is_supported(path: Path) -> bool:
    return path.suffix.lower() in SUPPORTED_SUFFIXES


def _inside(target: str, root: str) -> bool:
    return target == root or target.startswith(root.rstrip(os.sep) + os.sep)


def walk(folder: Path, problems: list[Problem]) -> list[Path]:
    """Supported files under `folder`, recursively, in sorted order, hidden entries skipped.

    Links that lead out of `folder`, links to folders, and files that are not regular files
    (FIFOs, sockets, devices) are reported in `problems`, not returned.
    """
    root = os.path.realpath(folder)

    def on_error(exc: OSError) -> None:
        where = exc.filename or str(folder)
        reason = "permission denied" if isinstance(exc, PermissionError) else exc.strerror
        problems.append(Problem(str(where), f"{where}: folder cannot be read ({reason})"))

    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(folder, onerror=on_error):
        visible = sorted(d for d in dirnames if not d.startswith("."))
        dirnames[:] = []
        for name in visible:
            sub = Path(dirpath) / name
            if sub.is_symlink():
                problems.append(
                    Problem(
                        str(sub),
                        f"{sub}: is a symbolic link to a folder ({os.path.realpath(sub)}); "
                        "not followed (index that folder itself if you want it)",
                    )
                )
            else:
                dirnames.append(name)
        for name in sorted(filenames):
            candidate = Path(dirpath) / name
            if name.startswith(".") or not is_supported(candidate):
                continue
            if candidate.is_symlink():
                target = os.path.realpath(candidate)
                if not _inside(target, root):
                    problems.append(
                        Problem(
                            str(candidate),
                            f"{candidate}: is a symbolic link to {target}, outside the folder "
                            "being indexed; not followed",
                        )
                    )
                    continue
            try:
                mode = os.stat(candidate).st_mode
            except OSError as exc:
                problems.append(
                    Problem(str(candidate), f"{candidate}: cannot be read ({exc.strerror})")
                )
                continue
            kind = _kind(mode)
            if kind:
                problems.append(
                    Problem(str(candidate), f"{candidate}: is {kind}, not a regular file; skipped")
                )
                continue
            found.append(candidate)
    # os.walk visits a folder's files before its subfolders; sort the whole list so that the
    # order is simply by relative path.
    return sorted(found, key=lambda p: p.relative_to(folder).parts)
