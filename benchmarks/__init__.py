"""Benchmarks and the experiments behind docs/results.md: in a source checkout only, never in the wheel."""
