"""Read article files into cleaned `Document`s, each with a stable id and a content hash.

The job of this module: walk the paths the user gives, read `.txt`, `.md`, `.html`/`.htm` and
`.jsonl` files, strip the page furniture that scrapers leave around an article (cookie banners,
paywall and sign-in prompts, comment prompts, share/print/translate widgets, copyright and
terms-of-use footers, repeated site names), normalise the text and give every article an id
(its path relative to the indexed folder) and a sha256 of the cleaned title and text.

Bad input never raises for a single file: every unusable file or record becomes a `Problem`
that names it and says what is wrong, and the other files still load.

Furniture removal is a list of named line rules (`RULES`) plus one block rule (`BLOCK_RULE`)
for fragments at the head or tail of a page next to removed furniture. `clean_with_report`
returns which rule removed which line; `LoadResult.removed` keeps that per document.

Deliberate simplifications:

* One line is one paragraph. Scraped text and trafilatura output put a paragraph on each line,
  so the cleaned text has every kept line as a paragraph, separated by exactly one blank line.
  Only two cases join lines: Markdown soft-wrapped paragraphs, and in `.txt` files a line that
  continues with a lower-case letter after a line without closing punctuation (hard wrapping).
* Furniture detection is lexical and line-based: a small list of named rules (`RULES`) built
  on multilingual phrase lists (en, fr, de, es, it, pt, nl, ru/uk, vi). A rule only fires on a
  line whose words are dominated by furniture cues, so an article sentence that merely mentions
  "cookies" or "subscribe" is kept. It will miss furniture phrased in ways the lists do not
  know; missing a banner is cheaper than dropping a sentence of the article.
* Only UTF-8 text is read (a UTF-8 BOM or a UTF-16 BOM is honoured). The one exception is
  HTML that declares its charset in a `<meta>` tag, as old news sites do.
* The title heuristics (first line, a leading section label, a " | Site" suffix) are tuned for
  news pages; when the first line is a whole paragraph the file name becomes the title.
"""

from __future__ import annotations

import codecs
import hashlib
import json
import os
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from html.parser import HTMLParser
from pathlib import Path

from rag.types import Document

__all__ = [
    "SUPPORTED_SUFFIXES",
    "RULES",
    "BLOCK_RULE",
    "Problem",
    "LoadResult",
    "load_documents",
    "clean_text",
    "clean_with_report",
    "normalize_text",
    "split_title",
    "markdown_to_text",
]

SUPPORTED_SUFFIXES: tuple[str, ...] = (".txt", ".md", ".html", ".htm", ".jsonl")

# Articles are kilobytes; anything this big is a mistake (an archive, a dump) and would only
# exhaust memory.
_MAX_FILE_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class Problem:
    """A file, folder or record that could not be loaded, and why."""

    path: str
    message: str


@dataclass(frozen=True)
class LoadResult:
    """`files_seen` counts the files with a supported suffix that were looked at (loaded or not).

    `removed` maps a document id to the `(rule name, line)` pairs the cleaner dropped from it
    (documents with nothing removed are absent): what a `--debug` view shows.
    """

    documents: list[Document]
    problems: list[Problem]
    files_seen: int
    removed: dict[str, list[tuple[str, str]]] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------
# Whitespace and Unicode normalisation

# Tabs, no-break and typographic spaces all become a plain space so that phrase matching and
# duplicate detection see one spelling of every line.
_ODD_SPACES = re.compile("[\t\v\f\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]")
# Invisible characters that only break words apart for matching (soft hyphen, zero-width space,
# word joiner, stray BOM). ZWJ/ZWNJ are kept: some scripts need them.
_INVISIBLE = re.compile("[\u00ad\u200b\u2060\ufeff]")
_CONTROL = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f]")
_LINE_BREAKS = re.compile("\r\n|[\r\x85\u2028\u2029\x1c-\x1e]")
_SPACE_RUN = re.compile(" {2,}")


def normalize_text(raw: str) -> str:
    """NFC, LF line ends, odd spaces made plain, space runs collapsed, every line stripped.

    Line structure is kept (blank lines stay blank); curly quotes and non-ASCII are untouched.
    """
    text = unicodedata.normalize("NFC", raw)
    text = _LINE_BREAKS.sub("\n", text)
    text = _INVISIBLE.sub("", text)
    text = _ODD_SPACES.sub(" ", text)
    text = _CONTROL.sub("", text)
    return "\n".join(_SPACE_RUN.sub(" ", line).strip() for line in text.split("\n"))


# ---------------------------------------------------------------------------------------------
# Furniture vocabulary. Strong cues (weight 2) are phrases that practically never occur in an
# article's own prose; weak cues (weight 1) are single words that often do ("cookies",
# "newsletter", "copyright") and only count when several gather on one short line.

_Patterns = tuple[tuple[re.Pattern[str], int], ...]


def _cues(strong: Iterable[str], weak: Iterable[str]) -> _Patterns:
    # Patterns are written in lower case and matched against the lower-cased line: much faster
    # than IGNORECASE over Unicode.
    return tuple((re.compile(p), 2) for p in strong) + tuple((re.compile(p), 1) for p in weak)


_A = "['’]"  # either apostrophe

