"""Tune the support threshold of the LLM's sentences (citations.SUPPORT_THRESHOLD) against
sentences labelled by hand.

Usage:
    python benchmarks/llm_support.py dump RUN --index-dir DIR > sentences.txt
    python benchmarks/llm_support.py sweep RUN --index-dir DIR --labels LABELS.tsv

RUN is a folder written by benchmarks/llm_runs.py (its raw.jsonl holds what the model wrote).
Every sentence the model wrote is checked again against the passages it cites (threshold 0, so
that its support score and whether its names and numbers are in the cited passage are both
known). `dump` prints each with the passage sentence that supports it best, for a person to label;
LABELS.tsv has one line per sentence: question id, the sentence's key (printed by `dump`), and 1
when the cited passage states what the sentence says, 0 when it does not. `sweep` prints, per
threshold, how many sentences would be kept, and the precision and recall of "kept" against the
labels. The labels file holds keys and labels only, no article or model text.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
from pathlib import Path
from typing import Any, Iterator

from rag.index.chunking import split_sentences
from rag.answer.citations import check_citations, lexical_support, missing_facts, strip_markers
from rag.retrieval import open_index
from rag.types import Hit


def key(claim: str) -> str:
    return hashlib.sha1(claim.encode("utf-8")).hexdigest()[:10]


def sentences(run: Path, index_dir: Path) -> Iterator[dict[str, Any]]:
    """Every sentence the model wrote in the run, with its support and facts check."""
    rows = {r["question"]: r for r in map(json.loads, (run / "questions.jsonl").read_text(encoding="utf-8").splitlines())}
    raws = [json.loads(line) for line in (run / "raw.jsonl").read_text(encoding="utf-8").splitlines()]
    idx = open_index(index_dir)
    try:
        for raw in raws:
            if not raw["raw"] or raw["raw"].strip().upper().startswith("NOT FOUND"):
                continue
            row = rows[raw["question"]]
            dropped = int(row["timings"].get("passages_dropped", 0)) if row.get("notice") else 0
            used = row["retrieved"][:len(row["retrieved"]) - dropped]
            hits = [Hit(chunk_id=s["chunk_id"], doc_id=s["doc_id"], title=s["title"], text=s["text"], start=0,
                        end=len(s["text"]), score=s["score"]) for s in used]
            check = check_citations(raw["raw"], hits, embedder=idx.embedder, threshold=0.0)
            by_claim: dict[str, list] = {}
            for c in check.citations:
                by_claim.setdefault(c.sentence, []).append(c)
            for claim, cs in by_claim.items():
                best = max(cs, key=lambda c: c.support)
                facts_ok = any(not missing_facts(claim, f"{hits[c.n - 1].title} {hits[c.n - 1].text}") for c in cs)
                one, whole = _parts(claim, [hits[c.n - 1] for c in cs], idx.embedder)
                yield {"id": row["id"], "key": key(claim), "claim": claim, "cited": [c.n for c in cs],
                       "support": max(c.support for c in cs), "facts_ok": facts_ok, "quote": best.quote,
                       "one_sentence": one, "whole_passage": whole, "cut": _cut(raw["raw"], claim),
                       "question": row["question"], "gold": row["gold_answers"]}
            for s in check.uncited:
                yield {"id": row["id"], "key": key(strip_markers(s)), "claim": strip_markers(s), "cited": [],
                       "support": 0.0, "facts_ok": False, "quote": "", "question": row["question"],
                       "gold": row["gold_answers"]}
    finally:
        idx.close()


def _parts(claim: str, hits: list[Hit], embedder: Any) -> tuple[float, float]:
    """The two parts of a claim's support, best over its cited passages: the best single passage
    sentence (content-word share or embedding cosine) and the whole passage's content-word share."""
    one = whole = 0.0
    cv = embedder.embed([claim])[0]
    for h in hits:
        sents = [h.text[sp.start:sp.end] for line in re.finditer(r"[^\n]+", h.text)
                 for sp in split_sentences(h.text, line.start(), line.end())] or [h.text]
        cos = embedder.embed(sents) @ cv
        one = max(one, max(max(lexical_support(claim, t), float(c)) for t, c in zip(sents, cos)))
        whole = max(whole, lexical_support(claim, h.text))
    return round(one, 3), round(whole, 3)


def _cut(raw: str, claim: str) -> bool:
    """Whether the model's sentence is unfinished: it ran to the grammar's length cap, or it stops
    mid-clause (the pipeline leaves both out, whatever their support)."""
    from rag.answer.citations import ends_mid_clause
    from rag.answer.grammar import ran_to_cap

    return ran_to_cap(claim) or ends_mid_clause(claim)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("what", choices=("dump", "sweep"))
    ap.add_argument("run", type=Path)
    ap.add_argument("--index-dir", type=Path, required=True)
    ap.add_argument("--labels", type=Path)
    a = ap.parse_args()
    sents = list(sentences(a.run, a.index_dir))
    if a.what == "dump":
        for s in sents:
            print(f"{s['id']}\t{s['key']}\tsupport={s['support']:.3f} one={s.get('one_sentence')} "
                  f"whole={s.get('whole_passage')} facts_ok={s['facts_ok']} cut={s.get('cut')} cited={s['cited']}")
            print(f"  Q: {s['question']}  gold: {s['gold']}")
            print(f"  S: {s['claim']}")
            print(f"  P: {s['quote']}")
        return
    assert a.labels is not None, "--labels is needed for sweep"
    labels = {}
    for line in a.labels.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            qid, k, lab = line.split("\t")[:3]
            labels[(qid, k)] = int(lab)
    rows = [(s, labels[(s["id"], s["key"])]) for s in sents if (s["id"], s["key"]) in labels]
    positives = sum(lab for _, lab in rows)
    print(f"{len(rows)} labelled sentences of {len(sents)}; {positives} supported by their cited passage")
    print(f"{sum(1 for s, _ in rows if s['facts_ok'])} pass the names/numbers check; "
          f"{sum(1 for s, _ in rows if s['cut'])} are unfinished (ran to the length cap or stop mid-clause)")
    print("| threshold | kept | kept & supported | precision | recall | kept, unfinished ones left out | & supported |\n"
          "|---:|---:|---:|---:|---:|---:|---:|")
    for t in [round(0.30 + 0.05 * i, 2) for i in range(13)]:
        kept = [lab for s, lab in rows if s["facts_ok"] and s["support"] >= t]
        whole = [lab for s, lab in rows if s["facts_ok"] and s["support"] >= t and not s["cut"]]
        tp = sum(kept)
        prec = tp / len(kept) if kept else float("nan")
        rec = tp / positives if positives else float("nan")
        print(f"| {t:.2f} | {len(kept)} | {tp} | {prec:.3f} | {rec:.3f} | {len(whole)} | {sum(whole)} |")


if __name__ == "__main__":
    main()
