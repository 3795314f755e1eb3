# SimDPS Studio: `make run` opens the app on the demo, `make test` runs the whole test suite.
# Both set up everything on a fresh Debian machine: system libraries (apt-get, when usable),
# a virtual environment in .venv with the CPU build of torch, and the app itself.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
TORCH  ?= torch==2.13.0

.PHONY: run test lint format setup sysdeps bench demo clean

$(STAMP): pyproject.toml
	@bash scripts/sysdeps.sh
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	@# CPU torch first, unless a torch (e.g. a CUDA build, README) is already in the venv: the
	@# app's torch range then installs nothing more.
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install --quiet "$(TORCH)"
	$(PY) -m pip install --quiet -e ".[dev,data]"
	@touch $(STAMP)

setup: $(STAMP)

sysdeps:
	@bash scripts/sysdeps.sh

run: $(STAMP)
	$(PY) -m simdps_studio resources/demo/demo.flac

test: $(STAMP)
	@# pytest's status 5 means no test ran: that is a failure too.
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q; rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "error: no tests were collected" >&2; exit 1; fi; exit $$rc

lint: $(STAMP)
	$(VENV)/bin/ruff check simdps_studio tests benchmarks scripts
	$(VENV)/bin/ruff format --check simdps_studio tests benchmarks scripts

format: $(STAMP)
	$(VENV)/bin/ruff format simdps_studio tests benchmarks scripts
	$(VENV)/bin/ruff check --fix simdps_studio tests benchmarks scripts

bench: $(STAMP)
	$(PY) benchmarks/load_speed.py

demo: $(STAMP)
	$(PY) scripts/make_demo.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
