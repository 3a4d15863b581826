"""Scoring SAM pseudo labels: fuse the augmentation views, weight pixels by entropy, select certain images.

Modules: :mod:`~wssam.scoring.entropy` (binary entropy, pixel weights, image entropy), :mod:`~wssam.scoring.fusion`
(mean of the views), :mod:`~wssam.scoring.selection` (tau and keep-fraction rules), :mod:`~wssam.scoring.quality`
(IoU, MAE, rank correlation against ground truth) and :mod:`~wssam.scoring.score` (the ``score`` stage over a dataset).
"""