_CONSENT = _cues(
    strong=[
        # en
        r"\b(we|this (web)?site|our (web)?site|our partners) (and our partners )?uses? cookies\b",
        r"\b(the )?use of cookies\b",
        r"\baccept (all )?cookies\b",
        r"\baccept all\b",
        r"\bcookies? (policy|settings|preferences|notice|consent|banner|statement)\b",
        r"\bmanage (cookies|consent|(your )?preferences|(your )?privacy)\b",
        r"\bby (continuing|using) (to (browse|use) )?(this|our|the) (web)?site\b",
        r"\bconsent to (the|our) (use|processing)\b",
        # fr
        r"\ben poursuivant (la visite|votre navigation|la navigation|sur ce site)\b",
        rf"\bacceptez l{_A}(utilisation|usage|emploi)\b",
        r"\butilisation (de|des) (traceurs|cookies)\b",
        r"\bnous utilisons des (cookies|traceurs)\b",
        r"\b(gestion|paramétrage|paramètres) des cookies\b",
        r"\btout accepter\b",
        # de
        r"\bwir (verwenden|nutzen|setzen) cookies\b",
        r"\b(diese|unsere) (website|webseite|seite) (verwendet|nutzt) cookies\b",
        r"\bcookie-?(einstellungen|richtlinie|hinweis)\b",
        r"\b(alle )?cookies akzeptieren\b",
        r"\balle akzeptieren\b",
        r"\b(durch die|bei) (weitere[nr]? )?nutzung (dieser|der|unserer) "
        r"(website|webseite|seite)\b",
        r"\bstimmen sie der (verwendung|nutzung)\b",
        # es
        r"\b(utilizamos|usamos) cookies\b",
        r"\best[ea] (sitio|web|página)( web)? (utiliza|usa) cookies\b",
        r"\baceptar (todas las )?cookies\b",
        r"\baceptar todo\b",
        r"\bpolítica de cookies\b",
        r"\bsi contin[úu]a navegando\b",
        # it
        r"\b(utilizziamo|usiamo) (i )?cookie\b",
        r"\bquesto sito (web )?(utilizza|usa) (i )?cookie\b",
        r"\baccett[ao] (tutti i )?cookie\b",
        r"\baccetta tutti\b",
        r"\bproseguendo (la|nella) navigazione\b",
        # pt
        r"\beste (site|sítio) (utiliza|usa) cookies\b",
        r"\baceitar (todos os )?cookies\b",
        r"\baceitar tudo\b",
        r"\bao continuar (a navegar|navegando)\b",
        # nl
        r"\b(wij|we) gebruiken cookies\b",
        r"\bdeze (website|site) gebruikt cookies\b",
        r"\b(cookies accepteren|accepteer (alle )?cookies|alles accepteren)\b",
        r"\bcookiebeleid\b",
        # ru / uk
        r"\bмы используем (файлы )?cookie\b",
        r"\bсайт использует (файлы )?cookie\b",
        r"\bми використовуємо (файли )?cookie\b",
        r"\bсайт використовує (файли )?cookie\b",
        r"\bпродолжая (использовать|пользоваться|просмотр|работу с) сайт",
        r"\bпродовжуючи (використовувати|користуватися|перегляд|роботу з) сайт",
        r"\b(принять|прийняти) (все|всі)\b",
        # vi
        r"\bchúng tôi sử dụng cookie\b",
        r"\btrang web (này )?sử dụng cookie\b",
        r"\bchấp nhận (tất cả|cookie)\b",
        r"\bchính sách cookie\b",
    ],
    weak=[
        r"\bcookies?\b",
        r"\btraceurs?\b",
        r"\b(tracking|trackers?)\b",
        r"\b(consent\w*|einwillig\w*|consentimiento|consenso|toestemming|согласи\w*|згод\w*|"
        r"đồng ý)\b",
        r"\b(accept\w*|akzeptier\w*|acept\w*|accett\w*|aceit\w*|принять|прийняти)\b",
        r"\b(gdpr|rgpd|dsgvo)\b",
        r"\b(votre navigation|your browsing|browsing experience|user experience|nutzererlebnis)\b",
        rf"\b(more information|learn more|plus d{_A}informations|en savoir plus|mehr erfahren|"
        r"más información|ulteriori informazioni|mais informações|meer informatie|подробнее|"
        r"детальніше|tìm hiểu thêm)\b",
        r"\b(settings|einstellungen|paramètres|configuración|impostazioni|configurações|"
        r"instellingen|настройки|налаштування|cài đặt)\b",
    ],
)

_PAYWALL = _cues(
    strong=[
        # en
        r"\bsubscribe (now|today|here)\b",
        r"\bsubscribe to (our|the) newsletter\b",
        r"\b(keep|continue) reading\b",
        r"\bdiscover more from\b",
        r"\b(get|unlock|gain) (full |unlimited )?access\b",
        r"\bfull archive\b",
        r"\balready (a subscriber|subscribed|have an account|a member)\b",
        r"\b(sign|log) (in|up)\b",
        r"\bcreate (a |an |your )?(free )?account\b",
        r"\bregister (now|for free|here|today)\b",
        r"\b(for|only for) subscribers\b|\bsubscribers? only\b|\bsubscriber[- ]exclusive\b",
        r"\b(become|join) (a |as a )?(member|subscriber|patron)\b",
        r"\bsupport (our|independent|quality) journalism\b",
        # de
        r"\bjetzt (abonnieren|anmelden|registrieren|weiterlesen|testen)\b",
        r"\bweiterlesen\b",
        r"\bbereits abonnent\b",
        r"\bkostenlos registrieren\b",
        r"\bzum newsletter anmelden\b",
        # es
        r"\bsuscr[íi]b(ete|ase|irse)\b",
        r"\binicia(r)? sesión\b",
        r"\bregístrate\b",
        r"\b(sigue|seguir|continúa|continuar) leyendo\b",
        r"\bya eres suscriptor\b",
        # fr
        r"\babonnez-vous\b",
        rf"\bs{_A}abonner\b",
        r"\bse connecter\b",
        r"\blire la suite\b",
        r"\bdéjà abonné\b",
        r"\bcréer (un|votre) compte\b",
        r"\binscrivez-vous\b",
        # it
        r"\babbonati\b",
        r"\baccedi\b",
        r"\bcontinua a leggere\b",
        r"\biscriviti\b",
        r"\bgià abbonato\b",
        # pt
        r"\bassine (já|agora)\b",
        r"\binscreva-se\b",
        r"\b(continue|continuar) (lendo|a ler)\b",
        r"\bjá é assinante\b",
        # nl
        r"\babonneer\b|\bneem een abonnement\b",
        r"\binloggen\b",
        r"\blees verder\b",
        r"\bal abonnee\b",
        # ru / uk
        r"\bподпи(шитесь|саться)\b",
        r"\bпідпи(шіться|сатися)\b",
        r"\b(войти|увійти|зарегистрироваться|зареєструватися)\b",
        r"\b(читать (далее|дальше)|читати далі)\b",
        # vi
        r"\bđăng nhập\b",
        r"\bđọc tiếp\b",
        r"\bnhận bản tin\b",
    ],
    weak=[
        r"\bsubscri(be|bed|bers?|ptions?)\b",
        r"\bnewsletters?\b",
        r"\bfree (account|trial)\b",
        r"\b(abonn\w*|abbonament\w*|suscrip\w*|suscriptor\w*|assinante|assinatura|"
        r"подписк\w*|підписк\w*)\b",
        r"\b(anmelden|einloggen|registrieren)\b",
        r"\bđăng ký\b",
        r"\bpaywall\b",
    ],
)

