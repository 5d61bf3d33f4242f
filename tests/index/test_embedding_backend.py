"""The embedder backends: the int8 ONNX model against torch, its hash-checked cache, the backend
in the manifest (never mixed), repeated passages embedded once, and a query path without torch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rag import build_index, open_index
from rag.errors import IndexMismatchError, ModelError
from rag.index.embedding import HashingEmbedder, manifest_backend
from rag.stores.local.generations import current_generation, read_manifest
from tests.fakes import CountingEmbedder

ROOT = Path(__file__).resolve().parents[2]


class Backend(HashingEmbedder):
    """The hashing embedder under another backend name: tests the bookkeeping, not the vectors."""

    def __init__(self, backend: str | None, name: str | None = None) -> None:
        super().__init__(dim=64)
        if name:
            self.name = name
        self.backend = backend  # type: ignore[misc]


def _docs(tmp_path: Path, texts: dict[str, str]) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir(exist_ok=True)
    for name, text in texts.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


ARTICLE = ("Harbour plans\n\nThe city council approved a new harbour on Monday. Work starts in spring "
           "and should take three years.\n\nCritics say the budget is too small for the project.\n")


def test_manifest_names_the_backend_and_other_backends_are_refused(tmp_path: Path) -> None:
    docs = _docs(tmp_path, {"a.txt": ARTICLE})
    index = tmp_path / "index"
    build_index([docs], index, embedder=Backend("onnx-int8", "m"))
    meta = read_manifest(current_generation(index))["embedder"]
    assert meta["backend"] == "onnx-int8" and manifest_backend(meta) == "onnx-int8"

    (docs / "b.txt").write_text(ARTICLE.replace("harbour", "bridge"), encoding="utf-8")
    with pytest.raises(IndexMismatchError, match="backend"):
        build_index([docs], index, embedder=Backend("torch", "m"))
    with pytest.raises(IndexMismatchError, match="backend"):
        open_index(index, embedder=Backend("torch", "m"))
    report = build_index([docs], index, embedder=Backend("torch", "m"), rebuild=True)
    assert report.rebuilt and report.documents == 2
    assert read_manifest(current_generation(index))["embedder"]["backend"] == "torch"


def test_an_index_from_before_the_backend_key_counts_as_torch(tmp_path: Path) -> None:
    docs = _docs(tmp_path, {"a.txt": ARTICLE})
    index = tmp_path / "index"
    build_index([docs], index, embedder=Backend(None, "m"))  # an embedder that names no backend
    meta = read_manifest(current_generation(index))["embedder"]
    assert "backend" not in meta and manifest_backend(meta) == "torch"
    (docs / "b.txt").write_text(ARTICLE.replace("harbour", "bridge"), encoding="utf-8")
    with pytest.raises(IndexMismatchError):
        build_index([docs], index, embedder=Backend("onnx-int8", "m"))


def test_repeated_passages_are_embedded_once(tmp_path: Path) -> None:
    sentence = "The committee met on Tuesday to discuss the budget for the coming year. "
    docs = _docs(tmp_path, {"rep.txt": "Minutes\n\n" + sentence * 3000, "a.txt": ARTICLE})
    emb = CountingEmbedder()
    report = build_index([docs], tmp_path / "index", embedder=emb)
    assert report.chunks > 20
    assert len(emb.seen) == len(set(emb.seen)) == report.embedded_texts
    assert report.embedded_texts < 6 < report.embedded_chunks == report.chunks
    with open_index(tmp_path / "index", embedder=emb) as idx:  # every chunk still has its vector
        hits = idx.search("committee budget", k=3, retrieval="dense")
        assert hits and all("committee" in h.text for h in hits)


def test_unknown_backend_and_onnx_for_another_model_are_clear_errors() -> None:
    from rag.index.embedding import load_embedder

    with pytest.raises(ModelError, match="unknown embedder backend"):
        load_embedder("all-MiniLM-L6-v2", backend="tensorflow")
    with pytest.raises(ModelError, match="only the bundled"):
        load_embedder("some/other-model", backend="onnx-int8")


def test_cache_record_is_checked_by_hash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from rag.index import onnx as ob

    source = tmp_path / "model" / ob.SOURCE_WEIGHTS
    source.parent.mkdir()
    source.write_bytes(b"weights")
    folder = tmp_path / "model" / "onnx"
    folder.mkdir()
    (folder / ob.ONNX_FILE).write_bytes(b"onnx bytes")
    st = source.stat()
    record = {"recipe": ob.RECIPE, "source_sha256": ob.file_sha256(source), "source_size": st.st_size,
              "source_mtime_ns": st.st_mtime_ns, "onnx_sha256": ob.file_sha256(folder / ob.ONNX_FILE)}
    (folder / ob.RECORD_FILE).write_text(json.dumps(record), encoding="utf-8")
    monkeypatch.setattr(ob, "_cache_dirs", lambda model_dir: [model_dir / "onnx"])
    assert ob.find_onnx(source.parent) == folder / ob.ONNX_FILE

    (folder / ob.ONNX_FILE).write_bytes(b"onnx bytez")  # damaged
    assert ob.find_onnx(source.parent) is None
    (folder / ob.ONNX_FILE).write_bytes(b"onnx bytes")
    source.write_bytes(b"other weights")  # the model changed under it
    assert ob.find_onnx(source.parent) is None
    source.write_bytes(b"weights")  # same content, new mtime: the source hash still matches
    assert ob.find_onnx(source.parent) == folder / ob.ONNX_FILE
    (folder / ob.RECORD_FILE).write_text(json.dumps({**record, "recipe": ob.RECIPE + 1}), encoding="utf-8")
    assert ob.find_onnx(source.parent) is None


@pytest.mark.model
def test_onnx_int8_matches_torch_fp32(minilm) -> None:  # type: ignore[no-untyped-def]
    from rag.index.embedding import SentenceTransformerEmbedder

    assert minilm.backend == "onnx-int8" and minilm.dim == 384 and minilm.max_tokens == 256
    torch_emb = SentenceTransformerEmbedder("all-MiniLM-L6-v2")
    texts = ["Which Vietnamese president welcomed Putin in Hanoi?",
             "The city council approved a new harbour on Monday.",
             "Alterations of the architecture of cerebral white matter in the developing human brain "
             "can affect cortical development and result in functional disabilities. " * 8,
             "short", ""]
    a, b = minilm.embed(texts), torch_emb.embed(texts)
    assert a.dtype == np.float32 and a.shape == (5, 384)
    assert np.allclose(np.linalg.norm(a[:4], axis=1), 1.0, atol=1e-4)
    cos = (a * b).sum(axis=1)
    assert cos[:4].min() > 0.98, cos  # int8 per-channel: measured 0.99+ on SciFact abstracts
    assert minilm.count_tokens(texts) == torch_emb.count_tokens(texts)
    # Order and batching do not change a vector.
    assert np.allclose(minilm.embed(texts[::-1])[::-1], a, atol=1e-5)


@pytest.mark.model
def test_search_and_ask_import_neither_torch_nor_sentence_transformers(seed_index) -> None:  # type: ignore[no-untyped-def]
    code = (
        "import sys\n"
        "from rag import Settings, open_index, ask\n"
        f"idx = open_index({str(seed_index)!r})\n"
        "assert idx.manifest['embedder']['backend'] == 'onnx-int8'\n"
        "assert idx.search('Which Vietnamese president welcomed Putin in Hanoi?', k=3)\n"
        f"ask('Which Vietnamese president welcomed Putin in Hanoi?', Settings.from_env(index_dir={str(seed_index)!r}, mode='extractive'))\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'sentence_transformers', 'transformers'))\n"
        "print(heavy[:5])\n"
        "assert not heavy\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr


def test_an_edited_document_re_embeds_only_the_passages_it_changed(tmp_path: Path) -> None:
    paras = [f"Paragraph {i} tells how the council of town number {i} voted on a plan for its "
             f"harbour, its schools and its roads, after a debate that ran for {i + 2} hours." for i in range(40)]
    docs = _docs(tmp_path, {"a.txt": "Council votes\n\n" + "\n\n".join(paras) + "\n"})
    emb = CountingEmbedder()
    first = build_index([docs], tmp_path / "index", embedder=emb)
    assert first.chunks >= 4
    paras[-1] = "The last paragraph now says something else entirely about the weather in spring."
    (docs / "a.txt").write_text("Council votes\n\n" + "\n\n".join(paras) + "\n", encoding="utf-8")
    emb.seen.clear()
    second = build_index([docs], tmp_path / "index", embedder=emb)
    assert second.changed == ("a.txt",) and second.embedded_chunks == second.chunks
    assert 1 <= second.embedded_texts <= 2 < second.chunks  # only the passages around the edit
    assert len(emb.seen) == second.embedded_texts
    with open_index(tmp_path / "index", embedder=emb) as idx:
        hits = idx.search("weather in spring", k=1, retrieval="dense")
        assert "weather in spring" in hits[0].text
