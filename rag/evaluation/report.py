"""The run folder and what reads it: summary.json, report.md, the plots, comparing two runs and
gating a run on minimum (or maximum) metrics.

Run folder (`runs/<timestamp>-<name>/` unless `out_dir` is given)::

    questions.jsonl   one record per question / query, with every per-question score
    summary.json      {"kind", "name", "created", "duration_s", "metrics", "counts",
                       "settings", "warnings"}: what `compare_runs` and `check_thresholds` read
    report.md         every metric and setting as tables
    metrics.png       bars of the main (0..1) metrics
    latency.png       latency distribution per stage
"""

from __future__ import annotations

import dataclasses
import json
import math
import platform
import re
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag.config import PROJECT_ROOT
from rag.errors import InputError

RUNS_ROOT = Path("runs")

# Metrics that are counts or durations, not rates in 0..1 (kept out of the bar chart).
_NOT_RATES = re.compile(r"(_ms_|_ms$|tokens_per_s|^invalid_citations$|^unsupported_citations$|_s$)")
# Short names accepted by `check_thresholds` (and the CLI's --min-* options).
ALIASES = {
    "contains": "contains_answer",
    "f1": "token_f1",
    "abstention": "abstention_accuracy",
    "false_abstention": "false_abstention_rate",
    "coverage": "citation_coverage",
    "supported": "supported_citation_rate",
}


@dataclass(frozen=True)
class RunResult:
    """What a run measured; `summary.json` in `out_dir` holds the same (`--json` = asdict)."""

    kind: str  # "questions" or "beir"
    name: str
    out_dir: str
    metrics: dict[str, float | int | None]
    counts: dict[str, int]
    settings: dict[str, Any]
    warnings: tuple[str, ...] = ()
    files: tuple[str, ...] = ()
    created: str = ""
    duration_s: float = 0.0

# -- output -----------------------------------------------------------------------------------


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") or "run"


def make_out_dir(out_dir: str | Path | None, name: str, runs_root: str | Path) -> Path:
    if out_dir is not None:
        p = Path(out_dir)
        p.mkdir(parents=True, exist_ok=True)
        return p
    base = Path(runs_root) / f"{time.strftime('%Y%m%d-%H%M%S')}-{_slug(name)}"
    p, n = base, 1
    while True:
        try:
            p.mkdir(parents=True, exist_ok=False)
            return p
        except FileExistsError:
            n += 1
            p = base.with_name(f"{base.name}-{n}")


def environment() -> dict[str, Any]:
    commit, dirty = None, None
    try:
        commit = subprocess.run(["git", "-C", str(PROJECT_ROOT), "rev-parse", "HEAD"], capture_output=True,
                                text=True, timeout=10).stdout.strip() or None
        if commit:
            dirty = bool(subprocess.run(["git", "-C", str(PROJECT_ROOT), "status", "--porcelain",
                                         "--untracked-files=no"], capture_output=True, text=True,
                                        timeout=10).stdout.strip())
    except (OSError, subprocess.SubprocessError):
        pass
    return {"git_commit": commit, "git_dirty": dirty, "python": sys.version.split()[0],
            "platform": platform.platform()}


def finish_run(kind: str, name: str, out: Path, metrics: dict[str, Any], counts: dict[str, int],
            settings: dict[str, Any], warnings: list[str], created: str, duration_s: float,
            latencies: dict[str, list[float]]) -> RunResult:
    metrics = {key: (round(v, 6) if isinstance(v, float) else v) for key, v in metrics.items()}
    summary = {"kind": kind, "name": name, "created": created, "duration_s": round(duration_s, 3),
               "metrics": metrics, "counts": counts, "settings": settings, "warnings": warnings}
    (out / "summary.json").write_text(json.dumps(summary, ensure_ascii=False, indent=2, default=str) + "\n",
                                      encoding="utf-8")
    (out / "report.md").write_text(format_report(summary), encoding="utf-8")
    _plot_metrics(metrics, out / "metrics.png", f"{name} ({kind})")
    _plot_latency(latencies, out / "latency.png", f"{name}: latency per {'query' if kind == 'beir' else 'question'}")
    files = tuple(str(out / f) for f in ("questions.jsonl", "summary.json", "report.md", "metrics.png", "latency.png"))
    return RunResult(kind=kind, name=name, out_dir=str(out), metrics=metrics, counts=counts, settings=settings,
                     warnings=tuple(warnings), files=files, created=created, duration_s=round(duration_s, 3))


