"""wssam: weakly-supervised concealed object segmentation with SAM pseudo labels (WS-SAM, NeurIPS 2023).

The package is the pipeline's core: data and sparse labels (:mod:`wssam.data`, :mod:`wssam.labels`), augmentation
views and prompts (:mod:`wssam.views`, :mod:`wssam.prompts`), pseudo labellers (:mod:`wssam.labelers`), entropy
scoring (:mod:`wssam.scoring`), the segmentation networks and their training (:mod:`wssam.models`,
:mod:`wssam.training`), and evaluation (:mod:`wssam.evaluation`). The scripts in ``stages/`` are thin typer CLIs
over it, wired together by ``dvc.yaml``.
"""

__version__ = "0.1.0"
