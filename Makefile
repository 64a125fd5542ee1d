# Two commands do all the set-up on a fresh machine:
#   make demo   runs the main job in a virtual environment it creates (.venv)
#   make test   runs the whole test suite and the linters through tox
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test lint bench dev clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(BIN)/tox: $(BIN)/python
	$(BIN)/pip install --quiet "tox>=4.20"

# An editable install with the test and lint extras: for running one test by hand.
$(BIN)/cutover: $(BIN)/python setup.cfg pyproject.toml
	$(BIN)/pip install --quiet -e ".[test,lint]"
	touch $@

dev: $(BIN)/cutover

demo: $(BIN)/cutover
	$(BIN)/cutover demo $(ARGS)

test: $(BIN)/tox
	$(BIN)/tox -e lint,py -- $(ARGS)

lint: $(BIN)/tox
	$(BIN)/tox -e lint

bench: $(BIN)/tox
	$(BIN)/tox -e bench -- $(ARGS)

clean:
	rm -rf $(VENV) .tox build dist *.egg-info .mypy_cache .ruff_cache .pytest_cache .hypothesis