def _fmt(v: Any, key: str = "") -> str:
    """A figure as printed: times (`…_ms…`) and rates per second with one decimal whatever their
    size (`retrieval_ms_p50 8.4` beside `retrieval_ms_p95 12.1`), other fractions with four."""
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        if "_ms" in key or key.endswith(("_per_s", "_per_s_mean")):
            return f"{v:.1f}"
        return f"{v:.4f}" if abs(v) < 10 else f"{v:.1f}"
    return str(v)


def _md_cell(v: Any, key: str = "") -> str:
    text = _fmt(v, key) if not isinstance(v, (dict, list)) else json.dumps(v, ensure_ascii=False, default=str)
    return text.replace("|", "\\|").replace("\n", " ")


def format_metrics(summary: Mapping[str, Any] | RunResult) -> str:
    """The metrics and counts as an aligned plain-text table (for the CLI)."""
    s = _summary_dict(summary)
    rows = [(key, _fmt(v, key)) for key, v in s["metrics"].items()] + [(key, str(v)) for key, v in s["counts"].items()]
    width = max(len(r[0]) for r in rows)
    lines = [f"{s['kind']} run {s['name']}"]
    lines += [f"  {key:<{width}}  {v}" for key, v in rows]
    lines += [f"  warning: {w}" for w in s.get("warnings", [])]
    return "\n".join(lines)


def format_report(summary: Mapping[str, Any]) -> str:
    """report.md: every metric, count and setting as Markdown tables."""
    lines = [f"# Evaluation: {summary['name']}", "",
             f"Kind: {summary['kind']} · created {summary['created']} · {summary['duration_s']:.1f} s", ""]
    if summary.get("warnings"):
        lines += ["## Warnings", ""] + [f"- {w}" for w in summary["warnings"]] + [""]
    lines += ["## Metrics", "", "| metric | value |", "|---|---|"]
    lines += [f"| {key} | {_md_cell(v, key)} |" for key, v in summary["metrics"].items()]
    lines += ["", "## Counts", "", "| count | value |", "|---|---|"]
    lines += [f"| {key} | {_md_cell(v)} |" for key, v in summary["counts"].items()]
    lines += ["", "## Settings", "", "| setting | value |", "|---|---|"]
    settings = dict(summary["settings"])
    manifest = settings.pop("index_manifest", None)
    lines += [f"| {key} | {_md_cell(v)} |" for key, v in settings.items()]
    if manifest:
        lines += ["", "### Index manifest", "", "```json", json.dumps(manifest, indent=2, default=str), "```"]
    lines += ["", "![metrics](metrics.png)", "", "![latency](latency.png)", ""]
    return "\n".join(lines)


def _plot_metrics(metrics: Mapping[str, Any], path: Path, title: str) -> None:
    # Figure + Agg canvas directly: no pyplot, so no global backend state is touched.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    items = [(key, float(v)) for key, v in metrics.items()
             if isinstance(v, (int, float)) and not isinstance(v, bool) and not _NOT_RATES.search(key)]
    fig = Figure(figsize=(7, 0.45 * max(len(items), 2) + 1.2))
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    if items:
        names = [key for key, _ in items][::-1]
        vals = [v for _, v in items][::-1]
        bars = ax.barh(names, vals, color="#4C72B0")
        for bar, v in zip(bars, vals):
            ax.text(v + 0.01, bar.get_y() + bar.get_height() / 2, f"{v:.3f}", va="center", fontsize=8)
        ax.set_xlim(0, 1.15)
    else:
        ax.text(0.5, 0.5, "no metric measured", ha="center", va="center")
        ax.set_axis_off()
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def _plot_latency(latencies: Mapping[str, list[float]], path: Path, title: str) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    stages = [(k, v) for k, v in latencies.items() if v]
    fig = Figure(figsize=(7, 3.6))
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    if stages:
        ax.boxplot([v for _, v in stages], showmeans=True)
        ax.set_xticks(range(1, len(stages) + 1), [f"{k} (n={len(v)})" for k, v in stages])
        ax.set_ylabel("milliseconds")
        if max(max(v) for _, v in stages) / max(min(min(v) for _, v in stages), 1e-3) > 100:
            ax.set_yscale("log")  # stages of very different scale (retrieval vs generation)
    else:
        ax.text(0.5, 0.5, "no timings recorded", ha="center", va="center")
        ax.set_axis_off()
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


