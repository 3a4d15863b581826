"""Segmentation networks: the WS-SAM feature-grouping network and a plain top-down baseline.

:mod:`.config` (the model config and the networks' contract, no torch), :mod:`.network` (the shared base: input
normalisation, output names), :mod:`.builder` (``build_model``), :mod:`.checkpoint` (weights files), and the parts:
:mod:`.backbone`, :mod:`.blocks`, :mod:`.grouping`, :mod:`.prior`, :mod:`.decoder`, :mod:`.wssam_net`,
:mod:`.baseline`. Nothing here imports training code.
"""
