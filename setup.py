"""Build step only (the project is described in pyproject.toml): ship the repository's top-level
`prompts/` and `models.txt` inside the package as `rag/_data/`, so that an installed `rag` finds
them. The top-level files stay the one source of truth; `rag/resources.py` prefers a project's
own copies and falls back to these."""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent


class BuildPyWithData(build_py):
    def run(self) -> None:
        super().run()
        target = Path(self.build_lib) / "rag" / "_data"
        self.mkpath(str(target / "prompts"))
        for template in sorted((ROOT / "prompts").glob("*.txt")):
            self.copy_file(str(template), str(target / "prompts" / template.name))
        self.copy_file(str(ROOT / "models.txt"), str(target / "models.txt"))


setup(cmdclass={"build_py": BuildPyWithData})
