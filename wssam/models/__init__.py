"""Segmentation networks: the WS-SAM feature-grouping network and a plain top-down baseline."""

from wssam.models.builder import MODEL_REGISTRY, OUTPUT_NAMES, build_model, count_parameters_millions

__all__ = ["MODEL_REGISTRY", "OUTPUT_NAMES", "build_model", "count_parameters_millions"]
