"""The `explain` stage: where each classifier looks on the test split (Grad-CAM in
models.gradcam), scored against the boxes (evaluate.saliency), with the sanity check."""
