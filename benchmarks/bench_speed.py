"""Start-up and answer latency: whole `rag` processes and in-process `ask`, per embedder backend.

Usage:
    python benchmarks/bench_speed.py [--runs 5] [--backends onnx-int8,torch] [--out benchmarks/RESULTS-speed.md]

For each backend the seeds are indexed into a temporary folder, then measured:
  - whole process, median of --runs: `rag --help`, `rag search Q` (hybrid), `rag ask Q --mode extractive`;
  - in process: `ask(..., mode="extractive")` over the seeds question set (seeds/questions.jsonl,
    a smoke set, not a tuning target), after one warm-up question: p50 and p95.
The torch backend is the baseline measured in the same run, so the ratios hold on a busy machine
even where the seconds do not. Also records which heavy modules each command imported.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
QUESTION = "Which Vietnamese president welcomed Putin in Hanoi?"
HEAVY = ("torch", "sentence_transformers", "transformers", "onnxruntime", "faiss", "llama_cpp")

IN_PROCESS = r"""
import json, sys, time
from rag import ask, open_index
index_dir, questions = sys.argv[1], sys.argv[2]
qs = [json.loads(l)["question"] for l in open(questions, encoding="utf-8") if l.strip()]
idx = open_index(index_dir)
ask(qs[0], index=idx, mode="extractive")
lat = []
for q in qs:
    t = time.perf_counter()
    ask(q, index=idx, mode="extractive")
    lat.append((time.perf_counter() - t) * 1000)
cpu = time.process_time()
for q in qs:
    ask(q, index=idx, mode="extractive")
print(json.dumps({"lat": lat, "cpu_ms": (time.process_time() - cpu) * 1000 / len(qs)}))
"""


def rag_cmd() -> list[str]:
    return [sys.executable, "-m", "rag.cli.commands"]


def timed(cmd: list[str], runs: int, env: dict[str, str]) -> tuple[float, list[float], float]:
    """Median wall seconds, every run's wall seconds, median CPU seconds (user + system) of the
    child: CPU time moves much less than wall time when other jobs share the cores."""
    xs, cpu = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
        xs.append(time.perf_counter() - t)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        if out.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed:\n{out.stderr[-2000:]}")
    return statistics.median(xs), xs, statistics.median(cpu)


def heavy_imports(cmd: list[str], env: dict[str, str]) -> list[str]:
    out = subprocess.run([cmd[0], "-X", "importtime", *cmd[1:]], capture_output=True, text=True, env=env, cwd=ROOT)
    mods = {line.split("|")[-1].strip().split(".")[0] for line in out.stderr.splitlines() if line.startswith("import time:")}
    return sorted(m for m in HEAVY if m in mods)


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    k = (len(xs) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def bench_backend(backend: str, runs: int, env: dict[str, str], work: Path) -> dict:
    index_dir = work / f"index-{backend}"
    code = ("import sys; from rag import build_index; "
            f"build_index([{str(ROOT / 'seeds')!r}], {str(index_dir)!r}, backend={backend!r}, rebuild=True)")
    subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=ROOT)
    cmds = {
        "rag --help": [*rag_cmd(), "--help"],
        "rag search (hybrid)": [*rag_cmd(), "search", QUESTION, "--index-dir", str(index_dir)],
        "rag ask --mode extractive": [*rag_cmd(), "ask", QUESTION, "--mode", "extractive", "--index-dir", str(index_dir)],
    }
    res: dict = {"whole": {}, "imports": {}}
    for name, cmd in cmds.items():
        subprocess.run(cmd, capture_output=True, env=env, cwd=ROOT)  # warm the file cache
        med, xs, cpu = timed(cmd, runs, env)
        res["whole"][name] = {"median_s": med, "runs_s": xs, "cpu_s": cpu}
        res["imports"][name] = heavy_imports(cmd, env)
    out = subprocess.run([sys.executable, "-c", IN_PROCESS, str(index_dir), str(ROOT / "seeds" / "questions.jsonl")],
                         capture_output=True, text=True, env=env, cwd=ROOT, check=True)
    got = json.loads(out.stdout.strip().splitlines()[-1])
    lat = got["lat"]
    res["ask_ms"] = {"p50": pct(lat, 50), "p95": pct(lat, 95), "n": len(lat), "cpu_mean": got["cpu_ms"]}
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--backends", default="onnx-int8,torch")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "RESULTS-speed.md")
    a = ap.parse_args()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for backend in a.backends.split(","):
            results[backend] = bench_backend(backend, a.runs, env, Path(tmp))
            print(backend, json.dumps(results[backend]), flush=True)
    write(a, results)


def write(a: argparse.Namespace, results: dict) -> None:
    backends = list(results)
    base = "torch" if "torch" in results else None
    lines = [
        "# Start-up and answer latency",
        "",
        f"Run: `python benchmarks/bench_speed.py --runs {a.runs} --backends {a.backends}` on {time.strftime('%Y-%m-%d')}.",
        f"Machine: {os.cpu_count()} CPU cores ({platform.machine()}), Python {platform.python_version()}, no GPU. "
        "Shared with other jobs while it ran: the torch rows are the baseline from the same run, so read the ratios.",
        f"Index: the seeds (5 articles), rebuilt per backend. Question: \"{QUESTION}\".",
        "",
        "Whole process, median of the runs (seconds; CPU = the child's user + system time, which a busy "
        "machine inflates far less than wall time):",
        "",
        "| command | " + " | ".join(backends) + (" | torch / onnx-int8 |" if base and "onnx-int8" in results else " |"),
        "|---|" + "---:|" * len(backends) + ("---:|" if base and "onnx-int8" in results else ""),
    ]
    both = base and "onnx-int8" in results
    for key, label in (("median_s", "wall"), ("cpu_s", "CPU (user+system)")):
        for cmd in results[backends[0]]["whole"]:
            row = [f"{results[b]['whole'][cmd][key]:.2f}" for b in backends]
            if both:
                row.append(f"{results[base]['whole'][cmd][key] / results['onnx-int8']['whole'][cmd][key]:.1f}x")
            lines.append(f"| `{cmd}`, {label} | " + " | ".join(row) + " |")
    lines += ["", f"In-process `ask(..., mode=\"extractive\")`, seeds question set ({results[backends[0]]['ask_ms']['n']} "
              "questions, index and model loaded, after one warm-up), ms:", "",
              "| backend | wall p50 | wall p95 | CPU mean |", "|---|---:|---:|---:|"]
    for b in backends:
        r = results[b]["ask_ms"]
        lines.append(f"| {b} | {r['p50']:.0f} | {r['p95']:.0f} | {r['cpu_mean']:.0f} |")
    lines += ["", "Heavy modules imported (python -X importtime):", "", "| backend | command | heavy imports |", "|---|---|---|"]
    for b in backends:
        for cmd, mods in results[b]["imports"].items():
            lines.append(f"| {b} | `{cmd}` | {', '.join(mods) or 'none'} |")
    lines.append("")
    a.out.write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
