"""Test doubles: a scripted generator (returns chosen outputs and records the prompts it was
given) and an embedder that records the texts it embedded."""

from __future__ import annotations

from typing import Callable

from rag.answer.generation import GenerationResult
from rag.index.embedding import HashingEmbedder


class CountingEmbedder(HashingEmbedder):
    """The hashing embedder, recording every text it was asked to embed (`seen`)."""

    def __init__(self) -> None:
        super().__init__(dim=64)
        self.seen: list[str] = []

    def embed(self, texts, *, batch_size=64, progress=None):  # type: ignore[no-untyped-def]
        self.seen.extend(texts)
        return super().embed(texts, batch_size=batch_size, progress=progress)


class ScriptedGenerator:
    def __init__(self, outputs: list[str], name: str = "scripted", context: int = 4096) -> None:
        self.outputs = list(outputs)
        self.prompts: list[str] = []
        self.grammars: list[str | None] = []
        self.name = name
        self.device = "cpu"
        self._context = context

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def context_limit(self) -> int:
        return self._context

    def render_chat(self, system: str, user: str) -> str:
        return f"<|system|>\n{system}\n<|user|>\n{user}\n<|assistant|>\n"

    def generate(self, prompt: str, *, max_tokens: int, grammar: str | None = None,
                 on_token: Callable[[str], None] | None = None, stop: list[str] | None = None
                 ) -> GenerationResult:
        self.prompts.append(prompt)
        self.grammars.append(grammar)
        text = self.outputs.pop(0)
        for piece in text.split(" "):
            if on_token:
                on_token(piece + " ")
        return GenerationResult(text=text, prompt_tokens=self.count_tokens(prompt),
                                completion_tokens=len(text.split()), time_to_first_token_s=0.01,
                                total_s=0.02, tokens_per_s=100.0, device="cpu", stopped_early=False)
