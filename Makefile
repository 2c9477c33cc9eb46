# dltut: two commands do everything a new user needs.
#   make mlp    build .venv (first time only), fetch MNIST, train the tutorial's MLP for a few epochs
#   make test   build .venv (first time only), fetch MNIST, run the test suite in float64 and float32
# Other targets: fast (add Intel MKL), data, logreg, lenet, info, bench, gpu-setup, reproduce, clean.

SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
VPY := $(VENV)/bin/python
STAMP := $(VENV)/.dltut-installed
EXTRAS ?= test
EPOCHS ?= 5
PYTEST_ARGS ?=
# Keep the user's own Theano flags; add ours after them (Theano lets the last one win).
FLAGS_PREFIX := $${THEANO_FLAGS:+$$THEANO_FLAGS,}

.PHONY: venv fast data mlp logreg lenet test test-fast info bench gpu-setup reproduce clean

venv: $(STAMP)

$(STAMP): setup.py
	@$(PYTHON) -c 'import sys; v = sys.version_info[:2]; sys.exit(0 if (3, 8) <= v < (3, 12) else "dltut needs Python 3.8-3.11 (Theano 1.0.5 fails on 3.12 and later); $(PYTHON) is %d.%d. Run: make PYTHON=/path/to/python3.11 ..." % v)'
	@test -x $(VPY) || $(PYTHON) -m venv $(VENV)
	@# A real BLAS for Theano to link (-lopenblas), when we may install it; without it dltut
	@# falls back to Theano's slower numpy-based calls (and still works).
	@if [ ! -e /usr/lib/x86_64-linux-gnu/libopenblas.so ] && [ ! -e /usr/lib/aarch64-linux-gnu/libopenblas.so ] \
	    && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing Debian's libopenblas-dev (a BLAS for Theano)"; \
	  apt-get install -y -q libopenblas-dev >/dev/null 2>&1 || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q libopenblas-dev >/dev/null 2>&1; } || echo "could not install libopenblas-dev; continuing with Theano's numpy-based BLAS"; \
	fi
	$(VPY) -m pip install --quiet --disable-pip-version-check -e '.[$(EXTRAS)]'
	@touch $@

fast: venv
	$(VPY) -m pip install --quiet --disable-pip-version-check -e '.[fast]'

data: venv
	$(VPY) -m dltut.data fetch

mlp: data
	$(VPY) scripts/mlp.py --n-epochs $(EPOCHS)

logreg: data
	$(VPY) scripts/logistic_sgd.py

lenet: data
	$(VPY) scripts/convolutional_mlp.py --n-epochs $(EPOCHS)

test: data
	THEANO_FLAGS="$(FLAGS_PREFIX)floatX=float64" $(VPY) -m pytest -q $(PYTEST_ARGS)
	THEANO_FLAGS="$(FLAGS_PREFIX)floatX=float32" $(VPY) -m pytest -q $(PYTEST_ARGS)

test-fast: venv
	$(VPY) -m pytest -q -m "not slow" $(PYTEST_ARGS)

info: venv
	$(VPY) -m dltut.info

bench: venv
	$(VPY) -m pip install --quiet --disable-pip-version-check -e '.[bench]'
	$(VPY) bench/bench_cpu.py

gpu-setup: venv
	bash scripts/gpu_setup.sh

reproduce: data
	$(VPY) scripts/reproduce.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
