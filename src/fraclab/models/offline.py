"""Ultralytics inside a DVC pipeline, offline: the environment it needs before it is imported.

Ultralytics reads its settings and decides what to call home about when it is first imported,
so :func:`configure` must run before any ``import ultralytics`` (use :func:`ultralytics_module`
or import the other ``fraclab.detect`` modules, which call it first). What it sets, and why:

- ``YOLO_CONFIG_DIR`` -> a project-local, git-ignored folder (``.yolo/`` by default) holding a
  ``settings.json`` with every integration off. ``dvc: false`` matters most: Ultralytics' DVCLive
  callback would otherwise rewrite the project's ``dvc.yaml`` and run ``dvc add`` in the middle
  of ``dvc repro``; ``sync: false`` stops usage analytics.
- ``Arial.ttf`` (and ``Arial.Unicode.ttf``) in that folder, copied from matplotlib's
  DejaVuSans.ttf: without a local font Ultralytics downloads Arial.ttf the first time it draws.
- ``YOLO_OFFLINE=1``: its online check answers "offline" without a DNS lookup.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

DEFAULT_DIR = Path(".yolo")
SETTINGS_VERSION = "0.0.8"  # the schema of the pinned ultralytics==8.4.190
# Every integration Ultralytics can switch on from its settings, all off.
INTEGRATIONS = ("clearml", "comet", "dvc", "mlflow", "raytune", "tensorboard", "wandb")


def settings_for(config_dir: Path) -> dict:
    """The full settings file Ultralytics expects (a partial one is 'migrated' with a warning)."""
    return {
        "settings_version": SETTINGS_VERSION,
        "datasets_dir": str(config_dir / "datasets"),
        "weights_dir": str(config_dir / "weights"),
        "runs_dir": str(config_dir / "runs"),
        "uuid": "0" * 64,  # analytics are off; a fixed id keeps the file identical everywhere
        "sync": False,
        "api_key": "",
        "openai_api_key": "",
        **dict.fromkeys(INTEGRATIONS, False),
        "vscode_msg": False,
        "openvino_msg": False,
    }


def settings_dir(config_dir: Path) -> Path:
    """Where Ultralytics keeps settings.json and fonts under ``YOLO_CONFIG_DIR``."""
    return config_dir / "Ultralytics"


def weights_dir(config_dir: Path | None = None) -> Path:
    """Ultralytics' weights folder under our config dir: where ``yolov8<size>.pt`` is looked up."""
    return (config_dir or configured_dir()).resolve() / "weights"


def configured_dir() -> Path:
    """The config dir :func:`configure` chose, or the default one."""
    return _configured or DEFAULT_DIR


def _seed(config_dir: Path) -> None:
    folder = settings_dir(config_dir)
    folder.mkdir(parents=True, exist_ok=True)
    settings = settings_for(config_dir.resolve())
    path = folder / "settings.json"
    current = json.loads(path.read_text()) if path.is_file() else None
    if current != settings:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(settings, indent=2))
        os.replace(tmp, path)  # atomic: two stages starting together never read half a file
    from matplotlib import get_data_path  # matplotlib is a dependency; its font is free to copy

    font = Path(get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    for name in ("Arial.ttf", "Arial.Unicode.ttf"):
        if not (folder / name).is_file():
            tmp = folder / f".{name}.tmp"
            shutil.copyfile(font, tmp)
            os.replace(tmp, folder / name)


_configured: Path | None = None  # the folder the first configure() of this process chose


def configure(config_dir: Path | str | None = None) -> Path:
    """Prepare the offline Ultralytics environment; returns the config dir (absolute).

    ``config_dir`` defaults to the folder an earlier call chose, else ``.yolo/`` in the working
    folder (the project root under DVC). Raises RuntimeError when ultralytics was already
    imported with other settings: they were read at import and cannot be changed.
    """
    global _configured
    target = Path(config_dir or _configured or DEFAULT_DIR).resolve()
    if "ultralytics" in sys.modules:
        current = os.environ.get("YOLO_CONFIG_DIR")
        if current is None or Path(current).resolve() != target:
            raise RuntimeError(f"ultralytics was imported before fraclab.models.offline."
                               f"configure({target}); its settings come from "
                               f"{current or 'the global Ultralytics config folder'}")
    _seed(target)
    os.environ["YOLO_CONFIG_DIR"] = str(target)
    os.environ["YOLO_OFFLINE"] = "1"
    _configured = target
    return target


def ultralytics_module():
    """``import ultralytics`` after :func:`configure` (idempotent)."""
    configure()
    import ultralytics

    restore_pil_open()
    return ultralytics


def restore_pil_open() -> None:
    """Undo Ultralytics' process-wide patch of ``PIL.Image.open``.

    On an image PIL cannot identify, the patched opener tries to install pi-heif (a network
    call) and then fails with ModuleNotFoundError instead of PIL's own error, so a corrupt
    image would no longer be the clear error `prepare` gives (and anything else that opens
    images in the same process would change behaviour). Offline, HEIF support cannot be
    installed anyway. Call after importing ultralytics; a no-op before.
    """
    patches = sys.modules.get("ultralytics.utils.patches")
    original = getattr(patches, "_image_open", None)
    if original is not None:
        from PIL import Image

        Image.open = original
