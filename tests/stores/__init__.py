"""Tests of rag.stores: the local index folder and the Milvus store."""