_LEGAL = _cues(
    strong=[
        r"©\s*(\d{4}|copyright)|\(c\)\s*\d{4}|\bcopyright\s*(©|\(c\))?\s*\d{4}",
        r"\ball rights reserved\b",
        r"\bterms (of|and) (use|service|conditions)\b",
        r"\bprivacy (policy|notice|statement|settings|center|centre)\b",
        r"\buse of this (web)?site constitutes\b",
        r"\bmay not be (reproduced|republished|redistributed|copied)\b",
        r"\bby continuing,? you agree\b",
        r"\b(you )?agree to (our|the) (privacy|terms|use|cookie)\b",
        # de
        r"\balle rechte vorbehalten\b",
        r"\bimpressum\b",
        r"\bdatenschutz(erklärung|hinweise|richtlinie|einstellungen)?\b",
        r"\bnutzungsbedingungen\b",
        # es
        r"\btodos los derechos reservados\b",
        r"\bpolítica de privacidad\b",
        r"\baviso legal\b",
        r"\btérminos (y condiciones|de uso|de servicio)\b",
        # fr
        r"\btous droits réservés\b",
        r"\bmentions légales\b",
        r"\bpolitique de confidentialité\b",
        rf"\bconditions (générales )?d{_A}utilisation\b",
        # it
        r"\btutti i diritti riservati\b",
        r"\binformativa (sulla )?privacy\b",
        r"\btermini (e condizioni|di (uso|servizio))\b",
        r"\bnote legali\b",
        # pt
        r"\btodos os direitos reservados\b",
        r"\bpolítica de privacidade\b",
        r"\btermos (de uso|e condições|de serviço)\b",
        # nl
        r"\balle rechten voorbehouden\b",
        r"\bprivacy(beleid|verklaring)\b",
        r"\bgebruiksvoorwaarden\b",
        # ru / uk
        r"\bвсе права защищены\b",
        r"\b(всі|усі) права захищені\b",
        r"\bполитик\w* конфиденциальности\b",
        r"\bполітик\w* конфіденційності\b",
        r"\bпользовательское соглашение\b",
        # vi
        r"\bbản quyền thuộc về\b",
        r"\bchính sách bảo mật\b",
        r"\bđiều khoản sử dụng\b",
    ],
    weak=[
        r"©",
        r"\bcopyright\b",
        r"\bprivacy\b",
        r"\b(reproduced|distributed|transmitted|cached)\b",
        r"\btrademarks?\b",
        r"\b(données personnelles|personal data|personenbezogene daten|datos personales)\b",
        r"\bbản quyền\b",
    ],
)

_COMMENT_WORDS = re.compile(
    r"\b(repl(y|ies)|comments?|commentaires?|comentarios?|commento|commenti|comentários?|"
    r"opinions?|thoughts|feedback|discussion|respond|réagir|réaction|réponse|avis|kommentar\w*|"
    r"meinung|antwort\w*|opinión|opinione|opinião|respuesta|responder|rispondi|reactie|reageer|"
    r"mening|думк\w*|коментар\w*|комментари\w*|мнени\w*|відгук\w*|отзыв\w*|відповід\w*|"
    r"ответ\w*|ý kiến|bình luận|phản hồi|trả lời)\b",
    re.IGNORECASE,
)
_COMMENT_PHRASE = re.compile(
    r"^(leave a (reply|comment)|post a comment|add (a )?comment|(\d+|no) comments?( yet)?|"
    r"comments?( \(\d+\))?|comments are closed|join the (conversation|discussion)|"
    r"(show|view|read) (all )?comments|laisser un commentaire|kommentar schreiben|"
    r"deja un comentario|lascia un commento|deixe um comentário|laat een reactie achter|"
    r"оставить комментарий|залишити коментар|viết bình luận)\s*[.!:]?$",
    re.IGNORECASE,
)

# Words that make up share/print/translate/scroll widgets and ad slots. A widget line consists
# only of these (at least one "core" word, the rest filler or numbers such as share counts).
_UI_CORE = frozenset(
    """share shares sharing print printer pdf email mail facebook twitter tweet linkedin
    whatsapp telegram reddit pinterest tumblr flipboard messenger viber vk copy translate
    scroll top advertisement advertisements advert ad ads sponsored bookmark save skip menu
    search close tags related follow more
    teilen drucken anzeige werbung übersetzen nach oben
    compartir imprimir publicidad traducir
    partager imprimer publicité traduire
    condividi stampa pubblicità traduci
    partilhar compartilhar publicidade traduzir
    delen afdrukken advertentie vertalen
    поделиться поділитися печать друк реклама перевести перекласти наверх вгору
    chia sẻ dịch quảng cáo""".split()
)
_UI_FILLER = frozenset(
    """this the a an article articles story stories page post on to via with and or us x our it
    friendly version back link links now here opens in new window tab e read
    de la le l cet cette diesen artikel den este artículo questo articolo esta esse matéria dit
    статьей статтею bài viết này trang lên đầu""".split()
)

_WORD = re.compile(r"\w+")
_SENTENCE_END = re.compile(r"[.!?…][\"'”’»)\]]*$")
_CLOSED = re.compile(r"[.!?…:;,\"'”’»)\]]$")

# A furniture line needs at least one cue per this many words ("dominated by" furniture) ...
_WORDS_PER_CUE = 10
# ... and no line longer than this is ever furniture, however many cues it has.
_MAX_FURNITURE_WORDS = 80
# Without any strong cue, the line must be little more than a list of weak cues.
_WORDS_PER_WEAK_CUE = 3
# Lines swept up in a furniture block at the head or tail of a page are fragments at most
# this long.
_MAX_WEAK_WORDS = 12


@lru_cache(maxsize=8192)
def _words(line: str) -> int:
    return len(_WORD.findall(line))


def _branches(source: str) -> list[str]:
    """The top-level alternatives of a regex source (`a|b(c|d)` -> `a`, `b(c|d)`)."""
    branches, current = [], []
    depth, escaped, in_class = 0, False, False
    for char in source:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "|" and depth == 0:
            branches.append("".join(current))
            current = []
            continue
        current.append(char)
    branches.append("".join(current))
    return branches


