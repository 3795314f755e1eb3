"""Gap-repair quality benchmark (issue 7): LPC, Sim, DPS and SimDPS on rendered piano, real
recordings and the demo; writes ``quality.md``, ``quality.csv`` and PNG plots.

A thin wrapper of :mod:`simdps_studio.bench.cli`, the same as ``simdps-studio bench
quality`` (same options)::

    .venv/bin/python benchmarks/quality.py --quick --model piano-tiny --out /tmp/bench
    .venv/bin/python benchmarks/quality.py                     # the full run into docs/benchmarks/
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from simdps_studio.bench.cli import main

if __name__ == "__main__":
    sys.exit(main(prog="benchmarks/quality.py"))
