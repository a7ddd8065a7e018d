# Two commands do everything (see README.md):
#   make lab    install into .venv and open JupyterLab on notebooks/
#   make test   install into .venv and run the whole test suite, offline
# Use another interpreter with: make lab PYTHON=python3.12
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.wschat-installed

.PHONY: lab test install clean

lab: $(STAMP)
	$(BIN)/jupyter lab notebooks/

test: $(STAMP)
	WSCHAT_OFFLINE=1 $(BIN)/python -m pytest

install: $(STAMP)

# Reinstalls whenever pyproject.toml changes; the stamp keeps later runs fast.
$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' || \
	  { echo "wschat needs Python 3.11 or newer: try 'make $(MAKECMDGOALS) PYTHON=python3.12'"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[notebooks,test]'
	@touch $(STAMP)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis
