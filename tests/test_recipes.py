"""Recipes change exactly the params they document, through DVC's own override parser, and
prepare warns when real data meet the synthetic sizes."""

from __future__ import annotations

import json
import shlex
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from dvc.utils.hydra import apply_overrides
from format_fixtures import build_class_folders

from fraclab.cli import main
from fraclab.params import (
    BundleParams,
    CalibrateParams,
    ClassifyParams,
    DataParams,
    DetectParams,
    ParamsError,
    ThresholdParams,
    load_params,
    section,
)
from fraclab.recipes import (
    available_recipes,
    exp_run_command,
    load_recipe,
    override_args,
    real_data_size_warning,
)

ROOT = Path(__file__).resolve().parents[1]
RECIPES = ROOT / "recipes"
SECTIONS = {"data": DataParams, "classify": ClassifyParams, "calibrate": CalibrateParams,
            "threshold": ThresholdParams, "detect": DetectParams, "bundle": BundleParams}


def leaves(tree: Any, prefix: str = "") -> dict[str, Any]:
    """Dotted key -> value for every non-mapping value (lists are values)."""
    if not isinstance(tree, dict):
        return {prefix: tree}
    out: dict[str, Any] = {}
    for key, value in tree.items():
        out.update(leaves(value, f"{prefix}.{key}" if prefix else str(key)))
    return out


def test_the_project_ships_a_cpu_and_a_gpu_recipe():
    assert {"real-cpu", "real-gpu"} <= set(available_recipes(RECIPES))


@pytest.mark.parametrize("name", available_recipes(RECIPES))
def test_applying_a_recipe_changes_exactly_the_params_it_documents(tmp_path, name):
    recipe = load_recipe(name, RECIPES)
    params_file = tmp_path / "params.yaml"
    shutil.copy(ROOT / "params.yaml", params_file)
    before = leaves(load_params(params_file))
    apply_overrides(params_file, override_args(recipe.overrides))  # what `dvc exp run -S` runs
    applied = load_params(params_file)
    after = leaves(applied)
    changed = {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}

    def owner(key: str) -> str | None:
        return next((r for r in recipe.overrides if key == r or key.startswith(r + ".")), None)

    assert {k for k in changed if owner(k) is None} == set()  # nothing undocumented moved
    # An entry that changes nothing pins a default the recipe's budget was measured with.
    assert changed, "a recipe that changes nothing"
    for key, value in recipe.overrides.items():
        node: Any = applied
        for part in key.split("."):
            node = node[part]
        assert node == value and type(node) is type(value), (key, node, value)
    for name_, cls in SECTIONS.items():  # the result is a valid params file
        section(cls, applied, name_)


def test_the_command_is_one_shell_word_per_override():
    recipe = load_recipe("real-cpu", RECIPES)
    words = shlex.split(exp_run_command(recipe, "../shared/data/bone-fracture-detection"))
    assert words[:5] == ["dvc", "exp", "run", "-n", "real-cpu"]
    items = words[5:]
    assert items[0::2] == ["-S"] * (len(items) // 2)
    assert items[1::2] == ["data.path=../shared/data/bone-fracture-detection",
                           *override_args(recipe.overrides)]
    assert "detect.sizes=[n]" in items


def test_override_values_parse_back_to_themselves(tmp_path):
    values = {"a": {"list": ["n", "s", "m"], "flag": True, "float": 0.0001, "int": 320,
                    "word": "imagenet", "dict": {"n": 3, "s": 1}}}
    args = override_args({f"a.{k}": v for k, v in values["a"].items()})
    assert all(" " not in item for item in args)
    params_file = tmp_path / "params.yaml"
    params_file.write_text(yaml.safe_dump({"a": {k: 0 for k in values["a"]}}))
    apply_overrides(params_file, args)
    assert load_params(params_file) == values


def test_the_readme_runs_the_real_cpu_recipe_as_the_cli_prints_it():
    command = exp_run_command(load_recipe("real-cpu", RECIPES),
                              "../shared/data/bone-fracture-detection")
    assert command in (ROOT / "README.md").read_text()


def test_recipe_errors_name_the_file(tmp_path):
    with pytest.raises(ParamsError, match=r"nope\.yaml: no such recipe \(available: none\)"):
        load_recipe("nope", tmp_path)
    (tmp_path / "flat.yaml").write_text("description: no overrides\n")
    with pytest.raises(ParamsError, match=r"flat\.yaml: needs an `overrides` mapping"):
        load_recipe("flat", tmp_path)
    (tmp_path / "spaced.yaml").write_text("overrides: {'data image_size': 128}\n")
    with pytest.raises(ParamsError, match=r"spaced\.yaml: not dotted params keys"):
        load_recipe("spaced", tmp_path)
    result = CliRunner().invoke(main, ["recipe", "nope", "--recipes", str(tmp_path)])
    assert result.exit_code == 1 and "nope.yaml: no such recipe" in result.output


def test_size_warning_names_what_is_small_and_the_recipe():
    assert real_data_size_warning(True, 64, 96) is None  # synthetic: the sizes fit
    assert real_data_size_warning(False, 128, 320) is None
    text = real_data_size_warning(False, 64, 96)
    assert "classification at 64 px (< 128)" in text and "detection at 96 px (< 320)" in text
    assert "fraclab recipe real-cpu" in text
    only = real_data_size_warning(False, 224, None)  # no detector: only what runs counts
    assert only is None
    assert "detection" not in real_data_size_warning(False, 64, None)


def test_prepare_records_the_warning_on_real_data_only(tmp_path):
    root, _ = build_class_folders(tmp_path / "folders")
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["data"].update(path=str(root), image_size=32)
    for case, expect in (("real", True), ("real-fitted", False)):
        if case == "real-fitted":
            params["data"]["image_size"] = 128
            params["detect"]["imgsz"] = 320
        (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
        metrics = tmp_path / case / "data.json"
        result = CliRunner().invoke(main, [
            "prepare", "--params", str(tmp_path / "params.yaml"), "--out",
            str(tmp_path / case / "out"), "--metrics", str(metrics),
            "--plots", str(tmp_path / case / "plots")])
        assert result.exit_code == 0, result.output
        recorded = json.loads(metrics.read_text()).get("settings_warning")
        assert ("fraclab recipe real-cpu" in result.output) is expect, result.output
        assert (recorded is not None) is expect
        if expect:
            assert recorded in result.output and "classification at 32 px" in recorded
