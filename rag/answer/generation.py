"""Text generation with a local GGUF model through llama.cpp, and the choice of CPU or GPU.

`LlamaGenerator` wraps `llama_cpp.Llama`: it renders prompts with the model's own chat template,
streams tokens to a callback, sizes the context window to the prompt, and stops cleanly on Ctrl-C.
The device decision (`choose_device`) is a pure function of what was asked for and what the machine
and the installed llama.cpp build can do, so every branch is testable without a GPU. `llama_cpp` is
imported only inside functions: importing this module (e.g. for `rag --help`) stays cheap.

`prompt_budget` is how many prompt tokens a question may take with this model on this machine
(from its size, the device and the cores). The grammars for the writer styles are in
rag/answer/grammar.py.

Article text is never parsed for control tokens: `render_chat` remembers which parts of the prompt
came from the template, and only those are tokenized with special tokens enabled, so a passage
holding `<|im_start|>system` stays plain text.
"""

from __future__ import annotations

import math
import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from rag.errors import ModelError

CUDA_REINSTALL_COMMAND = 'CMAKE_ARGS="-DGGML_CUDA=on" pip install --force-reinstall --no-cache-dir llama-cpp-python'
CONTEXT_STEP = 512
INITIAL_CONTEXT = 2048
REPEAT_PENALTY = 1.15
PROMPT_SECONDS = 6.0  # on a CPU, how long reading a question's passages may take
CPU_GFLOPS_PER_CORE = 125.0  # prompt reading per physical core (a 1.5B read 860 tokens in < 10.8 s on 2 cores)
MIN_BUDGET = 350  # prompt tokens: the narrowest useful prompt (k = 5 passages, a sentence or two each)
MAX_BUDGET = 600  # the largest reader prompt measured on the dev weeks; larger ones were not, so none ships

_SYSTEM_SLOT = "\ue000rag-system\ue001"
_USER_SLOT = "\ue000rag-user\ue001"

FALLBACK_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
"""ChatML, used only for a model whose GGUF carries no `tokenizer.chat_template`."""


@dataclass(frozen=True)
class GenerationResult:
    text: str
    prompt_tokens: int
    completion_tokens: int
    time_to_first_token_s: float | None  # None when nothing was generated
    total_s: float
    tokens_per_s: float
    device: str
    stopped_early: bool  # interrupted by KeyboardInterrupt; `text` is what came before


class Generator(Protocol):
    name: str
    device: str

    def count_tokens(self, text: str) -> int: ...

    def context_limit(self) -> int: ...

    def render_chat(self, system: str, user: str) -> str: ...

    def generate(
        self,
        prompt: str,
        *,
        max_tokens: int,
        grammar: str | None = None,
        on_token: Callable[[str], None] | None = None,
        stop: list[str] | None = None,
    ) -> GenerationResult: ...


# --- device choice ----------------------------------------------------------------------------


@dataclass(frozen=True)
class DeviceChoice:
    device: str  # "cpu" or "gpu"
    n_gpu_layers: int  # -1 = all layers
    n_threads: int
    warning: str | None = None

    @property
    def label(self) -> str:
        """What the user is told: "cpu", "gpu", or "gpu (N layers)" for a partial offload."""
        if self.device == "cpu":
            return "cpu"
        if self.n_gpu_layers < 0:
            return "gpu"
        return f"gpu ({self.n_gpu_layers} layers)"


def gpu_present() -> bool:
    """Whether the machine has a GPU llama.cpp could use, probed without importing torch."""
    try:
        if Path("/dev/nvidia0").exists() or Path("/dev/kfd").exists():
            return True
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=5, check=False)
        return out.returncode == 0 and "GPU" in out.stdout
    except Exception:
        # A missing nvidia-smi, a hung driver or a sandbox without /dev all mean "no usable GPU".
        return False


def offload_supported() -> bool:
    """Whether the installed llama.cpp build can put layers on a GPU (CUDA, ROCm, Metal, Vulkan)."""
    try:
        import llama_cpp

        return bool(llama_cpp.llama_supports_gpu_offload())
    except Exception:
        return False


def physical_cores() -> int:
    """Physical cores this process may use. llama.cpp runs slower on hyper-threads than on cores."""
    cores = _cores_from_cpuinfo() or _cores_from_sysfs() or os.cpu_count() or 1
    try:
        allowed = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        allowed = cores
    return max(1, min(cores, allowed))


