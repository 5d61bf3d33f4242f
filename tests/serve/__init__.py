"""Tests of rag.serve: the engine and `rag serve`, the MCP server, with the SDK's own client."""
