"""The ``check_params`` stage, first in the pipeline: every section of params.yaml validated in one cheap step
(:func:`wssam.check_params.stage.check_params`), so that ``dvc repro`` stops at a typo even when every stage that
reads the misspelt section is up to date.
"""
