"""Benchmark scripts: they print figures (our speed and memory goals are measured here, not by timed tests)."""
