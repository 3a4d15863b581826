"""The ``predict`` stage: maps for a test set from a model checkpoint (:func:`wssam.predict.stage.predict`).

Imports models, manifests and io only, so that editing the training code does not rerun prediction.
"""
