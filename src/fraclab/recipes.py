"""Recipes: named sets of params overrides for real radiographs, applied the DVC way.

A recipe is ``recipes/NAME.yaml`` with a ``description`` and ``overrides``, a mapping from a
dotted params key to its value. It is applied with DVC's own flags, one
``dvc exp run -S KEY=VALUE`` per entry, so the experiment records exactly what changed;
:func:`exp_run_command` writes that command line.

The size floors below are what the report calls "far from what real radiographs need", and
what ``prepare`` warns about before a long run on real data is spent on them.
"""

from __future__ import annotations

import dataclasses
import io
import shlex
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML, YAMLError

from fraclab.params import ParamsError

#: Below these sides a fracture a few pixels wide in a real radiograph vanishes.
REAL_DATA_MIN_CLASSIFY_PX, REAL_DATA_MIN_DETECT_PX = 128, 320
RECIPES_DIR = Path("recipes")


@dataclasses.dataclass(frozen=True)
class Recipe:
    name: str
    description: str
    overrides: dict[str, Any]


def load_recipe(name: str, directory: Path = RECIPES_DIR) -> Recipe:
    """Read ``directory/NAME.yaml``; a missing file or a malformed entry is a ParamsError
    naming the file."""
    path = directory / f"{name}.yaml"
    if not path.is_file():
        known = ", ".join(available_recipes(directory)) or "none"
        raise ParamsError(f"{path}: no such recipe (available: {known})")
    try:
        content = YAML(typ="safe", pure=True).load(path.read_text())
    except YAMLError as err:
        raise ParamsError(f"{path}: not valid YAML ({err})") from None
    if not isinstance(content, dict) or not isinstance(content.get("overrides"), dict):
        raise ParamsError(f"{path}: needs an `overrides` mapping of dotted params keys")
    overrides = content["overrides"]
    bad = [k for k in overrides if not isinstance(k, str) or not k or k.startswith(".")
           or "=" in k or " " in k]
    if bad:
        raise ParamsError(f"{path}: not dotted params keys: {bad}")
    return Recipe(name=name, description=str(content.get("description", "")).strip(),
                  overrides=dict(overrides))


def available_recipes(directory: Path = RECIPES_DIR) -> list[str]:
    """Names of the recipes in ``directory``, sorted."""
    return sorted(p.stem for p in directory.glob("*.yaml"))


def _value_text(value: Any) -> str:
    """``value`` in the override grammar DVC parses (Hydra's): flow style without spaces,
    so each ``-S`` stays one shell word."""
    if isinstance(value, list):
        return "[" + ",".join(_value_text(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}:{_value_text(v)}" for k, v in value.items()) + "}"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    stream = io.StringIO()
    YAML(typ="safe", pure=True).dump(value, stream)
    return stream.getvalue().strip().removesuffix("...").strip()


def override_args(overrides: dict[str, Any]) -> list[str]:
    """``KEY=VALUE`` for each override, in the recipe's order."""
    return [f"{key}={_value_text(value)}" for key, value in overrides.items()]


def exp_run_command(recipe: Recipe, data_path: str | None = None) -> str:
    """The ``dvc exp run`` command line that applies ``recipe`` (to ``data_path`` if given),
    quoted for a POSIX shell."""
    args = ["dvc", "exp", "run", "-n", recipe.name]
    if data_path is not None:
        args += ["-S", f"data.path={data_path}"]
    for item in override_args(recipe.overrides):
        args += ["-S", item]
    return shlex.join(args)


def real_data_size_warning(synthetic: bool, image_size: int,
                           detect_imgsz: int | None) -> str | None:
    """One line when real (non-synthetic) data meet image sides below the real-data floors,
    naming the recipes; None otherwise. ``detect_imgsz`` is None when no detector trains."""
    if synthetic:
        return None
    small = []
    if image_size < REAL_DATA_MIN_CLASSIFY_PX:
        small.append(f"classification at {image_size} px (< {REAL_DATA_MIN_CLASSIFY_PX})")
    if detect_imgsz is not None and detect_imgsz < REAL_DATA_MIN_DETECT_PX:
        small.append(f"detection at {detect_imgsz} px (< {REAL_DATA_MIN_DETECT_PX})")
    if not small:
        return None
    return ("warning: real radiographs at the synthetic data's sizes, " + ", ".join(small)
            + ", cannot show a fracture a few pixels wide; run a recipe instead: "
            "`fraclab recipe real-cpu` (2 CPU cores, ~2 h) or `fraclab recipe real-gpu`")
