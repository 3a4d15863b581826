"""Where the evaluation of test set ``<set>`` is written, named once for dvc.yaml's wiring and the report that reads
it: ``<test metrics>/<set>.json`` (the dataset values), ``<evaluation>/<set>.csv`` (per image) and
``<evaluation>/<set>_curves.csv`` (per threshold)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

#: what follows a test set's name in the name of its curves file
CURVES_SUFFIX = "_curves"


def metrics_file(metrics_dir: str | os.PathLike[str], test_set: str) -> Path:
    """The dataset values of ``test_set`` (JSON)."""
    return Path(metrics_dir) / f"{test_set}.json"


def per_image_file(evaluation_dir: str | os.PathLike[str], test_set: str) -> Path:
    """One row per image of ``test_set`` (CSV)."""
    return Path(evaluation_dir) / f"{test_set}.csv"


def curves_file(evaluation_dir: str | os.PathLike[str], test_set: str) -> Path:
    """Precision, recall, F- and E-measure per threshold of ``test_set`` (CSV)."""
    return Path(evaluation_dir) / f"{test_set}{CURVES_SUFFIX}.csv"


def same_file_sets(test_sets: Iterable[str]) -> tuple[str, str] | None:
    """Two set names whose evaluation files would be one (``X``'s curves and ``X_curves``'s per-image CSV), or
    None."""
    names = set(test_sets)
    for name in sorted(names):
        if name.endswith(CURVES_SUFFIX) and name.removesuffix(CURVES_SUFFIX) in names:
            return name.removesuffix(CURVES_SUFFIX), name
    return None
