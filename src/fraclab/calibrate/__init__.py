"""The `calibrate` stage (nested per-fold-model calibration) and the prediction files that
it and the `threshold` stage share."""
