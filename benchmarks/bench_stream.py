"""Peak memory and time of `build_index` on a large folder and on one pathological file,
against an earlier revision of the code in the same run.

Usage:
    python benchmarks/bench_stream.py [--baseline REV] [--docs 2000] [--chars 25000]
        [--repeated-mb 20] [--runs 3] [--out benchmarks/RESULTS-stream.md]

Two workloads, each indexed from scratch in a child process so its peak RSS (ru_maxrss) is its
own, alternating baseline and current code, `--runs` times each:

* `folder`: `--docs` generated articles of about `--chars` characters each (distinct random-word
  paragraphs, so nothing is deduplicated away), indexed with the `hashing-256` embedder: it needs
  no model and costs little, so what grows with the corpus is the indexing pipeline's own memory
  (documents held, chunks, batches), which is what this measures.
* `repeated`: `rag index` (the installed command line, whole process, default bundled embedder)
  on a folder holding one file of `--repeated-mb` MB made of one sentence repeated.

The baseline is `git archive REV rag` unpacked into a temporary folder and put first on
PYTHONPATH; the current code is this checkout. Figures are printed and written to --out.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = r"""
import json, resource, sys, time
from rag import build_index
corpus, index_dir = sys.argv[1], sys.argv[2]
t = time.perf_counter()
rep = build_index([corpus], index_dir, embedder="hashing-256")
print(json.dumps({"seconds": time.perf_counter() - t, "documents": rep.documents, "chunks": rep.chunks,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

# `rag index` as the console script runs it, but importable from whichever tree is on PYTHONPATH.
CLI = r"""
import json, resource, sys, time
from rag.cli import main
t = time.perf_counter()
try:
    main()
except SystemExit as exc:
    code = exc.code or 0
else:
    code = 0
print(json.dumps({"seconds": time.perf_counter() - t, "exit": code,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}), file=sys.stderr)
"""


def make_folder(root: Path, docs: int, chars: int, seed: int) -> Path:
    rng = random.Random(seed)
    words = [f"{a}{b}" for a in ("ka", "lo", "mi", "nu", "pe", "ra", "si", "to", "vu", "ze")
             for b in ("bar", "cen", "dol", "fim", "gut", "hal", "jor", "kes", "lun", "mav",
                       "nop", "pir", "qua", "ros", "sut", "tev", "wyl", "xan", "yor", "zid")]
    folder = root / "articles"
    folder.mkdir(parents=True)
    for i in range(docs):
        paras, size = [], 0
        while size < chars:
            p = " ".join(rng.choice(words) for _ in range(rng.randint(40, 90))).capitalize() + "."
            paras.append(p)
            size += len(p) + 2
        (folder / f"{i:05d}.txt").write_text(f"Article {i}\n\n" + "\n\n".join(paras) + "\n", encoding="utf-8")
    return folder


def make_repeated(root: Path, mb: int) -> Path:
    folder = root / "repeated"
    folder.mkdir(parents=True)
    sentence = "The quick brown fox jumps over the lazy dog near the river bank. "
    (folder / "repeated.txt").write_text(sentence * (mb * 1024 * 1024 // len(sentence)), encoding="utf-8")
    return folder


def export_baseline(rev: str, into: Path) -> Path:
    into.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "rag"], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def run_child(code: str, args: list[str], pythonpath: Path, parse_stderr: bool = False) -> dict:
    env = {**os.environ, "PYTHONPATH": str(pythonpath)}
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env,
                         timeout=3600)
    stream = out.stderr if parse_stderr else out.stdout
    lines = [line for line in stream.splitlines() if line.startswith("{")]
    if out.returncode != 0 or not lines:
        raise SystemExit(f"child failed ({out.returncode}):\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}")
    result = json.loads(lines[-1])
    if parse_stderr:
        result["summary"] = out.stdout.strip().splitlines()[0] if out.stdout.strip() else ""
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--baseline", default="c546aa2", help="git revision to compare with")
    ap.add_argument("--docs", type=int, default=2000)
    ap.add_argument("--chars", type=int, default=25_000)
    ap.add_argument("--repeated-mb", type=int, default=20)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--skip", choices=("folder", "repeated"), action="append", default=[])
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "RESULTS-stream.md")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench-stream-"))
    try:
        trees = {"baseline": export_baseline(args.baseline, tmp / "baseline"), "current": ROOT}
        rows: dict[tuple[str, str], list[dict]] = {}
        if "folder" not in args.skip:
            folder = make_folder(tmp, args.docs, args.chars, args.seed)
            text_mb = sum(f.stat().st_size for f in folder.iterdir()) / 2**20
            for run in range(args.runs):
                for name, tree in trees.items():
                    idx = tmp / f"idx-{name}-{run}"
                    r = run_child(CHILD, [str(folder), str(idx)], tree)
                    shutil.rmtree(idx)
                    print(f"folder   {name:8s} run {run}: {r}", flush=True)
                    rows.setdefault(("folder", name), []).append(r)
        if "repeated" not in args.skip:
            rep = make_repeated(tmp, args.repeated_mb)
            for run in range(args.runs):
                for name, tree in trees.items():
                    idx = tmp / f"ridx-{name}-{run}"
                    r = run_child(CLI, ["index", str(rep), "--index-dir", str(idx)], tree, parse_stderr=True)
                    shutil.rmtree(idx)
                    print(f"repeated {name:8s} run {run}: {r}", flush=True)
                    rows.setdefault(("repeated", name), []).append(r)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    def med(kind: str, name: str, key: str) -> float:
        return statistics.median(r[key] for r in rows[(kind, name)])

    lines = [
        "# Streaming indexing: peak memory and time",
        "",
        f"Machine: {os.cpu_count()} CPU cores ({platform.machine()}), Python {platform.python_version()}, "
        "no GPU, shared with other jobs while measured (times are noisy; memory is not).",
        "",
        f"Run: `python benchmarks/bench_stream.py --baseline {args.baseline} --docs {args.docs} "
        f"--chars {args.chars} --repeated-mb {args.repeated_mb} --runs {args.runs}` on "
        f"{time.strftime('%Y-%m-%d')}. Baseline = revision `{args.baseline}` (`git archive`), current = "
        "this checkout; both run in the same invocation, alternating, each build in its own child "
        "process from an empty index. Figures are medians over the runs.",
        "",
        "| workload | code | documents | chunks | peak RSS MB | wall s |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for kind in ("folder", "repeated"):
        if (kind, "current") not in rows:
            continue
        label = (f"{args.docs} generated articles, {text_mb:.0f} MB, hashing-256 embedder" if kind == "folder"
                 else f"one {args.repeated_mb} MB file of one repeated sentence, `rag index`, bundled MiniLM")
        for name in trees:
            rs = rows[(kind, name)]
            docs = rs[0].get("documents", 1)
            chunks = rs[0].get("chunks", "")
            if kind == "repeated":
                chunks = rs[0]["summary"].split(" documents, ")[-1].split(" chunks")[0]
            lines.append(f"| {label} | {name} | {docs} | {chunks} | {med(kind, name, 'peak_rss_mb'):.0f} | "
                         f"{med(kind, name, 'seconds'):.1f} |")
        ratio = med(kind, "current", "peak_rss_mb") / med(kind, "baseline", "peak_rss_mb")
        tratio = med(kind, "current", "seconds") / med(kind, "baseline", "seconds")
        lines.append(f"| {label} | current / baseline | | | {ratio:.2f} | {tratio:.2f} |")
    report = "\n".join(lines) + "\n"
    print(report)
    if args.out:
        args.out.write_text(report, encoding="utf-8")


if __name__ == "__main__":
    main()
