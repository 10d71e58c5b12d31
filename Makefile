# The two commands of the README, and a few more. Only Python 3.11+ is needed on the machine:
# everything else comes from the package registries into .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=
# Test processes (pytest-xdist): one per core; `make test PYTEST_WORKERS=0` runs in one process.
# --dist loadfile keeps a test file on one worker, so a module-scoped fixture (a whole mission
# run shared by the tests of tests/test_e2e.py) runs once; --no-loadscope-reorder hands out the
# files in the order tests/conftest.py collects them (long ones first), not by number of tests.
PYTEST_WORKERS ?= auto

.PHONY: demo test lab setup lint docs bench lock clean-reports

$(STAMP): pyproject.toml requirements.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "protection-eval needs Python 3.11 or newer (found $$($(BIN)/python -V))"; exit 1; }
	$(BIN)/python -m pip install --quiet uv || true
	@if [ -x $(BIN)/uv ]; then \
		$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python -c requirements.lock -e '.[dev]'; \
	else \
		$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[dev]'; \
	fi
	$(BIN)/python -m ipykernel install --sys-prefix --name protection-eval \
		--display-name protection-eval >/dev/null
	@mkdir -p $(VENV)/share/jupyter/lab/settings
	$(BIN)/jupytext-config --settings-file $(VENV)/share/jupyter/lab/settings/overrides.json \
		set-default-viewer python >/dev/null
	@touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(BIN)/protection-eval demo
	@echo
	@echo "Done. Open reports/index.html in a browser (it works offline)."
	@echo "Each mission: reports/<MISSION>/latest/shared/ (for commanders) and restricted/ (evaluators)."

test: setup
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder \
		$(PYTEST_ARGS)

lab: setup
	@test -f data/missions/DEMO-A.yaml || $(BIN)/protection-eval demo --no-run
	$(BIN)/jupyter lab --notebook-dir=notebooks $(LAB_ARGS)

lint: setup
	$(BIN)/ruff check .

# The API reference of every subpackage's face (its __all__), from the numpydoc docstrings, into
# build/api/ (open build/api/index.html). Fails on a public name without a docstring or a
# reference to something that does not exist; tests/test_faces.py builds it in `make test` too.
docs: setup
	$(BIN)/python docs/api/reference.py build/api
	@echo "API reference: build/api/index.html"

bench: setup
	$(BIN)/python benchmarks/bench_coverage.py
	$(BIN)/python benchmarks/bench_effectiveness.py
	$(BIN)/python benchmarks/bench_runner.py
	$(BIN)/python benchmarks/simulate_validity.py

lock:
	$(BIN)/uv pip compile pyproject.toml --extra dev --quiet -o requirements.lock

clean-reports:
	find reports -mindepth 1 -maxdepth 1 ! -name README.md -exec rm -rf {} +
