"""`rag chat`: an interactive prompt over one opened index and one loaded model.

A thin layer over the library: every turn is `ask(...)` with the same `Index`, the same generator
and a `Conversation` that rewrites follow-ups into standalone questions. What lives here is only
what a terminal needs: line editing and history kept across sessions (stdlib `readline`), the
slash commands, streaming the answer as it is written, and Ctrl-C / Ctrl-D behaving like a shell:
Ctrl-C stops the answer being written (or clears the line at the prompt), Ctrl-D leaves.
"""

from __future__ import annotations

import os
import signal
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import IO, TYPE_CHECKING, Any, Callable, Iterator

from rag.answer.pipeline import MODES, NO_MODEL_HINT, Conversation, Hooks, ask, load_generator
from rag.cli.notices import Notices
from rag.cli.render import Style, after_stream, answer_footer, hits_block, use_color
from rag.config import Settings
from rag.errors import InputError, ModelError, RagError
from rag.retrieval import open_index
from rag.types import Answer

if TYPE_CHECKING:  # pragma: no cover
    from rag.answer.generation import Generator

PROMPT = "rag> "
HISTORY_LENGTH = 1000
K_RANGE = (1, 50)  # the same bounds as `rag chat -k`
COMMANDS = {
    "/help": "list these commands",
    "/sources": "show the passages behind the last answer, in full",
    "/k N": f"retrieve N passages per question ({K_RANGE[0]}-{K_RANGE[1]})",
    "/mode auto|llm|extractive": "answer with the LLM (auto: when one is present) or by quoting the articles",
    "/reset": "forget the conversation: the next question starts afresh",
    "/quit": "leave (also /exit or Ctrl-D)",
}

InputFn = Callable[[str], str]


class _Stopped(BaseException):
    """Raised from our callbacks to abandon a turn after Ctrl-C. A BaseException, so that no
    `except Exception` on the way up can swallow it; not a KeyboardInterrupt, because the
    generator catches those to return partial text."""


def history_path() -> Path:
    """`RAG_HISTORY_FILE`, else `$XDG_STATE_HOME/rag/chat_history` (`~/.local/state/...`)."""
    env = os.environ.get("RAG_HISTORY_FILE")
    if env:
        return Path(env).expanduser()
    state = os.environ.get("XDG_STATE_HOME")
    return (Path(state) if state else Path.home() / ".local" / "state") / "rag" / "chat_history"


@contextmanager
def _history(path: Path, out: IO[str]) -> Iterator[bool]:
    """Load the history into readline, and on the way out append this session's lines to it.
    Yields whether readline is in use. Appending (rather than rewriting) keeps the lines of two
    sessions that run at the same time."""
    try:
        import readline
    except ImportError:  # e.g. Windows without pyreadline: plain input() still works
        yield False
        return
    start = 0
    usable = True
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(exist_ok=True)
        readline.read_history_file(str(path))
        start = readline.get_current_history_length()
    except OSError as exc:
        usable = False
        print(f"(history is not kept: {exc})", file=out)
    readline.set_history_length(HISTORY_LENGTH)
    _complete_commands(readline)
    try:
        yield True
    finally:
        if usable:
            added = readline.get_current_history_length() - start
            try:
                if added > 0 and hasattr(readline, "append_history_file"):
                    # Also truncates the file to HISTORY_LENGTH lines.
                    readline.append_history_file(added, str(path))
                elif added > 0:
                    readline.write_history_file(str(path))
            except OSError:
                pass  # losing history must not turn a clean exit into an error


def _complete_commands(readline: Any) -> None:
    """Tab completes the slash commands."""
    names = [c.split()[0] for c in COMMANDS] + ["/exit"]

    def complete(text: str, state: int) -> str | None:
        matches = [n for n in names if n.startswith(text)] if text.startswith("/") else []
        return matches[state] if state < len(matches) else None

    readline.set_completer(complete)
    readline.set_completer_delims(" \t\n")  # the default delimiters include "/"
    if "libedit" in (readline.__doc__ or ""):
        readline.parse_and_bind("bind ^I rl_complete")
    else:
        readline.parse_and_bind("tab: complete")