def _any_cue_pattern(*classes: _Patterns) -> re.Pattern[str]:
    """One regex that finds whether a line has any cue at all, which most lines do not.

    Scanning once with an alternation of word-initial branches behind a single look-behind is
    several times faster than running every cue's own `\\b...` search.
    """
    at_word: list[str] = []
    elsewhere: list[str] = []
    for patterns in classes:
        for pattern, _ in patterns:
            for branch in _branches(pattern.pattern):
                if branch.startswith(r"\b"):
                    at_word.append(f"(?:{branch[2:]})")
                else:
                    elsewhere.append(f"(?:{branch})")
    return re.compile("|".join([rf"(?<!\w)(?:{'|'.join(at_word)})", *elsewhere]))


_ANY_CUE = _any_cue_pattern(_CONSENT, _PAYWALL, _LEGAL)


@lru_cache(maxsize=8192)
def _line_scores(line: str) -> tuple[tuple[int, bool], ...]:
    """(score, has strong cue) of the line for consent, paywall and legal cues, in that order.

    Score is the sum of the weights of the distinct cues found. Lines too long to ever be
    furniture are not scanned at all.
    """
    low = line.lower()
    if _words(line) > _MAX_FURNITURE_WORDS or not _ANY_CUE.search(low):
        return ((0, False),) * 3
    scores = []
    for patterns in (_CONSENT, _PAYWALL, _LEGAL):
        total, strong = 0, False
        for pattern, weight in patterns:
            if pattern.search(low):
                total += weight
                strong = strong or weight > 1
        scores.append((total, strong))
    return tuple(scores)


def _dominated(line: str, classes: Sequence[int]) -> bool:
    per_class = _line_scores(line)
    score = sum(per_class[c][0] for c in classes)
    strong = any(per_class[c][1] for c in classes)
    words = _words(line)
    if words > _MAX_FURNITURE_WORDS:
        return False
    if strong:
        return score >= 2 and score * _WORDS_PER_CUE >= words
    # Weak words alone ("cookies", "subscribers", "accept") are ordinary prose even when
    # several meet in one sentence; only a list of them is furniture (`Newsletter · Privacy ·
    # Cookies`).
    return score >= 3 and score * _WORDS_PER_WEAK_CUE >= words


_CONSENT_CLASS, _PAYWALL_CLASS, _LEGAL_CLASS = 0, 1, 2


def _is_consent(line: str) -> bool:
    return _dominated(line, (_CONSENT_CLASS,))


def _is_paywall(line: str) -> bool:
    return _dominated(line, (_PAYWALL_CLASS,))


def _is_legal(line: str) -> bool:
    return _dominated(line, (_LEGAL_CLASS,))


def _is_mixed(line: str) -> bool:
    return _dominated(line, (_CONSENT_CLASS, _PAYWALL_CLASS, _LEGAL_CLASS))


def _is_comment(line: str) -> bool:
    if _COMMENT_PHRASE.match(line):
        return True
    return line.endswith(":") and _words(line) <= 6 and bool(_COMMENT_WORDS.search(line))


def _is_widget(line: str) -> bool:
    tokens = _WORD.findall(line.casefold())
    if not tokens or len(tokens) > 12:
        return False
    if not any(t in _UI_CORE for t in tokens):
        return False
    return all(t in _UI_CORE or t in _UI_FILLER or t.isdigit() for t in tokens)


def _is_weak_furniture(line: str) -> bool:
    """Looks like furniture, but not enough to be removed on its own (see `BLOCK_RULE`): a
    short fragment, not a sentence, with a furniture cue or mostly UI words (`Learn more`,
    `Einstellungen`, `Plus d'informations`)."""
    words = _words(line)
    if words == 0:
        return True
    # Buttons and links do not end in a full stop; an article's closing sentence does, and it
    # must survive even when it mentions subscribers or cookies right above a footer.
    if words > _MAX_WEAK_WORDS or (words > 3 and _SENTENCE_END.search(line)):
        return False
    if any(score for score, _ in _line_scores(line)):
        return True
    tokens = _WORD.findall(line.casefold())
    return sum(t in _UI_CORE for t in tokens) * 2 >= len(tokens)


def _is_standalone_furniture(line: str) -> bool:
    """Furniture judged from the line alone, without the rest of the document."""
    return any(
        check(line)
        for check in (_is_consent, _is_paywall, _is_legal, _is_mixed, _is_comment, _is_widget)
    ) or _words(line) == 0


# ---------------------------------------------------------------------------------------------
# Rules


@dataclass
class _Context:
    """The paragraphs of one document and what the document-level rules need to know of them."""

    lines: list[str]
    title: str | None = None
    site_names: frozenset[str] = frozenset()
    counts: Counter[str] = field(default_factory=Counter)
    first_seen: dict[str, int] = field(default_factory=dict)
    legal_lines: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        for i, line in enumerate(self.lines):
            key = line.casefold()
            self.counts[key] += 1
            self.first_seen.setdefault(key, i)
        self.legal_lines = [line.casefold() for line in self.lines if _is_legal(line)]


Rule = Callable[[int, _Context], bool]


def _rule_no_words(i: int, ctx: _Context) -> bool:
    """Lines without a single letter or digit: separators such as `* * *`, `|`, `—`."""
    return _words(ctx.lines[i]) == 0


def _rule_title_repeat(i: int, ctx: _Context) -> bool:
    """The headline repeated as the first lines of the body (HTML extractors keep the <h1>)."""
    return (
        ctx.title is not None
        and i < 3
        and ctx.lines[i].casefold() == normalize_text(ctx.title).casefold()
    )


def _rule_consent(i: int, ctx: _Context) -> bool:
    """Cookie / consent / tracking / GDPR banners, in en, fr, de, es, it, pt, nl, ru/uk, vi."""
    return _is_consent(ctx.lines[i])


def _rule_paywall(i: int, ctx: _Context) -> bool:
    """Subscription, paywall, sign-in, registration and newsletter prompts."""
    return _is_paywall(ctx.lines[i])


def _rule_legal(i: int, ctx: _Context) -> bool:
    """Copyright, all-rights-reserved, terms-of-use and privacy-policy lines."""
    return _is_legal(ctx.lines[i])


def _rule_mixed(i: int, ctx: _Context) -> bool:
    """Short lines whose cues come from several of the classes above
    (`Newsletter · Privacy · Cookies`)."""
    return _is_mixed(ctx.lines[i])


def _rule_comment(i: int, ctx: _Context) -> bool:
    """Comment prompts: `Leave a reply`, `N comments`, or a short line ending in ':' that names
    replies, comments or opinions (`ваша думка про статтю:`, `Votre avis :`)."""
    return _is_comment(ctx.lines[i])


