# dltut: two commands do everything a new user needs.
#   make mlp    build .venv (first time only), fetch MNIST, train the tutorial's MLP for a few epochs
#   make test   build .venv (first time only), fetch MNIST, run the test suite in float64 and float32
#   (its float64 pass is shared out between the other supported Pythons found: OTHER_PYTHONS= runs it here)
# Other targets: test-pythons (both floatX on every supported Python found), install-check
# (a throwaway install on each, from no pip cache), fast (add Intel MKL), data, logreg, lenet,
# info, bench, gpu-setup, reproduce, notebook (JupyterLab on the notebooks), docs (the site in
# docs/_build/html), docs-serve (build it and serve it on 127.0.0.1), docs-check (every page in
# a browser), docs-screenshot, clean.
# Each installs only the extras it needs (EXTRAS= adds more: make venv EXTRAS=dask).

SHELL := /bin/bash
# Python 3.11, 3.12 or 3.13: the active python3 if supported, else the newest one found
PYTHON ?= $(shell bash tools/find_pythons.sh default)
# "X.Y path" of the other supported Pythons on this machine (each gets its own .venv-X.Y)
OTHER_PYTHONS ?= $(shell bash tools/find_pythons.sh others $(PYTHON))
VENV ?= .venv
VPY := $(VENV)/bin/python
STAMP := $(VENV)/.dltut-installed
# What a venv holds beyond dltut itself (training, plots, predictions): each target adds the
# extras of setup.py it needs -- test (pytest, nbclient, JupyterLab, Dask) for the tests,
# notebook (JupyterLab) for `make notebook`, docs (Sphinx and Playwright) for the site and
# for `make test` (which builds it and opens it in a browser), fast (MKL), bench (torch) -- and EXTRAS adds
# more, comma- or space-separated: `make venv EXTRAS=dask` for a Dask search. The venv's
# stamp lists the extras installed, so a later target only installs what is missing.
EXTRAS ?=
# (From all the goals given, so that `make mlp test` builds the venv once with the test extra.)
NEEDS ?= $(strip $(if $(filter test test-fast test-pythons test-others venvs-others,$(MAKECMDGOALS)),test) \
	$(if $(filter docs docs-serve docs-screenshot docs-check test test-fast test-pythons,$(MAKECMDGOALS)),docs) \
	$(if $(filter notebook,$(MAKECMDGOALS)),notebook music) $(if $(filter reproduce,$(MAKECMDGOALS)),music) \
	$(if $(filter fast,$(MAKECMDGOALS)),fast) \
	$(if $(filter bench,$(MAKECMDGOALS)),bench))
comma := ,
empty :=
space := $(empty) $(empty)
WANT = $(sort $(subst $(comma), ,$(EXTRAS) $(NEEDS)))
# PIP_CACHE=no (the default): every venv build downloads and builds everything (Theano's
# wheel too), so that no cache hides an install step; PIP_CACHE=yes lets pip use its cache.
PIP_CACHE ?= no
PIP := $(VPY) -m pip --disable-pip-version-check $(if $(filter no,$(PIP_CACHE)),--no-cache-dir)
EPOCHS ?= 5
PYTEST_ARGS ?=
# Keep the user's own Theano flags; add ours after them (Theano lets the last one win).
FLAGS_PREFIX := $${THEANO_FLAGS:+$$THEANO_FLAGS,}
# Theano 1.0.5's setup.py needs two configparser names Python 3.12 removed: this folder's
# sitecustomize.py restores them for the install (build isolation off, so it applies). An
# absolute path: pip runs Theano's setup.py in a temporary folder. --use-pep517: dltut's
# editable install is the editable wheel of the venv's setuptools (which carries
# dltut-startup.pth, setup.py), not the `setup.py develop` pip falls back to without it.
PIP_INSTALL = PYTHONPATH="$(CURDIR)/dltut/compat/theano_build" $(PIP) install --quiet \
	--no-build-isolation --use-pep517

.PHONY: venv fast data mlp logreg lenet test test-others test-pythons test-fast info bench venvs-others \
	gpu-setup reproduce notebook clean install-check docs docs-serve docs-screenshot docs-check docs-browser

