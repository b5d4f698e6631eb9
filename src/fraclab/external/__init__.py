"""The `external@NAME` stage: the study's bundle scored on another labelled dataset.

The dataset is read by the importers and checks `prepare` uses and scored by the bundle as
shipped: no weight, calibration map or threshold is refitted on it. Its numbers stand beside
the study's own test set, computed by the same functions
(:func:`fraclab.evaluate.external.validation_metrics`).
"""