def _rule_widget(i: int, ctx: _Context) -> bool:
    """Short lines made only of UI words: share/print/translate/scroll-to-top widgets, ad slots
    (`Print Friendly, PDF & Email`, `Translate / Dịch`, `Share this article: Facebook Twitter`)."""
    return _is_widget(ctx.lines[i])


def _rule_site_name(i: int, ctx: _Context) -> bool:
    """The publisher's name alone on a line: a known site name, or a short label that the page's
    own copyright notice names (`The New York Sun` beside `© 2024 The New York Sun Company`)."""
    line = ctx.lines[i]
    if _words(line) > 6 or _CLOSED.search(line):
        return False
    key = line.casefold()
    if key in ctx.site_names:
        return True
    phrase = re.compile(r"(?<!\w)" + re.escape(key) + r"(?!\w)")
    return any(legal != key and phrase.search(legal) for legal in ctx.legal_lines)


def _rule_repeated_label(i: int, ctx: _Context) -> bool:
    """A short label-like line (no closing punctuation) that occurs more than once in the same
    document: site names, `Advertisement`, section labels. Every occurrence goes."""
    line = ctx.lines[i]
    return ctx.counts[line.casefold()] >= 2 and _words(line) <= 8 and not _CLOSED.search(line)


def _rule_duplicate_paragraph(i: int, ctx: _Context) -> bool:
    """A later verbatim copy of an earlier paragraph; the first copy stays."""
    key = ctx.lines[i].casefold()
    return ctx.first_seen[key] < i


# Applied in order to every paragraph; the first rule that matches removes it.
RULES: tuple[tuple[str, Rule], ...] = (
    ("no_words", _rule_no_words),
    ("title_repeat", _rule_title_repeat),
    ("consent_banner", _rule_consent),
    ("paywall_prompt", _rule_paywall),
    ("legal_notice", _rule_legal),
    ("mixed_furniture", _rule_mixed),
    ("comment_prompt", _rule_comment),
    ("ui_widget", _rule_widget),
    ("site_name", _rule_site_name),
    ("repeated_label", _rule_repeated_label),
    ("duplicate_paragraph", _rule_duplicate_paragraph),
)

# After the line rules: a block at the head or tail of the page made of removed lines and lines
# that only look like furniture (one weak cue on a short line, `Plus d'informations`, `Learn
# more`) is furniture as a whole, provided a rule above removed at least one line of it. The
# block stops at the first line that looks like article text.
BLOCK_RULE = "furniture_block"

# Removals that say nothing about the page chrome around them, so they do not start a block.
_NOT_FURNITURE_EVIDENCE = frozenset({"title_repeat", "duplicate_paragraph"})


def _sweep_edges(lines: list[str], removed: dict[int, str]) -> None:
    n = len(lines)
    for order in (range(n - 1, -1, -1), range(n)):
        weak: list[int] = []
        evidence = False
        for i in order:
            if i in removed:
                evidence = evidence or removed[i] not in _NOT_FURNITURE_EVIDENCE
            elif _is_weak_furniture(lines[i]):
                weak.append(i)
            else:
                break
        if evidence:
            for i in weak:
                removed[i] = BLOCK_RULE


def clean_with_report(
    raw: str, *, title: str | None = None, site_names: Iterable[str] = ()
) -> tuple[str, list[tuple[str, str]]]:
    """Clean an article body and say what was removed.

    Returns the cleaned text (paragraphs separated by one blank line) and, in document order,
    a `(rule name, removed line)` pair for every line that a rule in `RULES` or `BLOCK_RULE`
    dropped. `title` lets a repeated headline at the top be dropped; `site_names` are publisher
    names known from metadata, dropped when they stand alone on a line.
    """
    lines = [line for line in normalize_text(raw).split("\n") if line]
    ctx = _Context(
        lines=lines,
        title=title,
        site_names=frozenset(normalize_text(s).casefold() for s in site_names if s and s.strip()),
    )
    removed: dict[int, str] = {}
    for i in range(len(lines)):
        for name, rule in RULES:
            if rule(i, ctx):
                removed[i] = name
                break
    _sweep_edges(lines, removed)
    kept = [line for i, line in enumerate(lines) if i not in removed]
    report = [(removed[i], lines[i]) for i in sorted(removed)]
    return "\n\n".join(kept), report


def clean_text(raw: str, *, title: str | None = None, site_names: Iterable[str] = ()) -> str:
    """The cleaned body of an article: furniture removed, whitespace normalised, one blank line
    between paragraphs. See `clean_with_report` for the arguments."""
    return clean_with_report(raw, title=title, site_names=site_names)[0]


# ---------------------------------------------------------------------------------------------
# Titles

_TITLE_SUFFIX = re.compile(r"^(?P<head>.*\S)\s+\|\s+(?P<site>[^|]+)$")
# A first line longer than this is a paragraph, not a headline.
_MAX_TITLE_WORDS = 30


# Letters only, so that a dateline such as "June 19, 2024" is never taken for a label.
_LABEL = re.compile(r"[^\W\d_]+(?:[ &’'-]+[^\W\d_]+){0,2}")
_PARAGRAPH_END = re.compile(r"[.;:,][\"'”’»)\]]*$")


def _is_section_label(line: str) -> bool:
    """`Vietnam News`, `World`, `OPINION`: at most 3 capitalised words of letters only."""
    return bool(_LABEL.fullmatch(line)) and all(w[0].isupper() for w in line.split())


def _is_headline(line: str, than: str) -> bool:
    """Longer than the label above it, and not a sentence-ending paragraph."""
    return _words(than) < _words(line) <= _MAX_TITLE_WORDS and not _PARAGRAPH_END.search(line)


def _tidy_title(title: str) -> str:
    title = normalize_text(title).replace("\n", " ").strip()
    # "Headline | News" or "Headline | Site Name": the part after the bar names the site.
    m = _TITLE_SUFFIX.match(title)
    if m and _words(m["site"]) <= 3 and _words(m["head"]) >= 2:
        title = m["head"]
    return title


