"""The ``prepare`` stage: datasets and sparse labels (:func:`wssam.prepare.stage.prepare`).

:mod:`.config`, :mod:`.layout` (the prepared folders' names), :mod:`.manifest`, :mod:`.datasets` (real dataset
folders), :mod:`.demo` (the embedded demo generator), :mod:`.simulate` (sparse labels from GT).
"""
