# Two entry points for a fresh machine (see README):
#   make demo  - set up .venv (once) and run the default search on the embedded digits data
#   make test  - build a *fresh* .venv-test every time, then lint, type-check and run the tests
PYTHON ?= python3
VENV ?= .venv
TEST_VENV ?= .venv-test
# (E501 is left to `ruff format`, which wraps code; long strings and tables stay readable.)
# torch/torchvision: pinned to the releases that install from this project's CI image; any
# torch >= 2.1 with a matching torchvision works (override: make demo TORCH_SPEC="torch torchvision").
TORCH_SPEC ?= torch==2.14.1 torchvision==0.29.1
EXTRAS ?= dev,optuna,dashboard,postgres,bench
DEMO_CONFIG ?= examples/configs/digits-nb201.yaml

.PHONY: demo test check lint typecheck bench bench-quality ground-truth clean

# PIP_FLAGS: `make test` passes --no-compile: byte-compiling torch's 14,000 files at install
# takes longer than compiling, on first import, the few hundred modules the tests use (the
# test run lets Python write those .pyc files even where PYTHONDONTWRITEBYTECODE is set).
PIP_FLAGS ?=

$(VENV)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q --upgrade pip
	$(VENV)/bin/python -m pip install -q $(PIP_FLAGS) $(TORCH_SPEC)
	$(VENV)/bin/python -m pip install -q $(PIP_FLAGS) -e '.[$(EXTRAS)]'
	touch $@

demo: $(VENV)/.installed
	$(VENV)/bin/idarts search $(DEMO_CONFIG)

test:
	bash scripts/install-test-system-deps.sh
	rm -rf $(TEST_VENV)
	$(MAKE) --no-print-directory VENV=$(TEST_VENV) PIP_FLAGS=--no-compile $(TEST_VENV)/.installed
	env -u PYTHONDONTWRITEBYTECODE $(MAKE) --no-print-directory VENV=$(TEST_VENV) check

check:
	$(VENV)/bin/ruff check idarts_plugin tests examples benchmarks scripts
	$(VENV)/bin/ruff format --check idarts_plugin tests examples benchmarks scripts
	$(VENV)/bin/mypy
	$(VENV)/bin/python -m pytest --doctest-modules --durations=25 -n 2 -m "not serial" idarts_plugin tests
	$(VENV)/bin/python -m pytest --durations=10 -m serial tests

bench: $(VENV)/.installed
	$(VENV)/bin/python -m benchmarks.run

# Search quality (about 1.5 h on 2 cores; resumable, cached per search in
# benchmarks/search_quality/cache/). Its ground truth uses Debian's Fashion-MNIST.
bench-quality: $(VENV)/.installed
	bash scripts/install-test-system-deps.sh
	$(VENV)/bin/python -m benchmarks.search_quality

# Extend the ground truth (resumable): make ground-truth RANDOM=128
RANDOM ?= 64
ground-truth: $(VENV)/.installed
	bash scripts/install-test-system-deps.sh
	$(VENV)/bin/python -m benchmarks.search_quality.ground_truth --random $(RANDOM)

clean:
	rm -rf $(VENV) $(TEST_VENV) runs .mypy_cache .ruff_cache .pytest_cache
