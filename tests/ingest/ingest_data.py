"""Shared data of the `rag.ingest` tests: the seed pages read in full (their furniture,
titles and title lines), a good article, and helpers to find a document or a problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.ingest import LoadResult, Problem, load_documents, normalize_text

SEEDS = Path(__file__).resolve().parents[2] / "seeds"


# Test data written after reading each seed in full: the page furniture that must go (in its
# whitespace-normalised form), the expected title, and the raw lines that make up the title.
SEED_FURNITURE: dict[str, list[str]] = {
    "000_bddbedb021a4fb1e.txt": [
        "ваша думка про статтю:",
    ],
    "001_1a038a3a5eae4988.txt": [
        "leave a reply:",
        "Discover more from SELLINES",
        "Subscribe now to keep reading and get access to the full archive.",
        "Continue reading",
    ],
    "002_7bf4c8803009745d.txt": [
        "scroll to top",
    ],
    "003_e411960df6774cf9.txt": [
        "Vietnam News",
        "Print Friendly, PDF & Email",
        "Translate / Dịch",
        "En poursuivant la visite de ce site, vous acceptez l’utilisation de traceurs (cookies) "
        "vous permettant juste d'optimiser techniquement votre navigation. Plus d’informations",
        "En poursuivant la visite de ce site, vous acceptez l’utilisation de traceurs (cookies) "
        "vous permettant d'optimiser techniquement votre navigation. Aucune information sur votre "
        "utilisation de ce site ne sera partagée auprès de quelconques médias sociaux, de sociétés "
        "commerciales ou d'agences de publicité et d'analyse. Cliquer sur le bouton \"Accepter\", "
        "équivaut à votre consentement.",
        # the byline at the foot of the article
        "By Hoang Thi Ha – / Yusof Ishak Institute – June 19, 2024",
    ],
    "004_3dab9c31b746d35e.txt": [
        # a photo credit on a line of its own (the caption below it keeps its own credit)
        "AP/Alexander Zemlianichenko",
        "The New York Sun",
        "© 2024 The New York Sun Company, LLC. All rights reserved.",
        "Use of this site constitutes acceptance of our Terms of Use and Privacy Policy. The "
        "material on this site is protected by copyright law and may not be reproduced, "
        "distributed, transmitted, cached or otherwise used.",
        "Sign in or create a free account",
        "By continuing you agree to our Privacy Policy and Terms of Use",
    ],
}


SEED_TITLES: dict[str, str] = {
    "000_bddbedb021a4fb1e.txt": (
        "Putin’s visit puts Vietnam in ‘difficult position’ with ‘no breakthrough,’ experts say"
    ),
    "001_1a038a3a5eae4988.txt": "Putin may visit Vietnam as Hanoi aims to secure power balance",
    "002_7bf4c8803009745d.txt": "Why does Russia's Putin visit Vietnam after North Korea?",
    "003_e411960df6774cf9.txt": "Putin’s visit to Vietnam : when the past weighs on the present",
    "004_3dab9c31b746d35e.txt": (
        "Putin’s Next Stop: Communist Vietnam, Which Takes a Different Tack, To Put It Mildly, "
        "Than North Korea"
    ),
}


# How many leading non-empty raw lines are title material (003 has a section label above it).
SEED_TITLE_LINES: dict[str, int] = {name: 1 for name in SEED_TITLES} | {
    "003_e411960df6774cf9.txt": 2
}


def _raw_lines(path: Path) -> list[str]:
    return [line for line in normalize_text(path.read_text(encoding="utf-8")).split("\n") if line]


@pytest.fixture(scope="module")
def seed_result() -> LoadResult:
    return load_documents([SEEDS])


def _doc(result: LoadResult, doc_id: str):
    matches = [d for d in result.documents if d.id == doc_id]
    assert len(matches) == 1, f"{doc_id} not loaded; problems: {result.problems}"
    return matches[0]


GOOD_ARTICLE = (
    "Hanoi welcomes Putin\n\n"
    "Russian President Vladimir Putin arrived in Hanoi on Wednesday for a state visit.\n"
)


def _assert_problem_for(result: LoadResult, name: str, *words: str) -> Problem:
    matches = [p for p in result.problems if p.path.endswith(name)]
    assert len(matches) == 1, f"expected one problem for {name}, got {result.problems}"
    problem = matches[0]
    assert name in problem.message
    for word in words:
        assert word in problem.message.lower(), problem.message
    return problem
