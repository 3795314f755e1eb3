"""The quality benchmark (``simdps-studio bench quality``), above the session layer.

It repairs gaps cut into clean tracks through :mod:`simdps_studio.session` and scores them
(docs/architecture.md, section 8). ``session/`` and ``gui/`` never import this package.

- :mod:`~simdps_studio.bench.config`: what a run measures (:class:`BenchConfig`, the methods);
- :mod:`~simdps_studio.bench.material`: the clean tracks and where each gap is cut;
- :mod:`~simdps_studio.bench.metrics`: the scores of a repaired gap against the clean track;
- :mod:`~simdps_studio.bench.estimate`: the time model (plan, ETA);
- :mod:`~simdps_studio.bench.runner`: the run itself (``run_benchmark``);
- :mod:`~simdps_studio.bench.rows`, :mod:`~simdps_studio.bench.resume`: the CSV and resuming it;
- :mod:`~simdps_studio.bench.summary`, :mod:`~simdps_studio.bench.report`,
  :mod:`~simdps_studio.bench.plots`: tables, ``quality.md`` and the plots;
- :mod:`~simdps_studio.bench.cli`: the command line.
"""
