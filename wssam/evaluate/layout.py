"""Where the evaluation of test set ``<set>`` is written, named once for dvc.yaml's wiring and the report that reads
it: ``<test metrics>/<set>.json`` (the dataset values), ``<evaluation>/<set>.csv`` (per image) and
``<evaluation>/<set>_curves.csv`` (per threshold)."""

from __future__ import annotations

import os
from pathlib import Path


def metrics_file(metrics_dir: str | os.PathLike[str], test_set: str) -> Path:
    """The dataset values of ``test_set`` (JSON)."""
    return Path(metrics_dir) / f"{test_set}.json"


def per_image_file(evaluation_dir: str | os.PathLike[str], test_set: str) -> Path:
    """One row per image of ``test_set`` (CSV)."""
    return Path(evaluation_dir) / f"{test_set}.csv"


def curves_file(evaluation_dir: str | os.PathLike[str], test_set: str) -> Path:
    """Precision, recall, F- and E-measure per threshold of ``test_set`` (CSV)."""
    return Path(evaluation_dir) / f"{test_set}_curves.csv"
