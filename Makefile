# deeptrust — the two commands of a fresh machine are `make run` and `make test`.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
TORCH_WHEEL ?= /opt/wheels/torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl
MODEL  ?= photos

.PHONY: run test lint venv dev models clean monitor dashboards

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
	# The reference watermark encoder the tests embed with (never on the serving path: it declares torch,
	# which dev has; its other needs, OpenCV and PyWavelets, come with the dev extra).
	$(BIN)/pip install -q --no-deps invisible-watermark==0.2.0

# Main job: the service with the bundled default model on http://127.0.0.1:8000 (Ctrl+C stops it).
run: venv
	$(BIN)/deeptrust serve --model $(MODEL) --host 127.0.0.1 --port 8000

test: dev
	$(BIN)/pytest -q --cov --cov-report=term --durations=15

lint: dev
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy src/deeptrust/detector.py src/deeptrust/card.py src/deeptrust/imageio.py src/deeptrust/serve

# Prometheus (Debian package prometheus) with deploy/prometheus's alert and SLO rules, scraping the service
# of `make run`; http://127.0.0.1:9090/alerts shows the alerts (Ctrl+C stops it).
MONITOR_TARGET ?= 127.0.0.1:8000
PROMETHEUS_PORT ?= 9090
MONITOR_DIR ?= .deeptrust/prometheus
monitor:
	mkdir -p $(MONITOR_DIR)
	sed -e 's|"deeptrust:8000"|"$(MONITOR_TARGET)"|' -e 's|rules/\*\.rules\.yml|$(CURDIR)/deploy/prometheus/rules/*.rules.yml|' \
	    deploy/prometheus/prometheus.yml > $(MONITOR_DIR)/prometheus.yml
	prometheus --config.file=$(MONITOR_DIR)/prometheus.yml --storage.tsdb.path=$(MONITOR_DIR)/data \
	    --web.listen-address=127.0.0.1:$(PROMETHEUS_PORT)

# The Grafana dashboards of deploy/grafana/dashboards/, from deeptrust.monitor.dashboards.
dashboards:
	$(BIN)/python -m deeptrust.monitor.dashboards deploy/grafana/dashboards

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache .coverage
