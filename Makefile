# SimDPS Studio: `make run` opens the app on the demo, `make test` runs the whole test suite.
# Both set up everything on a fresh Debian machine: system libraries (apt-get, when usable),
# a virtual environment in .venv with the CPU build of torch, and the app itself.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
TORCH  ?= torch==2.13.0

.PHONY: run test lint format setup sysdeps bench demo clean dist dist-check

$(STAMP): pyproject.toml
	@bash scripts/sysdeps.sh
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	@# CPU torch first, unless a torch (e.g. a CUDA build, README) is already in the venv: the
	@# app's torch range then installs nothing more.
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install --quiet "$(TORCH)"
	$(PY) -m pip install --quiet -e ".[dev,data,bench]"
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

# The desktop bundle (packaging/README.md): dist/simdps-studio/simdps-studio, built with the torch
# that is in .venv (CPU by default). `dist-check` also runs the bundle's smoke test.
PYINSTALLER := $(VENV)/bin/pyinstaller

$(PYINSTALLER): | $(STAMP)
	$(PY) -m pip install --quiet "pyinstaller>=6.11,<7" "pyinstaller-hooks-contrib>=2024.10"

dist: $(STAMP) $(PYINSTALLER)
	$(PYINSTALLER) packaging/simdps-studio.spec --noconfirm --clean --distpath dist --workpath build/pyinstaller

dist-check: dist
	$(PY) packaging/smoke_test.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache dist build
