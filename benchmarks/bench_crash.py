"""Crash trials: kill the writer with SIGKILL at random moments, then check the index.

Usage:
    python benchmarks/bench_crash.py [--trials 60] [--docs 300] [--seed 0] [--out benchmarks/RESULTS-crash.md]

Three kinds of write are interrupted, in turn: a full build (`--rebuild`, a new generation), an
incremental update (one SQLite transaction on the live generation) and an update followed by a
compaction (a new base vector file). Each trial starts from a copy of the same "old" index over
a synthetic corpus A and runs `build_index` on corpus B (some documents changed, some removed,
some added) in a child process, killed after a random delay drawn over the measured length of
that write (half of the delays anywhere in it, half in its last fifth, where the commit is). The index is then opened and must hold exactly the documents (ids and content hashes)
of A or of B, pass `check_index` (manifest, SQLite integrity, counts, every chunk with a vector),
and answer a search. Finally a normal run on B must complete and leave a sound index.
Uses the hashing embedder, so no model is needed.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KINDS = ("full", "update", "update+compact")

CHILD = """
import sys
from pathlib import Path
import rag.stores.local.compaction as store
from rag import build_index
kind, corpus, index_dir, marker = sys.argv[1:5]
if kind == "update+compact":
    store.COMPACT_MIN_ROWS, store.COMPACT_SHARE = 0, 0.0
