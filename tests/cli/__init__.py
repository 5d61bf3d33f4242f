"""Tests of rag.cli: the `rag` command and the chat."""
