# make grade-reference   set up if needed, grade the reference solution, print the table
# make test              set up (with test tools) if needed, run the whole test suite
# make grade SUBMISSION=path/to/dir-or-file [OUT=results.json]
# make lint | bench | template (regenerates the template and both notebooks from the solution)
PY := .venv/bin/python
SUBMISSION ?= solutions
OUT ?= build/results.json

.PHONY: setup setup-test grade-reference grade test lint bench template

setup:
	@bash scripts/setup.sh

setup-test:
	@bash scripts/setup.sh --test

grade-reference: setup
	$(PY) -m autograder grade solutions --out build/reference-results.json

grade: setup
	$(PY) -m autograder grade $(SUBMISSION) --out $(OUT)

test: setup-test
	$(PY) -m pytest

lint: setup-test
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

bench: setup
	$(PY) benchmarks/bench_grading.py

template: setup
	$(PY) -m autograder template
	$(PY) -m autograder export notebooks
