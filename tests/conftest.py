"""Shared fixtures: a copy of the seeds, fast fakes for the heavy seams, and one real index
(built once per test session with the bundled MiniLM embedder)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
USER_MODELS_DIR = Path(os.environ.get("RAG_MODELS_DIR") or Path(os.environ.get("XDG_CACHE_HOME") or
                                                                  Path.home() / ".cache") / "rag" / "models")
"""Where `make` pulled models (RAG_MODELS_DIR as the tests were started, else the default); the tests
themselves see an empty models folder (below)."""
SEEDS = ROOT / "seeds"


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """A writable copy of the five seed articles (no question set)."""
    dst = tmp_path / "articles"
    dst.mkdir()
    for f in sorted(SEEDS.glob("*.txt")):
        shutil.copy(f, dst / f.name)
    return dst


@pytest.fixture
def hashing():
    from rag.index.embedding import HashingEmbedder

    return HashingEmbedder()


@pytest.fixture(scope="session")
def minilm():
    from rag.index.embedding import load_embedder

    return load_embedder("all-MiniLM-L6-v2")


@pytest.fixture(scope="session")
def seed_index(tmp_path_factory: pytest.TempPathFactory, minilm) -> Path:
    """The seeds indexed with the real embedder, shared read-only by the tests that need it."""
    from rag.index.build import build_index

    index_dir = tmp_path_factory.mktemp("seed-index") / "index"
    build_index([SEEDS], index_dir, embedder=minilm)
    return index_dir


@pytest.fixture(scope="session", autouse=True)
def _no_user_models(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Tests never pick up the LLMs a user (or `make`) pulled into the models folder: auto mode would
    load them. A test of a real model names its folder itself (tests/answer/test_real_model.py)."""
    saved = os.environ.get("RAG_MODELS_DIR")
    os.environ["RAG_MODELS_DIR"] = str(tmp_path_factory.mktemp("no-models"))
    yield
    if saved is None:
        os.environ.pop("RAG_MODELS_DIR", None)
    else:
        os.environ["RAG_MODELS_DIR"] = saved
