"""The `classify-cv` stage: the cross-validation protocol and the one-fold training loop."""
