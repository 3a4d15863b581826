"""The ``train`` stage: the segmentation network on the selected pseudo labels (:func:`wssam.train.stage.train`).

:mod:`.config` (the recipe), :mod:`.dataset` (kept images, split, epoch order), :mod:`.augment`, :mod:`.losses`,
:mod:`.schedule` (learning rate, uncertainty ramp), :mod:`.run_state` (what resume needs), :mod:`.loop` (steps,
epochs, validation) and :mod:`.layout` (the checkpoint files).
"""
