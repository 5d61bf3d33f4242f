"""`rag serve`: the bot behind a server that agents and apps call.

- `engine`: transport-free: one index and at most one LLM shared by every request, one request
  computed at a time with a bounded queue, the index reopened after `rag index` writes to it;
- `mcp_server`: the engine behind the Model Context Protocol (the `mcp` SDK), over stdio or
  streamable HTTP: tools ask/search/info/document and each document as a resource.

Above rag.answer and rag.retrieval, below rag.cli (`rag serve` is a thin command over it).
Nothing is imported here, so that the engine can be used without the MCP SDK loaded.
"""
