"""The `bundle` stage: the study's models, calibration, thresholds and card in one folder."""
