"""How much page furniture reaches the passages: count it, and sample it for a hand check.

    python benchmarks/bench_cleaning.py ARTICLES_DIR [QUESTIONS_JSONL] [--split-before YYYYMMDD]
        [--sample N] [--show CATEGORY]

Every paragraph of every cleaned document is what the chunker cuts into passages (chunks cover
the cleaned text exactly), so the paragraphs are the unit counted. An independent audit list of
general furniture shapes (below: bylines, photo credits, "Advertisement", newsletter sign-ups,
related-article lists, share bars, cookie and consent text, "contributing" credits) flags the
paragraphs that look like furniture; the audit is a measuring stick, not the cleaner's rules,
and it names no outlet. `--sample` prints random flagged paragraphs per category and random
unflagged short paragraphs, for a hand check of both precision and what the audit misses.

With a question file (RealTime QA's, whose records list `sources`), articles are split by the
questions that cite them: dev (question id before `--split-before`), test (the rest), and
uncited pages; figures are printed per split.
"""

from __future__ import annotations

import argparse
import random
import re
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rag.evaluation import load_questions  # noqa: E402
from rag.evaluation.datasets import source_splits  # noqa: E402
from rag.ingest import load_documents  # noqa: E402

# Shapes of furniture, matched on a whole paragraph (case-insensitive). Short paragraphs only:
# an article sentence that mentions a newsletter is not furniture.
AUDIT: dict[str, re.Pattern[str]] = {
    "byline": re.compile(r"^(by|written by|words by|reporting by)\s+[A-Z][\w.'’-]+(\s+[A-Z][\w.'’-]+){0,3}"
                         r"(\s*(,|and|&)\s*[A-Z][\w.'’-]+(\s+[A-Z][\w.'’-]+){0,3})*\s*[,|·•–—-]?.{0,60}$"),
    "photo_credit": re.compile(r"(\b(photo|image|photograph|illustration|video)s?\s*(credit)?\s*:|"
                               r"\((photo|image)[^)]{0,60}\)$|/\s?(getty images|ap|afp|reuters|shutterstock)\b|"
                               r"\bgetty images$|\bap photo\b|\bfile photo\b)", re.I),
    "advertisement": re.compile(r"^(advertisement|advertising|sponsored( content)?|ad|story continues below"
                                r"( advertisement)?|scroll to continue( reading)?)\W*$", re.I),
    "newsletter": re.compile(r"\b(sign up|signup|subscribe)\b.{0,80}\b(newsletter|inbox|email|alerts?)\b|"
                             r"\bnewsletter\b.{0,40}\b(sign up|subscribe|inbox)\b", re.I),
    "related": re.compile(r"^(related( articles?| stories| coverage| content)?|read more|more from [^:]{1,40}|"
                          r"recommended( stories)?|see also|also read|read next|more stories|you may also like|"
                          r"trending|most (read|popular)|what to read next|top stories)\s*[:|]", re.I),
    "share_bar": re.compile(r"^((share|tweet|email|print|copy link|facebook|twitter|x|linkedin|whatsapp|"
                            r"reddit|flipboard|save|comment)[\s,|·•/]*){2,}$", re.I),
    "cookie": re.compile(r"\b(cookies?\b.{0,60}\b(accept|consent|settings|policy|browser|site)|"
                         r"privacy (policy|settings)|do not sell my)\b", re.I),
    "contributing": re.compile(r"^(contributing|additional reporting|reporting)\s*(by|:)|"
                               r"^\(?(contributing|with reporting)\b.{0,80}\)?$", re.I),
    "ai_summary": re.compile(r"^(ai-assisted summary|ai-generated summary|summary:)\b", re.I),
}
MAX_WORDS = 40


def audit(paragraph: str) -> str | None:
    if len(paragraph.split()) > MAX_WORDS:
        return None
    for name, pattern in AUDIT.items():
        if pattern.search(paragraph):
            return name
    return None


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("articles", type=Path)
    ap.add_argument("questions", type=Path, nargs="?")
    ap.add_argument("--split-before", default="20251114")
    ap.add_argument("--sample", type=int, default=0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--show", default=None, help="print every flagged paragraph of this category")
    args = ap.parse_args()

    result = load_documents([args.articles])
    split = source_splits(load_questions(args.questions), args.split_before) if args.questions else {}
    flagged: dict[str, list[tuple[str, str]]] = {}
    per_split: dict[str, Counter[str]] = {}
    short_unflagged: list[tuple[str, str]] = []
    for doc in result.documents:
        part = split.get(doc.id, "uncited")
        counts = per_split.setdefault(part, Counter())
        counts["documents"] += 1
        for paragraph in doc.text.split("\n\n"):
            counts["paragraphs"] += 1
            category = audit(paragraph)
            if category:
                counts[category] += 1
                counts["flagged"] += 1
                flagged.setdefault(category, []).append((doc.id, paragraph))
            elif len(paragraph.split()) <= 12:
                short_unflagged.append((doc.id, paragraph))
    removed = Counter(rule for report in result.removed.values() for rule, _ in report)
    print(f"{len(result.documents)} documents; lines removed by rule: {dict(removed.most_common())}")
    for part, counts in sorted(per_split.items()):
        cats = {k: v for k, v in counts.items() if k in AUDIT}
        print(f"{part}: {counts['documents']} documents, {counts['paragraphs']} paragraphs, "
              f"{counts['flagged']} flagged as furniture "
              f"({100 * counts['flagged'] / max(counts['paragraphs'], 1):.2f}%): {cats}")
    rng = random.Random(args.seed)
    if args.show:
        for doc_id, p in flagged.get(args.show, []):
            print(f"  [{args.show}] {doc_id}: {p[:160]}")
    if args.sample:
        for category, items in sorted(flagged.items()):
            for doc_id, p in rng.sample(items, min(args.sample, len(items))):
                print(f"  [{category}] {doc_id}: {p[:160]}")
        for doc_id, p in rng.sample(short_unflagged, min(args.sample * 3, len(short_unflagged))):
            print(f"  [short, not flagged] {doc_id}: {p[:160]}")


if __name__ == "__main__":
    main()
