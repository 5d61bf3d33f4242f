"""`rag.ingest.furniture`: page furniture removed from the real scraped seeds (and reported by
rule), and the generality of the rules on synthetic pages in several languages."""

from __future__ import annotations

import pytest

from rag.ingest import BLOCK_RULE, RULES, LoadResult, clean_text, clean_with_report, split_title

from .ingest_data import SEED_FURNITURE, SEED_TITLE_LINES, SEEDS, _doc, _raw_lines, seed_result  # noqa: F401


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


def test_seed_repeated_paragraph_is_kept_at_least_once(seed_result: LoadResult) -> None:
    text = _doc(seed_result, "003_e411960df6774cf9.txt").text
    assert text.count("Vietnam’s foreign policy for the past two decades has been lauded") >= 1
    assert "Factors such as risk aversion, path dependency" in text
    # The byline at its foot is furniture (issue 10), removed and reported as such.
    assert "By Hoang Thi Ha" not in text
    assert ("byline", "By Hoang Thi Ha – / Yusof Ishak Institute – June 19, 2024") in (
        seed_result.removed["003_e411960df6774cf9.txt"]
    )


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


# -- navigation lines (issue 24) --------------------------------------------------------------

NAV_ARTICLE = (
    "Home | About | Subscribe\n\n"
    "Russian President Vladimir Putin arrived in Hanoi on Wednesday for a two-day state visit, "
    "the foreign ministry said.\n\n"
    "News · World · Asia Pacific · Opinion\n\n"
    "Vietnam has long balanced its ties with the great powers | analysts say.\n\n"
    "| Country | Trade | Growth |\n\n"
    "Analysts expect arms and energy deals to feature in the talks."
)


def test_navigation_lines_of_short_links_are_furniture() -> None:
    text, report = clean_with_report(NAV_ARTICLE)
    assert ("navigation", "Home | About | Subscribe") in report
    assert ("navigation", "News · World · Asia Pacific · Opinion") in report
    assert text.startswith("Russian President Vladimir Putin arrived")
    # A sentence with a bar in it, and a Markdown table row, are not navigation.
    assert "balanced its ties with the great powers | analysts say." in text
    assert "| Country | Trade | Growth |" in text


def test_bars_inside_a_long_article_are_its_own_jump_links_and_stay() -> None:
    body = [f"Paragraph {i} of the story says something about the closures in full." for i in range(12)]
    body.insert(6, "California | Oregon | New York | Texas")
    text, report = clean_with_report("\n\n".join(body))
    assert "California | Oregon | New York | Texas" in text and not report


def test_an_html_page_whose_body_opens_with_navigation_loses_it(tmp_path) -> None:
    from rag.index.chunking import chunk_document
    from rag.ingest import load_documents

    page = ("<html><head><title>Hanoi hosts Putin</title></head><body><main><article>"
            "<h1>Hanoi hosts Putin</h1><p>Home | About | Subscribe</p>"
            "<p>Russian President Vladimir Putin arrived in Hanoi on Wednesday for a two-day state visit, "
            "the foreign ministry said in a statement.</p>"
            "<p>Vietnam has long balanced its ties with the great powers, and analysts expect arms and "
            "energy deals to feature in the talks.</p></article></main></body></html>")
    (tmp_path / "page.html").write_text(page, encoding="utf-8")
    (doc,) = load_documents([tmp_path]).documents
    assert "Subscribe" not in doc.text and doc.text.startswith("Russian President")
    assert "Subscribe" not in chunk_document(doc, count_tokens=lambda ts: [len(t.split()) for t in ts])[0].text
