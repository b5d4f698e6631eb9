"""Classification: backbones, the one-fold training loop and the cross-validation protocol."""
