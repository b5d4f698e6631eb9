"""benchmarks/gpu_kit.py: which packages the GPU check must carry to a machine without them."""

import importlib.util
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("gpu_kit", ROOT / "benchmarks" / "gpu_kit.py")
gpu_kit = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gpu_kit)


def test_the_modules_a_real_importtime_log_names_are_read_as_top_level_names():
    log = subprocess.run([sys.executable, "-X", "importtime", "-c",
                          "import json.decoder, xml.dom.minidom; print('import time: noise')"],
                         capture_output=True, text=True, check=True).stderr
    modules = gpu_kit.imported_modules(log + "a line that is not an import\n")
    assert {"json", "xml", "encodings"} <= modules
    assert not {"imported package", "json.decoder", "xml.dom"} & modules
    assert all("." not in m and " " not in m for m in modules)


def test_the_requirement_closure_follows_installed_requirements_and_their_markers():
    closure = gpu_kit.requirement_closure({"dvclive"})
    assert {"dvclive", "dvc", "dvc-render", "funcy"} <= closure
    assert "ray" not in closure  # an extra of fraclab, never a requirement of dvclive
    assert gpu_kit.requirement_closure({"no-such-distribution"}) == set()


def test_what_the_image_holds_is_never_carried():
    provided = gpu_kit.image_provided()
    assert {"torch", "numpy", "scipy", "pillow", "opencv-python"} <= provided
    assert not {"ultralytics", "dvc", "dvclive", "imagehash"} & provided
