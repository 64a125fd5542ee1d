# Two commands do all the set-up on a fresh machine:
#   make demo   runs the main job in a virtual environment it creates (.venv)
#   make test   runs the whole test suite and the linters through tox
# Every install below goes through constraints.txt (the lock); `make lock` refreshes it.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CONSTRAINTS := $(abspath constraints.txt)
# pip reads this for every install it makes from here, tox's included.
export PIP_CONSTRAINT := $(CONSTRAINTS)
LOCK_EXTRAS := --extra test --extra lint --extra openfeature --extra demo

.PHONY: demo test lint bench dev lock latest clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(BIN)/tox: $(BIN)/python $(CONSTRAINTS)
	$(BIN)/pip install --quiet tox
	touch $@

# An editable install with the test and lint extras: for running one test by hand.
$(BIN)/cutover: $(BIN)/python setup.cfg pyproject.toml $(CONSTRAINTS)
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

# The newest versions setup.cfg allows, without the lock: drift shows here before main breaks.
latest: $(BIN)/tox
	$(BIN)/tox -e latest -- $(ARGS)

# Refresh the lock on purpose: every dependency to the newest version setup.cfg allows.
# Review the diff, run `make test`, commit constraints.txt on its own.
lock: $(BIN)/python
	$(if $(wildcard constraints.txt),,PIP_CONSTRAINT=) $(BIN)/pip install --quiet pip-tools
	PIP_CONSTRAINT= CUSTOM_COMPILE_COMMAND="make lock" $(BIN)/pip-compile --quiet --upgrade --strip-extras --allow-unsafe \
		--no-emit-index-url --no-emit-find-links \
		$(LOCK_EXTRAS) --output-file constraints.txt setup.cfg requirements/tools.in
	cat requirements/constraints-header.txt constraints.txt > constraints.txt.new
	mv constraints.txt.new constraints.txt

clean:
	rm -rf $(VENV) .tox build dist *.egg-info .mypy_cache .ruff_cache .pytest_cache .hypothesis .import_linter_cache
