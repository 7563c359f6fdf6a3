"""Benchmarks: `uv run python -m bench.asr`, `uv run python -m bench.load` (each has `--quick`)."""
