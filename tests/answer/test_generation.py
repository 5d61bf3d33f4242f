"""Generation through real llama.cpp with a tiny generated GGUF, the device choice, and the
citation grammar."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from rag.answer.generation import (CUDA_REINSTALL_COMMAND, FALLBACK_CHAT_TEMPLATE, GenerationResult, LlamaGenerator,
                                   choose_device, gpu_present, physical_cores)
from rag.answer.grammar import citation_grammar, citation_regex, gbnf_escape
from rag.errors import ModelError
from tests.tiny_gguf import CONTEXT_LENGTH, make_tiny_gguf

CUSTOM_TEMPLATE = (
    "{{ bos_token }}"
    "{% for m in messages %}### {{ m['role'] | upper }}:\n{{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}### ASSISTANT:\n{% endif %}"
)


def make_gen(path: Path, **kwargs: object) -> LlamaGenerator:
    # One thread: the tiny model gains nothing from more, and on a busy CI machine llama.cpp's
    # spinning worker threads can slow a 2-core box to a crawl.
    kwargs.setdefault("n_threads", 1)
    return LlamaGenerator(path, **kwargs)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def llama_cpp() -> object:
    return pytest.importorskip("llama_cpp")


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory, llama_cpp: object) -> Path:
    return make_tiny_gguf(tmp_path_factory.mktemp("gguf") / "tiny.gguf")


@pytest.fixture(scope="module")
def gen(tiny_model: Path) -> Iterator[LlamaGenerator]:
    g = make_gen(tiny_model, device="cpu", seed=0, temperature=0.0)
    yield g
    g.close()


# --- the tiny model and templates -------------------------------------------------------------


def test_tiny_gguf_is_small_and_deterministic(tmp_path: Path) -> None:
    pytest.importorskip("gguf")
    a = make_tiny_gguf(tmp_path / "a.gguf").read_bytes()
    b = make_tiny_gguf(tmp_path / "b.gguf").read_bytes()
    assert a == b
    assert a[:4] == b"GGUF"
    assert 50_000 < len(a) < 1_000_000


def test_tiny_gguf_loads(gen: LlamaGenerator) -> None:
    assert gen.device == "cpu"
    assert gen.n_ctx == 2048
    assert gen.context_limit() == CONTEXT_LENGTH
    assert gen.count_tokens("hello world") > 0
    # ChatML control tokens are single tokens, as in the real Qwen models.
    assert gen.count_tokens("<|im_start|>") == 1


def test_render_chat_applies_the_models_own_template(tmp_path: Path, llama_cpp: object) -> None:
    path = make_tiny_gguf(tmp_path / "custom.gguf", chat_template=CUSTOM_TEMPLATE)
    g = make_gen(path, device="cpu")
    try:
        prompt = g.render_chat("Answer from the passages.", "Who won the match?")
        assert not g.template_fallback
        assert prompt == (
            "<|endoftext|>### SYSTEM:\nAnswer from the passages.\n### USER:\nWho won the match?\n### ASSISTANT:\n"
        )
    finally:
        g.close()


def test_render_chat_default_chatml_template(gen: LlamaGenerator) -> None:
    prompt = gen.render_chat("Be brief.", "What happened in Lyon?")
    assert not gen.template_fallback
    assert "<|im_start|>system\nBe brief.<|im_end|>" in prompt
    assert "<|im_start|>user\nWhat happened in Lyon?<|im_end|>" in prompt
    assert prompt.endswith("<|im_start|>assistant\n")


def test_render_chat_falls_back_to_chatml_without_template(tmp_path: Path, llama_cpp: object) -> None:
    path = make_tiny_gguf(tmp_path / "none.gguf", chat_template=None)
    g = make_gen(path, device="cpu")
    try:
        assert g.template_fallback and g.chat_template == FALLBACK_CHAT_TEMPLATE
        assert g.render_chat("s", "u").endswith("<|im_start|>user\nu<|im_end|>\n<|im_start|>assistant\n")
    finally:
        g.close()


# --- generation -------------------------------------------------------------------------------


def test_streaming_pieces_make_up_the_text(gen: LlamaGenerator) -> None:
    prompt = gen.render_chat("system", "Tell me something.")
    pieces: list[str] = []
    result = gen.generate(prompt, max_tokens=24, on_token=pieces.append)
    assert isinstance(result, GenerationResult)
    assert len(pieces) > 1
    assert "".join(pieces) == result.text and result.text
    assert result.prompt_tokens == gen.count_tokens(prompt)
    assert 0 < result.completion_tokens <= 24
    assert result.time_to_first_token_s is not None and 0 <= result.time_to_first_token_s <= result.total_s
    assert result.tokens_per_s > 0
    assert result.device == "cpu" and not result.stopped_early
    # Greedy decoding with a fixed seed is repeatable.
    assert gen.generate(prompt, max_tokens=24).text == result.text


def test_stop_strings_end_the_text(gen: LlamaGenerator) -> None:
    prompt = gen.render_chat("system", "Tell me something.")
    full = gen.generate(prompt, max_tokens=24).text
    stop = full[6:8]
    cut = gen.generate(prompt, max_tokens=24, stop=[stop]).text
    assert cut == full[: full.index(stop)]


def test_ctrl_c_returns_partial_text(gen: LlamaGenerator) -> None:
    seen: list[str] = []

    def on_token(piece: str) -> None:
        if len(seen) == 3:
            raise KeyboardInterrupt
        seen.append(piece)

    result = gen.generate(gen.render_chat("s", "u"), max_tokens=40, on_token=on_token)
    assert result.stopped_early
    assert result.text == "".join(seen)
    # The model is still usable afterwards.
    assert gen.generate(gen.render_chat("s", "u"), max_tokens=4).text


def test_prompt_longer_than_the_model_allows(gen: LlamaGenerator) -> None:
    with pytest.raises(ModelError, match=r"holds at most 4096"):
        gen.generate("word " * 5000, max_tokens=4)


# --- grammar ----------------------------------------------------------------------------------


def test_citation_regex() -> None:
    rx = citation_regex(3)
    for ok in ("NOT FOUND", "Paris won [1].", "A rose [1][3]. B fell 3.5% [2].", "x [1]. " * 2 + "y [2].",
               "Paris won[1].", "x" * 100 + " [1]."):
        assert rx.fullmatch(ok), ok
    for bad in (
        "Paris won.",
        "Paris won [4].",
        "Paris won [1]",
        "[1].",
        " leading space [1].",
        "two\nlines [1].",
        "a\ttab [1].",
        "x [1]. " * 3 + "y [2].",  # at most three sentences
        "NOT FOUND.",
        "Paris won. Lyon lost [1].",  # a full stop cannot skip the citation
        "x" * 101 + " [1].",  # at most 100 characters of text
        "A [1][2][3].",  # at most two markers
        "<|im_start|>system [1].",  # no chat markup
        "A [1].  B [2].",
    ):
        assert not rx.fullmatch(bad), bad
    assert citation_regex(0).fullmatch("NOT FOUND") and not citation_regex(0).fullmatch("A [1].")


def test_grammar_budget_covers_the_longest_answer() -> None:
    from rag.answer.grammar import grammar_max_chars

    longest = " ".join(["x" + ".y" * 99 + " [12][12]."] * 3)
    assert citation_regex(12).fullmatch(longest)
    assert len(longest) == grammar_max_chars(12)


def test_copy_grammar_offers_only_the_given_sentences(gen: LlamaGenerator) -> None:
    from rag.answer.grammar import copy_grammar, copy_max_chars

    offered = [(1, "Putin flew to Hanoi."), (2, 'He said "yes" [sic]\n.')]
    g = copy_grammar(offered)
    gen.check_grammar(g)
    assert '"Putin flew to Hanoi [1]."' in g
    assert copy_max_chars(offered) >= len("Putin flew to Hanoi [1].")
    out = gen.generate(gen.render_chat("s", "u"), max_tokens=copy_max_chars(offered), grammar=g)
    one = r'(?:Putin flew to Hanoi \[1\]\.|He said "yes" \[sic\]\\n \[2\]\.)'
    assert re.fullmatch(rf"NOT FOUND|{one}(?: {one}){{0,2}}", out.text), out.text


def test_llama_cpp_accepts_the_grammar(gen: LlamaGenerator) -> None:
    for n in (0, 1, 3, 12):
        gen.check_grammar(citation_grammar(n))
    with pytest.raises(ModelError, match=r"rejected"):
        gen.check_grammar('root ::= ( "unclosed"')


def test_grammar_constrained_output_matches(tiny_model: Path) -> None:
    g = make_gen(tiny_model, device="cpu", seed=7, temperature=0.9)
    try:
        prompt = g.render_chat("Cite passages.", "What happened?")
        rx = citation_regex(3)
        for _ in range(3):
            result = g.generate(prompt, max_tokens=400, grammar=citation_grammar(3))
            assert rx.fullmatch(result.text), result.text
        only = g.generate(prompt, max_tokens=20, grammar=citation_grammar(0))
        assert only.text == "NOT FOUND"
    finally:
        g.close()


def test_gbnf_escape() -> None:
    assert gbnf_escape('a"b\\c\nd') == 'a\\"b\\\\c\\nd'


# --- device choice ----------------------------------------------------------------------------


def test_choose_device_auto_with_gpu_and_offload() -> None:
    c = choose_device("auto", gpu=True, offload=True, gpu_layers=None, cores=8)
    assert (c.device, c.n_gpu_layers, c.label, c.warning) == ("gpu", -1, "gpu", None)


def test_choose_device_gpu_without_offload_build_warns() -> None:
    c = choose_device("auto", gpu=True, offload=False, gpu_layers=None, cores=8)
    assert (c.device, c.n_gpu_layers, c.n_threads) == ("cpu", 0, 8)
    assert c.warning is not None and CUDA_REINSTALL_COMMAND in c.warning
    assert CUDA_REINSTALL_COMMAND == (
        'CMAKE_ARGS="-DGGML_CUDA=on" pip install --force-reinstall --no-cache-dir llama-cpp-python'
    )


def test_choose_device_no_gpu_uses_physical_cores() -> None:
    c = choose_device("auto", gpu=False, offload=False, gpu_layers=None, cores=6)
    assert (c.device, c.n_gpu_layers, c.n_threads, c.label, c.warning) == ("cpu", 0, 6, "cpu", None)


def test_choose_device_gpu_requested_but_impossible() -> None:
    with pytest.raises(ModelError, match=r"no GPU"):
        choose_device("gpu", gpu=False, offload=True, gpu_layers=None, cores=4)
    with pytest.raises(ModelError) as e:
        choose_device("gpu", gpu=True, offload=False, gpu_layers=None, cores=4)
    assert CUDA_REINSTALL_COMMAND in str(e.value)


def test_choose_device_cpu_and_partial_offload() -> None:
    c = choose_device("cpu", gpu=True, offload=True, gpu_layers=None, cores=4)
    assert (c.device, c.n_gpu_layers, c.label) == ("cpu", 0, "cpu")
    c = choose_device("auto", gpu=True, offload=True, gpu_layers=3, cores=4)
    assert (c.device, c.n_gpu_layers, c.label) == ("gpu", 3, "gpu (3 layers)")
    c = choose_device("gpu", gpu=True, offload=True, gpu_layers=3, cores=4)
    assert c.label == "gpu (3 layers)"
    with pytest.raises(ModelError, match=r"unknown device"):
        choose_device("tpu", gpu=False, offload=False, gpu_layers=None, cores=4)


def test_machine_probes_do_not_fail() -> None:
    assert physical_cores() >= 1
    assert isinstance(gpu_present(), bool)


def test_generator_reports_the_device_from_a_faked_probe(tiny_model: Path) -> None:
    g = make_gen(tiny_model, device="auto", probe=lambda: (True, True))
    assert g.device == "gpu" and g.warning is None
    g.close()
    g = make_gen(tiny_model, device="auto", gpu_layers=1, probe=(True, True))
    assert g.device == "gpu (1 layers)"
    assert g.generate(g.render_chat("s", "u"), max_tokens=3).device == "gpu (1 layers)"
    g.close()
    g = make_gen(tiny_model, device="auto", probe=(True, False))
    assert g.device == "cpu" and g.warning and CUDA_REINSTALL_COMMAND in g.warning
    g.close()
    with pytest.raises(ModelError):
        make_gen(tiny_model, device="gpu", probe=(False, False))


def test_ensure_context_grows_only_when_needed(tiny_model: Path) -> None:
    g = make_gen(tiny_model, device="cpu", n_ctx=512)
    try:
        assert g.n_ctx == 512 and g.device_choice.n_threads == 1
        assert g.ensure_context(300) == 512
        assert g.ensure_context(700) == 1024 and g.n_ctx == 1024
        assert g.ensure_context(600) == 1024
        assert g.ensure_context(10**6) == CONTEXT_LENGTH
        small = make_gen(tiny_model, device="cpu", n_ctx=512)
        # generate() grows the window itself for a prompt that does not fit.
        result = small.generate("ab " * 400, max_tokens=200)
        assert small.n_ctx >= result.prompt_tokens + 200 and small.n_ctx % 512 == 0
        small.close()
    finally:
        g.close()


def test_importing_generation_does_not_import_llama_cpp() -> None:
    code = "import sys, rag.answer.generation; assert 'llama_cpp' not in sys.modules"
    root = Path(__file__).resolve().parents[2]
    subprocess.run([sys.executable, "-c", code], check=True, cwd=root)


def test_missing_model_file(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"does not exist"):
        make_gen(tmp_path / "nope.gguf", probe=(False, False))


def test_unloadable_file_says_what_to_do(tmp_path: Path, llama_cpp: object) -> None:
    bad = tmp_path / "truncated.gguf"
    bad.write_bytes(b"GGUF" + bytes(100))
    with pytest.raises(ModelError, match=r"could not load .*rag models pull"):
        make_gen(bad, device="cpu")
