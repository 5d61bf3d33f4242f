"""How many articles get a publication date, and a sample to check by hand.

    python benchmarks/bench_dates.py ARTICLES_DIR [QUESTIONS_JSONL] [--split-before YYYYMMDD]
        [--sample N]

With a question file whose records list `sources` (as RealTime QA's does), the articles are
split by the questions that cite them: "dev" (cited by a question whose id sorts before
`--split-before`) and "test" (the rest), and the figures are printed per split. The sample
shows the dateline each date came from, so that it can be checked against the page.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rag.evaluation import load_questions  # noqa: E402
from rag.evaluation.datasets import source_splits  # noqa: E402
from rag.ingest import load_documents  # noqa: E402
from rag.ingest.dates import find_dateline  # noqa: E402
from rag.ingest.text import normalize_text  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("articles", type=Path)
    ap.add_argument("questions", type=Path, nargs="?")
    ap.add_argument("--split-before", default="20251114")
    ap.add_argument("--sample", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    t0 = time.perf_counter()
    result = load_documents([args.articles])
    seconds = time.perf_counter() - t0
    split = source_splits(load_questions(args.questions), args.split_before) if args.questions else {}
    groups: dict[str, list] = {}
    for doc in result.documents:
        groups.setdefault(split.get(doc.id, "all"), []).append(doc)
    print(f"{len(result.documents)} documents loaded in {seconds:.1f}s")
    for name, docs in sorted(groups.items()):
        dated = [d for d in docs if d.date]
        years = sorted({d.date[:4] for d in dated})
        print(f"{name}: {len(dated)}/{len(docs)} dated ({100 * len(dated) / max(len(docs), 1):.0f}%); "
              f"years {years[0] if years else '-'}..{years[-1] if years else '-'}")
    rng = random.Random(args.seed)
    dated = [d for d in result.documents if d.date]
    print(f"\nsample of {min(args.sample, len(dated))} dated documents (date <- dateline):")
    for doc in rng.sample(dated, min(args.sample, len(dated))):
        raw = normalize_text(Path(doc.source).read_text(encoding="utf-8", errors="replace"))
        found = find_dateline(raw.split("\n", 1)[1] if "\n" in raw else raw)
        print(f"  {doc.id}  {doc.date}  <- {found.line if found else '(metadata)'}")
    undated = [d for d in result.documents if not d.date]
    print(f"\nsample of {min(args.sample // 2, len(undated))} undated documents (first lines):")
    for doc in rng.sample(undated, min(args.sample // 2, len(undated))):
        head = " / ".join(doc.text.split("\n\n")[:2])[:150]
        print(f"  {doc.id}  {head}")


if __name__ == "__main__":
    main()
