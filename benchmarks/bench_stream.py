"""Peak memory and time of `build_index` on a large folder and on one pathological file,
against an earlier revision of the code in the same run.

Usage:
    python benchmarks/bench_stream.py [--baseline REV] [--docs 2000[,4000]] [--chars 25000]
        [--runs 3] [--repeated-mb 20] [--repeated-runs 3] [--out benchmarks/RESULTS-stream.md]

Two workloads, each indexed from scratch in a child process so its peak RSS (ru_maxrss) is its
own, alternating baseline and current code, `--runs` times each:

* `folder-N`: N (`--docs`) generated articles of about `--chars` characters each (distinct random-word
  paragraphs, so nothing is deduplicated away), indexed with the `hashing-256` embedder: it needs
  no model and costs little, so what grows with the corpus is the indexing pipeline's own memory
  (documents held, chunks, batches), which is what this measures. Besides the whole run's peak,
  the peak before the writer's commit is reported: the commit builds the FAISS index from all the
  vectors at once (rag/stores/local/compaction.py), which the streaming of documents does not change.
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
import json, resource, sys, threading, time
import rag.stores.local.writer as store
from rag import build_index
corpus, index_dir = sys.argv[1], sys.argv[2]
# Resident memory sampled every 20 ms, split at the moment the writer commits: before it, the
# pipeline (reading, cleaning, chunking, embedding, writing rows); from it on, the store's commit
# (the vector index is built from every vector at once: rag/stores/local/compaction.py).
phase, peak, done = ["pipeline"], {"pipeline": 0.0, "commit": 0.0}, []
def rss_mb():
    with open("/proc/self/status") as fh:
        return next(int(l.split()[1]) for l in fh if l.startswith("VmRSS")) / 1024
def sample():
    while not done:
        peak[phase[0]] = max(peak[phase[0]], rss_mb())
        time.sleep(0.02)
threading.Thread(target=sample, daemon=True).start()
commit = store.GenerationWriter.commit
def commit_marked(self, manifest):
    peak["pipeline"] = max(peak["pipeline"], rss_mb())
    phase[0] = "commit"
    return commit(self, manifest)
store.GenerationWriter.commit = commit_marked
t = time.perf_counter()
rep = build_index([corpus], index_dir, embedder="hashing-256")
seconds = time.perf_counter() - t
done.append(1)
print(json.dumps({"rag_from": RAG_FROM, "seconds": seconds, "documents": rep.documents, "chunks": rep.chunks,
                  "embedded_texts": rep.embedded_texts, "pipeline_peak_mb": peak["pipeline"], "commit_peak_mb": peak["commit"],
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

# `rag index` as the console script runs it, but importable from whichever tree is on PYTHONPATH.
CLI = r"""
import json, resource, sys, time
from rag.cli.commands import main
t = time.perf_counter()
try:
    main()
except SystemExit as exc:
    code = exc.code or 0
else:
    code = 0
