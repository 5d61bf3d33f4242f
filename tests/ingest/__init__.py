"""Tests of rag.ingest: files -> cleaned, dated Documents."""
