"""YOLOv8 fracture localisation with Ultralytics, offline-safe inside a DVC pipeline.

``offline`` (environment set before ultralytics is imported), ``data`` (the prepared YOLO view,
checked), ``weights`` (scratch or pretrained), ``train`` (one training run), ``metrics``
(numbers from Ultralytics' validator), ``plots`` and ``stage`` (the `detect` stage).
"""
