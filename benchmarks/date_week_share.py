"""How many answers of a `rag eval` run came from a page of the question's week, with the page
dates read from an index (so that a run on the undated copy of a corpus can be counted with the
dates of the dated one).

    python benchmarks/date_week_share.py RUN_DIR [RUN_DIR ...] --dates-from INDEX_DIR
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rag.evaluation.runner import in_week  # noqa: E402
from rag.retrieval import open_index  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+")
    ap.add_argument("--dates-from", required=True)
    args = ap.parse_args()
    with open_index(args.dates_from) as idx:
        dates = idx.reader.doc_dates(d for d, *_ in idx.reader.documents())
    for run in args.runs:
        rows = [json.loads(line) for line in (Path(run) / "questions.jsonl").read_text(encoding="utf-8").splitlines()]
        answered = [r for r in rows if not r["abstained"] and r["citations"]]
        week = 0
        for r in answered:
            first = next((c for c in r["citations"] if c["supported"]), r["citations"][0])
            week += bool(in_week(dates.get(first["doc_id"]), r["as_of"]))
        print(f"{run}: {week} of {len(answered)} answers from a page of the question's week "
              f"({len(rows)} questions)")


if __name__ == "__main__":
    main()
