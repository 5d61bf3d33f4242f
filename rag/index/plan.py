"""What an index update must do: which documents are new, changed, gone or unchanged.

One decision for every store (the local folder in rag/index/build.py, Milvus in
rag/stores/milvus.py): given the documents found now (id -> content hash) and those the store
holds (id -> content hash and the id of the document it repeats), say which to add, re-embed,
remove or leave alone, which are duplicates of another (identical text is indexed once, under
the first id in sorted order), and which outgoing documents' chunks and vectors can serve an
incoming one with the same text (a renamed file costs no embedding). Pure data in, data out:
no store is read or written here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Collection, Mapping

Stored = tuple[str, "str | None"]  # (sha256, id of the document it repeats, None when indexed itself)


@dataclass(frozen=True)
class UpdatePlan:
    wanted: Mapping[str, tuple[str, str | None]]  # doc id -> (sha256, canonical id or None), all found now
    old: Mapping[str, tuple[str, str | None]]  # the same for what the store holds
    added: tuple[str, ...]
    changed: tuple[str, ...]
    removed: tuple[str, ...]
    unchanged: int
    duplicates: tuple[tuple[str, str], ...]  # (duplicate doc id, doc id it repeats), sorted

    @property
    def todo(self) -> tuple[str, ...]:
        """The documents to write: added, then changed."""
        return (*self.added, *self.changed)

    @property
    def outgoing(self) -> tuple[str, ...]:
        """The documents to take out of the store: removed, then changed."""
        return (*self.removed, *self.changed)

    @property
    def nothing_to_do(self) -> bool:
        return not (self.added or self.changed or self.removed)

    def reusable(self) -> dict[str, str]:
        """sha256 -> an outgoing document (indexed itself, not a duplicate) whose chunks and
        vectors can serve an incoming document with that same text; the first in `outgoing`
        order when several share it."""
        need = {self.wanted[i][0] for i in self.todo if self.wanted[i][1] is None}
        out: dict[str, str] = {}
        for doc_id in self.outgoing:
            sha, canon = self.old[doc_id]
            if canon is None and sha in need:
                out.setdefault(sha, doc_id)
        return out

    def to_embed(self, reusable: Mapping[str, object]) -> int:
        """How many incoming documents need new vectors (not duplicates, no reusable chunks)."""
        return sum(1 for i in self.todo if self.wanted[i][1] is None and self.wanted[i][0] not in reusable)


def plan_update(found: Mapping[str, str], old: Mapping[str, Stored], stale: Collection[str] = ()) -> UpdatePlan:
    """The plan that makes a store holding `old` hold exactly the documents `found`
    (doc id -> sha256). A document is unchanged only when its text, its duplicate status and its
    metadata are unchanged (a document that became, or stopped being, a copy is rewritten; so is
    one in `stale`, whose date, publisher or url the store holds otherwise, e.g. from an earlier
    version of the ingest code: its chunks and vectors serve it again, see `reusable`)."""
    canonical_of_sha: dict[str, str] = {}
    wanted: dict[str, tuple[str, str | None]] = {}
    for doc_id in sorted(found):
        sha = found[doc_id]
        canon = canonical_of_sha.setdefault(sha, doc_id)
        wanted[doc_id] = (sha, None if canon == doc_id else canon)
    same = {i for i, w in wanted.items() if old.get(i) == w and i not in stale}
    return UpdatePlan(
        wanted=wanted, old=dict(old),
        added=tuple(sorted(i for i in wanted if i not in old)),
        changed=tuple(sorted(i for i in wanted if i in old and i not in same)),
        removed=tuple(sorted(set(old) - set(wanted))),
        unchanged=len(same),
        duplicates=tuple((i, c) for i, (_, c) in sorted(wanted.items()) if c is not None),
    )
