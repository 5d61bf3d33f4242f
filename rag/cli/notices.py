"""Notices about the set-up ("no LLM is downloaded ..."), said on stderr and each only once per
installation: the texts already said are remembered, as hashes, in `said-notices.json` in the
models folder (the installation's own folder: `rag models list` shows it). A notice whose text
changes (another model installed) is new and is said again. `--quiet` says nothing and remembers
nothing, so a later run without it still says it once. Where the file cannot be written, the
notice is said every time rather than never.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import IO

STATE_FILE = "said-notices.json"


class Notices:
    def __init__(self, models_dir: Path, *, quiet: bool = False, stream: IO[str] | None = None) -> None:
        self.path = Path(models_dir) / STATE_FILE
        self.quiet = quiet
        self.stream = stream

    def say(self, text: str | None) -> None:
        """Say `text` now (a notice about this answer)."""
        if text and not self.quiet:
            out = self.stream or sys.stderr
            out.write(text + "\n")
            out.flush()

    def once(self, text: str | None) -> None:
        """Say `text` unless it was said before in this installation, and remember it."""
        if not text or self.quiet:
            return
        key = hashlib.sha256(text.encode()).hexdigest()[:16]
        said = self._said()
        if key in said:
            return
        self.say(text)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps({"said": sorted(said | {key})}) + "\n", encoding="utf-8")
            tmp.replace(self.path)
        except OSError:
            pass  # a read-only models folder: said again next time

    def _said(self) -> set[str]:
        try:
            return set(json.loads(self.path.read_text(encoding="utf-8")).get("said", []))
        except (OSError, ValueError, AttributeError):
            return set()
