# deeptrust — the two commands of a fresh machine are `make run` and `make test`.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
TORCH_WHEEL ?= /opt/wheels/torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl
MODEL  ?= photos

.PHONY: run test lint venv dev models clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# Inference-only environment: onnxruntime, numpy, Pillow (no torch).
venv: $(BIN)/python
	$(BIN)/pip install -q -e .

# Everything: training extra (torch 2.13.0 CPU from the local wheel when present) and test tools.
dev: $(BIN)/python
	if [ -f "$(TORCH_WHEEL)" ]; then $(BIN)/pip install -q "$(TORCH_WHEEL)"; else $(BIN)/pip install -q torch==2.13.0; fi
	$(BIN)/pip install -q -e '.[dev]'

# Main job (until the service lands): evaluate the bundled default model on its own test split.
run: venv dev
	$(BIN)/deeptrust models list
	$(BIN)/deeptrust evaluate --model $(MODEL) --split test --json .deeptrust/run-$(MODEL).json

test: dev
	$(BIN)/pytest -q --cov --cov-report=term --durations=15

lint: dev
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy src/deeptrust/detector.py src/deeptrust/card.py src/deeptrust/imageio.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache .coverage
