"""Benchmarks, run as ``python -m wssam.bench sam|train|scale [options]`` (each prints its figures on the last line)."""
