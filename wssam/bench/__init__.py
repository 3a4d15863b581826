"""Benchmarks, run as ``python -m wssam.bench sam|train [options]`` (each prints its figures on the last line)."""
