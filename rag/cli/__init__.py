"""The `rag` command line: typer commands (`app`) and the interactive chat, thin over the library."""

from rag.cli.commands import app, main

__all__ = ["app", "main"]
