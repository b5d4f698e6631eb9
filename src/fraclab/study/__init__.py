"""What a study's stages wrote and what it lets one conclude: read by ``report`` and ``bundle``.

:mod:`~fraclab.study.facts` reads the metrics files of the current settings;
:mod:`~fraclab.study.summary` makes the study's choices (best backbone, best YOLO size),
its headline numbers and the limitations they imply. A library: it imports no stage.
"""