Path(marker).touch()
build_index([corpus], index_dir, embedder="hashing-256", rebuild=(kind == "full"))
"""


@dataclass(frozen=True)
class Trial:
    kind: str
    delay_s: float
    state: str  # "old", "new" or a description of what was wrong
    killed: bool


def make_corpora(root: Path, docs: int, rng: random.Random) -> tuple[Path, Path]:
    words = [f"w{i}" for i in range(3000)]

    def article(i: int, version: int) -> str:
        paras = [" ".join(rng.choice(words) for _ in range(60)) + "." for _ in range(8)]
        return f"Article {i} version {version}\n\n" + "\n\n".join(paras) + "\n"

    a, b = root / "A", root / "B"
    a.mkdir()
    b.mkdir()
    for i in range(docs):
        text = article(i, 1)
        (a / f"doc{i:05d}.txt").write_text(text, encoding="utf-8")
        if i % 10 == 1:
            continue  # removed in B
        (b / f"doc{i:05d}.txt").write_text(article(i, 2) if i % 10 == 2 else text, encoding="utf-8")
    for i in range(docs, docs + docs // 10):
        (b / f"doc{i:05d}.txt").write_text(article(i, 1), encoding="utf-8")
    return a, b


def fingerprint(index_dir: Path) -> frozenset:
    from rag.stores.local.reader import IndexReader

    with IndexReader(index_dir) as r:
        return frozenset((d, sha) for d, _, sha, _ in r.documents())


def verify(index_dir: Path, old: frozenset, new: frozenset) -> str:
    from rag import open_index
    from rag.stores.local.doctor import check_index
    from rag.errors import RagError

    try:
        fp = fingerprint(index_dir)
        state = "old" if fp == old else "new" if fp == new else f"neither old nor new ({len(fp)} documents)"
        rep = check_index(index_dir)
        if not rep.ok:
            return f"{state}, but: {'; '.join(rep.problems)}"
        with open_index(index_dir, embedder="hashing-256") as idx:
            if not idx.search("article version", k=5):
                return f"{state}, but a search found nothing"
        return state
    except RagError as exc:
        return f"unreadable: {exc}"


def run_child(kind: str, corpus: Path, index_dir: Path, marker: Path, delay: float | None) -> float:
    """Run one write; kill it `delay` seconds after it started working (past its imports).
    Returns -1 if it was killed, else the seconds it worked."""
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen([sys.executable, "-c", CHILD, kind, str(corpus), str(index_dir), str(marker)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while not marker.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.005)
    started = time.perf_counter()
    if delay is not None:
        end = time.time() + delay
        while time.time() < end and proc.poll() is None:
            time.sleep(0.001)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            return -1.0
    _, err = proc.communicate(timeout=300)
    if proc.returncode != 0:
        raise RuntimeError(f"the {kind} write failed: {err.decode()[-2000:]}")
    return time.perf_counter() - started


def run_trials(trials: int, docs: int = 300, seed: int = 0, work: Path | None = None) -> list[Trial]:
    rng = random.Random(seed)
    tmp = Path(tempfile.mkdtemp(prefix="rag-crash-", dir=work))
    try:
        a, b = make_corpora(tmp, docs, rng)
        old_index = tmp / "old-index"
        from rag import build_index

        build_index([a], old_index, embedder="hashing-256")
        old = fingerprint(old_index)
        ref = tmp / "ref"
        shutil.copytree(old_index, ref)
        build_index([b], ref, embedder="hashing-256")
        new = fingerprint(ref)
        # How long each kind of write takes here, unkilled, so the kills land anywhere inside it.
        length = {}
        for kind in KINDS:
            trial_dir = tmp / f"time-{kind}"
            shutil.copytree(old_index, trial_dir)
            marker = tmp / f"time-{kind}.started"
            length[kind] = run_child(kind, b, trial_dir, marker, None)
            shutil.rmtree(trial_dir)
        out = []
        for i in range(trials):
            kind = KINDS[i % len(KINDS)]
            trial_dir = tmp / f"trial-{i}"
            shutil.copytree(old_index, trial_dir)
            marker = tmp / f"trial-{i}.started"
            # Half the kills anywhere in the write, half in its last fifth, where the commit is.
            lo = 0.0 if i % 2 == 0 else 0.8 * length[kind]
            delay = rng.uniform(lo, length[kind] * 1.05)
            killed = run_child(kind, b, trial_dir, marker, delay) < 0
            state = verify(trial_dir, old, new)
            if state in ("old", "new"):  # and a normal run afterwards repairs nothing by hand
                build_index([b], trial_dir, embedder="hashing-256")
                after = verify(trial_dir, old, new)
                if after != "new":
                    state = f"{state}, then the next run left: {after}"
            out.append(Trial(kind, round(delay, 3), state, killed))
            shutil.rmtree(trial_dir, ignore_errors=True)
        return out
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=60)
    ap.add_argument("--docs", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "RESULTS-crash.md")
    args = ap.parse_args()
    t = time.perf_counter()
    results = run_trials(args.trials, args.docs, args.seed)
    bad = [r for r in results if r.state not in ("old", "new")]
    lines = [
        "# Crash trials", "",
        f"`python benchmarks/bench_crash.py --trials {args.trials} --docs {args.docs} --seed {args.seed}` "
        f"on {time.strftime('%Y-%m-%d')}, {os.cpu_count()} CPU cores, {time.perf_counter() - t:.0f} s. "
        "The writer is killed with SIGKILL at a random moment (half anywhere, half in the last fifth of "
        "the write's measured length) of a full build, an incremental update, "
        "or an update followed by a compaction; the index must then hold exactly the old or the new "
        "documents, pass `rag index --check`, answer a search, and be brought to the new state by "
        "the next normal run.", "",
        "| kind of write | trials | killed mid-write | old state | new state | damaged |",
        "|---|---|---|---|---|---|",
    ]
    for kind in KINDS:
        rs = [r for r in results if r.kind == kind]
        lines.append(f"| {kind} | {len(rs)} | {sum(r.killed for r in rs)} | "
                     f"{sum(r.state == 'old' for r in rs)} | {sum(r.state == 'new' for r in rs)} | "
                     f"{sum(r.state not in ('old', 'new') for r in rs)} |")
    lines += ["", f"**{len(results)} trials, {sum(r.killed for r in results)} kills, "
              f"{len(bad)} unreadable or half-written indexes.**"]
    lines += [f"- trial {r.kind} at {r.delay_s} s: {r.state}" for r in bad]
    text = "\n".join(lines) + "\n"
    print(text)
    args.out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
