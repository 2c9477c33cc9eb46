# dltut: two commands do everything a new user needs.
#   make mlp    build .venv (first time only), fetch MNIST, train the tutorial's MLP for a few epochs
#   make test   build .venv (first time only), fetch MNIST, run the test suite in float64 and float32
#   (make test also runs a float32 pass on every other supported Python found: OTHER_PYTHONS= skips it)
# Other targets: test-pythons (both floatX on every supported Python found), fast (add Intel
# MKL), data, logreg, lenet, info, bench, gpu-setup, reproduce, notebook (JupyterLab on the
# notebooks), clean.

SHELL := /bin/bash
# Python 3.11, 3.12 or 3.13: the active python3 if supported, else the newest one found
PYTHON ?= $(shell bash tools/find_pythons.sh default)
# "X.Y path" of the other supported Pythons on this machine (each gets its own .venv-X.Y)
OTHER_PYTHONS ?= $(shell bash tools/find_pythons.sh others $(PYTHON))
VENV ?= .venv
VPY := $(VENV)/bin/python
STAMP := $(VENV)/.dltut-installed
EXTRAS ?= test
EPOCHS ?= 5
PYTEST_ARGS ?=
# Keep the user's own Theano flags; add ours after them (Theano lets the last one win).
FLAGS_PREFIX := $${THEANO_FLAGS:+$$THEANO_FLAGS,}
# Theano 1.0.5's setup.py needs two configparser names Python 3.12 removed: this folder's
# sitecustomize.py restores them for the install (build isolation off, so it applies).
PIP_INSTALL = PYTHONPATH=dltut/compat/theano_build $(VPY) -m pip install --quiet \
	--disable-pip-version-check --no-build-isolation

.PHONY: venv fast data mlp logreg lenet test test-others test-pythons test-fast info bench \
	gpu-setup reproduce notebook clean

venv: $(STAMP)

$(STAMP): setup.py
	@test -n "$(PYTHON)" || { echo "dltut needs Python 3.11, 3.12 or 3.13 and found none; install one, or run make PYTHON=/path/to/python3.X ..."; exit 1; }
	@$(PYTHON) -c 'import sys; v = sys.version_info[:2]; sys.exit(0 if (3, 11) <= v < (3, 14) else "dltut needs Python 3.11, 3.12 or 3.13 (Theano 1.0.5 with dltut.compat); $(PYTHON) is %d.%d. Run: make PYTHON=/path/to/python3.X ..." % v)'
	@test -x $(VPY) || $(PYTHON) -m venv $(VENV)
	@# A real BLAS for Theano to link (-lopenblas), when we may install it; without it dltut
	@# falls back to Theano's slower numpy-based calls (and still works).
	@if [ ! -e /usr/lib/x86_64-linux-gnu/libopenblas.so ] && [ ! -e /usr/lib/aarch64-linux-gnu/libopenblas.so ] \
	    && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing Debian's libopenblas-dev (a BLAS for Theano)"; \
	  apt-get install -y -q libopenblas-dev >/dev/null 2>&1 || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q libopenblas-dev >/dev/null 2>&1; } || echo "could not install libopenblas-dev; continuing with Theano's numpy-based BLAS"; \
	fi
	$(VPY) -m pip install --quiet --disable-pip-version-check 'setuptools>=64,<81' wheel
	$(PIP_INSTALL) -e '.[$(EXTRAS)]'
	@# lets `import theano` come before `import dltut` (an editable install cannot ship it)
	$(VPY) -m dltut.compat.startup install
	@touch $@

fast: venv
	$(PIP_INSTALL) -e '.[fast]'

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
	@$(MAKE) --no-print-directory test-others FLOATXS=float32

# The suite on each other supported Python (its own .venv-X.Y), in FLOATXS.
FLOATXS ?= float64 float32
test-others: data
	@set -e; echo "$(OTHER_PYTHONS)" | xargs -n 2 | while read -r v py; do \
	  [ -n "$$v" ] || continue; \
	  $(MAKE) --no-print-directory venv PYTHON=$$py VENV=.venv-$$v OTHER_PYTHONS=; \
	  for fx in $(FLOATXS); do \
	    echo "Python $$v ($$py), floatX=$$fx"; \
	    THEANO_FLAGS="$(FLAGS_PREFIX)floatX=$$fx" .venv-$$v/bin/python -m pytest -q $(PYTEST_ARGS); \
	  done; \
	done

# The suite in both floatX on every supported Python found (3.11, 3.12, 3.13).
test-pythons: data
	THEANO_FLAGS="$(FLAGS_PREFIX)floatX=float64" $(VPY) -m pytest -q $(PYTEST_ARGS)
	THEANO_FLAGS="$(FLAGS_PREFIX)floatX=float32" $(VPY) -m pytest -q $(PYTEST_ARGS)
	@$(MAKE) --no-print-directory test-others

test-fast: venv
	$(VPY) -m pytest -q -m "not slow" $(PYTEST_ARGS)

info: venv
	$(VPY) -m dltut.info

bench: venv
	$(PIP_INSTALL) -e '.[bench]'
	$(VPY) bench/bench_cpu.py

gpu-setup: venv
	bash scripts/gpu_setup.sh

reproduce: data
	$(VPY) scripts/reproduce.py

# JupyterLab on notebooks/ at 127.0.0.1:NOTEBOOK_PORT, with the venv registered as the "dltut"
# kernel (in the venv itself: --sys-prefix). NOTEBOOK_INSTALL= skips the install step.
NOTEBOOK_PORT ?= 8888
NOTEBOOK_TOKEN ?=
NOTEBOOK_INSTALL ?= yes
notebook: $(if $(NOTEBOOK_INSTALL),data)
	@if [ -n "$(NOTEBOOK_INSTALL)" ]; then $(PIP_INSTALL) -e '.[notebook]'; fi
	@$(VPY) -m ipykernel install --sys-prefix --name dltut --display-name "Python 3 (dltut)" >/dev/null
	@echo "JupyterLab: http://127.0.0.1:$(NOTEBOOK_PORT)/lab (log in with the token in the URL below; Ctrl-C stops it)"
	$(VPY) -m jupyter lab --no-browser --ip=127.0.0.1 --port=$(NOTEBOOK_PORT) \
	  --ServerApp.port_retries=0 --ServerApp.root_dir=notebooks \
	  $(if $(NOTEBOOK_TOKEN),--IdentityProvider.token=$(NOTEBOOK_TOKEN)) \
	  $(if $(filter 0,$(shell id -u)),--allow-root)

clean:
	rm -rf $(VENV) .venv-3.* build *.egg-info .pytest_cache
