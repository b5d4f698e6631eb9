"""Where each classifier looks: Grad-CAM maps, the layer they are taken at, the way back to the
original image, and the randomisation sanity check (scores against boxes: evaluate.saliency)."""
