"""Tests of rag.index: chunking, embedding, building and updating an index."""
