# Two entry points for a fresh machine: `make demo` and `make test`. Each creates its own venv.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: demo test install install-all report bench lint format clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

# Core + plot + progress bar: enough for the offline demo.
install: $(PY)
	$(PY) -m pip install -q -e '.[plot,progress]'

# Every extra (modAL, Label Studio SDK + Flask, Dask) and the test tools.
install-all: $(PY)
	$(PY) -m pip install -q -e '.[all]'

demo: install
	$(VENV)/bin/w2s demo --out w2s-demo

# Installs everything, starts a real Label Studio server (its own venv, .venv-ls) unless
# LABEL_STUDIO_URL is already set, runs the whole suite, stops the server.
test: install-all
	bash scripts/test.sh

report: install-all
	$(VENV)/bin/w2s report

# Every benchmarks/bench_*.py in turn, stopping at the first failure (`make bench BENCH_ARGS=--quick`
# for small sizes).
bench: install-all
	$(PY) benchmarks/run_all.py $(BENCH_ARGS)

lint: install-all
	$(VENV)/bin/ruff check .

# Not run by any other target: the tree is formatted once, on purpose, not as a side effect.
format: install-all
	$(VENV)/bin/ruff format .

clean:
	rm -rf $(VENV) .venv-ls w2s-demo .pytest_cache build *.egg-info
