# Developer entry points. Each target does its own set-up on a fresh machine
# (Python 3.11+, Java 17+ and Maven on PATH; packages from PyPI, Kafka jars from Maven Central).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test demo venv kafka-jars prometheus dashboards clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

kafka-jars: $(STAMP)
	$(BIN)/python -m telltales.streams.localkafka fetch

# Prometheus and promtool (Debian package) for the alert-rule and scraping tests.
prometheus:
	bash deploy/install-prometheus.sh

# The whole suite, Kafka integration and end-to-end tests included (the broker is started once).
test: kafka-jars prometheus
	$(BIN)/pytest $(PYTEST_ARGS)

# The live demo: local Kafka, topics, the worker and the simulator; findings in the terminal.
demo: kafka-jars
	$(BIN)/telltales demo $(DEMO_ARGS)

# Regenerate the committed Grafana dashboards from the metric names.
dashboards: $(STAMP)
	$(BIN)/python dashboards/generate.py --write

clean:
	rm -rf $(VENV) build dist *.egg-info
