# Every target makes its own virtualenv, so a machine with only Python 3.11 and git is enough.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: run test bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test,wandb]'
	rm -f $(VENV)/.installed-* && touch $(STAMP)

## run: the main job end to end on the example specs, in a scratch git repository
run: $(STAMP)
	@PATH="$(CURDIR)/$(BIN):$$PATH" bash .ci/demo

## test: the whole test suite
test: $(STAMP)
	$(BIN)/python -m pytest -n 2 -q

## bench: the benchmarks against their peers (writes benchmarks/RESULTS.md)
bench: $(STAMP)
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
