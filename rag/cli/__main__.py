"""`python -m rag.cli`: the `rag` command."""

from rag.cli.commands import main

main()
