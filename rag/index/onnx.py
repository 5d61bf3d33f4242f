"""The fast embedder backend: the bundled all-MiniLM-L6-v2 as an int8 ONNX model.

`OnnxEmbedder` needs only `tokenizers`, `onnxruntime` and numpy, so a process that serves an
index built with it never imports torch or sentence-transformers. The ONNX file is made from the
bundled weights on this machine (no download): exported once with torch (mean pooling and
normalization inside the graph), then dynamically quantized to int8, per output channel, MatMul
weights only. That recipe was chosen by measurement (benchmarks/RESULTS-speed.md): per-tensor
quantization, or quantizing the embedding table too, costs clearly more quality for no speed.

The file is cached beside the bundled model (or under the models cache when that folder is not
writable) together with a small JSON record of the recipe, the source weights' sha256 and the
ONNX file's own sha256, which is checked every time the file is loaded.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from rag.errors import ModelError
from rag.models import file_sha256

BACKEND = "onnx-int8"
RECIPE = 1  # bump when the export or quantization steps change: cached files are then remade
ONNX_FILE = "model-int8.onnx"
RECORD_FILE = "model-int8.json"
SOURCE_WEIGHTS = "model.safetensors"

Progress = Callable[[int, int], None]
COUNT_CACHE = 20_000  # texts whose token count is remembered (cleared when full)
BATCH = 32  # texts per model call (16 measured no faster; 32 keeps the vectors of earlier versions)
MAX_WORKERS = 8  # batches run at once, at most (one thread each)


def _cache_dirs(model_dir: Path) -> list[Path]:
    from rag.config import default_models_dir

    return [model_dir / "onnx", default_models_dir() / "embedders" / "all-MiniLM-L6-v2-onnx"]


def _valid(folder: Path, source: Path) -> bool:
    """True when `folder` holds a model made by this recipe from `source`, intact."""
    try:
        rec = json.loads((folder / RECORD_FILE).read_text(encoding="utf-8"))
        st = source.stat()
        if rec.get("recipe") != RECIPE:
            return False
        if (rec.get("source_size"), rec.get("source_mtime_ns")) != (st.st_size, st.st_mtime_ns):
            if rec.get("source_sha256") != file_sha256(source):
                return False
        onnx = folder / ONNX_FILE
        ost = onnx.stat()
        if (rec.get("onnx_size"), rec.get("onnx_mtime_ns")) == (ost.st_size, ost.st_mtime_ns):
            return True  # as recorded: hashing 60 MB on every `rag ask` would cost ~45 ms
        if rec.get("onnx_sha256") != file_sha256(onnx):
            return False
        _remember_stat(folder, rec, ost)
        return True
    except (OSError, ValueError):
        return False


def _remember_stat(folder: Path, rec: dict, ost: os.stat_result) -> None:
    """Record the checked file's size and mtime, so later opens need not hash it (best effort:
    a read-only cache is simply hashed each time)."""
    rec = {**rec, "onnx_size": ost.st_size, "onnx_mtime_ns": ost.st_mtime_ns}
    try:
        tmp = folder / (RECORD_FILE + ".tmp")
        tmp.write_text(json.dumps(rec, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, folder / RECORD_FILE)
    except OSError:
        pass


def find_onnx(model_dir: Path) -> Path | None:
    """The cached int8 model for `model_dir`, if one exists and checks out."""
    source = model_dir / SOURCE_WEIGHTS
    for folder in _cache_dirs(model_dir):
        if _valid(folder, source):
            return folder / ONNX_FILE
    return None


def ensure_onnx(model_dir: Path) -> Path:
    """The cached int8 model for `model_dir`, made first when missing or not matching its record."""
    found = find_onnx(model_dir)
    if found is not None:
        return found
    errors = []
    for folder in _cache_dirs(model_dir):
        try:
            return export_int8(model_dir, folder)
        except OSError as exc:  # not writable: try the next place
            errors.append(f"{folder}: {exc}")
    raise ModelError("could not write the ONNX embedder anywhere: " + "; ".join(errors))


def ensure_bundled() -> Path:
    """Make (or check) the int8 model of the bundled all-MiniLM-L6-v2; the set-up runs this."""
    from rag.index.batching import bundled_model_path

    return ensure_onnx(Path(bundled_model_path()))


def export_fp32(model_dir: Path, path: Path) -> None:
    """Write `model_dir` (a BERT sentence-transformers folder with mean pooling) to `path` as an
    fp32 ONNX graph whose output is the normalized sentence vector. Needs torch and transformers."""
    try:
        import torch
        from transformers import AutoModel
    except ImportError as exc:  # pragma: no cover - install problem
        raise ModelError(f"making the ONNX embedder needs torch and transformers ({exc}); "
                         "run the README's set-up") from exc
    model = AutoModel.from_pretrained(str(model_dir), attn_implementation="eager").eval()

    class Pooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = model

        def forward(self, input_ids, attention_mask, token_type_ids):  # type: ignore[no-untyped-def]
            h = self.bert(input_ids=input_ids, attention_mask=attention_mask,
                          token_type_ids=token_type_ids).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(h.dtype)
            v = (h * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(v, p=2, dim=1)

    x = torch.ones(2, 8, dtype=torch.long)
    names = ["input_ids", "attention_mask", "token_type_ids"]
    axes = {n: {0: "batch", 1: "tokens"} for n in names} | {"embedding": {0: "batch"}}
    import warnings

    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(Pooled(), (x, x, torch.zeros_like(x)), str(path), input_names=names,
                          output_names=["embedding"], dynamic_axes=axes, opset_version=17,
                          dynamo=False)


def export_int8(model_dir: Path, folder: Path) -> Path:
    """Export `model_dir` (a BERT sentence-transformers folder with mean pooling) to `folder`.

    Needs torch, transformers and onnx; written to a temporary folder and moved into place, so a
    crash leaves no half-written model behind.
    """
    try:
        import onnx
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except ImportError as exc:  # pragma: no cover - install problem
        raise ModelError(f"making the ONNX embedder needs onnx and onnxruntime ({exc}); "
                         "run the README's set-up") from exc
    source = model_dir / SOURCE_WEIGHTS
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder, prefix=".tmp-") as tmp:
        fp32 = Path(tmp) / "fp32.onnx"
        int8 = Path(tmp) / ONNX_FILE
        export_fp32(model_dir, fp32)
        import logging
        import warnings

        quiet = logging.getLogger().level
        logging.getLogger().setLevel(logging.ERROR)  # the quantizer logs advice on the root logger
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8, per_channel=True,
                             op_types_to_quantize=["MatMul"],
                             extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
        logging.getLogger().setLevel(quiet)
        st = source.stat()
        record = {"recipe": RECIPE, "backend": BACKEND, "source": str(source),
                  "source_sha256": file_sha256(source), "source_size": st.st_size,
                  "source_mtime_ns": st.st_mtime_ns, "onnx_sha256": file_sha256(int8)}
        os.replace(int8, folder / ONNX_FILE)
        ost = (folder / ONNX_FILE).stat()
        record.update(onnx_size=ost.st_size, onnx_mtime_ns=ost.st_mtime_ns)
        (folder / RECORD_FILE).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return folder / ONNX_FILE


class OnnxEmbedder:
    """all-MiniLM-L6-v2 through ONNX Runtime: same `Embedder` interface as the torch adapter."""

    backend = BACKEND

    def __init__(self, name: str, model_dir: Path, *, threads: int | None = None) -> None:
        """`threads`: batches embedded at once (default: one per usable core). Each batch runs
        on one thread: measured on 2 shared cores, two single-threaded batches at a time took
        0.7x the wall time and 0.7x the CPU time of one batch on ONNX Runtime's two intra-op
        threads (benchmarks/RESULTS-speed.md), which spin and synchronise per operator."""
        try:
            import onnxruntime as ort
            from tokenizers import Tokenizer
        except ImportError as exc:  # pragma: no cover - install problem
            raise ModelError(f"the {BACKEND} embedder needs onnxruntime and tokenizers ({exc}); "
                             "run the README's set-up") from exc
        self.name = name
        onnx_path = ensure_onnx(model_dir)
        try:
            cfg = json.loads((model_dir / "sentence_bert_config.json").read_text(encoding="utf-8"))
            self.max_tokens = int(cfg["max_seq_length"])
            self._count = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        except (OSError, ValueError, KeyError) as exc:
            raise ModelError(f"the bundled model folder {model_dir} is incomplete: {exc}") from exc
        self._counted: dict[str, int] = {}
        self._count.no_truncation()
        self._count.no_padding()
        self._tok = Tokenizer.from_str(self._count.to_str())
        self._tok.enable_truncation(max_length=self.max_tokens)
        self._tok.enable_padding()
        from rag.index.batching import usable_cores

        self._workers = max(1, threads or min(usable_cores(), MAX_WORKERS))
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        self._session = ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
        width = self._session.get_outputs()[0].shape[1]
        self.dim = width if isinstance(width, int) else int(self._run(["a"]).shape[1])

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        # Repeated texts (boilerplate, a file of one sentence over and over) are counted once.
        todo = list(dict.fromkeys(t for t in texts if t not in self._counted))
        if len(todo) <= 4:  # the chunker often asks one text at a time: a batch call's thread hand-off costs more
            found = [len(self._count.encode(t, add_special_tokens=False).ids) for t in todo]
        else:
            found = [len(e.ids) for e in self._count.encode_batch(todo, add_special_tokens=False)]
        new = dict(zip(todo, found))
        out = [new[t] if t in new else self._counted[t] for t in texts]
        if len(self._counted) + len(new) > COUNT_CACHE:
            self._counted.clear()
        self._counted.update(new)
        return out

    def _run(self, texts: list[str]) -> np.ndarray:
        enc = self._tok.encode_batch(texts)
        ids = np.array([e.ids for e in enc], dtype=np.int64)
        mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
        out = self._session.run(None, {"input_ids": ids, "attention_mask": mask,
                                       "token_type_ids": np.zeros_like(ids)})[0]
        return np.asarray(out, dtype=np.float32)

    def embed(self, texts: Sequence[str], *, batch_size: int = BATCH,
              progress: Progress | None = None) -> np.ndarray:
        from rag.index.batching import embed_by_length

        return embed_by_length(texts, self.dim, batch_size, self._run, progress, workers=self._workers)
