"""Write a tiny random-weight llama GGUF that llama.cpp loads and generates with, for tests.

The model is a few hundred KB: 2 layers, n_embd 64, a GPT-2 style byte-level BPE vocabulary (all 256
bytes, a handful of merges, ChatML control tokens) and a `tokenizer.chat_template`. Weights are random
but shaped so the output stays printable ASCII: dimension 0 of the residual stream is a constant that
no layer writes to, so the output matrix's column 0 acts as a per-token logit bias. Non-printable
bytes and control tokens get a large negative bias (the model never stops by itself; tests bound it
with max_tokens, and a grammar can still force the end-of-generation token). Everything is derived from
a fixed numpy seed, so the file is byte-identical on every run.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

DEFAULT: object = object()
"""Marker for `make_tiny_gguf`'s default chat template (ChatML)."""

N_EMBD = 64
N_HEAD = 4
N_HEAD_KV = 2
N_FF = 128
N_LAYER = 2
CONTEXT_LENGTH = 4096
BIAS_DIM_VALUE = 8.0

SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")
MERGES = ("Ġ t", "h e", "i n", "Ġ a", "e r", "Ġt he")


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte -> printable character map, which llama.cpp's BPE vocab expects."""
    printable = (
        list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    )
    chars = printable[:]
    n = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + n)
            n += 1
    return dict(zip(printable, (chr(c) for c in chars), strict=True))


def vocabulary() -> tuple[list[str], list[int], list[str]]:
    """Tokens, their gguf token types, and the BPE merges."""
    import gguf

    byte_chars = bytes_to_unicode()
    tokens = [byte_chars[b] for b in range(256)]
    for merge in MERGES:
        merged = merge.replace(" ", "")
        if merged not in tokens:
            tokens.append(merged)
    types = [int(gguf.TokenType.NORMAL)] * len(tokens)
    for special in SPECIAL_TOKENS:
        tokens.append(special)
        types.append(int(gguf.TokenType.CONTROL))
    return tokens, types, list(MERGES)


def _logit_bias(tokens: list[str]) -> np.ndarray:
    """Per-token bias: printable ASCII is allowed, everything else is pushed far down."""
    byte_of = {c: b for b, c in bytes_to_unicode().items()}
    bias = np.full(len(tokens), -12.0, dtype=np.float32)
    for i, tok in enumerate(tokens):
        if tok in SPECIAL_TOKENS:
            continue
        raw = bytes(byte_of[c] for c in tok)
        if all(0x20 <= b < 0x7F for b in raw):
            bias[i] = 0.0
    # A little extra weight on '[' and '.' so grammar-constrained sampling reaches the citation and
    # sentence-end rules within a few dozen tokens instead of hundreds.
    for ch, extra in (("[", 2.0), (".", 1.0)):
        bias[tokens.index(ch)] = extra
    return bias


def make_tiny_gguf(path: Path, *, chat_template: str | object | None = DEFAULT) -> Path:
    """Write the tiny model to `path` and return it. `chat_template=None` writes no template."""
    import gguf

    template = CHATML_TEMPLATE if chat_template is DEFAULT else chat_template
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1234)
    tokens, types, merges = vocabulary()
    n_vocab = len(tokens)
    head_dim = N_EMBD // N_HEAD

    def rand(*shape: int, scale: float = 0.05) -> np.ndarray:
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    def no_write_to_bias_dim(w: np.ndarray) -> np.ndarray:
        # Rows of a projection into the residual stream: row 0 would write to the bias dimension.
        w[0, :] = 0.0
        return w

    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name("tiny-random-llama")
    writer.add_context_length(CONTEXT_LENGTH)
    writer.add_embedding_length(N_EMBD)
    writer.add_block_count(N_LAYER)
    writer.add_feed_forward_length(N_FF)
    writer.add_head_count(N_HEAD)
    writer.add_head_count_kv(N_HEAD_KV)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_rope_dimension_count(head_dim)
    writer.add_rope_freq_base(10000.0)
    writer.add_vocab_size(n_vocab)
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("qwen2")
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges(merges)
    writer.add_bos_token_id(tokens.index("<|endoftext|>"))
    writer.add_eos_token_id(tokens.index("<|im_end|>"))
    writer.add_add_bos_token(False)
    if template is not None:
        writer.add_chat_template(str(template))

    embd = rand(n_vocab, N_EMBD, scale=1.0)
    embd[:, 0] = BIAS_DIM_VALUE
    out = rand(n_vocab, N_EMBD, scale=0.25)
    # Layer weights are small, so the residual stream stays close to the embedding and, after
    # RMSNorm, dimension 0 of the final hidden state is about 8 / sqrt((64 + 63) / 64) ~ 5.7.
    out[:, 0] = _logit_bias(tokens) / 5.7

    writer.add_tensor("token_embd.weight", embd.astype(np.float16))
    for i in range(N_LAYER):
        p = f"blk.{i}"
        writer.add_tensor(f"{p}.attn_norm.weight", np.ones(N_EMBD, dtype=np.float32))
        writer.add_tensor(f"{p}.attn_q.weight", rand(N_HEAD * head_dim, N_EMBD).astype(np.float16))
        writer.add_tensor(f"{p}.attn_k.weight", rand(N_HEAD_KV * head_dim, N_EMBD).astype(np.float16))
        writer.add_tensor(f"{p}.attn_v.weight", rand(N_HEAD_KV * head_dim, N_EMBD).astype(np.float16))
        writer.add_tensor(
            f"{p}.attn_output.weight", no_write_to_bias_dim(rand(N_EMBD, N_HEAD * head_dim)).astype(np.float16)
        )
        writer.add_tensor(f"{p}.ffn_norm.weight", np.ones(N_EMBD, dtype=np.float32))
        writer.add_tensor(f"{p}.ffn_gate.weight", rand(N_FF, N_EMBD).astype(np.float16))
        writer.add_tensor(f"{p}.ffn_up.weight", rand(N_FF, N_EMBD).astype(np.float16))
        writer.add_tensor(f"{p}.ffn_down.weight", no_write_to_bias_dim(rand(N_EMBD, N_FF)).astype(np.float16))
    writer.add_tensor("output_norm.weight", np.ones(N_EMBD, dtype=np.float32))
    writer.add_tensor("output.weight", out.astype(np.float16))

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path
