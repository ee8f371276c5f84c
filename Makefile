# banking_lakehouse — from a fresh clone: `make demo`, `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
DATE   ?= $(shell date -u -d yesterday +%F 2>/dev/null || python3 -c "import datetime as d; print(d.date.today() - d.timedelta(1))")
DAYS   ?= 1
# rows and seed of generated days (make demo, make generate; make dev: the launchpad's default), from
# BANKING_SYNTHETIC_ROWS / BANKING_SYNTHETIC_SEED when the environment sets them
ROWS   ?= $(or $(BANKING_SYNTHETIC_ROWS),100000)
SEED   ?= $(or $(BANKING_SYNTHETIC_SEED),7)
PORT   ?= 3000
export DAGSTER_HOME := $(CURDIR)/data/dagster_home
export Q  # `make sql`'s query reaches the recipe through the environment, its quotes intact
# Dagster's runs, events and schedules: SQLite under DAGSTER_HOME, or PostgreSQL with BANKING_DAGSTER_STORAGE=postgres
BANKING_DAGSTER_STORAGE ?= sqlite
ifeq ($(filter $(BANKING_DAGSTER_STORAGE),sqlite postgres),)
$(error BANKING_DAGSTER_STORAGE=$(BANKING_DAGSTER_STORAGE): choose sqlite or postgres)
endif
INSTANCE := instance/$(if $(filter postgres,$(BANKING_DAGSTER_STORAGE)),dagster.postgres.yaml,dagster.yaml)
# instance/dagster.postgres.yaml reads DAGSTER_PG_URL (the embedded server's `dagster` database, or
# BANKING_DAGSTER_PG_URL), set in the recipe's shell so the URL is never echoed; a failure stops the recipe
STORAGE_ENV := $(if $(filter postgres,$(BANKING_DAGSTER_STORAGE)),DAGSTER_PG_URL="$$($(BIN)/python -m banking_lakehouse dagster-storage-url)" && export DAGSTER_PG_URL &&)

.PHONY: setup demo demo-core dev lint test generate stop-postgres s3-server sql clean FORCE

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

setup: $(VENV)/.installed  ## create .venv and install the project (Spark, Java and PostgreSQL come from pip); record the Spark driver's AOT cache once
	$(BIN)/python -m banking_lakehouse java-cache

$(DAGSTER_HOME)/dagster.yaml: $(INSTANCE) FORCE  ## re-copied whenever BANKING_DAGSTER_STORAGE switches the file
	mkdir -p $(DAGSTER_HOME)
	cmp -s $(INSTANCE) $@ || cp $(INSTANCE) $@

demo: setup $(DAGSTER_HOME)/dagster.yaml  ## every asset for the DAYS days up to DATE (default yesterday) as one run, then a summary
	$(STORAGE_ENV) $(BIN)/python -m banking_lakehouse.demo --date $(DATE) --days $(DAYS) --rows $(ROWS) --seed $(SEED)

demo-core: setup $(DAGSTER_HOME)/dagster.yaml  ## the demo with customers, accounts and merchants from the simulated core-banking database, a run per day
	$(STORAGE_ENV) BANKING_CORE_ENTITIES=customers,accounts,merchants $(BIN)/python -m banking_lakehouse.demo --core --date $(DATE) --days $(DAYS) --rows $(ROWS) --seed $(SEED)

dev: setup $(DAGSTER_HOME)/dagster.yaml  ## the Dagster UI on http://127.0.0.1:$(PORT) (PORT=3000); ROWS and SEED: the launchpad's default
	$(STORAGE_ENV) BANKING_SYNTHETIC_ROWS=$(ROWS) BANKING_SYNTHETIC_SEED=$(SEED) PYTHONWARNINGS='ignore:Function `dev_command` is superseded' $(BIN)/dagster dev -h 127.0.0.1 -p $(PORT) -w workspace.yaml

lint: setup  ## ruff (lint incl. security rules, format check) and sqlfluff over the code and its SQL
	$(BIN)/ruff check banking_lakehouse banking_lakehouse_tests benchmarks
	$(BIN)/ruff format --check banking_lakehouse banking_lakehouse_tests benchmarks
	$(BIN)/sqlfluff lint banking_lakehouse/sql

test: lint  ## lint, then the whole test suite (real Spark, real embedded PostgreSQL, real clusters)
	$(BIN)/python -m pytest

generate: setup  ## only the generator: files for DATE into data/generated
	$(BIN)/python -m banking_lakehouse.generator --date $(DATE) --rows $(ROWS) --seed $(SEED) --out data/generated/$(DATE)

.PHONY: psql psql-admin dsn
psql: setup  ## psql as the read-only analyst (the server's own psql, from pip); SQL="SELECT ..." runs one statement
	$(BIN)/python -m banking_lakehouse psql $${SQL:+-c "$$SQL"}

psql-admin: setup  ## psql as the warehouse's owner; SQL="..." runs one statement
	$(BIN)/python -m banking_lakehouse psql-admin $${SQL:+-c "$$SQL"}

dsn: setup  ## the owner's and the analyst's connection strings (psql, JDBC, SQLAlchemy), never a password
	$(BIN)/python -m banking_lakehouse dsn

stop-postgres:  ## stop the embedded PostgreSQL server (it is reused between runs)
	$(BIN)/python -m banking_lakehouse stop-postgres

s3-server: setup  ## a loopback S3 server (moto) on 127.0.0.1:9000 with bucket `lake`, to try BANKING_LAKE_URI=s3://
	$(BIN)/python -m banking_lakehouse s3-server

sql: setup  ## SQL over the lake's committed tables: make sql Q="SELECT ..." [OUT=result.csv|result.parquet]
	@test -n "$$Q" || { echo 'usage: make sql Q="SELECT count(*) FROM gold.fact_transactions" [OUT=file.csv]'; exit 2; }
	$(BIN)/python -m banking_lakehouse sql "$$Q" $(if $(OUT),--out "$(OUT)")

clean: stop-postgres  ## remove generated data, the lake, the embedded database and Dagster's history
	rm -rf data
