"""Tests of rag.answer: questions, the extractive reader, the LLM, citations, the pipeline."""
