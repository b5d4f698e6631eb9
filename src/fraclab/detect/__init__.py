"""YOLOv8 fracture localisation with Ultralytics, offline-safe inside a DVC pipeline.

``data`` (the prepared YOLO view, checked), ``weights`` (scratch or pretrained), ``train``
(one training run), ``metrics`` (Ultralytics' validator run, per-epoch log), ``plots`` and
``stage`` (the `detect` stage). The environment Ultralytics needs before it is imported is
``fraclab.models.offline``; its validator's figures as dicts, ``fraclab.evaluate.detection``.
"""
