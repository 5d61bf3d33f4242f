"""Where the bot's own files are: the prompt templates (`prompts/`) and the model catalogue
(`models.txt`).

A project's own copies win over the shipped ones, in this order: `./prompts` and `./models.txt`
in the current folder; then those of the source tree this package runs from (a checkout or an
editable install); then the copies shipped inside the package (`rag/_data/`, which the build
copies from the repository's top-level files — those stay the one source of truth).
`RAG_PROMPTS_DIR` still names a prompts folder outright (read in `rag.answer.prompts`).
"""

from __future__ import annotations

from pathlib import Path

from rag.config import PROJECT_ROOT

__all__ = ["PACKAGED", "prompts_dir", "models_file"]

PACKAGED = Path(__file__).resolve().parent / "_data"


def _first(candidates: list[Path], exists) -> Path:  # type: ignore[no-untyped-def]
    for candidate in candidates:
        if exists(candidate):
            return candidate
    # None exists: the last (packaged) path, so that the error names where it should have been.
    return candidates[-1]


def prompts_dir() -> Path:
    """The prompts folder: `./prompts`, else the source tree's, else the packaged one."""
    return _first([Path.cwd() / "prompts", PROJECT_ROOT / "prompts", PACKAGED / "prompts"], Path.is_dir)


def models_file() -> Path:
    """The model catalogue: `./models.txt`, else the source tree's, else the packaged one."""
    return _first([Path.cwd() / "models.txt", PROJECT_ROOT / "models.txt", PACKAGED / "models.txt"],
                  Path.is_file)
