"""Load and render the prompt templates in `prompts/`.

Templates are plain text files with `{{name}}` placeholders. Rendering substitutes each one
exactly once (values are never re-scanned for placeholders, so article text containing braces is
safe); a placeholder without a value, or a value the template does not use, is an error.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from rag import resources
from rag.errors import PromptError

_PLACEHOLDER = re.compile(r"\{\{\s*(\w+)\s*\}\}")


def prompts_dir() -> Path:
    return Path(os.environ.get("RAG_PROMPTS_DIR") or resources.prompts_dir())


def load(name: str) -> str:
    path = prompts_dir() / f"{name}.txt"
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PromptError(f"prompt template {path} is missing ({exc.strerror})") from exc


def render(name: str, **values: object) -> str:
    template = load(name)
    needed = set(_PLACEHOLDER.findall(template))
    missing = needed - set(values)
    if missing:
        raise PromptError(f"prompt {name!r} needs {', '.join(sorted(missing))}")
    unused = set(values) - needed
    if unused:
        raise PromptError(f"prompt {name!r} has no placeholder for {', '.join(sorted(unused))}")
    return _PLACEHOLDER.sub(lambda m: str(values[m.group(1)]), template).strip()


def fence(text: str) -> str:
    """Article text goes inside <passage> tags: keep it from closing or opening one itself."""
    return re.sub(r"</?\s*passage\b[^>]*>", lambda m: m.group(0).replace("<", "‹").replace(">", "›"), text,
                  flags=re.IGNORECASE)
