"""Measure the bot: run a question set through it, or a BEIR dataset through retrieval, and write a
run folder with per-question records, a summary, a readable report and plots.

- `datasets`: question sets (JSONL) and BEIR folders, and the question splits (`select_questions`);
- `runner`: `run_questions`, every question through `rag.answer.pipeline.ask` (or any answerer), scored;
- `beir`: `run_beir`, retrieval-only figures comparable with published BEIR tables;
- `report`: the run folder (summary.json, report.md, plots), comparing runs, gating on metrics.
"""

from rag.evaluation.beir import run_beir
from rag.evaluation.datasets import BeirData, Question, load_beir, load_questions, select_questions
from rag.evaluation.report import (ALIASES, RunResult, check_thresholds, compare_runs, format_comparison,
                                   format_metrics, format_report, read_summary, resolve_metric)
from rag.evaluation.runner import aggregate_questions, run_questions, score_answer

__all__ = [
    "ALIASES", "BeirData", "Question", "RunResult", "aggregate_questions", "check_thresholds", "compare_runs",
    "format_comparison", "format_metrics", "format_report", "load_beir", "load_questions", "read_summary",
    "resolve_metric", "run_beir", "run_questions", "score_answer", "select_questions",
]
