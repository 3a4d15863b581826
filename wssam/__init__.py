"""wssam: weakly-supervised concealed object segmentation with SAM pseudo labels (WS-SAM, NeurIPS 2023).

One package per pipeline stage, named as the stage is in ``dvc.yaml``; stage ``X``'s core is the function
``wssam.X.stage.X`` and its parameters the config in ``wssam.X.config``:

- :mod:`wssam.prepare`: datasets, the embedded demo, sparse labels (read or simulated), manifests;
- :mod:`wssam.pseudo_label`: augmentation views, prompts, labelers (random walker, SAM);
- :mod:`wssam.score`: view fusion, entropy weights, image selection, pseudo-label quality;
- :mod:`wssam.train`: losses, schedules, augmentation, the training loop and its run state;
- :mod:`wssam.predict`: maps for a test set from a model checkpoint;
- :mod:`wssam.evaluate`: the CODToolbox metrics via pysodmetrics.

Shared ground below them: :mod:`wssam.config` (params.yaml -> validated configs), :mod:`wssam.io` (files, atomic
writes), :mod:`wssam.labels` (the S-COD encoding), :mod:`wssam.devices`, :mod:`wssam.cli`; the networks on their
own in :mod:`wssam.models` (no training code). The scripts in ``stages/`` are thin typer CLIs over the stage
functions, wired together by ``dvc.yaml``.
"""

__version__ = "0.1.0"
