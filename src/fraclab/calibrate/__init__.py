"""The `calibrate` stage: nested per-fold-model calibration, and its reliability diagrams."""