@contextmanager
def _ctrl_c_noted(stop: "_Turn") -> Iterator[None]:
    """While a turn runs, remember that Ctrl-C was pressed. The LLM generator catches the
    KeyboardInterrupt to return its partial text, so without this the chat could not tell a
    stopped answer from a finished one."""

    def handler(signum: int, frame: FrameType | None) -> None:
        stop.interrupted = True
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGINT, handler)
    except ValueError:  # not the main thread: signals cannot be handled here at all
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@dataclass
class _Turn:
    """What one question's callbacks share: whether Ctrl-C came, and whether text was streamed."""

    interrupted: bool = False
    streamed: str = ""
    drafted: int = 0  # model tokens generated (shown as progress dots, never as text)


class _ShownConversation(Conversation):
    """A Conversation that reports its rewrite as soon as it is made, so the chat can show what it
    searches for before the answer streams (the Answer carrying it only comes afterwards)."""

    def __init__(self, on_rewrite: Callable[[str, str], None]) -> None:
        super().__init__()
        self.on_rewrite = on_rewrite

    def standalone(self, question: str, generator: "Generator | None" = None) -> str:
        out = super().standalone(question, generator)
        self.on_rewrite(question, out)
        return out


class Chat:
    """The session state: settings as changed by commands, the index, the generator, the
    conversation and the last answer. `run_chat` is the entry point."""

    def __init__(self, settings: Settings, *, verbose: bool, out: IO[str], read: InputFn,
                 generator: "Generator | None" = None, notices: Notices | None = None) -> None:
        if settings.mode not in MODES:
            raise InputError(f"mode must be one of {', '.join(MODES)}, not {settings.mode!r}")
        self.settings = settings
        self.verbose = verbose
        self.out = out
        self.read = read
        self.style = Style(use_color(out))
        self.notices = notices or Notices(settings.models_dir, stream=out)
        self.gen = generator
        self.owns_gen = False  # a generator given by the caller stays the caller's to close
        self.model_error: str | None = None  # why llm mode found no generator, once tried
        self.auto_notice: str | None = None  # why auto mode answers extractively, once tried
        self.conv = _ShownConversation(self._show_rewrite)
        self.last: Answer | None = None
        self.turn = _Turn()
        self.index = open_index(settings.index_dir)

    # -- output -------------------------------------------------------------------------------
    def say(self, text: str = "") -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def _stream(self, piece: str) -> None:
        if self.turn.interrupted:
            raise _Stopped
        if self.turn.drafted and not self.turn.streamed:
            self.out.write("\n")  # after the progress dots
        self.turn.streamed += piece
        self.out.write(piece)
        self.out.flush()

    def _draft(self, piece: str) -> None:
        """A model token: not the answer (only checked sentences are shown), so a dot of progress
        every few tokens; Ctrl-C stops the generation here."""
        del piece
        if self.turn.interrupted:
            raise _Stopped
        if self.turn.drafted == 0:
            self.out.write(self.style.dim("writing"))
        self.turn.drafted += 1
        if self.turn.drafted % 4 == 0:
            self.out.write(self.style.dim("."))
        self.out.flush()

    def _before_prompt(self, prompt: str) -> None:
        # Called just before the LLM starts on the answer: a Ctrl-C during the follow-up rewrite
        # (absorbed by the generator) ends the turn here instead of generating anyway.
        del prompt
        if self.turn.interrupted:
            raise _Stopped

    def _show_rewrite(self, asked: str, standalone: str) -> None:
        if self.turn.interrupted:
            raise _Stopped
        if standalone.strip() != asked.strip():
            self.say(self.style.dim(f"→ searching for: {standalone}"))

    # -- model --------------------------------------------------------------------------------
    def _load_generator(self, mode: str = "llm") -> bool:
        """Load the LLM once, the first time a mode wants it ("auto" takes only the recommended
        model, "llm" any present one). False when there is none: `model_error` (llm mode) or
        `auto_notice` (auto mode) says why; the chat then answers extractively or refuses llm mode."""
        if self.gen is not None:
            return True
        if (self.model_error if mode == "llm" else self.auto_notice) is not None:
            return False
        try:
            self.gen, notice = load_generator(self.settings.with_(mode=mode))
        except ModelError as exc:
            self.model_error = str(exc)
            return False
        if self.gen is None:
            self.auto_notice = notice or NO_MODEL_HINT
            return False
        self.owns_gen = True
        warning = getattr(self.gen, "warning", None)
        if warning:
            self.say(self.style.yellow(warning))
        return True

    def _uses_llm(self) -> bool:
        return self.settings.mode != "extractive" and self.gen is not None

    def _mode_line(self) -> str:
        if self._uses_llm():
            assert self.gen is not None
            label = "llm" if self.settings.mode == "llm" else "auto: llm"
            return f"{label} ({self.gen.name} on {self.gen.device})"
        if self.settings.mode == "auto":
            return "auto: extractive (quotes the articles)"
        return "extractive (quotes the articles)"

    # -- session ------------------------------------------------------------------------------
    def banner(self) -> None:
        c = self.index.counts
        self.say(self.style.bold("rag chat") + f" — index {self.settings.index_dir}/: "
                 f"{c.get('documents', 0)} documents, {c.get('chunks', 0)} chunks")
        self.say(f"mode: {self._mode_line()}, k = {self.settings.k}")
        if self.settings.mode == "auto" and not self._uses_llm() and self.auto_notice is not None:
            # Why there is no LLM: about the installation, so said once (remembered), not every session.
            self.notices.once(self.auto_notice)
        self.say(self.style.dim("type /help for commands, Ctrl-D to leave"))

    def start(self) -> None:
        """Load the model the mode asks for. In llm mode a missing model is an error (the CLI
        prints it and exits); in auto mode the chat says once that it answers extractively."""
        if self.settings.mode in ("auto", "llm") and not self._load_generator(self.settings.mode):
            if self.settings.mode == "llm":
                raise ModelError(self.model_error or "no LLM could be loaded")
        self.banner()

    def loop(self) -> None:
        while True:
            try:
                line = self.read(PROMPT)
            except EOFError:  # Ctrl-D
                self.say()
                self.say("bye")
                return
            except KeyboardInterrupt:  # Ctrl-C at the prompt: drop the line, prompt again
                self.say()
                continue
            line = line.strip()
            if not line:
                continue
            try:
                if line.startswith("/"):
                    if not self.command(line):
                        self.say("bye")
                        return
                else:
                    self.answer(line)
            except (KeyboardInterrupt, _Stopped):
                # Ctrl-C outside the ask call proper (e.g. while printing sources).
                self.say()
                self.say(self.style.yellow("[stopped]"))
            except RagError as exc:
                self.say(self.style.red(f"error: {exc}"))

    def close(self) -> None:
        self.index.close()
        close = getattr(self.gen, "close", None)
        if self.owns_gen and close is not None:
            close()

    # -- a question ---------------------------------------------------------------------------
    def answer(self, question: str) -> None:
        self.turn = _Turn()
        # Without an LLM, say so to ask(): in auto mode it would look for a model on every turn.
        use_llm = self._uses_llm()
        settings = self.settings if use_llm else self.settings.with_(mode="extractive")
        answer: Answer | None = None
        try:
            with _ctrl_c_noted(self.turn):
                hooks = Hooks(generator=self.gen if use_llm else None, on_token=self._stream,
                              on_draft=self._draft, on_prompt=self._before_prompt)
                answer = ask(question, settings, index=self.index, conversation=self.conv, hooks=hooks)
        except (KeyboardInterrupt, _Stopped):
            self.turn.interrupted = True
        if self.turn.interrupted:
            # A half-written answer would mislead later follow-up rewrites: not kept.
            if (self.turn.streamed and not self.turn.streamed.endswith("\n")) or \
                    (self.turn.drafted and not self.turn.streamed):
                self.say()
            self.say(self.style.yellow("[stopped]"))
            self.last = answer  # its passages are still worth a /sources
            return
        assert answer is not None
        self._show(answer)
        self.conv.add(question, answer)
        self.last = answer

    def _show(self, answer: Answer) -> None:
        text = after_stream(self.turn.streamed, answer)
        self.say(text if text else "")
        footer = answer_footer(answer, self.style, verbose=self.verbose)
        if footer:
            self.say(footer)
        self.say()

    # -- commands -----------------------------------------------------------------------------
    def command(self, line: str) -> bool:
        """Run a slash command; False means leave."""
        name, _, arg = line.partition(" ")
        name, arg = name.lower(), arg.strip()
        if name in ("/quit", "/exit"):
            return False
        if name == "/help":
            width = max(len(c) for c in COMMANDS)
            for cmd, what in COMMANDS.items():
                self.say(f"  {cmd:<{width}}  {what}")
            self.say("  Ctrl-C stops the answer being written; Ctrl-D leaves. Anything else is a question.")
        elif name == "/sources":
            self._sources()
        elif name == "/k":
            self._set_k(arg)
        elif name == "/mode":
            self._set_mode(arg)
        elif name == "/reset":
            self.conv.reset()
            self.say("conversation forgotten: the next question starts afresh.")
        else:
            self.say(f"unknown command {name}: type /help for the list")
        return True

    def _sources(self) -> None:
        if self.last is None:
            self.say("no answer yet: ask a question first.")
            return
        if not self.last.sources:
            self.say("the last answer used no passages.")
            return
        # The answer numbers what it cites from [1]; the passages below keep their own numbers.
        cited = sorted({(c.n, c.passage) for c in self.last.citations})
        head = f"passages behind: {self.last.standalone_question or self.last.question}"
        if cited and all(n == p for n, p in cited):
            head += f"  (cited: {', '.join(f'[{p}]' for _, p in cited)})"
        elif cited:
            head += f"  (the answer's {', '.join(f'[{n}] is [{p}]' for n, p in cited)})"
        self.say(self.style.dim(head))
        self.say(hits_block(self.last.sources, self.style))

    def _set_k(self, arg: str) -> None:
        lo, hi = K_RANGE
        try:
            k = int(arg)
        except ValueError:
            k = 0
        if not lo <= k <= hi:
            self.say(f"usage: /k N with N from {lo} to {hi} (now {self.settings.k})")
            return
        self.settings = self.settings.with_(k=k)
        self.say(f"k = {k}: each question now retrieves up to {k} passages.")

    def _set_mode(self, arg: str) -> None:
        mode = arg.lower()
        if mode not in MODES:
            self.say(f"usage: /mode {'|'.join(MODES)} (now {self._mode_line()})")
            return
        if mode == "llm" and not self._load_generator():
            self.say(f"no LLM available, staying in {self._mode_line()}: {self.model_error}")
            return
        if mode == "auto":
            self._load_generator("auto")
        self.settings = self.settings.with_(mode=mode)
        self.say(f"mode: {self._mode_line()}")


