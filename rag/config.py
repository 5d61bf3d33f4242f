"""One frozen `Settings` object. Precedence: built-in default < environment (`RAG_*`) < explicit
argument or CLI flag. Nothing here is global or mutable: callers build a `Settings` and pass it on.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent

DEFAULT_EMBEDDER = "all-MiniLM-L6-v2"


def default_models_dir() -> Path:
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "rag" / "models"


NOT_FROM_ENV = frozenset({"abstain_threshold", "use_grammar", "style", "support_threshold"})


@dataclass(frozen=True)
class Settings:
    index_dir: Path = Path("index")
    models_dir: Path = default_models_dir()
    embedder: str = DEFAULT_EMBEDDER
    model: str | None = None  # LLM name from models.txt or a path to a .gguf; None = the default
    device: str = "auto"  # auto | cpu | gpu
    gpu_layers: int | None = None  # None = all when on the GPU
    k: int = 5
    retrieval: str = "hybrid"  # dense | lexical | hybrid
    mode: str = "auto"  # auto | llm | extractive
    max_tokens: int = 512  # chunking budget is separate; this is the answer length cap
    temperature: float = 0.0
    seed: int = 0
    store: str | None = None  # milvus://HOST:PORT/COLLECTION: the index lives there, not in index_dir
    since: str | None = None  # only documents published on or after this date (YYYY-MM-DD)
    until: str | None = None  # only documents published on or before this date
    as_of: str | None = None  # the date questions are asked on ("this week" is relative to it); None = today
    # How an answer is checked and written (for measurement; not read from the environment):
    abstain_threshold: float | None = None  # None = the fitted one (rag/answer/extractive.py, SCORER)
    use_grammar: bool = True  # the LLM writes under the citation grammar
    style: str = "read"  # read: the LLM names the short answer and its passage, the passage sentence is quoted;
    # free: the LLM writes its sentences under the citation grammar; copy: it picks passage sentences verbatim
    support_threshold: float | None = None  # None = rag/answer/citations.py, SUPPORT_THRESHOLD

    @classmethod
    def from_env(cls, **overrides: object) -> "Settings":
        """Defaults, then `RAG_<FIELD>` variables, then the non-None `overrides`."""
        values: dict[str, object] = {}
        for f in fields(cls):
            if f.name in NOT_FROM_ENV:
                continue
            raw = os.environ.get(f"RAG_{f.name.upper()}")
            if raw is None or raw == "":
                continue
            values[f.name] = _coerce(f.name, raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        if values.get("store"):  # a store URL takes the index folder's place everywhere
            values["index_dir"] = values["store"]
        for key in ("index_dir", "models_dir"):
            if key in values and not isinstance(values[key], Path):
                values[key] = Path(str(values[key]))
        return cls(**values)  # type: ignore[arg-type]

    def with_(self, **changes: object) -> "Settings":
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


def _coerce(name: str, raw: str) -> object:
    if name in ("index_dir", "models_dir"):
        return Path(raw).expanduser()
    if name in ("k", "seed", "max_tokens"):
        return int(raw)
    if name == "gpu_layers":
        return int(raw)
    if name == "temperature":
        return float(raw)
    return raw
