# Two commands on a fresh machine with only Python 3.11: `make demo` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
BENCHMARKS := benchmarks/parse.py benchmarks/greeks.py benchmarks/triggers.py \
              benchmarks/engine.py benchmarks/sim_exchange.py benchmarks/market_replay.py \
              benchmarks/replay.py benchmarks/backtest.py

.PHONY: install test test-postgres soak lint bench demo run clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,postgres]'
	touch $(STAMP)

## install: create .venv and install the package with its dev extra
install: $(STAMP)

## test: ruff, then the whole pytest suite
test: install
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

## test-postgres: the suite again on a throwaway PostgreSQL on 127.0.0.1 (.ci/postgres.sh)
test-postgres: install
	bash .ci/postgres.sh

## soak: the long variants (HYPOTHESIS_PROFILE=soak): 10,000 fuzzed parser inputs per test,
## the second crash chain, and 30 trading days under load with the memory figures
SOAK_TESTS := tests/parsing/test_fuzz.py tests/crash tests/soak
# PYTHONMALLOC=malloc: the allocator the bot runs with (see README, "Memory over weeks").
soak: install
	PYTHONMALLOC=malloc HYPOTHESIS_PROFILE=soak $(BIN)/python -m pytest -p no:randomly $(SOAK_TESTS)

lint: install
	$(BIN)/ruff check .

## bench: install the comparison peers (bench only, never at run time) and print figures
bench: install
	$(BIN)/python -m pip install --quiet -e '.[dev,postgres,bench]'
	$(BIN)/python -m pip install --quiet --no-deps py_lets_be_rational==1.0.0 py_vollib==1.0.1 py_vollib_vectorized==0.1.1
	@set -e; for b in $(BENCHMARKS); do echo "== $$b"; $(BIN)/python $$b; echo; done

## demo: the main job offline: a bundled real A+ post replayed on bundled (SYNTHETIC) bars
demo: install
	$(BIN)/python -m bot replay data/samples/aplus/2025-06-11_line_separators.txt --bars-dir data/bars

## run: start the Discord bot (needs DISCORD_TOKEN)
run: install
	PYTHONMALLOC=malloc $(BIN)/python -m bot run

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