# The stamp holds the extras installed; `venv` adds those WANTed and missing.
venv: $(STAMP)
	@have=" $$(cat $(STAMP)) "; missing=; \
	for x in $(WANT); do case "$$have" in *" $$x "*) ;; *) missing="$$missing $$x";; esac; done; \
	if [ -n "$$missing" ]; then \
	  echo "adding to $(VENV):$$missing"; \
	  $(PIP_INSTALL) -e ".[$$(echo $$missing | tr ' ' ,)]" \
	  && echo $$(cat $(STAMP)) $$missing > $(STAMP); \
	fi

# (Re)built from nothing but the extras wanted now and those the old stamp lists.
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
	$(PIP) install --quiet 'setuptools>=64,<81' wheel
	$(eval ALL := $(sort $(WANT) $(shell cat $(STAMP) 2>/dev/null)))
	$(PIP_INSTALL) -e '.$(if $(ALL),[$(subst $(space),$(comma),$(ALL))])'
	@echo $(ALL) > $@

fast: venv

data: venv
	$(VPY) -m dltut.data fetch

mlp: data
	$(VPY) scripts/mlp.py --n-epochs $(EPOCHS)

logreg: data
	$(VPY) scripts/logistic_sgd.py

lenet: data
	$(VPY) scripts/convolutional_mlp.py --n-epochs $(EPOCHS)

