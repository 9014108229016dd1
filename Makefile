# The two quick-start commands (README): `make demo` and `make test`. Both set up .venv first.
PYTHON := .venv/bin/python

.PHONY: setup demo test

setup:
	@bash tools/setup_env.sh

demo: setup
	$(PYTHON) tools/run_demo.py

test: setup
	$(PYTHON) -m pytest tests -q -rs