def split_title(text: str, *, allow_label: bool = True) -> tuple[str, str]:
    """Split a plain-text article into `(title, body)`.

    The title is the first non-empty line that is not furniture. When that line is a short
    section label (`Vietnam News`) and the next line is a longer headline, the headline is the
    title and the label is dropped. When the first line is a whole paragraph there is no title
    (`""`) and everything stays in the body.
    """
    lines = normalize_text(text).split("\n")
    content = [i for i, line in enumerate(lines) if line]
    # Furniture above the headline (a "Print" widget, a banner) stays in the body, where the
    # cleaner removes it and reports it.
    start = 0
    while start < len(content) and _is_standalone_furniture(lines[content[start]]):
        start += 1
    if start == len(content):
        return "", "\n".join(lines)
    first = content[start]
    if _words(lines[first]) > _MAX_TITLE_WORDS:
        return "", "\n".join(lines)
    title_at = first
    if allow_label and start + 1 < len(content):
        nxt = content[start + 1]
        if _is_section_label(lines[first]) and _is_headline(lines[nxt], lines[first]):
            title_at = nxt
    body = [line for i, line in enumerate(lines) if i not in (first, title_at)]
    return _tidy_title(lines[title_at]), "\n".join(body)


def _title_from_name(path: Path) -> str:
    return re.sub(r"[_\-]+", " ", path.stem).strip() or path.name


def _fallback_title(text: str, limit: int = 12) -> str:
    """A title for a record that has none: its first words."""
    first = text.split("\n", 1)[0]
    words = first.split()
    return " ".join(words[:limit]) + ("…" if len(words) > limit else "")


# ---------------------------------------------------------------------------------------------
# Formats


def _unwrap(text: str) -> str:
    """Join hard-wrapped lines of a `.txt` file: a line without closing punctuation followed,
    in the same block, by a line that starts in lower case is one paragraph."""
    out: list[str] = []
    for line in text.split("\n"):
        if (
            out
            and out[-1]
            and line
            and not _CLOSED.search(out[-1])
            and line[0].islower()
        ):
            out[-1] = f"{out[-1]} {line}"
        else:
            out.append(line)
    return "\n".join(out)


_MD_FENCE = re.compile(r"^(```|~~~)")
_MD_ATX = re.compile(r"^#{1,6}(?:\s+(.*?))?(?:\s+#+)?\s*$")
_MD_SETEXT = re.compile(r"^(=+|-+)$")
_MD_RULE = re.compile(r"^([-*_])(\s*\1){2,}$")
_MD_LIST = re.compile(r"^([-*+]|\d{1,3}[.)])\s+")
_MD_TABLE_SEP = re.compile(r"^\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?$")
_MD_REF_DEF = re.compile(r"^\[[^\]]+\]:\s+\S+")
_MD_QUOTE = re.compile(r"^(>\s?)+")
_MD_FRONT_FIELD = re.compile(r"^([A-Za-z_][\w-]*)\s*:\s*(.*)$")


def _strip_inline_markdown(s: str) -> str:
    s = re.sub(r"!\[([^\]]*)\]\([^)]*\)", r"\1", s)  # image -> its alt text
    s = re.sub(r"\[([^\]]+)\]\([^)]*\)", r"\1", s)
    s = re.sub(r"\[([^\]]+)\]\[[^\]]*\]", r"\1", s)
    s = re.sub(r"<((?:https?|mailto):[^>]+)>", r"\1", s)
    s = re.sub(r"</?[A-Za-z][^>]*>", "", s)
    s = re.sub(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1", r"\2", s)
    s = re.sub(r"(?<![\w*])\*(?=\S)(.+?)(?<=\S)\*(?![\w*])", r"\1", s)
    s = re.sub(r"(?<![\w_])_(?=\S)(.+?)(?<=\S)_(?![\w_])", r"\1", s)
    s = re.sub(r"~~(.+?)~~", r"\1", s)
    s = re.sub(r"`([^`]+)`", r"\1", s)
    s = re.sub(r"\\([\\`*_{}\[\]()#+\-.!|>~])", r"\1", s)
    return s.strip()


def markdown_to_text(md: str) -> tuple[str, dict[str, str], bool]:
    """Markdown as plain text with one paragraph, heading, list item or table row per line.

    Headings become plain lines, soft-wrapped paragraphs are joined, inline syntax (emphasis,
    links, images, code) is reduced to its text. Returns the text, the fields of a leading
    `---` front-matter block, and whether the first element is a heading.
    """
    lines = normalize_text(md).split("\n")
    meta: dict[str, str] = {}
    if lines and lines[0] == "---":
        for end in range(1, len(lines)):
            if lines[end] in ("---", "..."):
                for entry in lines[1:end]:
                    m = _MD_FRONT_FIELD.match(entry)
                    if m:
                        meta[m[1].lower()] = m[2].strip().strip("\"'")
                lines = lines[end + 1 :]
                break

    out: list[str] = []
    first_is_heading: bool | None = None
    para: list[str] = []
    in_code = False

    def emit(text: str, heading: bool = False) -> None:
        nonlocal first_is_heading
        if text:
            out.append(text)
            if first_is_heading is None:
                first_is_heading = heading

    def flush() -> None:
        if para:
            emit(" ".join(para))
            para.clear()

    for s in lines:
        if _MD_FENCE.match(s):
            flush()
            in_code = not in_code
            continue
        if in_code:
            emit(s)
            continue
        if not s:
            flush()
            continue
        if _MD_SETEXT.match(s) and len(para) == 1:
            emit(para.pop(), heading=True)
            continue
        if _MD_RULE.match(s) or _MD_REF_DEF.match(s):
            flush()
            continue
        heading = _MD_ATX.match(s)
        if heading:
            flush()
            emit(_strip_inline_markdown(heading[1] or ""), heading=True)
            continue
        s = _MD_QUOTE.sub("", s)
        if "|" in s and _MD_TABLE_SEP.match(s):
            continue
        if s.startswith("|"):
            flush()
            emit(_strip_inline_markdown(s.strip("|").strip()))
            continue
        if _MD_LIST.match(s):
            flush()
        para.append(_strip_inline_markdown(s))
    flush()
    return "\n".join(out), meta, bool(first_is_heading)


class _TitleParser(HTMLParser):
    """The text of the first <title> element."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self._inside = False
        self.done = False
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title" and not self.done:
            self._inside = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "title" and self._inside:
            self._inside = False
            self.done = True

    def handle_data(self, data: str) -> None:
        if self._inside:
            self.parts.append(data)


def _html_title(html: str) -> str:
    parser = _TitleParser()
    try:
        parser.feed(html)
        parser.close()
    except Exception:  # html.parser is lenient, but a title is never worth failing a file for
        pass
    return " ".join("".join(parser.parts).split())


_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_\-:.]+)""", re.I)


class _FileProblem(Exception):
    """One file cannot be loaded; the message says why (without the file name)."""