def _line_reader(stdin: IO[str], out: IO[str]) -> InputFn:
    """input() for a given stream: write the prompt, read a line, EOFError at the end."""

    def read(prompt: str) -> str:
        out.write(prompt)
        out.flush()
        line = stdin.readline()
        if not line:
            raise EOFError
        return line.rstrip("\r\n")

    return read


def run_chat(settings: Settings, *, verbose: bool = False, stdin: IO[str] | None = None,
             stdout: IO[str] | None = None, input_fn: InputFn | None = None,
             generator: "Generator | None" = None, quiet: bool = False,
             notice_stream: IO[str] | None = None) -> None:
    """Talk with the articles until /quit or Ctrl-D.

    `stdin`/`stdout` replace the terminal (e.g. for scripts or tests), `input_fn(prompt) -> line`
    replaces `input` (raise EOFError to end), and `generator` is a loaded LLM to use instead of
    loading `settings.model`. Notices about the set-up go to `notice_stream` (default: stderr),
    once per installation (rag/cli/notices.py), and nowhere with `quiet`. Line editing and history across sessions (`RAG_HISTORY_FILE`) are
    on when reading from a terminal with `input`.
    """
    out = stdout or sys.stdout
    if input_fn is not None:
        read = input_fn
    elif stdin is not None:
        read = _line_reader(stdin, out)
    else:
        read = input
    # History only for a person at a terminal: scripts piping questions in must not fill it.
    interactive = read is input and sys.stdin.isatty()
    if interactive and signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        # Started from a script's background job, which ignores SIGINT (and children inherit
        # that): at a terminal, Ctrl-C must still clear the line or stop an answer.
        signal.signal(signal.SIGINT, signal.default_int_handler)
    chat = Chat(settings, verbose=verbose, out=out, read=read, generator=generator,
                notices=Notices(settings.models_dir, quiet=quiet, stream=notice_stream))
    try:
        chat.start()
        if interactive:
            with _history(history_path(), out):
                chat.loop()
        else:
            chat.loop()
    finally:
        chat.close()
