"""The ``pseudo_label`` stage: SAM (or the random walker) per augmentation view (:func:`.stage.pseudo_label`).

:mod:`.config` (light), :mod:`.views` (view geometry and its inverse), :mod:`.prompts` (points and boxes from the
sparse labels), :mod:`.labelers` (random walker, SAM), :mod:`.layout` (the view maps' names).
"""
