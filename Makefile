# Two commands on a fresh clone (Python >= 3.11 and make): `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev,dask]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/oncotrial demo

test: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/pytest -q -n auto

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

#: every benchmark prints its figures and their ratios to the anchor (R, where installed)
BENCHMARKS := cli_help.py run.py study.py blrm_rose.py efficacy_designs.py survival.py store_import.py audit_verify.py load_forms.py dashboards.py phase1_snapshot.py live_trial.py

bench: $(STAMP)
	@for b in $(BENCHMARKS); do \
		if [ -f benchmarks/$$b ]; then echo "== benchmarks/$$b"; $(BIN)/python benchmarks/$$b || exit 1; fi; \
	done

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