print(json.dumps({"rag_from": RAG_FROM, "seconds": time.perf_counter() - t, "exit": code,
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


def run_child(code: str, args: list[str], pythonpath: Path, cwd: Path, parse_stderr: bool = False) -> dict:
    # Run from a folder outside the checkout: `python -c` puts the current folder first on
    # sys.path, where the checkout's `rag` would shadow the tree named by PYTHONPATH.
    env = {**os.environ, "PYTHONPATH": str(pythonpath)}
    code = code.replace("import json,", "import rag; RAG_FROM = rag.__file__; import json,", 1)
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env,
                         timeout=3600, cwd=cwd)
    stream = out.stderr if parse_stderr else out.stdout
    lines = [line for line in stream.splitlines() if line.startswith("{")]
    if out.returncode != 0 or not lines:
        raise SystemExit(f"child failed ({out.returncode}):\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}")
    result = json.loads(lines[-1])
    if parse_stderr:
        result["report"] = json.loads(out.stdout)
    if not result["rag_from"].startswith(str(pythonpath)):
        raise SystemExit(f"the child imported {result['rag_from']}, not the tree under {pythonpath}")
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--baseline", default="c546aa2", help="git revision to compare with")
    ap.add_argument("--docs", default="2000", help="folder sizes, comma-separated (e.g. 2000,4000)")
    ap.add_argument("--chars", type=int, default=25_000)
    ap.add_argument("--repeated-mb", type=int, default=20)
    ap.add_argument("--runs", type=int, default=3, help="runs of each folder size")
    ap.add_argument("--repeated-runs", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--skip", choices=("folder", "repeated"), action="append", default=[])
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "RESULTS-stream.md")
    args = ap.parse_args()
    sizes = [int(n) for n in args.docs.split(",")]

    tmp = Path(tempfile.mkdtemp(prefix="bench-stream-"))
    rows: dict[tuple[str, str], list[dict]] = {}
    labels: dict[str, str] = {}
    try:
        trees = {"baseline": export_baseline(args.baseline, tmp / "baseline"), "current": ROOT}
        workloads: list[tuple[str, str, Path, list[str]]] = []
        if "folder" not in args.skip:
            for n in sizes:
                folder = make_folder(tmp / f"f{n}", n, args.chars, args.seed)
                mb = sum(f.stat().st_size for f in folder.iterdir()) / 2**20
                kind = f"folder-{n}"
                labels[kind] = f"{n} generated articles ({mb:.0f} MB), hashing-256 embedder"
                workloads.append((kind, CHILD, folder, []))
        if "repeated" not in args.skip:
            folder = make_repeated(tmp, args.repeated_mb)
            labels["repeated"] = f"one {args.repeated_mb} MB file of one repeated sentence, `rag index`, bundled MiniLM"
            workloads.append(("repeated", CLI, folder, ["--json"]))
        for kind, code, folder, extra in workloads:
            for run in range(args.runs if code is CHILD else args.repeated_runs):
                for name, tree in trees.items():
                    idx = tmp / f"idx-{kind}-{name}-{run}"
                    argv = ([str(folder), str(idx)] if code is CHILD
                            else ["index", str(folder), "--index-dir", str(idx), *extra])
                    r = run_child(code, argv, tree, tmp, parse_stderr=code is CLI)
                    shutil.rmtree(idx)
                    print(f"{kind:12s} {name:8s} run {run}: {r}", flush=True)
                    rows.setdefault((kind, name), []).append(r)
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
        f"--chars {args.chars} --runs {args.runs} --repeated-mb {args.repeated_mb} "
        f"--repeated-runs {args.repeated_runs}` on "
        f"{time.strftime('%Y-%m-%d')}. Baseline = revision `{args.baseline}` (`git archive`), current = "
        "this checkout; both run in the same invocation, alternating, each build in its own child "
        "process from an empty index. Figures are medians over the runs. \"peak RSS\" is the whole "
        "run's (ru_maxrss); \"before commit\" is the peak sampled (every 20 ms) up to the writer's "
        "commit: reading, cleaning, chunking, embedding and writing rows.",
        "",
        "| workload | code | documents | chunks | texts embedded | peak RSS MB | before commit MB | wall s |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for kind, label in labels.items():
        if (kind, "current") not in rows:
            continue
        for name in ("baseline", "current"):
            r0 = rows[(kind, name)][0]
            rep = r0.get("report", r0)
            before = f"{med(kind, name, 'pipeline_peak_mb'):.0f}" if "pipeline_peak_mb" in r0 else ""
            lines.append(f"| {label} | {name} | {rep['documents']} | {rep['chunks']} | "
                         f"{rep.get('embedded_texts', '')} | {med(kind, name, 'peak_rss_mb'):.0f} | {before} | "
                         f"{med(kind, name, 'seconds'):.1f} |")
        ratio = med(kind, "current", "peak_rss_mb") / med(kind, "baseline", "peak_rss_mb")
        pratio = (f"{med(kind, 'current', 'pipeline_peak_mb') / med(kind, 'baseline', 'pipeline_peak_mb'):.2f}"
                  if "pipeline_peak_mb" in rows[(kind, "current")][0] else "")
        tratio = med(kind, "current", "seconds") / med(kind, "baseline", "seconds")
        lines.append(f"| {label} | current / baseline | | | | {ratio:.2f} | {pratio} | {tratio:.2f} |")
    report = "\n".join(lines) + "\n"
    print(report)
    if args.out:
        args.out.write_text(report, encoding="utf-8")


if __name__ == "__main__":
    main()
