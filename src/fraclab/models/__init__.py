"""The networks this project trains and applies, and what running them needs.

`backbones` builds the classifiers, `inputs` turns the prepared uint8 images into their
inputs, `gradcam` and `heatmaps` show where a classifier looks, and `offline` keeps
Ultralytics from reaching the network. Training, calibration and scoring live in the stages.
"""
