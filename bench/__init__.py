"""Benchmarks, each runnable as `uv run python -m bench.<name>` with a `--quick` option."""