def _decode(data: bytes, *, html: bool = False) -> str:
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise _FileProblem("has a UTF-16 byte-order mark but is not valid UTF-16") from exc
    if b"\x00" in data:
        raise _FileProblem("is a binary file (it contains NUL bytes), not text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        if html:
            declared = _META_CHARSET.search(data[:4096])
            if declared:
                try:
                    return data.decode(codecs.lookup(declared[1].decode("ascii")).name)
                except (LookupError, UnicodeDecodeError):
                    pass
        bad = data[exc.start]
        raise _FileProblem(
            f"is not UTF-8 text (byte 0x{bad:02x} at offset {exc.start} is invalid UTF-8); "
            "re-save it as UTF-8"
        ) from exc


def _read(path: Path) -> bytes:
    try:
        size = path.stat().st_size
        if size > _MAX_FILE_BYTES:
            raise _FileProblem(
                f"is too large to be an article ({size / 2**20:.0f} MiB; "
                f"the limit is {_MAX_FILE_BYTES // 2**20} MiB)"
            )
        return path.read_bytes()
    except PermissionError as exc:
        raise _FileProblem("cannot be read: permission denied") from exc
    except IsADirectoryError as exc:
        raise _FileProblem("is a folder, not a file") from exc
    except OSError as exc:
        raise _FileProblem(f"cannot be read ({exc.strerror or exc})") from exc


def _sha256(title: str, text: str) -> str:
    return hashlib.sha256(f"{title}\n{text}".encode("utf-8")).hexdigest()


# A loaded document and the cleaner's report of what it removed.
_Loaded = tuple[Document, list[tuple[str, str]]]


def _make_document(
    doc_id: str,
    title: str,
    body: str,
    source: Path,
    *,
    url: str | None = None,
    date: str | None = None,
    publisher: str | None = None,
    site_names: Iterable[str] = (),
) -> _Loaded:
    """Clean `body` and build the document; `_FileProblem` when no article text is left."""
    text, report = clean_with_report(body, title=title or None, site_names=site_names)
    if not text:
        if report:
            rules = ", ".join(sorted({name for name, _ in report}))
            raise _FileProblem(
                f"contains only page furniture ({rules}); no article text is left after cleaning"
            )
        raise _FileProblem("has no article text" + (" (only a title line)" if title else ""))
    if not title:
        title = _fallback_title(text)
    document = Document(
        id=doc_id,
        title=title,
        text=text,
        source=str(source.absolute()),
        sha256=_sha256(title, text),
        url=url or None,
        date=date or None,
        publisher=publisher or None,
    )
    return document, report


def _load_txt(path: Path, doc_id: str, data: bytes) -> _Loaded:
    text = _unwrap(normalize_text(_decode(data)))
    if not text.strip():
        raise _FileProblem("is empty")
    title, body = split_title(text)
    return _make_document(doc_id, title or _title_from_name(path), body, path)


def _load_md(path: Path, doc_id: str, data: bytes) -> _Loaded:
    raw = _decode(data)
    if not raw.strip():
        raise _FileProblem("is empty")
    text, meta, first_is_heading = markdown_to_text(raw)
    if meta.get("title"):
        title, body = _tidy_title(_strip_inline_markdown(meta["title"])), text
    else:
        title, body = split_title(text, allow_label=not first_is_heading)
    return _make_document(
        doc_id,
        title or _title_from_name(path),
        body,
        path,
        url=meta.get("url"),
        date=meta.get("date"),
        publisher=meta.get("source") or meta.get("publisher"),
        site_names=[meta.get("source") or meta.get("publisher") or ""],
    )


def _load_html(path: Path, doc_id: str, data: bytes) -> _Loaded:
    # Imported here so that loading plain text does not pay for trafilatura and lxml.
    import trafilatura

    html = _decode(data, html=True)
    if not html.strip():
        raise _FileProblem("is empty")
    try:
        text = trafilatura.extract(
            html, include_comments=False, include_tables=True, favor_recall=True
        )
        # Not extensive: the extensive date search guesses from copyright years and the like.
        meta = trafilatura.extract_metadata(html, extensive=False)
    except Exception as exc:  # trafilatura/lxml raise many types on broken markup
        raise _FileProblem(f"could not be parsed as HTML ({exc})") from exc
    if not text or not text.strip():
        raise _FileProblem("has no article text that could be extracted from the HTML")
    title = (meta.title if meta else None) or _html_title(html)
    if title:
        title, body = _tidy_title(title), text
    else:
        title, body = split_title(text)
    sitename = (meta.sitename if meta else None) or None
    return _make_document(
        doc_id,
        title or _title_from_name(path),
        body,
        path,
        url=meta.url if meta else None,
        date=meta.date if meta else None,
        publisher=sitename,
        site_names=[n for n in (sitename, meta.hostname if meta else None) if n],
    )


def _record_key(record: dict[str, object], line_no: int) -> str:
    for name in ("id", "_id"):
        value = record.get(name)
        if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value).strip():
            return str(value).strip()
    return str(line_no)


def _optional_str(value: object) -> str | None:
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return None


_MAX_LINE_PROBLEMS = 20


