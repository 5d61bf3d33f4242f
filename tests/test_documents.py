"""Tests of `rag.ingest`: furniture removal on the real scraped seeds, the generality of the
rules on synthetic pages, every input format, and every kind of bad input. No models needed."""

from __future__ import annotations

import hashlib
import json
import os
import unicodedata
from pathlib import Path

import pytest

from rag.ingest import (
    BLOCK_RULE,
    RULES,
    LoadResult,
    Problem,
    clean_text,
    clean_with_report,
    load_documents,
    markdown_to_text,
    normalize_text,
    split_title,
)

SEEDS = Path(__file__).parent.parent / "seeds"

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
    ],
    "004_3dab9c31b746d35e.txt": [
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


def test_seed_folder_loads_every_article(seed_result: LoadResult) -> None:
    assert sorted(d.id for d in seed_result.documents) == sorted(SEED_TITLES)
    # questions.jsonl sits beside the articles: a question set is skipped quietly, not a problem.
    assert seed_result.problems == []
    assert seed_result.files_seen == 6


@pytest.mark.parametrize("name", sorted(SEED_FURNITURE))
def test_seed_furniture_is_removed_and_article_is_kept(
    seed_result: LoadResult, name: str
) -> None:
    doc = _doc(seed_result, name)
    raw = _raw_lines(SEEDS / name)
    paragraphs = doc.text.split("\n\n")
    furniture = SEED_FURNITURE[name]
    for line in furniture:
        assert line in raw, f"test data out of date: {line!r} is not a line of {name}"
        assert line not in paragraphs
        # Short labels such as "Vietnam News" legitimately occur inside article sentences.
        if len(line.split()) > 3:
            assert line not in doc.text
    title_lines = raw[: SEED_TITLE_LINES[name]]
    for line in raw:
        if line in furniture or line in title_lines:
            continue
        assert line in doc.text, f"article line lost from {name}: {line!r}"


@pytest.mark.parametrize("name", sorted(SEED_TITLES))
def test_seed_titles(seed_result: LoadResult, name: str) -> None:
    doc = _doc(seed_result, name)
    assert doc.title == SEED_TITLES[name]
    assert not doc.text.startswith(doc.title)
    assert doc.source == str((SEEDS / name).absolute())
    assert doc.sha256 == hashlib.sha256(f"{doc.title}\n{doc.text}".encode()).hexdigest()


def test_seed_text_is_normalised(seed_result: LoadResult) -> None:
    for doc in seed_result.documents:
        assert "\n\n\n" not in doc.text and "\r" not in doc.text
        assert "\u00a0" not in doc.text and "  " not in doc.text
        assert doc.text == doc.text.strip()
        assert unicodedata.is_normalized("NFC", doc.text)
    # Curly quotes and non-ASCII survive.
    assert "“Putin-mania” (“cuồng Putin”)" in _doc(seed_result, "003_e411960df6774cf9.txt").text


def test_seed_repeated_paragraph_is_kept_at_least_once(seed_result: LoadResult) -> None:
    text = _doc(seed_result, "003_e411960df6774cf9.txt").text
    assert text.count("Vietnam’s foreign policy for the past two decades has been lauded") >= 1
    assert "Factors such as risk aversion, path dependency" in text
    assert "By Hoang Thi Ha – / Yusof Ishak Institute – June 19, 2024" in text


def test_load_result_reports_removed_lines(seed_result: LoadResult) -> None:
    removed = seed_result.removed["001_1a038a3a5eae4988.txt"]
    assert ("paywall_prompt", "Continue reading") in removed
    assert ("comment_prompt", "leave a reply:") in removed


def test_report_names_the_rule_for_each_removed_line() -> None:
    raw = (SEEDS / "004_3dab9c31b746d35e.txt").read_text(encoding="utf-8")
    title, body = split_title(raw)
    _, report = clean_with_report(body, title=title)
    rules = {name for name, _ in RULES} | {BLOCK_RULE}
    assert all(name in rules for name, _ in report)
    removed = dict((line, name) for name, line in report)
    assert removed["Sign in or create a free account"] == "paywall_prompt"
    assert removed["© 2024 The New York Sun Company, LLC. All rights reserved."] == "legal_notice"
    assert removed["The New York Sun"] in {"site_name", "repeated_label"}
    assert [line for _, line in report].count("The New York Sun") == 2


# --- generality: synthetic pages that are not the seeds ----------------------------------------

GERMAN_PAGE = (
    "Regierung beschließt neues Klimagesetz\n\n"
    "Wir verwenden Cookies, um Ihnen das beste Nutzererlebnis zu bieten. Wenn Sie diese Website "
    "weiter nutzen, stimmen Sie der Verwendung von Cookies zu.\n"
    "Alle akzeptieren\n"
    "Einstellungen\n\n"
    "Berlin – Das Bundeskabinett hat am Mittwoch ein neues Klimagesetz beschlossen, das die "
    "Emissionsziele für Verkehr und Gebäude verschärft.\n\n"
    "Umweltverbände begrüßten den Schritt, forderten aber schnellere Maßnahmen.\n\n"
    "Datenschutzerklärung | Impressum\n"
)


def test_german_cookie_banner() -> None:
    title, body = split_title(GERMAN_PAGE)
    assert title == "Regierung beschließt neues Klimagesetz"
    text, report = clean_with_report(body, title=title)
    assert text.split("\n\n") == [
        "Berlin – Das Bundeskabinett hat am Mittwoch ein neues Klimagesetz beschlossen, das die "
        "Emissionsziele für Verkehr und Gebäude verschärft.",
        "Umweltverbände begrüßten den Schritt, forderten aber schnellere Maßnahmen.",
    ]
    assert ("consent_banner", "Alle akzeptieren") in report
    assert (BLOCK_RULE, "Einstellungen") in report


CONSENT_BANNERS = {
    "en": "We use cookies to personalise content and ads. By using our site you accept our "
    "cookie policy.",
    "fr": "Nous utilisons des cookies pour améliorer votre expérience. En poursuivant votre "
    "navigation, vous acceptez leur utilisation.",
    "es": "Utilizamos cookies propias y de terceros para mejorar nuestros servicios. Si continúa "
    "navegando, consideramos que acepta su uso.",
    "it": "Questo sito utilizza cookie tecnici e di profilazione. Proseguendo nella navigazione "
    "accetti l'uso dei cookie.",
    "pt": "Este site utiliza cookies para melhorar a sua experiência. Ao continuar a navegar, "
    "concorda com a nossa política de cookies.",
    "nl": "Deze website gebruikt cookies om de gebruikerservaring te verbeteren. Klik op "
    "Accepteren om door te gaan.",
    "ru": "Мы используем файлы cookie, чтобы сделать сайт удобнее. Продолжая использовать сайт, "
    "вы соглашаетесь с этим.",
    "uk": "Ми використовуємо файли cookie для покращення роботи сайту. Продовжуючи перегляд "
    "сайту, ви погоджуєтесь з цим.",
    "vi": "Chúng tôi sử dụng cookie để cải thiện trải nghiệm của bạn. Bằng cách tiếp tục, bạn "
    "đồng ý với chính sách cookie của chúng tôi.",
}

PAYWALL_PROMPTS = {
    "fr": "Cet article est réservé aux abonnés. Déjà abonné ? Se connecter",
    "it": "Continua a leggere: abbonati",
    "de": "Jetzt weiterlesen mit Plus",
    "pt": "Já é assinante? Entrar",
    "nl": "Lees verder met een abonnement",
    "ru": "Подпишитесь, чтобы читать далее",
    "vi": "Đăng nhập để đọc tiếp",
}

BEFORE = "The ministry said the new rules would take effect in January, officials said."
AFTER = "Officials expect the changes to affect about two million households this year."


@pytest.mark.parametrize("lang", sorted(CONSENT_BANNERS))
def test_consent_banners_in_many_languages(lang: str) -> None:
    # In the middle of the article: the line rules do not depend on position.
    text, report = clean_with_report(f"{BEFORE}\n{CONSENT_BANNERS[lang]}\n{AFTER}")
    assert text == f"{BEFORE}\n\n{AFTER}"
    assert report == [("consent_banner", CONSENT_BANNERS[lang])]


@pytest.mark.parametrize("lang", sorted(PAYWALL_PROMPTS))
def test_paywall_prompts_in_many_languages(lang: str) -> None:
    text, report = clean_with_report(f"{BEFORE}\n{AFTER}\n{PAYWALL_PROMPTS[lang]}")
    assert text == f"{BEFORE}\n\n{AFTER}"
    assert [name for name, _ in report] == ["paywall_prompt"]


def test_spanish_subscription_prompt() -> None:
    page = (
        "Madrid aprobó este martes una reforma de las pensiones que eleva las cotizaciones de "
        "los salarios más altos.\n\n"
        "Suscríbete para seguir leyendo\n"
        "¿Ya eres suscriptor? Inicia sesión\n"
        "Lee sin límites\n"
    )
    text, report = clean_with_report(page)
    assert text.startswith("Madrid aprobó")
    assert "Suscríbete" not in text and "Inicia sesión" not in text
    assert {name for name, _ in report} >= {"paywall_prompt"}


def test_share_widget_and_other_ui_lines() -> None:
    page = (
        "The ministry said the new rules would take effect in January.\n"
        "Share this article: Facebook Twitter Email\n"
        "Advertisement\n"
        "Officials expect the changes to affect about two million households.\n"
        "Advertisement\n"
        "* * *\n"
        "Back to top\n"
    )
    text = clean_text(page)
    assert text == (
        "The ministry said the new rules would take effect in January.\n\n"
        "Officials expect the changes to affect about two million households."
    )


def test_article_sentences_that_mention_furniture_words_are_kept() -> None:
    sentences = [
        "The bakery, which sells cookies to more than a thousand customers a week, asked its "
        "regulars to subscribe to a delivery service after the pandemic closed its dining room.",
        "The court said the photos were protected by copyright law.",
        "Readers were asked for their opinion in a survey published on Monday.",
        "Critics say the newsletter, which has 40,000 subscribers, blurred the line between "
        "reporting and advocacy; its founder said he would accept the regulator's decision.",
        # Short, and right above the footer: still a sentence of the article.
        "Customers can subscribe for cookies.",
    ]
    page = "\n\n".join(sentences) + "\n\n© 2025 Example Media. All rights reserved.\n"
    text = clean_text(page)
    assert text.split("\n\n") == sentences


def test_comment_prompts_in_several_languages() -> None:
    page = (
        "Le gouvernement a présenté mardi son projet de budget pour l'année prochaine.\n"
        "Votre avis :\n"
        "Deja un comentario\n"
        "Ваша думка:\n"
        "Ý kiến của bạn:\n"
        "3 Comments\n"
    )
    assert clean_text(page) == (
        "Le gouvernement a présenté mardi son projet de budget pour l'année prochaine."
    )


def test_site_name_known_from_metadata_is_dropped_alone_but_kept_in_prose() -> None:
    page = "Example Times\n\nThe Example Times reported the figures on Monday.\n\nExample Times\n"
    assert clean_text(page, site_names=["Example Times"]) == (
        "The Example Times reported the figures on Monday."
    )


def test_all_furniture_body_cleans_to_nothing() -> None:
    page = "Subscribe now\nSign in\nWe use cookies to improve your experience.\nPrivacy Policy"
    text, report = clean_with_report(page)
    assert text == ""
    assert len(report) == 4


# --- titles --------------------------------------------------------------------------------------


def test_section_label_above_headline_is_dropped() -> None:
    page = "World\n\nLeaders meet in Hanoi for talks on trade\n\nBody text here."
    title, body = split_title(page)
    assert title == "Leaders meet in Hanoi for talks on trade"
    assert body.strip() == "Body text here."


def test_upper_case_label_is_dropped_but_dateline_is_not_a_label() -> None:
    assert split_title("OPINION\nWhy Hanoi said yes to Moscow\nBody.")[0] == (
        "Why Hanoi said yes to Moscow"
    )
    title, body = split_title("June 19, 2024\nWhy Hanoi said yes to Moscow\nBody.")
    assert title == "June 19, 2024"
    assert "Why Hanoi said yes to Moscow" in body


@pytest.mark.parametrize(
    "page, title",
    [
        # The next line is a sentence, so the short first line is the title.
        ("Update\nThe minister resigned on Friday.\n", "Update"),
        # Lower-case words: a short headline, not a section label.
        ("Putin in Hanoi\nA visit with no breakthrough expected\n", "Putin in Hanoi"),
        # Four words is more than a label.
        ("Vietnam And Russia Today\nA long headline about the visit\n", "Vietnam And Russia Today"),
    ],
)
def test_short_first_line_that_is_not_a_label_is_the_title(page: str, title: str) -> None:
    assert split_title(page)[0] == title


def test_site_suffix_is_stripped_from_title() -> None:
    assert split_title("Why Vietnam? | News\nBody.")[0] == "Why Vietnam?"
    long_suffix = "Rates rise | A Very Long Section Name\nBody."
    assert split_title(long_suffix)[0] == "Rates rise | A Very Long Section Name"


def test_paragraph_first_line_gives_no_title() -> None:
    para = " ".join(["word"] * 40) + "."
    assert split_title(para) == ("", para)


# --- formats -------------------------------------------------------------------------------------

MARKDOWN = """---
title: "Putin *visits* Hanoi"
date: 2024-06-19
url: https://example.com/putin-hanoi
source: Example Wire
---
# Putin *visits* [Hanoi](https://example.com/hanoi)

Russian President Vladimir Putin arrived in Hanoi
on Wednesday for a **two-day** state visit.

## Background

- Vietnam buys most of its weapons from Russia.
- Trade fell by half since 2021.

![Putin and To Lam in Hanoi](photo.jpg)

Analysts call it `bamboo diplomacy`.

---

Share this article: Facebook Twitter Email
"""


def test_markdown_file(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text(MARKDOWN, encoding="utf-8")
    result = load_documents([tmp_path])
    assert result.problems == []
    (doc,) = result.documents
    assert doc.id == "a.md"
    assert doc.title == "Putin visits Hanoi"
    assert doc.date == "2024-06-19" and doc.url == "https://example.com/putin-hanoi"
    assert doc.publisher == "Example Wire"
    assert doc.text.split("\n\n") == [
        "Russian President Vladimir Putin arrived in Hanoi on Wednesday for a two-day state visit.",
        "Background",
        "- Vietnam buys most of its weapons from Russia.",
        "- Trade fell by half since 2021.",
        "Putin and To Lam in Hanoi",
        "Analysts call it bamboo diplomacy.",
    ]


def test_markdown_title_from_first_heading_without_front_matter(tmp_path: Path) -> None:
    (tmp_path / "b.md").write_text(
        "## **Rates** rise again ##\n\nThe central bank raised rates.\n\nSecond *part*\n"
        "-------------\n\nMore text.\n",
        encoding="utf-8",
    )
    (doc,) = load_documents([tmp_path / "b.md"]).documents
    assert doc.title == "Rates rise again"
    assert doc.text == "The central bank raised rates.\n\nSecond part\n\nMore text."
    assert "#" not in doc.text


def test_markdown_to_text_keeps_code_and_tables() -> None:
    text, meta, first_is_heading = markdown_to_text(
        "Intro\n\n```\nx = 1\n```\n\n| a | b |\n|---|---|\n| 1 | 2 |\n"
    )
    assert meta == {} and first_is_heading is False
    assert text.split("\n") == ["Intro", "x = 1", "a | b", "1 | 2"]


HTML_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Hanoi hosts Putin | Example News</title>
<meta property="og:site_name" content="Example News">
<script>window.SCRIPT_MARKER = "tracking";</script>
</head><body>
<nav><ul><li><a href="/">Home NAVMARKER</a></li><li><a href="/world">World</a></li></ul></nav>
<div id="cookie-banner"><p>We use cookies to improve your experience. By continuing to use this
site you accept our cookie policy.</p><button>Accept all cookies</button></div>
<main><article>
<h1>Hanoi hosts Putin</h1>
<p>Russian President Vladimir Putin arrived in Hanoi on Wednesday for a two-day state visit,
the foreign ministry said in a statement.</p>
<p>We use cookies to improve your experience. By continuing to use this site you accept our
cookie policy.</p>
<h2>Why Vietnam?</h2>
<p>Vietnam has long balanced its ties with the great powers, and analysts expect arms and
energy deals to feature in the talks.</p>
<p>Share this article: Facebook Twitter Email</p>
</article></main>
<footer><p>© 2024 Example News. All rights reserved.</p></footer>
</body></html>
"""


def test_html_file(tmp_path: Path) -> None:
    (tmp_path / "page.html").write_text(HTML_PAGE, encoding="utf-8")
    result = load_documents([tmp_path])
    assert result.problems == []
    (doc,) = result.documents
    assert doc.id == "page.html"
    assert doc.title == "Hanoi hosts Putin"
    assert doc.publisher == "Example News"
    paragraphs = doc.text.split("\n\n")
    assert paragraphs[0].startswith("Russian President Vladimir Putin arrived in Hanoi")
    assert "Why Vietnam?" in paragraphs
    assert any(p.startswith("Vietnam has long balanced its ties") for p in paragraphs)
    for marker in ("SCRIPT_MARKER", "NAVMARKER", "cookie", "Share this article", "©"):
        assert marker not in doc.text


def test_html_with_declared_latin1_charset(tmp_path: Path) -> None:
    page = (
        '<html><head><meta charset="iso-8859-1"><title>Caf\xe9 culture</title></head><body>'
        "<article><p>Le caf\xe9 de la place a rouvert ses portes lundi apr\xe8s deux ans de "
        "travaux, au grand plaisir des habitu\xe9s du quartier.</p></article></body></html>"
    )
    (tmp_path / "old.htm").write_bytes(page.encode("latin-1"))
    (doc,) = load_documents([tmp_path]).documents
    assert doc.title == "Café culture"
    assert "Le café de la place" in doc.text


def test_jsonl_file(tmp_path: Path) -> None:
    lines = [
        json.dumps(
            {
                "id": "a1",
                "title": "Putin lands in Hanoi",
                "text": "Putin landed in Hanoi on Wednesday.\nHe was greeted by To Lam.",
                "url": "https://example.com/a1",
                "date": "2024-06-19",
                "source": "Example Wire",
            }
        ),
        json.dumps({"title": "No id here", "text": "A record without an id uses its line."}),
        "{not json",
        "",
        json.dumps({"id": "x9", "title": "Has no text"}),
        json.dumps({"_id": 7, "title": "Underscore id", "text": "Uses the _id field."}),
        json.dumps(["not", "an", "object"]),
    ]
    (tmp_path / "news.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = load_documents([tmp_path / "news.jsonl"])
    by_id = {d.id: d for d in result.documents}
    assert sorted(by_id) == ["news.jsonl#2", "news.jsonl#7", "news.jsonl#a1"]
    a1 = by_id["news.jsonl#a1"]
    assert a1.text == "Putin landed in Hanoi on Wednesday.\n\nHe was greeted by To Lam."
    assert a1.url == "https://example.com/a1"
    assert (a1.date, a1.publisher) == ("2024-06-19", "Example Wire")
    messages = [p.message for p in result.problems]
    assert len(messages) == 3
    assert any("line 3" in m and "JSON" in m for m in messages)
    assert any("line 5" in m and "text" in m for m in messages)
    assert any("line 7" in m for m in messages)
    assert all("news.jsonl" in m for m in messages)


# --- bad input -----------------------------------------------------------------------------------

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


def test_bad_files_are_problems_and_good_files_still_load(tmp_path: Path) -> None:
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "good.txt").write_text(GOOD_ARTICLE, encoding="utf-8")
    (folder / "binary.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    (folder / "latin1.txt").write_bytes("Café\n\nUn résumé très détaillé.\n".encode("latin-1"))
    (folder / "empty.txt").write_text("  \n\n", encoding="utf-8")
    (folder / "title_only.txt").write_text("Just a headline\n", encoding="utf-8")
    (folder / "furniture.txt").write_text(
        "Subscribe now to keep reading\n\nSign in or create a free account\n\n"
        "We use cookies to improve your experience. Accept all cookies\n\n"
        "© 2024 Example News. All rights reserved.\n",
        encoding="utf-8",
    )
    (folder / "notes.pdf").write_bytes(b"%PDF-1.4")  # unsupported: skipped silently
    empty_folder = tmp_path / "nothing_here"
    empty_folder.mkdir()
    (empty_folder / "readme.rst").write_text("not an article", encoding="utf-8")
    missing = tmp_path / "missing"

    result = load_documents([folder])
    # A Latin-1 file is read (decoded as Windows-1252, its superset), with the decision noted.
    assert [d.id for d in result.documents] == ["good.txt", "latin1.txt"]
    assert result.documents[1].text == "Un résumé très détaillé."
    assert [Path(n.path).name for n in result.notes] == ["latin1.txt"]
    assert "decoded as cp1252" in result.notes[0].message
    assert result.files_seen == 6
    _assert_problem_for(result, "binary.txt", "binary")
    _assert_problem_for(result, "empty.txt", "empty")
    _assert_problem_for(result, "title_only.txt", "no article text")
    _assert_problem_for(result, "furniture.txt", "only page furniture")
    assert len(result.problems) == 4

    result = load_documents([missing])
    assert result.documents == [] and result.files_seen == 0
    _assert_problem_for(result, "missing", "no such file")

    result = load_documents([empty_folder, folder])
    assert [d.id for d in result.documents] == ["corpus/good.txt", "corpus/latin1.txt"]
    _assert_problem_for(result, "nothing_here", "no supported files")


def test_unreadable_file(tmp_path: Path) -> None:
    (tmp_path / "good.txt").write_text(GOOD_ARTICLE, encoding="utf-8")
    locked = tmp_path / "locked.txt"
    locked.write_text(GOOD_ARTICLE, encoding="utf-8")
    locked.chmod(0)
    try:
        if os.access(locked, os.R_OK):
            pytest.skip("running with privileges that read a chmod 000 file anyway")
        result = load_documents([tmp_path])
        assert [d.id for d in result.documents] == ["good.txt"]
        _assert_problem_for(result, "locked.txt", "permission denied")
    finally:
        locked.chmod(0o644)


def test_permission_error_is_a_problem(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The same path as the chmod test, for when the tests run as root.
    (tmp_path / "good.txt").write_text(GOOD_ARTICLE, encoding="utf-8")
    (tmp_path / "locked.txt").write_text(GOOD_ARTICLE, encoding="utf-8")
    real_open = os.open

    def fake_open(path: object, *args: object, **kwargs: object) -> int:
        if Path(str(path)).name == "locked.txt":
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", fake_open)
    result = load_documents([tmp_path])
    assert [d.id for d in result.documents] == ["good.txt"]
    _assert_problem_for(result, "locked.txt", "permission denied")


def test_unsupported_file_given_directly(tmp_path: Path) -> None:
    pdf = tmp_path / "paper.pdf"
    pdf.write_bytes(b"%PDF-1.4")
    result = load_documents([pdf])
    _assert_problem_for(result, "paper.pdf", "unsupported")


# --- ids and hashes ------------------------------------------------------------------------------


def test_nested_folders_give_relative_ids_and_hidden_entries_are_skipped(tmp_path: Path) -> None:
    (tmp_path / "sub" / "deeper").mkdir(parents=True)
    (tmp_path / ".hidden").mkdir()
    (tmp_path / "b.txt").write_text(GOOD_ARTICLE, encoding="utf-8")
    (tmp_path / "sub" / "a.txt").write_text(GOOD_ARTICLE, encoding="utf-8")
    (tmp_path / "sub" / "deeper" / "c.md").write_text("# T\n\nSome text.\n", encoding="utf-8")
    (tmp_path / ".hidden" / "x.txt").write_text(GOOD_ARTICLE, encoding="utf-8")
    (tmp_path / ".secret.txt").write_text(GOOD_ARTICLE, encoding="utf-8")
    result = load_documents([tmp_path])
    assert [d.id for d in result.documents] == ["b.txt", "sub/a.txt", "sub/deeper/c.md"]
    assert result.files_seen == 3


def test_several_folders_get_prefixes(tmp_path: Path) -> None:
    for name in ("one", "two"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "a.txt").write_text(GOOD_ARTICLE, encoding="utf-8")
    single = tmp_path / "single.txt"
    single.write_text(GOOD_ARTICLE, encoding="utf-8")
    result = load_documents([tmp_path / "one", tmp_path / "two", single])
    assert [d.id for d in result.documents] == ["one/a.txt", "two/a.txt", "single.txt"]
    assert len({d.sha256 for d in result.documents}) == 1  # identical content, identical hash
    assert load_documents([single]).documents[0].id == "single.txt"


def test_folders_with_the_same_name_do_not_collide(tmp_path: Path) -> None:
    for parent in ("x", "y"):
        (tmp_path / parent / "docs").mkdir(parents=True)
        (tmp_path / parent / "docs" / "a.txt").write_text(GOOD_ARTICLE, encoding="utf-8")
    result = load_documents([tmp_path / "x" / "docs", tmp_path / "y" / "docs"])
    assert [d.id for d in result.documents] == ["x/docs/a.txt", "y/docs/a.txt"]


def test_same_article_in_two_files_has_equal_hash(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text(GOOD_ARTICLE, encoding="utf-8")
    # Same article with CRLF, a no-break space, doubled spaces and a cookie banner.
    (tmp_path / "b.txt").write_bytes(
        (
            "Hanoi welcomes Putin\r\n\r\n"
            "Russian President  Vladimir\u00a0Putin arrived in Hanoi on Wednesday "
            "for a state visit.\r\n"
            "\r\nWe use cookies. Accept all cookies\r\n"
        ).encode("utf-8")
    )
    docs = load_documents([tmp_path]).documents
    assert [d.id for d in docs] == ["a.txt", "b.txt"]
    assert docs[0].sha256 == docs[1].sha256
    assert docs[0].text == docs[1].text


def test_normalisation() -> None:
    raw = (
        "\ufeffFirst  paragraph\u00a0with   spaces and “quotes”.\r\n\r\n\r\n\r\n"
        + unicodedata.normalize("NFD", "Second paragraph: Việt Nam, café.")
        + "\r\n"
    )
    text = clean_text(raw)
    assert text == "First paragraph with spaces and “quotes”.\n\nSecond paragraph: Việt Nam, café."
    assert unicodedata.is_normalized("NFC", text)


def test_hard_wrapped_text_file_is_unwrapped(tmp_path: Path) -> None:
    (tmp_path / "wrapped.txt").write_text(
        "A wrapped story\n\nThe council voted on Tuesday to approve\nthe new budget, officials "
        "said.\nA second paragraph starts here.\n",
        encoding="utf-8",
    )
    (doc,) = load_documents([tmp_path]).documents
    assert doc.text == (
        "The council voted on Tuesday to approve the new budget, officials said.\n\n"
        "A second paragraph starts here."
    )


def test_a_question_set_is_skipped_but_other_records_are_a_problem(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("A title\n\nA sentence of the article.\n", encoding="utf-8")
    (tmp_path / "questions.jsonl").write_text('{"question": "Who?", "answers": ["x"]}\n', encoding="utf-8")
    (tmp_path / "settings.jsonl").write_text('{"colour": "blue"}\n', encoding="utf-8")
    result = load_documents([tmp_path])
    assert [d.id for d in result.documents] == ["a.txt"]
    assert [Path(p.path).name for p in result.problems] == ["settings.jsonl"]
    assert "text" in result.problems[0].message
