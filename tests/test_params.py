"""params.yaml is read as DVC writes it (YAML 1.2), so `dvc exp run -S` cannot change types."""

from pathlib import Path

import pytest

from fraclab.params import (
    ClassifyParams,
    DataParams,
    DetectParams,
    ExplainParams,
    ParamsError,
    load_params,
    section,
)


def test_values_dvc_writes_unquoted_keep_their_type(tmp_path: Path) -> None:
    # What `dvc exp run -S classify.lr=1e-3` and a round trip of the folder names leave behind.
    path = tmp_path / "params.yaml"
    path.write_text("data:\n  positive_folders: [fractured, yes, '1']\n"
                    "  negative_folders: [normal, no, '0']\n"
                    "classify:\n  lr: 1e-3\n  weight_decay: 1.0e-4\n")
    params = load_params(path)
    data = section(DataParams, params, "data")
    assert list(data.positive_folders) == ["fractured", "yes", "1"]
    assert list(data.negative_folders) == ["normal", "no", "0"]
    classify = section(ClassifyParams, params, "classify")
    assert classify.lr == 0.001 and classify.weight_decay == 0.0001


def test_the_committed_params_equal_the_defaults() -> None:
    params = load_params(Path(__file__).parents[1] / "params.yaml")
    assert section(DataParams, params, "data") == DataParams()


def test_committed_classify_params_equal_the_defaults() -> None:
    params = load_params(Path(__file__).parents[1] / "params.yaml")
    assert section(ClassifyParams, params, "classify") == ClassifyParams()


def test_precision_is_one_value_or_a_mapping_of_backbones() -> None:
    assert ClassifyParams(precision="bf16").precision_of("resnet18") == "bf16"
    mixed = ClassifyParams(precision={"efficientnet_b0": "fp32"})
    assert [mixed.precision_of(b) for b in mixed.backbones] == ["auto", "auto", "fp32"]
    # The default mapping survives a run that leaves its backbone out.
    alone = ClassifyParams(backbones=["mobilenet_v3_small"])
    assert alone.precision_of("mobilenet_v3_small") == "auto"
    for bad, message in (({"precision": "fp16"}, "precision must be one of auto, fp32, bf16"),
                         ({"precision": {"resnet18": "half"}}, "got 'half'")):
        with pytest.raises(ParamsError, match=message):
            section(ClassifyParams, {"classify": bad}, "classify")


def test_committed_detect_params_equal_the_defaults() -> None:
    params = load_params(Path(__file__).parents[1] / "params.yaml")
    assert section(DetectParams, params, "detect") == DetectParams()


def test_committed_explain_params_equal_the_defaults() -> None:
    params = load_params(Path(__file__).resolve().parents[1] / "params.yaml")
    assert section(ExplainParams, params, "explain") == ExplainParams()
    for bad in ({"tolerance_px": -1}, {"layers": {"resnet18": 3}}, {"sanity_images": 0},
                {"sanity_max_correlation": 1.5}):
        with pytest.raises(ParamsError):
            section(ExplainParams, {"explain": bad}, "explain")
