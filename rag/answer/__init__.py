"""Question -> Answer: what a question asks, dates in it, the extractive reader, the LLM (prompts,
generation), citation checks, and the pipeline that ties them together."""
