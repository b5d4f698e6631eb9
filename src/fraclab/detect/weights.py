"""Which YOLOv8 model to start from: a fresh one from its YAML, or pretrained weights on disk.

``detect.weights`` is ``scratch`` (build ``yolov8<size>.yaml``; nothing to download),
``pretrained`` (``yolov8<size>.pt`` in the working folder or Ultralytics' weights folder,
``.yolo/weights/``, downloaded there only when online), or a path: a folder holding
``yolov8<size>.pt`` or one ``.pt`` file.
"""

from __future__ import annotations

from pathlib import Path

from fraclab.models import offline
from fraclab.runtime import PretrainedWeightsError, reachable

# Where Ultralytics publishes the YOLOv8 weights (named in the error so a user can fetch them).
RELEASE_URL = "https://github.com/ultralytics/assets/releases/download/v8.4.0"


def model_source(weights: str, size: str) -> str:
    """The argument for ``YOLO(...)``: a model YAML name or the path of a ``.pt`` file.

    Raises PretrainedWeightsError, within a few seconds, when the file is missing and cannot be
    downloaded; the message names the file and the folder to put it in.
    """
    name = f"yolov8{size}.pt"
    if weights == "scratch":
        return f"yolov8{size}.yaml"
    if weights != "pretrained":
        path = Path(weights).expanduser()
        path = path / name if path.is_dir() else path
        if not path.is_file():
            raise PretrainedWeightsError(f"detect.weights: {path} not found (expected a folder "
                                         f"holding {name}, or a .pt file)")
        return str(path)
    folder = offline.weights_dir()
    for candidate in (Path(name), folder / name):
        if candidate.is_file():
            return str(candidate.resolve())
    if not reachable("github.com"):
        raise PretrainedWeightsError(
            f"detect.weights is pretrained but {name} is not in {folder} (nor in the working "
            f"folder) and there is no network to download it. Put {name} in {folder}, e.g. "
            f"from {RELEASE_URL}/{name}, or set detect.weights: scratch")
    offline.configure()  # before ultralytics is imported
    from ultralytics.utils.downloads import attempt_download_asset

    offline.restore_pil_open()

    folder.mkdir(parents=True, exist_ok=True)
    path = Path(attempt_download_asset(folder / name))
    if not path.is_file():
        raise PretrainedWeightsError(f"downloading {name} into {folder} failed; put it there by "
                                     f"hand from {RELEASE_URL}/{name}")
    return str(path)
