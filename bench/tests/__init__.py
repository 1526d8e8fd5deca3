"""Tests of the benchmark helpers (run: pytest bench/tests; never part of the suite)."""
