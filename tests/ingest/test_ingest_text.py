"""`rag.ingest.text`: normalised text (line ends, spaces, Unicode NFC) on the seeds and on a
synthetic page."""

from __future__ import annotations

import unicodedata

from rag.ingest import LoadResult, clean_text

from .ingest_data import _doc, seed_result  # noqa: F401


def test_seed_text_is_normalised(seed_result: LoadResult) -> None:
    for doc in seed_result.documents:
        assert "\n\n\n" not in doc.text and "\r" not in doc.text
        assert "\u00a0" not in doc.text and "  " not in doc.text
        assert doc.text == doc.text.strip()
        assert unicodedata.is_normalized("NFC", doc.text)
    # Curly quotes and non-ASCII survive.
    assert "“Putin-mania” (“cuồng Putin”)" in _doc(seed_result, "003_e411960df6774cf9.txt").text


def test_normalisation() -> None:
    raw = (
        "\ufeffFirst  paragraph\u00a0with   spaces and “quotes”.\r\n\r\n\r\n\r\n"
        + unicodedata.normalize("NFD", "Second paragraph: Việt Nam, café.")
        + "\r\n"
    )
    text = clean_text(raw)
    assert text == "First paragraph with spaces and “quotes”.\n\nSecond paragraph: Việt Nam, café."
    assert unicodedata.is_normalized("NFC", text)
