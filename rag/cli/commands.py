"""The `rag` command: parse flags, call the library, print. Nothing here that a Python user
could not do with the public API.

Errors are one line on stderr and a non-zero exit code (a traceback only with `--debug`).
Heavy modules (torch, faiss, llama_cpp) are imported inside the commands that need them.

Longer than 500 lines because it is the one table of the command line: every command (index,
search, info, check, ask, chat, eval, models, serve) with its options, each a short parse -> call ->
print; split by command, the options the commands share would be spread over files.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import sys
from pathlib import Path
from typing import Any, Callable, List, Optional, Tuple

import typer

from rag.config import Settings
from rag.errors import RagError

app = typer.Typer(
    help="Ask questions about a folder of news articles and get answers with cited passages.\n\n"
    "Example: rag index seeds/ && rag ask \"Which Vietnamese president welcomed Putin in Hanoi?\"",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
models_app = typer.Typer(help="List and download the models in models.txt.", no_args_is_help=True,
                         rich_markup_mode=None)
app.add_typer(models_app, name="models")

IndexDirOpt = typer.Option(None, "--index-dir", help="Index folder [env: RAG_INDEX_DIR; default: index/].")
DebugOpt = typer.Option(False, "--debug", help="Show tracebacks on errors.")
JsonOpt = typer.Option(False, "--json", help="Print JSON instead of text.")
# Defaults live in Settings, so that RAG_K / RAG_MODE / RAG_RETRIEVAL / RAG_DEVICE apply when no flag is given.
KOpt = typer.Option(None, "-k", "--k", min=1, max=50, help="Passages to retrieve [env: RAG_K; default: 5].",
                    show_default=False)
ModeOpt = typer.Option(None, "--mode", help="auto (the recommended LLM once downloaded, else extractive) | llm (any present LLM) | extractive [env: RAG_MODE; default: auto].",
                       show_default=False)
ModelOpt = typer.Option(None, "--model", help="Model name from models.txt or path to a .gguf.")
RetrievalOpt = typer.Option(None, "--retrieval", help="dense | lexical | hybrid [env: RAG_RETRIEVAL; default: hybrid].",
                            show_default=False)
SinceOpt = typer.Option(None, "--since", help="Only articles published on or after this date (YYYY-MM-DD).")
UntilOpt = typer.Option(None, "--until", help="Only articles published on or before this date (YYYY-MM-DD).")
AsOfOpt = typer.Option(None, "--as-of", help="The date the question is asked on, for \"this week\", \"last year\", \"before 2020\" (YYYY-MM-DD) [default: today].")
DeviceOpt = typer.Option(None, "--device", help="auto | cpu | gpu (for the LLM) [env: RAG_DEVICE; default: auto].",
                         show_default=False)
GpuLayersOpt = typer.Option(None, "--gpu-layers", help="Offload only N layers to the GPU.")
StoreOpt = typer.Option(None, "--store", help="Keep the index in Milvus: milvus://HOST:PORT/COLLECTION "
                        "[env: RAG_STORE] (needs the scale extra; replaces --index-dir).")


QuietOpt = typer.Option(False, "--quiet", "-q", help="Say nothing beside the answer and its sources (no notices).")


def no_index_message(index_dir: Path) -> str:
    return (f"no index at {index_dir}/ — make one from a folder of articles (.txt, .md, .html, .jsonl) "
            f"with `rag index FOLDER`" + (f" --index-dir {index_dir}" if str(index_dir) != "index" else ""))


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _run(debug: bool, fn: Callable[[], Any]) -> Any:
    """Run a command body: library errors become one line and exit code 1."""
    debug = debug or os.environ.get("RAG_DEBUG") == "1"
    try:
        return fn()
    except typer.Exit:
        raise
    except RagError as exc:
        if debug:
            raise
        _stderr(f"error: {exc}")
        raise typer.Exit(1)
    except KeyboardInterrupt:
        _stderr("interrupted")
        raise typer.Exit(130)
    except BrokenPipeError:
        # The reader went away (`rag ask ... | head -1`): not an error; stop writing quietly.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise typer.Exit(0)
    except Exception as exc:  # noqa: BLE001 - the one place that turns surprises into a message
        if debug:
            raise
        _stderr(f"error: {type(exc).__name__}: {exc} (run with --debug for the traceback)")
        raise typer.Exit(1)


def _settings(**overrides: Any) -> Settings:
    return Settings.from_env(**overrides)


def _to_json(obj: Any) -> str:
    def default(o: Any) -> Any:
        if dataclasses.is_dataclass(o):
            return dataclasses.asdict(o)  # type: ignore[arg-type]
        if isinstance(o, Path):
            return str(o)
        raise TypeError(type(o).__name__)

    return json.dumps(obj, default=default, ensure_ascii=False, indent=2)


def demo_corpus(index_dir: Path) -> Path | None:
    """The demo's `seeds/` when it sits beside the index folder (in the project folder, as `make
    demo` runs); None elsewhere: an index is never built from a folder the user did not name."""
    seeds = Path(index_dir).resolve().parent / "seeds"
    return seeds if seeds.is_dir() else None


class _Progress:
    """A progress bar on stderr for long runs; silent when stderr is not a terminal."""

    def __init__(self, label: str) -> None:
        self.label = label
        self._bar: Any = None
        self._tasks: dict[str, Any] = {}

    def __enter__(self) -> "_Progress":
        if sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self._bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeRemainingColumn(), console=Console(stderr=True), transient=True)
            self._bar.start()
        return self

    def __call__(self, stage: str, done: int, total: int) -> None:
        if self._bar is None:
            return
        if stage not in self._tasks:
            self._tasks[stage] = self._bar.add_task(f"{self.label}: {stage}", total=total)
        self._bar.update(self._tasks[stage], completed=done, total=total)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()


# -- index ------------------------------------------------------------------------------------
@app.command()
def index(
    paths: Optional[List[Path]] = typer.Argument(None, help="Folders or files of articles (.txt .md .html .jsonl). Without any: the folders the index was built from (its manifest records them), else seeds/ (the demo); else an error."),
    index_dir: Optional[Path] = IndexDirOpt,
    embedder: Optional[str] = typer.Option(None, "--embedder", help="sentence-transformers model name or path [default: all-MiniLM-L6-v2, bundled]."),
    rebuild: bool = typer.Option(False, "--rebuild", help="Re-embed everything (needed to change embedder; repairs any damage)."),
    check: bool = typer.Option(False, "--check", help="Verify the index (manifest, SQLite, vectors, hashes); change nothing."),
    compact: bool = typer.Option(False, "--compact", help="Fold recent updates into the main vector and lexical files."),
    store: Optional[str] = StoreOpt,
    ray: Optional[str] = typer.Option(None, "--ray", help="Embed on a Ray cluster: auto (the running one, else a "
                                      "local one) | local | HOST:PORT | ray://HOST:10001 (needs the scale extra)."),
    as_json: bool = JsonOpt,
    debug: bool = DebugOpt,
) -> None:
    """Build or update the index so it holds exactly the articles under PATHS.

    Unchanged files are not embedded again; changed files are re-embedded; deleted files leave
    the index. A run that is stopped part-way leaves the previous index working. With no PATHS,
    the index is updated from the folders it was built from.

    Example: rag index seeds/ --index-dir index/
    """

    def body() -> None:
        from rag.index.build import build_index

        s = _settings(index_dir=index_dir, store=store)
        if check:
            _check(s.index_dir, as_json)
            return
        if compact:
            from rag.index.build import compact_index

            info = compact_index(s.index_dir)
            print(_to_json(info) if as_json else
                  f"compacted {s.index_dir}/: {info['count']} vectors in {info['name']} ({info['kind']})")
            return
        sources = paths or _default_sources(s.index_dir)
        with _Progress("indexing") as bar:
            if ray:  # optional: rag/index/distributed.py
                from rag.config import DEFAULT_EMBEDDER
                from rag.index.distributed import RayEmbedder

                with RayEmbedder(embedder or _built_embedder(s.index_dir) or DEFAULT_EMBEDDER, ray) as remote:
                    _stderr(f"embedding on Ray: {remote.workers} worker(s)")
                    report = build_index(sources, s.index_dir, embedder=remote, rebuild=rebuild, progress=bar)
            else:
                report = build_index(sources, s.index_dir, embedder=embedder or None, rebuild=rebuild, progress=bar)
        for line in _file_messages(report.problems, report.notes):
            _stderr(line)
        if as_json:
            print(_to_json(report))
            return
        print(_index_summary(report))

    _run(debug, body)


def _default_sources(index_dir: Path) -> list[Path]:
    """What `rag index` with no PATHS indexes: the sources the index was built from, else the
    demo's seeds/; else an InputError that says what to type."""
    from rag.errors import InputError
    from rag.index.build import indexed_sources

    if not str(index_dir).lower().startswith("milvus:"):
        recorded = indexed_sources(index_dir)
        if recorded:
            gone = [p for p in recorded if not p.exists()]
            if gone:  # an unmounted drive must not empty the index
                raise InputError(f"{index_dir}/ was built from {', '.join(map(str, recorded))}, but {gone[0]} "
                                 f"is gone; name the folders to index: `rag index FOLDER ...`")
            _stderr(f"updating {index_dir}/ from {', '.join(map(str, recorded))}")
            return recorded
    corpus = demo_corpus(index_dir)
    if corpus is not None:
        return [corpus]
    raise InputError(f"no folder given, no index at {index_dir}/ to update and no seeds/ folder here: "
                     f"name the folders (or files) of articles to index, e.g. `rag index ~/news/`")


def _file_messages(problems: Any, notes: Any, listed: int = 3) -> list[str]:
    """Problems one line each, as they are (a message already names its file). Notes one line
    per file when they are few; else one line per decision (the same decoding, NUL bytes dropped),
    naming `listed` of its files (`--json` has them all)."""
    lines = [f"problem: {p.message}" for p in problems]
    groups: dict[str, list[tuple[str, str]]] = {}
    for n in notes:
        prefix = f"{n.path}: "
        what = n.message[len(prefix):] if n.message.startswith(prefix) else n.message
        decision = re.sub(r"\b\d+ stray NUL bytes? dropped", "stray NUL bytes dropped",
                          re.sub(r" \(byte 0x[0-9a-f]+ at offset \d+\)", "", what))
        groups.setdefault(decision, []).append((n.path, what))
    for decision, files in groups.items():
        if len(notes) <= listed or len(files) == 1:
            lines += [f"note: {path}: {what}" for path, what in files]
        else:
            more = f" and {len(files) - listed} more" if len(files) > listed else ""
            lines.append(f"note: {len(files)} files {decision}: "
                         f"{', '.join(path for path, _ in files[:listed])}{more}")
    return lines


def _built_embedder(index_dir: Path) -> Optional[str]:
    """The embedder an existing index (folder or store) was built with, if any."""
    from rag.errors import NoIndexError
    from rag.retrieval import open_index

    try:
        with open_index(index_dir) as idx:
            return str(idx.manifest["embedder"]["name"])
    except NoIndexError:
        return None


def _check(index_dir: Path, as_json: bool) -> None:
    from rag.stores.local.doctor import check_index

    rep = check_index(index_dir)
    if as_json:
        print(_to_json({**rep.__dict__, "ok": rep.ok, "fix": rep.fix}))
    elif rep.ok:
        print(f"index at {index_dir}/ ({rep.generation}) is sound: {rep.counts.get('documents')} documents, "
              f"{rep.counts.get('chunks')} chunks")
    else:
        for p in rep.problems:
            print(f"problem: {p}")
        print(f"fix: {rep.fix}")
    for n in rep.notes if not as_json else ():
        print(f"note: {n}")
    if not rep.ok:
        raise typer.Exit(1)


def _distinct(report: Any) -> str:
    """" from 2 distinct texts" when identical chunk texts were embedded once for many chunks."""
    ran = getattr(report, "embedded_texts", 0)
    return f" from {ran} distinct texts" if 0 < ran < report.embedded_chunks else ""


def _index_summary(report: Any) -> str:
    if not report.written:
        return (f"index at {report.index_dir}/ is up to date: {report.documents} documents, "
                f"{report.chunks} chunks; nothing to embed.")
    lines = [f"indexed into {report.index_dir}/: {report.documents} documents, {report.chunks} chunks "
             f"({report.embedded_chunks} embedded{_distinct(report)}, {report.reused_chunks} reused) "
             f"in {report.seconds:.1f}s "
             f"with {report.embedder}" + (" (rebuilt)" if report.rebuilt else "")]
    for label, ids in (("added", report.added), ("changed", report.changed), ("removed", report.removed)):
        if ids:
            lines.append(f"  {label}: {len(ids)}" + (f" ({', '.join(ids[:5])}{' …' if len(ids) > 5 else ''})"))
    if report.unchanged:
        lines.append(f"  unchanged: {report.unchanged}")
    for dup, canon in report.duplicates[:5]:
        lines.append(f"  {dup} has the same text as {canon}: indexed once")
    if len(report.duplicates) > 5:
        lines.append(f"  … and {len(report.duplicates) - 5} more documents repeat another's text (`--json` lists them)")
    return "\n".join(lines)


# -- search -----------------------------------------------------------------------------------
@app.command()
def search(
    question: str = typer.Argument(..., help="What to look for."),
    k: Optional[int] = typer.Option(None, "-k", "--k", min=1, max=100,
                                    help="How many passages [env: RAG_K; default: 5].", show_default=False),
    retrieval: Optional[str] = RetrievalOpt,
    since: Optional[str] = SinceOpt,
    until: Optional[str] = UntilOpt,
    index_dir: Optional[Path] = IndexDirOpt,
    store: Optional[str] = StoreOpt,
    as_json: bool = JsonOpt,
    debug: bool = DebugOpt,
) -> None:
    """Show the passages that best match QUESTION, best first.

    Example: rag search "Which Vietnamese president welcomed Putin in Hanoi?" -k 5
    """

    def body() -> None:
        from rag.answer.pipeline import check_question
        from rag.cli.render import Style, hits_block, use_color
        from rag.retrieval import DateFilter, open_index

        s = _settings(index_dir=index_dir, store=store, since=since, until=until, k=k, retrieval=retrieval)
        check_question(question)
        ensure_index(s.index_dir)
        dates = DateFilter(since=s.since, until=s.until)
        with open_index(s.index_dir) as idx:
            hits = idx.search(question, k=s.k, retrieval=s.retrieval, dates=dates)
        if as_json:
            print(_to_json(hits))
            return
        print(hits_block(hits, Style(use_color(sys.stdout))) if hits else "no passage matches.")

    _run(debug, body)


# -- info -------------------------------------------------------------------------------------
@app.command()
def info(index_dir: Optional[Path] = IndexDirOpt, store: Optional[str] = StoreOpt, as_json: bool = JsonOpt,
         debug: bool = DebugOpt) -> None:
    """Describe the index: documents, chunks, embedder, size on disk.

    Example: rag info --index-dir index/
    """

    def body() -> None:
        from rag.stores.local.reader import IndexReader

        s = _settings(index_dir=index_dir, store=store)
        if s.store:  # optional: rag/stores/milvus.py
            from rag.stores.milvus import store_info

            data = store_info(s.store)
            if as_json:
                print(_to_json(data))
                return
            for key in ("store", "collections", "documents", "indexed_documents", "chunks", "embedder",
                        "chunking", "lexical", "written_at", "sources"):
                print(f"{key + ':':<19} {data.get(key)}")
            return
        reader = IndexReader(s.index_dir)
        m = reader.manifest
        data = {"index_dir": str(s.index_dir), "generation": reader.gen.name, **m["counts"],
                "embedder": m["embedder"], "chunking": m["chunking"], "lexical": m.get("lexical"),
                "size_bytes": reader.size_on_disk(), "written_at": m.get("written_at"),
                "sources": m.get("sources", [])}
        reader.close()
        if as_json:
            print(_to_json(data))
            return
        print(f"index:      {data['index_dir']}/ ({data['generation']}, written {data['written_at']})")
        print(f"documents:  {data['documents']} ({data['indexed_documents']} indexed, "
              f"{data['documents'] - data['indexed_documents']} duplicates)")
        print(f"chunks:     {data['chunks']}")
        print(f"embedder:   {m['embedder']['name']} (dimension {m['embedder']['dim']}, "
              f"max {m['embedder']['max_tokens']} tokens)")
        print(f"chunking:   target {m['chunking']['target_tokens']} tokens, overlap {m['chunking']['overlap']} sentence(s)")
        print(f"size:       {data['size_bytes'] / 1e6:.2f} MB")
        if data["sources"]:
            print(f"sources:    {', '.join(data['sources'])}")

    _run(debug, body)

# -- ask --------------------------------------------------------------------------------------
def ensure_index(index_dir: Path) -> None:
    """No index yet: in the project folder (the demo's seeds/ beside the index folder) build one
    from seeds/ and say so; anywhere else a NoIndexError that says how to make one."""
    from rag.errors import NoIndexError
    from rag.stores.local.generations import current_generation_or_none

    if str(index_dir).lower().startswith("milvus:"):
        return  # a Milvus store is never built implicitly; opening an empty one says how
    if current_generation_or_none(index_dir) is not None:
        return
    corpus = demo_corpus(index_dir)
    if corpus is None:
        raise NoIndexError(no_index_message(index_dir))
    from rag.index.build import build_index

    _stderr(f"No index at {index_dir}/ yet: building it from the demo articles in {corpus}/ (one time).")
    with _Progress("indexing") as bar:
        report = build_index([corpus], index_dir, progress=bar)
    _stderr(f"Indexed {report.documents} documents, {report.chunks} chunks.")


@app.command()
def ask(
    question: str = typer.Argument(..., help="Your question about the articles."),
    k: Optional[int] = KOpt,
    mode: Optional[str] = ModeOpt,
    model: Optional[str] = ModelOpt,
    retrieval: Optional[str] = RetrievalOpt,
    device: Optional[str] = DeviceOpt,
    gpu_layers: Optional[int] = GpuLayersOpt,
    since: Optional[str] = SinceOpt,
    until: Optional[str] = UntilOpt,
    as_of: Optional[str] = AsOfOpt,
    index_dir: Optional[Path] = IndexDirOpt,
    store: Optional[str] = StoreOpt,
    show_prompt: bool = typer.Option(False, "--show-prompt", help="Print the exact prompt given to the model."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Print retrieval time, prompt tokens, time to first token, tokens/s, device."),
    quiet: bool = QuietOpt,
    as_json: bool = JsonOpt,
    debug: bool = DebugOpt,
) -> None:
    """Answer QUESTION from the indexed articles, citing the passages it used.

    Without a downloaded LLM the answer quotes the best sentences of the articles.

    Example: rag ask "When did the ICC issue an arrest warrant for Putin?" --verbose
    """

    def body() -> None:
        from rag.answer.pipeline import Hooks
        from rag.answer.pipeline import ask as ask_fn
        from rag.cli.notices import Notices
        from rag.cli.render import Style, after_stream, answer_footer, use_color

        s = _settings(index_dir=index_dir, k=k, mode=mode, model=model, retrieval=retrieval,
                      device=device, gpu_layers=gpu_layers, since=since, until=until, as_of=as_of,
                      store=store)
        ensure_index(s.index_dir)
        style = Style(use_color(sys.stdout))
        streamed: list[str] = []

        def on_token(piece: str) -> None:
            if not as_json:
                streamed.append(piece)
                sys.stdout.write(piece)
                sys.stdout.flush()

        drafted = [0]

        def on_draft(piece: str) -> None:
            # The model's tokens are not the answer (only verified sentences are): show progress.
            del piece
            drafted[0] += 1
            if sys.stderr.isatty() and not as_json:
                sys.stderr.write(f"\r{style.dim(f'writing and checking… {drafted[0]} tokens')}")
                sys.stderr.flush()

        def on_prompt(prompt: str) -> None:
            if show_prompt and not as_json:
                print(style.dim("----- prompt given to the model -----"))
                print(prompt)
                print(style.dim("----- end of prompt -----"))

        answer = ask_fn(question, s, hooks=Hooks(on_token=on_token, on_draft=on_draft, on_prompt=on_prompt))
        if drafted[0] and sys.stderr.isatty() and not as_json:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()
        if as_json:
            print(_to_json(answer))
            return
        print(after_stream("".join(streamed), answer))
        if show_prompt and answer.prompt is None:
            print(style.dim("(no prompt: the extractive answerer does not use an LLM)"))
        footer = answer_footer(answer, style, verbose=verbose, notice=False)
        if footer:
            print(footer)
        # Standard output carries the answer and its sources; what is said about them goes to stderr.
        notices = Notices(s.models_dir, quiet=quiet)
        notices.say(answer.notice)
        notices.once(answer.setup_notice)

    _run(debug, body)


# -- chat -------------------------------------------------------------------------------------
@app.command()
def chat(
    k: Optional[int] = KOpt,
    mode: Optional[str] = ModeOpt,
    model: Optional[str] = ModelOpt,
    retrieval: Optional[str] = RetrievalOpt,
    device: Optional[str] = DeviceOpt,
    gpu_layers: Optional[int] = GpuLayersOpt,
    since: Optional[str] = SinceOpt,
    until: Optional[str] = UntilOpt,
    as_of: Optional[str] = AsOfOpt,
    index_dir: Optional[Path] = IndexDirOpt,
    store: Optional[str] = StoreOpt,
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Print timings after each answer."),
    quiet: bool = QuietOpt,
    debug: bool = DebugOpt,
) -> None:
    """Talk with the articles: follow-up questions use the conversation.

    Commands inside: /help /sources /k N /mode auto|llm|extractive /reset /quit.
    Ctrl-C stops the answer being written; Ctrl-D leaves.

    Example: rag chat --mode extractive
    """

    def body() -> None:
        from rag.cli.chat import run_chat

        s = _settings(index_dir=index_dir, k=k, mode=mode, model=model, retrieval=retrieval,
                      device=device, gpu_layers=gpu_layers, since=since, until=until, as_of=as_of,
                      store=store)
        ensure_index(s.index_dir)
        run_chat(s, verbose=verbose, quiet=quiet)

    _run(debug, body)


# -- eval -------------------------------------------------------------------------------------
@app.command("eval")
def eval_(
    path: Optional[Path] = typer.Argument(None, help="A questions .jsonl file, or a BEIR dataset folder (corpus.jsonl, queries.jsonl, qrels/)."),
    mode: Optional[str] = typer.Option(None, "--mode", help="auto | llm | extractive [default: auto]. Questions only."),
    model: Optional[str] = typer.Option(None, "--model", help="LLM name from models.txt or a .gguf path. Questions only."),
    k: Optional[int] = typer.Option(None, "-k", "--k", min=1, max=1000, help="Passages per question [default: 5]; documents per BEIR query [default: 100]."),
    retrieval: Optional[str] = typer.Option(None, "--retrieval", help="dense | lexical | hybrid [default: hybrid]."),
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help="Only the first N questions / queries."),
    out: Optional[Path] = typer.Option(None, "--out", help="Run folder [default: runs/<timestamp>-<name>/]."),
    passage: bool = typer.Option(False, "--passage/--chunked", help="BEIR: one passage per document as BEIR does (--passage), or the project's own chunking (--chunked, default)."),
    split: str = typer.Option("test", "--split", help="BEIR qrels split."),
    compare: Optional[Tuple[Path, Path]] = typer.Option(None, "--compare", help="Compare two run folders (RUN_A RUN_B) instead of running."),
    ids_before: Optional[str] = typer.Option(None, "--ids-before", help="Questions only: those whose id sorts before this (a dev split, e.g. 20251114)."),
    ids_from: Optional[str] = typer.Option(None, "--ids-from", help="Questions only: those whose id sorts from this on (a held-out split)."),
    since: Optional[str] = SinceOpt,
    until: Optional[str] = UntilOpt,
    as_of: Optional[str] = typer.Option(None, "--as-of", help="Questions without their own as_of are asked on this date (YYYY-MM-DD) [default: today]."),
    min_ndcg: Optional[float] = typer.Option(None, "--min-ndcg", help="Fail (exit 1) when nDCG@10 is below this."),
    min_recall: Optional[float] = typer.Option(None, "--min-recall", help="Fail when recall@k is below this."),
    min_mrr: Optional[float] = typer.Option(None, "--min-mrr", help="Fail when MRR@10 is below this."),
    min_contains: Optional[float] = typer.Option(None, "--min-contains", help="Fail when the share of answers containing a gold answer is below this."),
    min_f1: Optional[float] = typer.Option(None, "--min-f1", help="Fail when the mean token F1 is below this."),
    min_citation_precision: Optional[float] = typer.Option(None, "--min-citation-precision", help="Fail when citation precision is below this."),
    min_abstention: Optional[float] = typer.Option(None, "--min-abstention", help="Fail when abstention accuracy on unanswerable questions is below this."),
    index_dir: Optional[Path] = IndexDirOpt,
    store: Optional[str] = StoreOpt,
    as_json: bool = JsonOpt,
    debug: bool = DebugOpt,
) -> None:
    """Score the bot on a question set, or retrieval on a BEIR dataset, and write a run folder
    (questions.jsonl, summary.json, report.md, metrics.png, latency.png).

    Example: rag eval seeds/questions.jsonl --mode extractive --min-contains 0.75

    Example: rag eval path/to/beir-scifact --retrieval hybrid --min-ndcg 0.73

    Example: rag eval --compare runs/A runs/B
    """

    def body() -> None:
        from rag.errors import InputError
        from rag.evaluation import (check_thresholds, compare_runs, format_comparison, format_metrics, run_beir,
                                    run_questions)

        if compare:
            rows = compare_runs(*compare)
            if as_json:
                print(_to_json([{"metric": m, "a": a, "b": b, "delta": d} for m, a, b, d in rows]))
            else:
                print(format_comparison(rows, (compare[0].name, compare[1].name)))
            return
        if path is None:
            raise InputError("give a questions .jsonl file or a BEIR folder (or --compare RUN_A RUN_B)")
        s = _settings(index_dir=index_dir, mode=mode, retrieval=retrieval, store=store)
        with _Progress("eval") as bar:
            if path.is_dir():
                # On a store, the corpus file that is indexed is kept in the local index folder
                # (the settings without the store: --index-dir, else RAG_INDEX_DIR, else index/).
                root = _settings(index_dir=index_dir, store="").index_dir if s.store else s.index_dir
                result = run_beir(path, index_root=root, retrieval=s.retrieval, k=k or 100, limit=limit,
                                  split=split, chunked=not passage, out_dir=out, progress=bar, store=s.store)
            else:
                if not path.is_file():
                    raise InputError(f"no question file or BEIR folder at {path}")
                ensure_index(s.index_dir)
                options = s.with_(model=model or s.model, k=k or s.k, since=since, until=until, as_of=as_of)
                result = run_questions(path, options, limit=limit, out_dir=out, progress=bar,
                                       ids_before=ids_before, ids_from=ids_from)
        gates = {name: v for name, v in (("ndcg", min_ndcg), ("recall", min_recall), ("mrr", min_mrr),
                                         ("contains", min_contains), ("f1", min_f1),
                                         ("citation_precision", min_citation_precision),
                                         ("abstention", min_abstention)) if v is not None}
        failures = check_thresholds(result, gates)
        if as_json:
            print(_to_json({**dataclasses.asdict(result), "gate_failures": failures}))
        else:
            print(format_metrics(result))
            print(f"run written to {result.out_dir}/")
        for f in failures:
            _stderr(f"gate failed: {f}")
        if failures:
            raise typer.Exit(1)

    _run(debug, body)


# -- models -----------------------------------------------------------------------------------
@models_app.command("list")
def models_list(as_json: bool = JsonOpt, debug: bool = DebugOpt) -> None:
    """List the models in models.txt, which are present locally, and their sizes.

    Example: rag models list
    """

    def body() -> None:
        from rag.models import list_models

        s = _settings()
        rows = list_models(s.models_dir)
        if as_json:
            print(_to_json(rows))
            return
        print(f"models folder: {s.models_dir} (set RAG_MODELS_DIR to change)")
        width = max((len(r.spec.name) for r in rows), default=16)
        for r in rows:
            spec = r.spec
            size = f"{spec.size / 1e9:.2f} GB" if spec.size else "size ?"
            state = "present" if r.present else "not downloaded"
            print(f"  {spec.role:<8} {spec.name:<{width}} {state:<15} {size:<10} {spec.source}  {spec.note}")

    _run(debug, body)


@models_app.command("pull")
def models_pull(
    name: Optional[str] = typer.Argument(None, help="Model name from models.txt [default: the default LLM]."),
    debug: bool = DebugOpt,
) -> None:
    """Download a model (resumes, verifies size and checksum) into the models folder.

    Honours HF_ENDPOINT, HF_HUB_OFFLINE and HF_TOKEN.

    Example: rag models pull qwen2.5-1.5b
    """

    def body() -> None:
        from rag.models import pull

        s = _settings()
        with _Progress("download") as bar:
            path = pull(name, s.models_dir, progress=lambda done, total: bar("bytes", done, total))
        print(f"ready: {path}")

    _run(debug, body)


# -- serve ------------------------------------------------------------------------------------
@app.command()
def serve(
    http: Optional[str] = typer.Option(None, "--http", metavar="HOST:PORT", help="Serve MCP over streamable HTTP at http://HOST:PORT/mcp instead of stdio (HOST defaults to 127.0.0.1; port 0 picks a free one)."),
    allow_remote: bool = typer.Option(False, "--allow-remote", help="Allow --http on an address other machines can reach (the server has no authentication)."),
    queue: int = typer.Option(16, "--queue", min=0, max=10000, help="Requests that may wait while one is answered; past that, a 'busy' tool error."),
    k: Optional[int] = KOpt,
    mode: Optional[str] = ModeOpt,
    model: Optional[str] = ModelOpt,
    retrieval: Optional[str] = RetrievalOpt,
    device: Optional[str] = DeviceOpt,
    gpu_layers: Optional[int] = GpuLayersOpt,
    index_dir: Optional[Path] = IndexDirOpt,
    store: Optional[str] = StoreOpt,
    debug: bool = DebugOpt,
) -> None:
    """Serve the bot as an MCP server (tools ask, search, info, document; each document a resource),
    over stdio for a desktop client to launch, or over HTTP. An index update by `rag index` is used
    from the next request on.

    Example: rag serve --http 127.0.0.1:8000 --mode extractive
    """

    def body() -> None:
        from rag.errors import InputError
        from rag.serve.engine import Engine
        from rag.serve.mcp_server import is_loopback, parse_listen, serve_http, serve_stdio

        s = _settings(index_dir=index_dir, k=k, mode=mode, model=model, retrieval=retrieval, device=device,
                      gpu_layers=gpu_layers, store=store)
        host, port = parse_listen(http) if http else ("", 0)
        if http and not is_loopback(host):
            if not allow_remote:
                raise InputError(f"--http {http}: {host} is not a loopback address, so other machines could "
                                 f"reach the server, which has no authentication; add --allow-remote to bind it")
            _stderr(f"warning: serving on {host}, reachable from other machines; the server has no authentication")
        engine = Engine(s, queue=queue)  # checks the settings before an index is built
        try:
            ensure_index(s.index_dir)
            snap = engine.start()
            where = f"{s.index_dir}/ ({snap.documents} documents, {snap.chunks} chunks)"
            llm = f"LLM {engine.model}" if engine.model else "extractive answers (no LLM loaded)"
            level = "DEBUG" if debug else "WARNING"
            if http:
                serve_http(engine, host, port, allow_remote=allow_remote, log_level=level,
                           on_ready=lambda url: _stderr(f"serving MCP at {url}: {where}, {llm}"))
            else:
                _stderr(f"serving MCP over stdio: {where}, {llm}")
                serve_stdio(engine, log_level=level)
        finally:
            engine.close()

    _run(debug, body)


def main() -> None:
    app()