def _cores_from_cpuinfo() -> int | None:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None
    pairs: set[tuple[str, str]] = set()
    physical = core = None
    for line in [*text.splitlines(), ""]:
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "physical id":
            physical = value.strip()
        elif key == "core id":
            core = value.strip()
        elif not line.strip():
            if physical is not None and core is not None:
                pairs.add((physical, core))
            physical = core = None
    return len(pairs) or None


def _cores_from_sysfs() -> int | None:
    pairs: set[tuple[str, str]] = set()
    for topo in Path("/sys/devices/system/cpu").glob("cpu[0-9]*/topology"):
        try:
            pairs.add(((topo / "physical_package_id").read_text().strip(), (topo / "core_id").read_text().strip()))
        except OSError:
            continue
    return len(pairs) or None


def choose_device(requested: str, *, gpu: bool, offload: bool, gpu_layers: int | None, cores: int) -> DeviceChoice:
    """Decide where to run. `requested` is auto, cpu or gpu; `gpu`/`offload` are what the machine
    and the llama.cpp build can do; `gpu_layers` asks for a partial offload of that many layers."""
    requested = requested.lower()
    threads = max(1, cores)
    if requested not in ("auto", "cpu", "gpu"):
        raise ModelError(f"unknown device {requested!r}; use auto, cpu or gpu")
    if requested == "cpu":
        return DeviceChoice("cpu", 0, threads)
    layers = -1 if gpu_layers is None or gpu_layers < 0 else gpu_layers
    if gpu and offload:
        if layers == 0:
            return DeviceChoice("cpu", 0, threads)
        return DeviceChoice("gpu", layers, threads)
    if requested == "gpu":
        if not gpu:
            raise ModelError(
                "--device gpu was asked for, but no GPU was found (nvidia-smi lists none); use --device cpu"
            )
        raise ModelError(
            "--device gpu was asked for, but this llama-cpp-python build cannot offload to a GPU. "
            f"Reinstall it with GPU support: {CUDA_REINSTALL_COMMAND}"
        )
    if gpu:
        return DeviceChoice(
            "cpu",
            0,
            threads,
            warning=(
                "a GPU is present but this llama-cpp-python build cannot use it, so the model runs on the CPU. "
                f"For GPU speed, reinstall it with: {CUDA_REINSTALL_COMMAND}"
            ),
        )
    return DeviceChoice("cpu", 0, threads)


def prompt_budget_for(n_params: int, threads: int, ceiling: int = MAX_BUDGET) -> int:
    """Prompt tokens a CPU reads in PROMPT_SECONDS: CPU_GFLOPS_PER_CORE per thread, two FLOPs per
    parameter per token; between MIN_BUDGET and `ceiling`."""
    tokens_per_s = CPU_GFLOPS_PER_CORE * 1e9 * max(threads, 1) / (2 * max(n_params, 1))
    return int(max(MIN_BUDGET, min(ceiling, tokens_per_s * PROMPT_SECONDS)))


# --- llama.cpp generator ----------------------------------------------------------------------


Probe = Callable[[], tuple[bool, bool]]


