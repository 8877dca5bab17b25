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

# Serving environment: onnxruntime, numpy, Pillow + FastAPI/uvicorn and friends (no torch).
venv: $(BIN)/python
	$(BIN)/pip install -q -e '.[serve]'

# Everything: training extra (torch 2.13.0 CPU from the local wheel when present) and test tools.
dev: $(BIN)/python
	if [ -f "$(TORCH_WHEEL)" ]; then $(BIN)/pip install -q "$(TORCH_WHEEL)"; else $(BIN)/pip install -q torch==2.13.0; fi
	$(BIN)/pip install -q -e '.[dev]'

# Main job: the service with the bundled default model on http://127.0.0.1:8000 (Ctrl+C stops it).
run: venv
	$(BIN)/deeptrust serve --model $(MODEL) --host 127.0.0.1 --port 8000

test: dev
	$(BIN)/pytest -q --cov --cov-report=term --durations=15

lint: dev
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy src/deeptrust/detector.py src/deeptrust/card.py src/deeptrust/imageio.py src/deeptrust/serve

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache .coverage
