"""rag.plan: the one decision of what an index update adds, re-embeds, removes and reuses,
shared by the local store and the Milvus store."""

from __future__ import annotations

from rag.index.plan import plan_update


def test_first_build_adds_everything_and_records_copies_under_the_first_id():
    p = plan_update({"b": "h1", "a": "h1", "c": "h2"}, {})
    assert p.added == ("a", "b", "c") and p.changed == () and p.removed == () and p.unchanged == 0
    assert p.wanted == {"a": ("h1", None), "b": ("h1", "a"), "c": ("h2", None)}
    assert p.duplicates == (("b", "a"),)
    assert p.reusable() == {} and p.to_embed({}) == 2  # the copy needs no vectors


def test_update_sorts_documents_and_reuses_the_chunks_of_a_renamed_one():
    old = {"keep": ("h1", None), "edit": ("h2", None), "gone": ("h3", None), "old-name": ("h4", None),
           "z-copy": ("h1", "keep")}
    p = plan_update({"keep": "h1", "edit": "h2b", "new-name": "h4", "z-copy": "h1"}, old)
    assert p.unchanged == 2 and p.added == ("new-name",) and p.changed == ("edit",)
    assert p.removed == ("gone", "old-name") and p.outgoing == ("gone", "old-name", "edit")
    assert p.todo == ("new-name", "edit") and not p.nothing_to_do
    assert p.reusable() == {"h4": "old-name"}  # the renamed file's chunks serve its new id
    assert p.to_embed(p.reusable()) == 1  # only the edited document is embedded


def test_a_document_that_stops_being_a_copy_is_rewritten():
    old = {"a": ("h1", None), "b": ("h1", "a")}
    p = plan_update({"b": "h1"}, old)  # a is gone: b is now indexed itself
    assert p.removed == ("a",) and p.changed == ("b",) and p.wanted["b"] == ("h1", None)
    assert p.reusable() == {"h1": "a"}  # ... from a's chunks, without embedding
    assert p.to_embed(p.reusable()) == 0
    assert plan_update({"a": "h1", "b": "h1"}, old).nothing_to_do


def test_a_document_whose_metadata_changed_is_rewritten_from_its_own_chunks():
    old = {"a": ("h1", None), "b": ("h2", None)}
    p = plan_update({"a": "h1", "b": "h2"}, old, stale={"b"})  # b's date or publisher changed
    assert p.changed == ("b",) and p.unchanged == 1 and not p.nothing_to_do
    assert p.reusable() == {"h2": "b"} and p.to_embed(p.reusable()) == 0
    assert plan_update({"a": "h1", "b": "h2"}, old, stale={"gone"}).nothing_to_do
