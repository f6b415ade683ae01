# The obvious targets. `make test` assumes `pip install -e '.[test]'` has run (README, command 2).
PY ?= python
export PYTHONDONTWRITEBYTECODE = 1

.PHONY: install build lint test test-rust test-python bench serve

install:
	$(PY) -m pip install -e '.[test]'

build:
	maturin build --release

lint:
	ruff check brutor tests bench
	ruff format --check brutor tests bench
	mypy
	cargo fmt --all --check
	cargo clippy --all-targets -- -D warnings

test-rust:
	cargo test --all-targets

test-python:
	$(PY) -m mypy.stubtest brutor._native
	$(PY) -m pytest -q

test: lint test-rust test-python

bench:
	$(PY) bench/run.py --repeats 3 --write-results

serve:
	brutor serve