class LlamaGenerator:
    """A GGUF model loaded with llama.cpp. Not thread-safe: one generation at a time."""

    def __init__(
        self,
        model_path: Path,
        *,
        device: str = "auto",
        gpu_layers: int | None = None,
        seed: int = 0,
        temperature: float = 0.0,
        n_ctx: int | None = None,
        probe: Probe | tuple[bool, bool] | None = None,
        n_threads: int | None = None,
    ) -> None:
        """`probe` replaces the (gpu_present, offload_supported) probe, for tests; `n_threads`
        overrides the physical core count, e.g. on a machine shared with other work."""
        self.model_path = Path(model_path)
        if not self.model_path.is_file():
            raise ModelError(f"model file {self.model_path} does not exist")
        self.name = self.model_path.stem
        self.seed = seed
        self.temperature = temperature
        if probe is None:
            has_gpu, can_offload = gpu_present(), offload_supported()
        elif callable(probe):
            has_gpu, can_offload = probe()
        else:
            has_gpu, can_offload = probe
        self.device_choice = choose_device(
            device,
            gpu=has_gpu,
            offload=can_offload,
            gpu_layers=gpu_layers,
            cores=n_threads if n_threads is not None else physical_cores(),
        )
        self.device = self.device_choice.label
        self.warning = self.device_choice.warning

        self._llm: Any = None
        self._n_ctx_train = 0
        self._load(n_ctx if n_ctx is not None else INITIAL_CONTEXT)
        if n_ctx is None and self._n_ctx_train and self._n_ctx_train < self.n_ctx:
            self._load(self._n_ctx_train)

        metadata: dict[str, str] = dict(getattr(self._llm, "metadata", {}) or {})
        template = metadata.get("tokenizer.chat_template")
        self.template_fallback = not template
        """True when the GGUF has no chat template and ChatML is used instead."""
        self.chat_template: str = template or FALLBACK_CHAT_TEMPLATE
        self._formatter: Any = None
        self._segments: dict[str, tuple[tuple[str, bool], ...]] = {}

    # -- loading ------------------------------------------------------------------------------

    def _load(self, n_ctx: int) -> None:
        import llama_cpp

        if self._llm is not None:
            self._llm.close()
            self._llm = None
        choice = self.device_choice
        try:
            self._llm = llama_cpp.Llama(
                model_path=str(self.model_path),
                n_ctx=n_ctx,
                n_gpu_layers=choice.n_gpu_layers,
                n_threads=choice.n_threads,
                n_threads_batch=choice.n_threads,
                seed=self.seed,
                verbose=False,
            )
        except (ValueError, RuntimeError, OSError) as e:
            hint = "the file may be incomplete or not a GGUF model: delete it and run `rag models pull` again"
            if choice.device == "gpu":
                hint = "the GPU may be out of memory (try --gpu-layers with fewer layers, or --device cpu), or " + hint
            raise ModelError(f"llama.cpp could not load {self.model_path} ({e}); {hint}") from e
        self._n_ctx_train = int(self._llm._model.n_ctx_train())

    @property
    def n_ctx(self) -> int:
        """The context window currently allocated."""
        return int(self._llm.n_ctx())

    def context_limit(self) -> int:
        """The largest context the model was trained for."""
        return self._n_ctx_train or self.n_ctx

    def ensure_context(self, n_tokens: int) -> int:
        """Make the context window hold `n_tokens`, reloading the model with a larger one (a multiple
        of 512, at most the training context) only when the current one is too small. Returns the
        window size now in use, which is smaller than `n_tokens` when the model cannot go that far."""
        if n_tokens <= self.n_ctx:
            return self.n_ctx
        wanted = min(math.ceil(n_tokens / CONTEXT_STEP) * CONTEXT_STEP, self.context_limit())
        if wanted > self.n_ctx:
            self._load(wanted)
        return self.n_ctx

    def prompt_budget(self) -> int:
        """The prompt tokens a question may take with this model here: at most MAX_BUDGET (on a GPU,
        where speed does not bind), and on a CPU what it reads in about PROMPT_SECONDS, estimated
        from its size (a prompt token costs about two FLOPs a parameter) and the cores it runs on."""
        ceiling = min(MAX_BUDGET, self.context_limit() // 2)
        if self.device_choice.device == "gpu":
            return ceiling
        return prompt_budget_for(int(self._llm._model.n_params()), self.device_choice.n_threads, ceiling)

    def close(self) -> None:
        if self._llm is not None:
            self._llm.close()
            self._llm = None

    # -- tokens and templates -----------------------------------------------------------------

    def _tokenize(self, text: str) -> list[int]:
        """Tokens of a prompt, with BOS when the model's tokenizer asks for it. For a prompt made
        by `render_chat`, only the template's own text may hold control tokens such as
        <|im_start|>; the system and user contents (passages, titles, the question) are plain text.
        Any other text is tokenized as create_completion would (control tokens parsed)."""
        add_bos = bool(self._llm._model.add_bos_token())
        segments = self._segments.get(text)
        if segments is None:
            return list(self._llm.tokenize(text.encode("utf-8"), add_bos=add_bos, special=True))
        tokens: list[int] = []
        for i, (part, special) in enumerate(segments):
            if part:
                tokens += self._llm.tokenize(part.encode("utf-8"), add_bos=add_bos and not tokens, special=special)
        return tokens

    def count_tokens(self, text: str) -> int:
        return len(self._tokenize(text))

    def _token_text(self, token: int) -> str:
        if token < 0:
            return ""
        return str(self._llm._model.token_get_text(token))

    def render_chat(self, system: str, user: str) -> str:
        """The prompt text for a system + user turn, by the model's own chat template, ending where
        the assistant's reply begins."""
        if self._formatter is None:
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter

            self._formatter = Jinja2ChatFormatter(
                template=self.chat_template,
                eos_token=self._token_text(self._llm.token_eos()),
                bos_token=self._token_text(self._llm.token_bos()),
                add_generation_prompt=True,
            )
        messages = [{"role": "system", "content": _SYSTEM_SLOT}, {"role": "user", "content": _USER_SLOT}]
        try:
            skeleton = str(self._formatter(messages=messages).prompt)
        except Exception as e:
            raise ModelError(f"the chat template of {self.name} failed to render: {e}") from e
        if skeleton.count(_SYSTEM_SLOT) != 1 or skeleton.count(_USER_SLOT) != 1:
            raise ModelError(f"the chat template of {self.name} does not place the system and user messages once each")
        head, rest = skeleton.split(_SYSTEM_SLOT)
        middle, tail = rest.split(_USER_SLOT)
        # Templates such as Llama 3's start with the BOS text; the tokenizer adds BOS itself, and a
        # doubled BOS degrades answers.
        bos = self._token_text(self._llm.token_bos())
        if bos and self._llm._model.add_bos_token() and head.startswith(bos):
            head = head[len(bos) :]
        segments = ((head, True), (system, False), (middle, True), (user, False), (tail, True))
        prompt = "".join(part for part, _ in segments)
        self._segments[prompt] = segments
        while len(self._segments) > 16:
            self._segments.pop(next(iter(self._segments)))
        return prompt

    def check_grammar(self, grammar: str) -> None:
        """Raise ModelError unless llama.cpp parses `grammar`. (`LlamaGrammar.from_string` does not
        parse; a grammar that fails later, inside sampling, would crash the process.)"""
        import llama_cpp

        sampler = llama_cpp.llama_sampler_init_grammar(self._llm._model.vocab, grammar.encode("utf-8"), b"root")
        if not sampler:
            raise ModelError("llama.cpp rejected the generation grammar (GBNF parse error)")
        llama_cpp.llama_sampler_free(sampler)

    # -- generation ---------------------------------------------------------------------------

    def generate(
        self,
        prompt: str,
        *,
        max_tokens: int,
        grammar: str | None = None,
        on_token: Callable[[str], None] | None = None,
        stop: list[str] | None = None,
    ) -> GenerationResult:
        """Complete `prompt` (already chat-rendered), streaming each piece to `on_token`.

        Ctrl-C during generation stops it and returns the text so far with `stopped_early=True`.
        """
        from llama_cpp import LlamaGrammar

        start = time.perf_counter()
        prompt_tokens = self.count_tokens(prompt)
        limit = self.context_limit()
        if prompt_tokens >= limit:
            raise ModelError(
                f"the prompt has {prompt_tokens} tokens but {self.name} holds at most {limit}; "
                "retrieve fewer passages (lower -k) or ask a shorter question"
            )
        self.ensure_context(prompt_tokens + max_tokens)
        max_tokens = max(1, min(max_tokens, self.n_ctx - prompt_tokens))
        llama_grammar = None
        if grammar is not None:
            self.check_grammar(grammar)
            llama_grammar = LlamaGrammar.from_string(grammar, verbose=False)

        pieces: list[str] = []
        first: float | None = None
        stopped_early = False
        stream = self._llm.create_completion(
            self._tokenize(prompt),
            max_tokens=max_tokens,
            temperature=self.temperature,
            repeat_penalty=REPEAT_PENALTY,
            seed=self.seed,
            grammar=llama_grammar,
            stop=list(stop or []),
            stream=True,
        )
        try:
            for chunk in stream:
                piece = chunk["choices"][0]["text"]
                if not piece:
                    continue
                if first is None:
                    first = time.perf_counter()
                if on_token is not None:
                    on_token(piece)
                # Appended after the callback so that the text returned is exactly what the caller
                # was shown, also when Ctrl-C lands inside the callback.
                pieces.append(piece)
        except KeyboardInterrupt:
            stopped_early = True
        finally:
            stream.close()
        total = time.perf_counter() - start

        text = "".join(pieces)
        completion_tokens = len(self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)) if text else 0
        ttft = (first - start) if first is not None else None
        decode_s = total - ttft if ttft is not None else total
        if completion_tokens > 1 and decode_s > 0:
            # The first token's time is prompt processing; the rate is for the tokens after it.
            rate = (completion_tokens - 1) / decode_s
        else:
            rate = completion_tokens / total if total > 0 else 0.0
        return GenerationResult(
            text=text,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            time_to_first_token_s=ttft,
            total_s=total,
            tokens_per_s=rate,
            device=self.device,
            stopped_early=stopped_early,
        )
