"""The ``report`` stage: what a researcher looks at (:func:`wssam.report.stage.report`).

:mod:`.plots` (curves as PNG), :mod:`.galleries` (image strips of training and test images), :mod:`.page` (one
self-contained HTML page and a Markdown summary), :mod:`.published` (the paper's numbers), :mod:`.config`.
"""
