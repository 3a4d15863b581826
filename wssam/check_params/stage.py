"""The ``check_params`` stage: validate the whole params file, section by section, with each stage's config.

Each stage declares only its own keys to DVC, so a typo (``score.taux: 0.3``, ``pseudo_label.labler: sam``,
``prepare.max_image: 4``) changes no stage's parameters: ``dvc repro`` would skip every stage and exit 0 with the
typo unnoticed. This stage depends on the whole ``params.yaml`` file instead, runs whenever it changes, and stops
the pipeline with one line naming the first bad key. It is cheap on purpose: the configs are pydantic models that
import no torch.

Its output is a small marker file whose contents depend only on the sections checked, not on their values, so
that ``prepare`` can depend on it (which puts this stage first) without rerunning when a value changes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from wssam.config import Config, build_config, read_params
from wssam.evaluate.layout import per_image_file, same_file_sets
from wssam.io import InputError, write_json
from wssam.launcher import LauncherConfig, check_global_batch
from wssam.predict.config import PredictConfig
from wssam.prepare.config import PrepareConfig
from wssam.pseudo_label.config import PseudoLabelConfig
from wssam.report.config import ReportConfig
from wssam.score.config import ScoreConfig
from wssam.staging import remove_temporaries
from wssam.train.config import TrainConfig

#: every section of params.yaml and the config that reads it, in pipeline order
SECTIONS: dict[str, type[Config]] = {
    "prepare": PrepareConfig,
    "pseudo_label": PseudoLabelConfig,
    "score": ScoreConfig,
    "train": TrainConfig,
    "launcher": LauncherConfig,
    "predict": PredictConfig,
    "report": ReportConfig,
}


def validate_params(values: dict[str, Any], source: str | os.PathLike[str]) -> None:
    """Validate every section of the params mapping ``values`` (read from ``source``) with its stage's config.

    Raises :class:`~wssam.io.InputError` (one line naming the key) for an unknown or missing section, and for an
    unknown, missing, mistyped or out-of-range key in any section.
    """
    unknown = sorted(set(values) - set(SECTIONS))
    if unknown:
        raise InputError(f"unknown section '{unknown[0]}' in {source}; known sections: {', '.join(SECTIONS)}")
    configs = {}
    for section, cls in SECTIONS.items():
        if section not in values:
            raise InputError(f"{source}: section '{section}' is missing")
        configs[section] = build_config(cls, values[section], section)
    check_global_batch(configs["train"].batch_size, configs["launcher"].world_size)
    clash = same_file_sets(configs["prepare"].test_sets)
    if clash is not None:
        raise InputError(
            f"parameter 'prepare.test_sets': the sets {clash[0]!r} and {clash[1]!r} would both write the "
            f"evaluation file {per_image_file('', clash[1])} (the first's curves); rename one"
        )


def check_params(*, params: str | os.PathLike[str], output: str | os.PathLike[str]) -> list[str]:
    """Validate every section of the params file ``params``; write the marker ``output``; return the sections.

    Raises :class:`~wssam.io.InputError` as :func:`validate_params` does.
    """
    remove_temporaries(output)
    validate_params(read_params(params), params)
    write_json(Path(output), {"checked_sections": list(SECTIONS)})
    return list(SECTIONS)
