"""Tests of rag.evaluation: question sets, BEIR, metrics."""
