"""Installs like a library: build the wheel, install it into a fresh virtual environment
WITHOUT the dev extra (as a user would), and use `rag` from a folder outside the source tree:
index one file of each format and answer a question extractively.

Slow (minutes: a whole environment is installed; pip's cache and local wheel mirrors make the
second run faster), so it is marked `install`: `pytest -m install` runs only it,
`pytest -m "not install"` skips it. `make test` runs it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.install

ARTICLE_TXT = (
    "Putin visits Hanoi\n\n"
    "Russian President Vladimir Putin arrived in Hanoi on Wednesday for a state visit.\n\n"
    "He was welcomed by Vietnamese President To Lam at the presidential palace.\n"
)
ARTICLE_MD = (
    "---\ntitle: The summit ends\ndate: 2024-06-20\n---\n\n"
    "# The summit ends\n\nThe Hanoi summit ended on Thursday with a joint statement on trade.\n"
)
ARTICLE_HTML = (
    "<html><head><title>Agreements signed</title></head><body><article>"
    "<p>Vietnam and Russia signed eleven agreements during the visit to Hanoi.</p>"
    "<p>The deals cover energy, education and health care.</p></article></body></html>"
)
ARTICLE_JSONL = json.dumps(
    {"id": "r1", "title": "Departure", "date": "2024-06-20",
     "text": "The Russian president left Hanoi for Moscow on Thursday evening."}
) + "\n"


def _clean_env() -> dict[str, str]:
    # No PYTHONPATH or virtualenv of the test run may leak in: the fresh environment must find
    # only what was installed into it.
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}


def _run(cmd: list[str], cwd: Path, timeout: int = 900) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env=_clean_env())
    assert done.returncode == 0, f"{' '.join(cmd)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def test_wheel_installs_without_dev_extra_and_runs_outside_the_source_tree(tmp_path: Path) -> None:
    # Build from a copy of the tracked sources, so that the checkout gets no build/ folder.
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "models.txt"):
        shutil.copy2(ROOT / name, src / name)
    for folder in ("rag", "prompts"):
        shutil.copytree(ROOT / folder, src / folder,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "_data"))
    dist = tmp_path / "dist"
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
          "-w", str(dist), str(src)], cwd=tmp_path)
    wheel = next(dist.glob("rag_news-*.whl"))

    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    # torch pinned first, as the Makefile does, so that pip never pulls another build.
    _run([str(python), "-m", "pip", "install", "-q", "torch==2.13.0", str(wheel)], cwd=tmp_path,
         timeout=1800)
    # Really without the dev extra: none of its packages came along.
    probe = subprocess.run([str(python), "-c", "import pytest"], capture_output=True, text=True,
                           env=_clean_env())
    assert probe.returncode != 0

    work = tmp_path / "elsewhere"
    (work / "articles").mkdir(parents=True)
    (work / "articles" / "a.txt").write_text(ARTICLE_TXT, encoding="utf-8")
    (work / "articles" / "b.md").write_text(ARTICLE_MD, encoding="utf-8")
    (work / "articles" / "c.html").write_text(ARTICLE_HTML, encoding="utf-8")
    (work / "articles" / "d.jsonl").write_text(ARTICLE_JSONL, encoding="utf-8")
    rag = str(env_dir / "bin" / "rag")

    where = _run([str(python), "-c", "import rag, rag.answer.prompts, rag.models; "
                  "print(rag.__file__); print(rag.answer.prompts.prompts_dir()); "
                  "print(rag.models.default_models_file()); print(len(rag.models.read_models()))"],
                 cwd=work).stdout.split("\n")
    assert str(env_dir) in where[0]  # the installed package, not the checkout
    assert where[1].endswith("rag/_data/prompts") and str(env_dir) in where[1]
    assert where[2].endswith("rag/_data/models.txt") and int(where[3]) > 0

    indexed = _run([rag, "index", "articles", "--index-dir", "idx"], cwd=work)
    assert "4 documents" in indexed.stdout, indexed.stdout + indexed.stderr
    assert "skipped" not in indexed.stderr, indexed.stderr
    # No folder named: the index's own sources are updated; with no index either, a clear error.
    again = _run([rag, "index", "--index-dir", "idx"], cwd=work)
    assert "up to date" in again.stdout and "updating idx/ from" in again.stderr, again.stdout + again.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    refused = subprocess.run([rag, "index"], cwd=empty, capture_output=True, text=True, env=_clean_env())
    assert refused.returncode == 1 and "no folder given" in refused.stderr, refused.stdout + refused.stderr
    assert "Traceback" not in refused.stderr and not (empty / "index").exists()

    answer = _run([rag, "ask", "How many agreements did Vietnam and Russia sign?", "--mode",
                   "extractive", "--index-dir", "idx"], cwd=work)
    assert "eleven agreements" in answer.stdout
    assert "c.html" in answer.stdout
