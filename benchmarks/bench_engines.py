"""Which engine runs all-MiniLM-L6-v2 fastest on this CPU, at what quality: the measurement
behind the choice of the `onnx-int8` backend (benchmarks/RESULTS-speed.md).

Usage:
    python benchmarks/bench_engines.py --scifact PATH/TO/beir-scifact --work DIR [--texts 96] [--rounds 2]

Variants, all made here from the bundled model, no download:
  torch            transformers fp32 (what sentence-transformers runs), mean pooling
  ort-int8         the project's backend: ONNX Runtime, MatMul weights int8 per channel, dynamic
  ort-fp32         the same graph unquantized
  ort-fused-int8   ONNX Runtime's BERT fusions (Attention, SkipLayerNorm, BiasGelu) before quantizing
  ort-int8-static  ONNX Runtime on the static int8 (QDQ) graph of ov-int8-static below
  ov-fp32          OpenVINO reading the fp32 graph (its CPU plugin runs bf16 where the CPU has it)
  ov-int8-static   OpenVINO on a static int8 (QDQ) graph calibrated on the seeds articles, with
                   the attention products and each layer's output projection left in float
                   (quantizing them as well cost cosine 0.94 to torch)
OpenVINO variants run only when `import openvino` works (`pip install openvino`; it is not a
dependency of the project). Every variant runs on one thread, so CPU seconds compare engines
without the noise of a shared machine; texts are the first --texts SciFact abstracts (title +
text, cut at 256 word pieces), batch 32, sorted by length. Cosine is to the torch vectors.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent

from bench_embed import scifact_texts  # noqa: E402  (the same abstracts as bench_embed.py)


def make_variants(model_dir: Path, work: Path, calibration: list[str], tokenize) -> dict[str, Path]:  # type: ignore[no-untyped-def]
    import onnx
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                          quantize_static)
    from onnxruntime.transformers import optimizer

    from rag.index.onnx import ensure_onnx, export_fp32

    work.mkdir(parents=True, exist_ok=True)
    out = {"ort-int8": ensure_onnx(model_dir), "ort-fp32": work / "fp32.onnx"}
    if not out["ort-fp32"].exists():
        export_fp32(model_dir, out["ort-fp32"])
    fused, fused_int8 = work / "fused.onnx", work / "fused-int8.onnx"
    if not fused_int8.exists():
        from onnxruntime.quantization import quantize_dynamic

        opt = optimizer.optimize_model(str(out["ort-fp32"]), model_type="bert", num_heads=12, hidden_size=384,
                                       opt_level=1, use_gpu=False)
        opt.save_model_to_file(str(fused))
        quantize_dynamic(str(fused), str(fused_int8), weight_type=QuantType.QInt8, per_channel=True,
                         op_types_to_quantize=["MatMul", "Attention"],
                         extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
    out["ort-fused-int8"] = fused_int8
    static = work / "int8-static.onnx"
    if not static.exists():
        names = [n.name for n in onnx.load(str(out["ort-fp32"]), load_external_data=False).graph.node
                 if n.op_type == "MatMul"]
        keep_float = [n for n in names if "self/MatMul" in n or ("/output/dense" in n and "attention" not in n)]

        class Reader(CalibrationDataReader):
            def __init__(self) -> None:
                self.batches = iter(calibration[i:i + 8] for i in range(0, len(calibration), 8))

            def get_next(self):  # type: ignore[no-untyped-def]
                batch = next(self.batches, None)
                return None if batch is None else tokenize(batch)

        quantize_static(str(out["ort-fp32"]), str(static), Reader(), quant_format=QuantFormat.QDQ,
                        op_types_to_quantize=["MatMul"], nodes_to_exclude=keep_float, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        calibrate_method=CalibrationMethod.MinMax,
                        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
    out["ov-fp32"] = out["ort-fp32"]
    out["ov-int8-static"] = out["ort-int8-static"] = static
    return out


def runner(kind: str, path: Path | None, model_dir: Path):  # type: ignore[no-untyped-def]
    if kind == "torch":
        import torch
        from transformers import AutoModel

        torch.set_num_threads(1)
        model = AutoModel.from_pretrained(str(model_dir)).eval()

        def run(feed):  # type: ignore[no-untyped-def]
            with torch.inference_mode():
                m = torch.from_numpy(feed["attention_mask"])
                h = model(input_ids=torch.from_numpy(feed["input_ids"]), attention_mask=m).last_hidden_state
                mm = m.unsqueeze(-1).float()
                return torch.nn.functional.normalize((h * mm).sum(1) / mm.sum(1), dim=1).numpy()
        return run
    if kind.startswith("ov-"):
        import openvino as ov

        compiled = ov.Core().compile_model(str(path), "CPU", {"INFERENCE_NUM_THREADS": 1, "PERFORMANCE_HINT": "LATENCY"})
        request = compiled.create_infer_request()
        names = [i.get_any_name() for i in compiled.inputs]
        return lambda feed: request.infer({k: feed[k] for k in names})[0].copy()
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    opts.intra_op_num_threads = 1
    session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    return lambda feed: session.run(None, {k: feed[k] for k in names})[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scifact", type=Path, required=True)
    ap.add_argument("--work", type=Path, required=True, help="folder for the model variants")
    ap.add_argument("--texts", type=int, default=96)
    ap.add_argument("--rounds", type=int, default=2)
    a = ap.parse_args()
    import logging

    from tokenizers import Tokenizer

    from rag.index.batching import bundled_model_path

    logging.getLogger().setLevel(logging.ERROR)
    model_dir = Path(bundled_model_path())
    tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tok.enable_truncation(max_length=256)
    tok.enable_padding()

    def tokenize(texts: list[str]) -> dict[str, np.ndarray]:
        enc = tok.encode_batch(texts)
        ids = np.array([e.ids for e in enc], dtype=np.int64)
        return {"input_ids": ids, "attention_mask": np.array([e.attention_mask for e in enc], dtype=np.int64),
                "token_type_ids": np.zeros_like(ids)}

    seeds = " ".join(p.read_text(encoding="utf-8") for p in sorted((ROOT / "seeds").glob("*.txt"))).split()
    calibration = [" ".join(seeds[i:i + 150]) for i in range(0, len(seeds), 150)]
    variants = make_variants(model_dir, a.work, calibration, tokenize)
    texts = scifact_texts(a.scifact, a.texts)
    order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
    batches = [(order[b:b + 32], tokenize([texts[i] for i in order[b:b + 32]])) for b in range(0, len(order), 32)]
    try:
        import openvino  # noqa: F401
        kinds = ["torch", "ort-int8", "ort-fp32", "ort-fused-int8", "ort-int8-static", "ov-fp32", "ov-int8-static"]
    except ImportError:
        kinds = ["torch", "ort-int8", "ort-fp32", "ort-fused-int8", "ort-int8-static"]
    runs = {k: runner(k, variants.get(k), model_dir) for k in kinds}
    for run in runs.values():
        run(batches[-1][1])
    cpu: dict[str, list[float]] = {k: [] for k in runs}
    vecs: dict[str, np.ndarray] = {}
    for _ in range(a.rounds):  # alternating, so a change in the machine's load meets every variant
        for k, run in runs.items():
            out = np.zeros((len(texts), 384), dtype=np.float32)
            c = time.process_time()
            for idx, feed in batches:
                out[idx] = run(feed)
            cpu[k].append(time.process_time() - c)
            vecs[k] = out
    results = {}
    for k in runs:
        cos = (vecs[k] * vecs["torch"]).sum(axis=1)
        best = min(cpu[k])
        results[k] = {"cpu_s": round(best, 2), "texts_per_cpu_s": round(len(texts) / best, 1),
                      "vs_torch": round(min(cpu["torch"]) / best, 2),
                      "cosine_min": round(float(cos.min()), 4), "cosine_mean": round(float(cos.mean()), 4)}
        print(f"{k:16s} {json.dumps(results[k])}", flush=True)


if __name__ == "__main__":
    main()
