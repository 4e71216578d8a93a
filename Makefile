# Two commands set everything up on a fresh machine:
#   make demo   create .venv, install suandian, run the demo on the embedded default
#   make test   same install, then lint, type-check, import contracts and the whole suite

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install browser demo test lint typecheck imports pytest smoke bench lock clean

install: $(STAMP)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstall when the dependency declarations change.
$(STAMP): $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	touch $(STAMP)

# The browser tests drive the system's Chromium (Debian package) through Playwright; a CJK font
# lets the dashboard's Chinese labels render in the screenshots.
browser:
	@command -v chromium >/dev/null 2>&1 && fc-list :lang=zh 2>/dev/null | grep -q . || \
		(apt-get update -qq && apt-get install -y -qq chromium fonts-wqy-zenhei >/dev/null)

demo: install
	$(BIN)/suandian demo $(ARGS)

test: install lint typecheck imports pytest smoke

lint: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

# Strict typing over the whole package, kernels included.
typecheck: install
	$(BIN)/mypy src/suandian

imports: install
	$(BIN)/lint-imports

pytest: install browser
	$(BIN)/pytest $(PYTEST_ARGS)

# Benchmarks at their small size: they run, the trace benchmark's two sides agree and the VPP's
# event stream checks its own acceptance (exit 1 otherwise).
smoke: install
	$(BIN)/python benchmarks/energy_year.py --quick --repeat 1 > /dev/null
	$(BIN)/python benchmarks/trace_year.py --quick --repeat 1 > /dev/null
	$(BIN)/python benchmarks/dispatch_vs_pypsa.py --quick --repeat 1 > /dev/null
	$(BIN)/python benchmarks/ledger_ops.py --quick --repeat 1 > /dev/null
	$(BIN)/python benchmarks/lets_wait_awhile.py --quick > /dev/null
	$(BIN)/python benchmarks/scheduler_scale.py --quick > /dev/null
	$(BIN)/python benchmarks/ingest.py --quick > /dev/null
	$(BIN)/python benchmarks/vpp_stream.py --quick > /dev/null

bench: install
	$(BIN)/python benchmarks/energy_year.py
	$(BIN)/python benchmarks/trace_year.py
	$(BIN)/python benchmarks/dispatch_vs_pypsa.py
	$(BIN)/python benchmarks/ledger_ops.py
	$(BIN)/python benchmarks/lets_wait_awhile.py
	$(BIN)/python benchmarks/scheduler_scale.py
	$(BIN)/python benchmarks/ingest.py
	$(BIN)/python benchmarks/vpp_stream.py

# Refresh the pinned versions after changing dependencies in pyproject.toml.
lock: install
	$(BIN)/python -m pip freeze --exclude-editable --disable-pip-version-check > constraints.txt

clean:
	rm -rf $(VENV) suandian-data suandian-out .pytest_cache .mypy_cache .ruff_cache