# -- comparing and gating ---------------------------------------------------------------------


def _summary_dict(summary: Mapping[str, Any] | RunResult) -> dict[str, Any]:
    if isinstance(summary, RunResult):
        return dataclasses.asdict(summary)
    return dict(summary)


def read_summary(run: str | Path) -> dict[str, Any]:
    """summary.json of a run folder (or the file itself)."""
    p = Path(run)
    if p.is_dir():
        p = p / "summary.json"
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"no summary.json at {p}; give a run folder written by `rag eval`") from None
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read {p}: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("metrics"), dict):
        raise InputError(f"{p} is not a run summary (no 'metrics')")
    return data


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and not (isinstance(v, float) and math.isnan(v))


def compare_runs(run_a: str | Path, run_b: str | Path) -> list[tuple[str, Any, Any, float | None]]:
    """(metric, value in A, value in B, B − A) for every metric of either run, A's order first."""
    a, b = read_summary(run_a)["metrics"], read_summary(run_b)["metrics"]
    out = []
    for key in list(dict.fromkeys([*a, *b])):
        va, vb = a.get(key), b.get(key)
        out.append((key, va, vb, vb - va if _is_number(va) and _is_number(vb) else None))
    return out


def format_comparison(rows: Sequence[tuple[str, Any, Any, float | None]],
                      labels: tuple[str, str] = ("A", "B")) -> str:
    """An aligned text table of `compare_runs` rows."""
    table = [("metric", labels[0], labels[1], "delta")]
    for key, va, vb, d in rows:
        table.append((key, _fmt(va), _fmt(vb), "–" if d is None else f"{d:+.4f}"))
    widths = [max(len(r[i]) for r in table) for i in range(4)]
    return "\n".join(f"{r[0]:<{widths[0]}}  {r[1]:>{widths[1]}}  {r[2]:>{widths[2]}}  {r[3]:>{widths[3]}}"
                     for r in table)


def resolve_metric(metrics: Mapping[str, Any], name: str) -> str:
    """The summary's metric name for `name`: itself, an alias (`contains`, `abstention`, …) or
    a family (`recall` → `recall_at_100` when that is the only recall measured)."""
    if name in metrics:
        return name
    if ALIASES.get(name) in metrics:
        return ALIASES[name]
    family = [key for key in metrics if key.startswith(f"{name}_at_")]
    if len(family) == 1:
        return family[0]
    if len(family) > 1:
        raise InputError(f"{name!r} is ambiguous here: {', '.join(family)}")
    raise InputError(f"no metric {name!r} in this run; it has: {', '.join(metrics)}")


def check_thresholds(summary: Mapping[str, Any] | RunResult, minimums: Mapping[str, float],
                     maximums: Mapping[str, float] | None = None) -> list[str]:
    """One message per missed gate (empty when all pass). A gated metric that this run could not
    measure (None, e.g. abstention without unanswerable questions) counts as missed; a name
    this run does not have at all raises InputError."""
    metrics = _summary_dict(summary)["metrics"]
    failures = []
    for gates, below in ((minimums, True), (maximums or {}, False)):
        for name, limit in gates.items():
            key = resolve_metric(metrics, name)
            v = metrics[key]
            if not _is_number(v):
                failures.append(f"{key} was not measured in this run (gate {'≥' if below else '≤'} {limit})")
            elif (v < limit) if below else (v > limit):
                failures.append(f"{key} = {v:.4f} is {'below the minimum' if below else 'above the maximum'} {limit}")
    return failures