def _load_jsonl(
    path: Path, doc_id: str, display: str, data: bytes
) -> tuple[list[_Loaded], list[Problem]]:
    raw = _decode(data)
    documents: list[_Loaded] = []
    problems: list[tuple[int, str]] = []
    records: list[tuple[int, dict[str, object]]] = []

    def problem(line_no: int, message: str) -> None:
        problems.append((line_no, message))

    for line_no, line in enumerate(raw.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            problem(line_no, f"not valid JSON ({exc.msg} at column {exc.colno})")
            continue
        if not isinstance(record, dict):
            problem(line_no, f"expected a JSON object, got {type(record).__name__}")
            continue
        records.append((line_no, record))

    if not records and not problems:
        raise _FileProblem("is empty")
    if records and not problems and all("question" in r and "text" not in r for _, r in records):
        # A question set kept beside the articles (seeds/questions.jsonl) is not an article file
        # and not a mistake either: skip it quietly.
        return [], []
    if records and not any("text" in record for _, record in records):
        # A file of some other kind of record (questions, settings) is one problem, not one
        # per line.
        keys = sorted({k for _, record in records for k in record})[:8]
        raise _FileProblem(
            "has no record with a 'text' field, so it is not a file of articles "
            f"(its records have: {', '.join(keys)})"
        )

    seen: dict[str, int] = {}
    for line_no, record in records:
        key = _record_key(record, line_no)
        if key in seen:
            problem(line_no, f"id '{key}' was already used on line {seen[key]}; record skipped")
            continue
        seen[key] = line_no
        text = record.get("text")
        if not isinstance(text, str) or not text.strip():
            problem(line_no, "record has no 'text' (or it is empty); record skipped")
            continue
        title = _optional_str(record.get("title"))
        publisher = _optional_str(record.get("source")) or _optional_str(record.get("publisher"))
        try:
            documents.append(
                _make_document(
                    f"{doc_id}#{key}",
                    _tidy_title(title) if title else "",
                    text,
                    path,
                    url=_optional_str(record.get("url")),
                    date=_optional_str(record.get("date")),
                    publisher=publisher,
                    site_names=[publisher] if publisher else (),
                )
            )
        except _FileProblem as exc:
            problem(line_no, f"the record {exc}")

    problems.sort()
    reported = [
        Problem(display, f"{display} line {line_no}: {message}")
        for line_no, message in problems[:_MAX_LINE_PROBLEMS]
    ]
    if len(problems) > _MAX_LINE_PROBLEMS:
        # A file that is not JSON Lines at all would otherwise bury everything else.
        more = len(problems) - _MAX_LINE_PROBLEMS
        reported.append(Problem(display, f"{display}: {more} more lines have problems"))
    return documents, reported


_SINGLE_LOADERS: dict[str, Callable[[Path, str, bytes], _Loaded]] = {
    ".txt": _load_txt,
    ".md": _load_md,
    ".html": _load_html,
    ".htm": _load_html,
}


def _load_file(path: Path, doc_id: str, display: str) -> tuple[list[_Loaded], list[Problem]]:
    suffix = path.suffix.lower()
    try:
        data = _read(path)
        if suffix == ".jsonl":
            return _load_jsonl(path, doc_id, display, data)
        return [_SINGLE_LOADERS[suffix](path, doc_id, data)], []
    except _FileProblem as exc:
        return [], [Problem(display, f"{display} {exc}")]


# ---------------------------------------------------------------------------------------------
# Walking the paths


def _is_supported(path: Path) -> bool:
    return path.suffix.lower() in SUPPORTED_SUFFIXES


def _walk(folder: Path, problems: list[Problem]) -> list[Path]:
    """Supported files under `folder`, recursively, in sorted order, hidden entries skipped."""

    def on_error(exc: OSError) -> None:
        where = exc.filename or str(folder)
        reason = "permission denied" if isinstance(exc, PermissionError) else exc.strerror
        problems.append(Problem(str(where), f"{where}: folder cannot be read ({reason})"))

    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(folder, onerror=on_error):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if not name.startswith("."):
                candidate = Path(dirpath) / name
                if _is_supported(candidate):
                    found.append(candidate)
    # os.walk visits a folder's files before its subfolders; sort the whole list so that the
    # order is simply by relative path.
    return sorted(found, key=lambda p: p.relative_to(folder).parts)


def _root_labels(roots: list[Path]) -> list[str]:
    """Id prefixes for several roots: the folder (or file) name, with as many parent folder
    names as it takes to tell apart roots that share a name."""
    parts = [Path(os.path.abspath(root)).parts for root in roots]
    depth = [1] * len(roots)
    while True:
        labels = ["/".join(p[-d:]).lstrip("/") or "/" for p, d in zip(parts, depth)]
        counts = Counter(labels)
        grew = False
        for i, label in enumerate(labels):
            if counts[label] > 1 and depth[i] < len(parts[i]):
                depth[i] += 1
                grew = True
        if not grew:
            return labels


def load_documents(paths: Sequence[Path]) -> LoadResult:
    """Load every supported article under `paths` (folders are walked, files read directly).

    Ids: with one folder, the path relative to it (`sub/a.txt`); with several paths, each
    folder's files are prefixed with the folder's name (`seeds/000_x.txt`); a file given
    directly is its name. `.jsonl` records are `file.jsonl#<id or line number>`. Nothing here
    raises for a bad file: it becomes a `Problem` and the others still load.
    """
    documents: list[Document] = []
    problems: list[Problem] = []
    removed: dict[str, list[tuple[str, str]]] = {}
    files_seen = 0

    roots: list[Path] = []
    seen_roots: set[str] = set()
    for given in paths:
        path = Path(given)
        key = os.path.abspath(path)
        if key in seen_roots:
            continue  # the same path twice would only duplicate every document
        seen_roots.add(key)
        if not path.exists():
            problems.append(Problem(str(path), f"{path}: no such file or folder"))
        elif not (path.is_dir() or path.is_file()):
            problems.append(Problem(str(path), f"{path}: not a regular file or folder"))
        elif path.is_file() and not _is_supported(path):
            problems.append(
                Problem(
                    str(path),
                    f"{path}: unsupported file type '{path.suffix or '(none)'}' "
                    f"(supported: {', '.join(SUPPORTED_SUFFIXES)})",
                )
            )
        else:
            roots.append(path)

    labels = _root_labels(roots)
    # Counted over the distinct paths given, existing or not, so that ids do not change when one
    # of several folders is missing.
    several = len(seen_roots) > 1
    used_ids: set[str] = set()
    for root, label in zip(roots, labels):
        if root.is_dir():
            known = len(problems)
            files = _walk(root, problems)
            # An unreadable folder is already reported; "no supported files" would be noise.
            if not files and len(problems) == known:
                problems.append(
                    Problem(
                        str(root),
                        f"{root}: folder has no supported files "
                        f"({', '.join(SUPPORTED_SUFFIXES)}; hidden files are skipped)",
                    )
                )
            jobs = [(f, "/".join(f.relative_to(root).parts)) for f in files]
            if several:
                jobs = [(f, f"{label}/{rel}") for f, rel in jobs]
        else:
            jobs = [(root, label if several else root.name)]
        for file, doc_id in jobs:
            files_seen += 1
            loaded, file_problems = _load_file(file, doc_id, str(file))
            problems.extend(file_problems)
            for doc, report in loaded:
                if doc.id in used_ids:  # only possible with odd names; never silently replace
                    problems.append(
                        Problem(str(file), f"{file}: id '{doc.id}' is already taken; skipped")
                    )
                    continue
                used_ids.add(doc.id)
                documents.append(doc)
                if report:
                    removed[doc.id] = report
    return LoadResult(
        documents=documents, problems=problems, files_seen=files_seen, removed=removed
    )
