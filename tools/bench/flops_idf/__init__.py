"""The flops_idf benchmark (SciFact): IDF-aware FLOPS against plain FLOPS, BM25 and MiniLM dense.

A package of stages, run from the repository root with ``python -m tools.bench.flops_idf.<stage>``
(README.md lists the commands): ``prepare`` (backbone pass, cached), ``teachers`` (BM25 / dense teachers and hard
negatives), ``train_students``, ``evaluate`` (writes results.json), ``seismic_bench``, ``ablations``, ``holdout``
and ``report`` (results.md and the plot). ``quick`` runs them all on a tiny SciFact subset into a folder of its own
(``nox -s bench``). Shared pieces: ``common`` (data, paths, ``--out`` / ``--quick``), ``caches`` and ``scoring``;
stages import them, never each other's ``main``.
"""
