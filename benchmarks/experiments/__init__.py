"""The evidence behind docs/results.md: one module per experiment, each with ``run(size, seed, progress)``,
``markdown(result, img_dir, img_prefix)`` and ``main()`` (``python -m benchmarks.experiments.<name>``).

``size="small"`` is the reduced version the test suite runs; ``w2s report`` runs them all at full
size and rewrites docs/results.md (:mod:`benchmarks.experiments.report`).
"""

#: Report order: module names under this package.
EXPERIMENTS = (
    "synthetic_table",
    "detection_quality",
    "source_selection",
    "digits",
    "trust",
    "real_data",
    "hybrid_study",
)