# The passes run side by side, one lane per core, each lane with a Theano compile folder of its
# own (tools/run_tests.py). On this Python, float32, every test with every parameter set, in
# two passes: the fast tests, and the slow ones -- end-to-end runs on MNIST checking the
# tutorial's float32 numbers, kill -9 and Ctrl-C at random moments, a full disk, the search's
# cluster and kill tests, the OpenCL device, the site built and opened in a browser. Then
# float64: the fast tests, each parametrized test with its first parameter set, shared out
# file by file between the other supported Pythons (each its own .venv-X.Y, built from no pip
# cache like every venv; --share K/N), each share also running the compatibility layer's
# tests whole; and those of the compatibility tests whose results depend on floatX again in
# float32 on the newest other Python (the one with numpy 2; the others have this Python's numpy
# 1.26). Every fast test thus runs in both floatX, on two Pythons. Without another Python the
# float64 pass runs here. That keeps make
# test within 25 minutes on a fresh 2-core AVX-512 machine (23 min); the AVX2-only one takes
# 31-32 min, most of it compiling (docs/guide/setup.md, "The tests").
# DLTUT_TEST_LANES=1 runs one pass after another; test-pythons runs everything everywhere.
# The float64 shares are queued last share first: the lane that frees first (the slow pass's)
# takes it, and with the test files dealt out as they are it holds the most tests (417 to 278
# on 2026-12-07), so the two lanes end closer together.
OTHER_VERSIONS = $(shell echo "$(OTHER_PYTHONS)" | xargs -n 2 | cut -d' ' -f1)
PY_VERSION = $(shell $(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)
N_OTHERS = $(words $(OTHER_VERSIONS))
NEWEST_OTHER = $(firstword $(OTHER_VERSIONS))
FLOAT64_PASSES = $(if $(OTHER_VERSIONS),$(foreach i,$(shell seq $(N_OTHERS) -1 1),"Python $(word $(i),$(OTHER_VERSIONS)) float64=.venv-$(word $(i),$(OTHER_VERSIONS))/bin/python:float64:sample:$(i)/$(N_OTHERS)") "Python $(NEWEST_OTHER) float32 compat=.venv-$(NEWEST_OTHER)/bin/python:float32:compat","Python $(PY_VERSION) float64=$(VPY):float64:sample")
test: data opencl-packages
	@$(MAKE) --no-print-directory venvs-others docs-browser
	$(VPY) tools/run_tests.py "Python $(PY_VERSION) float32=$(VPY):float32:fast" \
	  "Python $(PY_VERSION) float32 slow=$(VPY):float32:slow" $(FLOAT64_PASSES)

# A venv with the test extra for each other supported Python, built side by side (about 50 s
# each from no pip cache); each one's output is printed when all are done, and any failure
# fails the target.
venvs-others:
	@logs=$$(mktemp -d); echo "$(OTHER_PYTHONS)" | xargs -n 2 | { \
	  while read -r v py; do \
	    [ -n "$$v" ] || continue; echo "$$v" >> "$$logs/order"; \
	    ( $(MAKE) --no-print-directory venv PYTHON=$$py VENV=.venv-$$v OTHER_PYTHONS= NEEDS=test \
	      > "$$logs/$$v.log" 2>&1; echo $$? > "$$logs/$$v.rc" ) & \
	  done; wait; }; \
	status=0; for v in $$(cat "$$logs/order" 2>/dev/null); do \
	  cat "$$logs/$$v.log"; \
	  [ "$$(cat "$$logs/$$v.rc" 2>/dev/null)" = 0 ] || { echo "make: the venv for Python $$v failed (its output is above)"; status=1; }; \
	done; rm -rf "$$logs"; exit $$status

# The whole suite on each other supported Python (its own .venv-X.Y), in FLOATXS.
FLOATXS ?= float64 float32
test-others: data venvs-others
	$(VPY) tools/run_tests.py $(foreach v,$(shell echo "$(OTHER_PYTHONS)" | xargs -n 2 | cut -d' ' -f1),$(foreach fx,$(FLOATXS),"Python $(v) $(fx)=.venv-$(v)/bin/python:$(fx)"))

# The install from nothing, again, where the venvs exist already (make test proves it only
# when it builds them): for each supported Python found, a throwaway venv as `make mlp`
# builds it (no pip cache), then `import theano` before dltut and one epoch of logistic
# regression on a tiny synthetic dataset.
install-check:
	@set -e; for spec in "$$($(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])'):$(PYTHON)" \
	    $(shell echo "$(OTHER_PYTHONS)" | xargs -n 2 | tr ' ' :); do \
	  v=$${spec%%:*}; py=$${spec#*:}; d=$$(mktemp -d); start=$$(date +%s); \
	  echo "Python $$v ($$py): a new venv in $$d"; \
	  $(MAKE) --no-print-directory venv PYTHON=$$py VENV=$$d/venv OTHER_PYTHONS= EXTRAS= NEEDS= PIP_CACHE=no; \
	  $$d/venv/bin/python -c 'import sys, gzip, pickle, numpy, theano; assert "dltut" in sys.modules, "dltut-startup.pth missing"; from dltut.data import synthetic_dataset; f = gzip.open(sys.argv[1], "wb"); pickle.dump(synthetic_dataset(numpy.random.RandomState(0), 200, 60, 60), f); f.close()' $$d/tiny.pkl.gz; \
	  $$d/venv/bin/python scripts/logistic_sgd.py --dataset $$d/tiny.pkl.gz --n-epochs 1 --batch-size 20 --out $$d/run --quiet; \
	  rm -rf $$d; echo "Python $$v: installed and trained in $$(( $$(date +%s) - start )) s"; \
	done

# The whole suite in both floatX on every supported Python found (3.11, 3.12, 3.13).
test-pythons: data opencl-packages
	@$(MAKE) --no-print-directory venvs-others docs-browser
	$(VPY) tools/run_tests.py "Python $(PY_VERSION) float64=$(VPY):float64" "Python $(PY_VERSION) float32=$(VPY):float32" \
	  $(foreach v,$(shell echo "$(OTHER_PYTHONS)" | xargs -n 2 | cut -d' ' -f1),"Python $(v) float64=.venv-$(v)/bin/python:float64" "Python $(v) float32=.venv-$(v)/bin/python:float32")

test-fast: venv docs-browser
	$(VPY) -m pytest -q -m "not slow" $(PYTEST_ARGS)

info: venv
	$(VPY) -m dltut.info

# The eight chapters' models against PyTorch (eager and torch.compile, 1 and 2 threads) and
# issue 26's targets; BENCH_ARGS=--quick for a shorter run (bench/README.md).
BENCH_ARGS ?=
bench: venv
	$(VPY) bench/bench_cpu.py $(BENCH_ARGS)

# DEVICE=opencl: for an OpenCL device (pocl on the CPU, docs/opencl.md) instead of CUDA.
DEVICE ?= cuda
gpu-setup: venv
	bash scripts/gpu_setup.sh $(if $(filter opencl,$(DEVICE)),--opencl)

.PHONY: opencl-packages
# What the OpenCL tests (tests/runtime/test_opencl.py, Theano's GPU path on pocl's CPU device)
# need, where make may install it: as root with apt-get, on Python 3.11 (Debian's pygpu), the
# OpenCL packages and pygpu in the venv (gpu_setup.sh --opencl; it downloads Debian's pygpu
# .debs once). Elsewhere a one-line note, and those tests skip with their reason.
opencl-packages: venv
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
	    && $(VPY) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then \
	  bash scripts/gpu_setup.sh --opencl >/dev/null 2>&1 \
	    && echo "OpenCL device for the tests: $$($(VPY) -c 'from dltut.runtime import device; print(device.gpu_preflight("opencl0:0")[1])')" \
	    || echo "could not set up OpenCL (bash scripts/gpu_setup.sh --opencl says why); the OpenCL tests will be skipped"; \
	else \
	  echo "OpenCL tests: not set up here (needs root, apt-get and Python 3.11; see docs/opencl.md); they will be skipped"; \
	fi

reproduce: data
	$(VPY) scripts/reproduce.py

# JupyterLab on notebooks/ at 127.0.0.1:NOTEBOOK_PORT, with the venv registered as the "dltut"
# kernel (in the venv itself: --sys-prefix). NOTEBOOK_INSTALL= skips the install step.
NOTEBOOK_PORT ?= 8888
NOTEBOOK_TOKEN ?=
NOTEBOOK_INSTALL ?= yes
LAB_OVERRIDES = $(VENV)/share/jupyter/lab/settings/overrides.d
notebook: $(if $(NOTEBOOK_INSTALL),data)
	@$(VPY) -m ipykernel install --sys-prefix --name dltut --display-name "Python 3 (dltut)" >/dev/null
	@# No "get notified about Jupyter news?" pop-up: JupyterLab's notification settings default
	@# to no news and no update checks in this venv (its settings' overrides.d; the user's own
	@# settings still win, and Settings > Notifications turns them on).
	@mkdir -p $(LAB_OVERRIDES) && echo '{"@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": false}}' > $(LAB_OVERRIDES)/dltut.json
	@echo "JupyterLab: http://127.0.0.1:$(NOTEBOOK_PORT)/lab (log in with the token in the URL below; Ctrl-C stops it)"
	$(VPY) -m jupyter lab --no-browser --ip=127.0.0.1 --port=$(NOTEBOOK_PORT) \
	  --ServerApp.port_retries=0 --ServerApp.root_dir=notebooks \
	  $(if $(NOTEBOOK_TOKEN),--IdentityProvider.token=$(NOTEBOOK_TOKEN)) \
	  $(if $(filter 0,$(shell id -u)),--allow-root)

# The site (docs/): Sphinx with warnings as errors and every internal reference checked (-n);
# the notebooks are shown with their saved outputs (docs/conf.py copies them into
# docs/notebooks/), MathJax comes from a package: the built site loads nothing from the net.
DOCS_PORT ?= 8000
SPHINX_ARGS ?=
docs: venv
	$(VENV)/bin/sphinx-build -W --keep-going -n -b html $(SPHINX_ARGS) docs docs/_build/html

docs-serve: docs
	@echo "The site: http://127.0.0.1:$(DOCS_PORT)/ (Ctrl-C stops it)"
	$(VPY) -m http.server $(DOCS_PORT) --bind 127.0.0.1 --directory docs/_build/html

# A screenshot of a chapter with math and code (its first 1200x1500 pixels), taken by the
# browser the tests use.
SHOT_PAGE ?= tutorial/logreg.html
SHOT ?= docs/_static/screenshot-logreg.png
docs-screenshot: docs docs-browser
	$(VPY) tools/docs_browser.py screenshot docs/_build/html $(SHOT_PAGE) $(SHOT)

# The browser checks of the site's test (math typeset, images loaded, no console error, no
# request leaving 127.0.0.1) on every page but the API's; the test itself opens three.
docs-check: docs docs-browser
	$(VPY) tools/docs_browser.py check docs/_build/html

# The browser of the site's test (tests/docs/test_browser.py): Debian's chromium, driven by
# Playwright (which cannot download its own here). Installed when missing, if we may (root,
# apt-get); otherwise that test is skipped with the reason.
CHROMIUM ?= /usr/bin/chromium
docs-browser:
	@if [ ! -x $(CHROMIUM) ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing Debian's chromium (the browser of the site's test)"; \
	  apt-get install -y -q chromium >/dev/null 2>&1 || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium >/dev/null 2>&1; } || echo "could not install chromium; the browser test will be skipped"; \
	fi

clean:
	rm -rf $(VENV) .venv-3.* build *.egg-info .pytest_cache docs/_build docs/notebooks/*.ipynb
