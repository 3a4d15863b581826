"""The ``evaluate`` stage: S-measure, E-measure, F-measures and MAE as the MATLAB CODToolbox computes them."""
