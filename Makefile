# One entry point per job. `make test` and `make demo` work on a fresh machine:
# they create the venv, install the package and fetch the Kafka jars themselves.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install kafka kafka-stop run test lint demo bench chaos fuzz clean

$(STAMP): pyproject.toml constraints.txt
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; set PYTHON=python3.x (>= 3.11)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

kafka: $(STAMP)
	$(BIN)/bridge kafka start

kafka-stop: $(STAMP)
	$(BIN)/bridge kafka stop

# Every role in one process against the local broker; settings from BRIDGE_* or bridge.toml.
run: kafka
	$(BIN)/bridge run $(RUN_ARGS)

test: $(STAMP)
	$(BIN)/bridge kafka fetch
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check bridge consumers tests bench fuzz
	$(BIN)/mypy

demo: $(STAMP)
	$(BIN)/bridge demo

# Every benchmark with its default figures (several minutes; chaos has its own target).
BENCHES := ingest sync sync_rate writeback backfill bulk replay mapping sf_sandbox orb_sandbox chargebee_tenant
bench: $(STAMP)
	$(BIN)/bridge kafka fetch
	@for b in $(BENCHES); do echo "== bench/$$b.py"; $(BIN)/python bench/$$b.py || exit 1; done

# Kills, a broker restart and API faults on a private broker; non-zero exit if anything was
# lost, duplicated, overwritten by an older version or echoed. CHAOS_ARGS="--seed 2 --json".
chaos: $(STAMP)
	$(BIN)/bridge kafka fetch
	$(BIN)/python bench/chaos.py $(CHAOS_ARGS)

# Atheris on every webhook parser (FUZZ_RUNS inputs each), then schemathesis on every endpoint
# of a live `bridge serve` (FUZZ_HTTP_CASES requests) on the real broker. Prints counts and findings.
FUZZ_RUNS ?= 20000
FUZZ_HTTP_CASES ?= 10500
fuzz: $(STAMP)
	$(BIN)/bridge kafka fetch
	$(BIN)/python fuzz/run.py --runs $(FUZZ_RUNS) --http-cases $(FUZZ_HTTP_CASES)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
