# Developer entry points. Each target does its own set-up on a fresh machine
# (Python 3.11+, Java 17+ and Maven on PATH; packages from PyPI, Kafka jars from Maven Central).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test demo bench venv kafka-jars clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

kafka-jars: $(STAMP)
	$(BIN)/python -m telltales.streams.localkafka fetch

# The whole suite, Kafka integration and end-to-end tests included (the broker is started once).
test: kafka-jars
	$(BIN)/pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) build dist *.egg-info
