"""Published WS-SAM numbers on the standard test sets (the paper's tables), to show beside a run's.

Metric names are the toolbox's: ``MAE``, ``adpFm`` (the F_beta column of the paper's tables is the adaptive
F-measure), ``meanEm`` (E_phi) and ``Smeasure`` (S_alpha).
"""

from __future__ import annotations

import re

PUBLISHED_METRICS = ("MAE", "adpFm", "meanEm", "Smeasure")

#: supervision -> test set -> (MAE, adaptive F_beta, E_phi, S_alpha) of WS-SAM
PUBLISHED: dict[str, dict[str, tuple[float, float, float, float]]] = {
    "scribble": {
        "CHAMELEON": (0.046, 0.777, 0.897, 0.824),
        "CAMO": (0.092, 0.742, 0.818, 0.759),
        "COD10K": (0.038, 0.719, 0.878, 0.803),
        "NC4K": (0.052, 0.802, 0.886, 0.829),
    },
    "point": {
        "CHAMELEON": (0.056, 0.767, 0.868, 0.805),
        "CAMO": (0.102, 0.703, 0.757, 0.718),
        "COD10K": (0.039, 0.698, 0.856, 0.790),
        "NC4K": (0.057, 0.801, 0.859, 0.813),
    },
}


#: images in each standard test set (COD10K-test, CAMO-test): a run's set is set beside the paper's numbers only when
#: it has them all (not a ``prepare.max_images`` subset, not another set that shares the name)
STANDARD_SIZES = {"CHAMELEON": 76, "CAMO": 250, "COD10K": 2026, "NC4K": 4121}
_TEST_SUFFIX = re.compile(r"[-_ ]?test$", re.IGNORECASE)


def standard_name(test_set: str) -> str:
    """The standard set a test set's name means, upper case: ``camo``, ``CAMO-test`` and ``CAMO_test`` are CAMO."""
    return _TEST_SUFFIX.sub("", test_set).upper()


def published(supervision: str, test_set: str, images: int) -> dict[str, float] | None:
    """WS-SAM's published values for ``test_set`` under ``supervision`` (scribble | point), None where the paper has
    none or where the run's set of ``images`` images is not the whole standard set of that name."""
    name = standard_name(test_set)
    row = PUBLISHED.get(supervision, {}).get(name)
    if row is None or images != STANDARD_SIZES[name]:
        return None
    return dict(zip(PUBLISHED_METRICS, row, strict=True))
