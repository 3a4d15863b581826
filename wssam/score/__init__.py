"""The ``score`` stage: fuse the augmentation views, weight pixels by entropy, select the certain images.

Modules: :mod:`.entropy` (binary entropy, pixel weights, image entropy), :mod:`.fusion` (mean of the views),
:mod:`.selection` (tau and keep-fraction rules), :mod:`.quality` (IoU, MAE, rank correlation against ground truth),
:mod:`.layout` (the output folder's names), :mod:`.config` and :mod:`.stage` (:func:`~wssam.score.stage.score`).
"""
