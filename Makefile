# Every target makes its own virtualenv, so a machine with only Python 3.11 and git is enough.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
# The GitHub action's hash-locked wheels, fetched at install time so that no test reaches a registry.
ACTION_LOCK := .github/actions/launchops/requirements-wandb.txt
WHEELS := $(VENV)/wheelhouse-$(shell cksum $(ACTION_LOCK) | cut -d' ' -f1)

.PHONY: run lint test bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test,wandb]'
	rm -f $(VENV)/.installed-* && touch $(STAMP)

$(WHEELS): $(ACTION_LOCK) $(STAMP)
	rm -rf $(VENV)/wheelhouse-* $@.partial
	$(BIN)/python -m pip download -q --require-hashes --only-binary=:all: --no-deps -r $(ACTION_LOCK) -d $@.partial
	mv $@.partial $@

## run: the main job end to end on the example specs, in a scratch git repository
run: $(STAMP)
	@PATH="$(CURDIR)/$(BIN):$$PATH" bash .ci/demo

## lint: static checks: ruff on the package, tests and benchmarks, strict mypy on the package
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

## test: the static checks, then the whole test suite (a type error fails it before any test runs)
test: lint $(STAMP) $(WHEELS)
	LAUNCHOPS_WHEELHOUSE=$(CURDIR)/$(WHEELS) $(BIN)/python -m pytest -n 2 -q

## schema-check: write reconciler/schema_check.py again from the spec schema (after editing the schema)
.PHONY: schema-check
schema-check: $(STAMP)
	$(BIN)/python -c "from reconciler import checks; open('reconciler/schema_check.py', 'w').write(checks.schema_check_source())"

## soak: the model-based random walk (tests/test_model_based.py), longer and shrinking what it finds
.PHONY: soak
soak: $(STAMP)
	LAUNCHOPS_SOAK=1 $(BIN)/python -m pytest -q -p no:xdist tests/test_model_based.py

## bench: the benchmarks against their peers (writes benchmarks/RESULTS.md)
bench: $(STAMP)
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
