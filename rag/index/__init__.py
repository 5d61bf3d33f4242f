"""Documents -> an index: chunking, the embedder and its backends, the update plan, building."""
