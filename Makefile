# All set-up happens here: the first target that needs the environment creates .venv and
# installs fraclab (editable) with every pinned dependency from pyproject.toml.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.fraclab-installed

.PHONY: repro test lint data clean-venv

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The embedded default dataset: regenerated deterministically when absent (it is not in git;
# data.dvc records its hash, and tests/test_synth.py checks the regenerated copy matches it).
data: $(STAMP)
	test -d data || $(BIN)/fraclab synth --out data

repro: data
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/dvc repro

test: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks

clean-venv:
	rm -rf $(VENV)
