"""The command line: help with examples, one-line errors, JSON output, lazy imports, first run."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rag.cli.commands import app

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("cmd", [["index"], ["search"], ["info"], ["ask"], ["chat"], ["eval"],
                                 ["models", "list"], ["models", "pull"]])
def test_every_command_has_help_with_an_example(cmd):
    res = runner.invoke(app, [*cmd, "--help"])
    assert res.exit_code == 0, res.output
    assert "Example:" in res.output


def test_help_and_search_do_not_import_the_llm_stack():
    code = ("import sys; from rag.cli import app; import rag.retrieval, rag.answer.pipeline; "
            "bad = [m for m in ('llama_cpp', 'torch', 'sentence_transformers', 'faiss') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stdout + out.stderr


def test_index_search_info_with_bad_input(tmp_path, corpus):
    (corpus / "binary.txt").write_bytes(b"\x00\x01\x02 not text")
    (corpus / "latin1.txt").write_bytes("Caf\xe9 au lait\n\nUne phrase.".encode("latin-1"))
    (corpus / "empty.md").write_text("", encoding="utf-8")
    idx = tmp_path / "index"
    res = runner.invoke(app, ["index", str(corpus), "--index-dir", str(idx), "--embedder", "hashing-256"])
    assert res.exit_code == 0, res.output
    for name in ("binary.txt", "empty.md"):
        assert name in res.stderr
    # A Latin-1 file is decoded (as Windows-1252) and indexed, not refused (rag/ingest/files.py).
    assert not [line for line in res.stderr.splitlines() if "latin1.txt" in line and not line.startswith("note:")]
    assert "6 documents" in res.stdout
    res = runner.invoke(app, ["index", str(corpus), "--index-dir", str(idx), "--embedder", "hashing-256"])
    assert "up to date" in res.stdout and "nothing to embed" in res.stdout

    res = runner.invoke(app, ["info", "--index-dir", str(idx), "--json"])
    info = json.loads(res.stdout)
    assert info["documents"] == 6 and info["embedder"]["name"] == "hashing-256" and info["size_bytes"] > 0

    res = runner.invoke(app, ["search", "Putin visit", "--index-dir", str(idx), "-k", "2"])
    assert res.exit_code == 0 and res.stdout.startswith("[1] ")


def test_errors_are_one_line_without_traceback(tmp_path):
    res = runner.invoke(app, ["index", str(tmp_path / "missing"), "--index-dir", str(tmp_path / "i")])
    assert res.exit_code == 1
    assert res.stderr.count("\n") <= 2 and "Traceback" not in res.output and "missing" in res.stderr
    res = runner.invoke(app, ["search", "anything", "--index-dir", str(tmp_path / "none")])
    assert res.exit_code == 1 and "rag index" in res.stderr and "Traceback" not in res.output
    res = runner.invoke(app, ["search", "x", "--retrieval", "magic", "--index-dir", str(tmp_path / "none")])
    assert res.exit_code == 1


def test_embedder_mismatch_from_the_cli(tmp_path, corpus):
    idx = tmp_path / "index"
    runner.invoke(app, ["index", str(corpus), "--index-dir", str(idx), "--embedder", "hashing-256"])
    res = runner.invoke(app, ["index", str(corpus), "--index-dir", str(idx), "--embedder", "hashing-128"])
    assert res.exit_code == 1 and "--rebuild" in res.stderr


def test_ask_json_and_show_prompt_and_verbose(seed_index):
    res = runner.invoke(app, ["ask", "When did the International Criminal Court issue an arrest warrant for Putin?",
                              "--index-dir", str(seed_index), "--mode", "extractive", "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert {"answer", "abstained", "mode", "citations"} <= set(data)
    assert "March 2023" in data["answer"] and data["mode"] == "extractive"
    assert {"n", "doc_id", "chunk_id", "quote"} <= set(data["citations"][0])

    res = runner.invoke(app, ["ask", "Which Vietnamese president welcomed Putin in Hanoi?", "--index-dir",
                              str(seed_index), "--mode", "extractive", "--verbose", "--show-prompt"])
    assert res.exit_code == 0, res.output
    out = res.stdout
    assert "To Lam" in out and "Sources:" in out and "retrieval:" in out and "device:" in out
    assert "\033[" not in out, "no colour when the output is not a terminal"
    assert "no prompt" in out


def test_ask_llm_mode_without_a_model_is_a_clear_error(seed_index, tmp_path, monkeypatch):
    from tests.no_llm import no_llm_here

    monkeypatch.chdir(no_llm_here(tmp_path / "cwd"))
    env = {"RAG_MODELS_DIR": str(tmp_path / "models")}
    res = runner.invoke(app, ["ask", "Who is Vuving?", "--index-dir", str(seed_index), "--mode", "llm"], env=env)
    assert res.exit_code == 1 and "rag models pull" in res.stderr


def test_first_ask_in_the_project_folder_builds_the_index_from_its_seeds(tmp_path):
    """`make demo` in the project folder: seeds/ beside the index folder is indexed once."""
    shutil.copytree(ROOT / "seeds", tmp_path / "seeds")
    env = {**os.environ, "RAG_INDEX_DIR": str(tmp_path / "index"), "RAG_MODELS_DIR": str(tmp_path / "m")}
    out = subprocess.run([sys.executable, "-m", "rag.cli", "ask", "Which country is Vietnam's largest arms supplier?"],
                         capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "building it from the demo articles" in out.stderr and "Russia" in out.stdout
    assert (tmp_path / "index" / "CURRENT").exists()


@pytest.mark.parametrize("cmd", [["ask", "Who is To Lam?"], ["search", "To Lam"], ["chat"]])
def test_without_an_index_elsewhere_nothing_is_built_and_it_says_how(tmp_path, monkeypatch, cmd):
    """Outside the project folder no index is built from a folder the user did not name."""
    monkeypatch.chdir(tmp_path)
    res = runner.invoke(app, cmd, env={"RAG_MODELS_DIR": str(tmp_path / "m"), "RAG_INDEX_DIR": ""})
    assert res.exit_code == 1 and "rag index FOLDER" in res.stderr, res.output
    assert not (tmp_path / "index").exists() and list(tmp_path.iterdir()) == []


def test_ask_says_its_notices_on_stderr_once_per_installation(seed_index, tmp_path, monkeypatch):
    """Standard output carries only the answer and its sources; the note that answers quote the
    articles (no LLM downloaded) goes to stderr, once per installation, and never with --quiet."""
    from rag.answer.pipeline import NO_MODEL_HINT
    from tests.no_llm import no_llm_here

    monkeypatch.chdir(no_llm_here(tmp_path / "cwd"))
    env = {"RAG_MODELS_DIR": str(tmp_path / "models"), "NO_COLOR": "1"}
    args = ["ask", "Which Vietnamese president welcomed Putin in Hanoi?", "--index-dir", str(seed_index)]
    quiet = runner.invoke(app, args + ["--quiet"], env=env)
    assert quiet.exit_code == 0 and quiet.stderr == "" and "To Lam" in quiet.stdout
    first = runner.invoke(app, args, env=env)
    assert first.exit_code == 0 and NO_MODEL_HINT in first.stderr
    assert "LLM" not in first.stdout and "(README)" not in first.stderr
    assert first.stdout.startswith("Vietnamese President") or "To Lam" in first.stdout.splitlines()[0]
    assert first.stdout.rstrip().splitlines()[-1].startswith("    "), "stdout ends with the sources"
    second = runner.invoke(app, args, env=env)
    assert second.exit_code == 0 and second.stderr == "" and second.stdout == first.stdout


def test_ask_with_a_real_gguf_through_llama_cpp(seed_index, tmp_path):
    """The whole LLM path from the command line with a tiny random-weight GGUF: the model's own
    chat template, grammar-constrained output, citation checking, and the device it ran on."""
    pytest.importorskip("llama_cpp")
    from tests.tiny_gguf import make_tiny_gguf

    model = make_tiny_gguf(tmp_path / "tiny.gguf")
    res = runner.invoke(app, ["ask", "Which Vietnamese president welcomed Putin in Hanoi?", "--index-dir",
                              str(seed_index), "--mode", "llm", "--model", str(model), "--device", "cpu",
                              "--json"], env={"RAG_MAX_TOKENS": "24"})
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["mode"] == "llm" and data["device"] == "cpu" and data["model"] == "tiny"
    assert "<|im_start|>" in data["prompt"] and "Which Vietnamese president" in data["prompt"]
    assert data["timings"]["prompt_tokens"] > 100
    import re

    # Whatever the random model wrote is NOT FOUND, cited sentences, or flagged (a sentence cut off
    # by the token limit before its marker is reported as unsupported).
    assert data["abstained"] or re.search(r"\[\d\]", data["answer"]) or data["unsupported_sentences"]


def test_sources_are_listed_as_the_answer_numbers_them_each_passage_once():
    """The answer cites the 6th passage as [1]: Sources shows [1] (not [6]), and a passage two of
    whose sentences are quoted is shown once with both highlighted."""
    from rag.cli.render import Style, sources_block
    from rag.types import Answer, Citation, Source

    text = "First sentence here. Second sentence there."
    srcs = tuple(Source(n=i, doc_id=f"d{i}.txt", chunk_id=f"d{i}.txt#0", title=f"T{i}", text=text, start=100,
                        end=100 + len(text), score=0.5) for i in range(1, 7))

    def cit(qs: int, qe: int) -> Citation:
        return Citation(n=1, passage=6, doc_id="d6.txt", chunk_id="d6.txt#0", title="T6", quote=text[qs:qe],
                        quote_start=100 + qs, quote_end=100 + qe, sentence="s", support=1.0, supported=True)

    answer = Answer(question="q", answer="First sentence here. [1]\nSecond sentence there. [1]",
                    citations=(cit(0, 20), cit(21, len(text))), sources=srcs, abstained=False,
                    mode="extractive", device="none")
    block = sources_block(answer, Style(False)).splitlines()
    assert block == ["Sources:", "[1] T6 — d6.txt", "    «First sentence here.» «Second sentence there.»"]
