"""Published WS-SAM numbers on the standard test sets (the paper's tables), to show beside a run's.

Metric names are the toolbox's: ``MAE``, ``adpFm`` (the F_beta column of the paper's tables is the adaptive
F-measure), ``meanEm`` (E_phi) and ``Smeasure`` (S_alpha).
"""

from __future__ import annotations

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


def published(supervision: str, test_set: str) -> dict[str, float] | None:
    """WS-SAM's published values for ``test_set`` under ``supervision`` (scribble | point), None if not published."""
    row = PUBLISHED.get(supervision, {}).get(test_set.upper())
    return None if row is None else dict(zip(PUBLISHED_METRICS, row, strict=True))
