"""Saliency scores against boxes, their baselines, and Grad-CAM through Captum."""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from fraclab.data.images import letterbox
from fraclab.evaluate.saliency import (
    box_centre_map,
    box_mask,
    centre_prior_map,
    energy_in_boxes,
    otsu_iou,
    otsu_threshold,
    pointing_hit,
    rank_correlation,
    uniform_random_map,
)
from fraclab.models.backbones import build_backbone
from fraclab.models.gradcam import (
    cascading_randomisation,
    from_letterbox,
    grad_cam,
    output_sides,
    randomisation_blocks,
    stage_names,
    target_layer,
)

# --- scores --------------------------------------------------------------------------------


def test_box_mask_counts_pixel_centres():
    mask = box_mask((10, 20), [(2, 3, 6, 5)])
    assert mask.sum() == 4 * 2 and mask[3, 2] and mask[4, 5] and not mask[5, 5]
    assert box_mask((10, 20), [(2, 3, 6, 5)], grow=1).sum() == 6 * 4
    with pytest.raises(ValueError, match="x2 > x1"):
        box_mask((4, 4), [(3, 0, 1, 2)])


def test_pointing_hit_with_and_without_tolerance():
    saliency = np.zeros((50, 50))
    saliency[10, 30] = 1.0  # row 10, column 30
    assert pointing_hit(saliency, [(25, 5, 35, 15)], tolerance=0) == 1.0
    assert pointing_hit(saliency, [(0, 0, 20, 20)], tolerance=0) == 0.0
    assert pointing_hit(saliency, [(0, 0, 20, 20)], tolerance=11) == 1.0  # 10.5 px away
    assert math.isnan(pointing_hit(saliency, []))


def test_energy_is_the_positive_share_inside():
    saliency = np.ones((10, 10))
    assert energy_in_boxes(saliency, [(0, 0, 5, 5)]) == pytest.approx(0.25)
    saliency[:5, :5] = -3  # negative evidence inside counts as none
    assert energy_in_boxes(saliency, [(0, 0, 5, 5)]) == 0.0
    assert math.isnan(energy_in_boxes(-np.ones((4, 4)), [(0, 0, 2, 2)]))


def test_otsu_iou_is_one_for_a_map_that_is_the_box():
    truth = [(5, 10, 15, 30)]
    saliency = box_mask((40, 40), truth).astype(float) * 0.8 + 0.1
    assert otsu_iou(saliency, truth) == 1.0
    assert otsu_iou(saliency, [(20, 0, 40, 10)]) == 0.0


@given(st.floats(0.05, 0.95), st.integers(100, 2000))
@settings(max_examples=25, deadline=None)
def test_otsu_splits_two_separated_modes(low_share, n):
    rng = np.random.default_rng(n)
    k = max(1, int(low_share * n))
    values = np.concatenate([rng.normal(0, 0.05, k), rng.normal(5, 0.05, n - k)])
    cut = otsu_threshold(values)
    assert values[:k].max() < cut <= values[k:].min() + 1e-9


def test_baselines_are_what_they_say():
    rng = np.random.default_rng(0)
    random_map = uniform_random_map((30, 40), rng)
    assert random_map.shape == (30, 40) and 0 <= random_map.min() and random_map.max() < 1
    centre = centre_prior_map((30, 40))
    assert np.unravel_index(np.argmax(centre), centre.shape) in {(14, 19), (14, 20), (15, 19),
                                                                 (15, 20)}
    assert pointing_hit(centre, [(15, 10, 25, 20)]) == 1.0
    box = (30, 5, 38, 11)
    assert pointing_hit(box_centre_map((30, 40), box), [box], tolerance=0) == 1.0


def test_rank_correlation():
    a = np.arange(12.0).reshape(3, 4)
    assert rank_correlation(a, a ** 3) == pytest.approx(1.0)
    assert rank_correlation(a, -a) == pytest.approx(-1.0)
    assert math.isnan(rank_correlation(a, np.ones_like(a)))


# --- Grad-CAM ------------------------------------------------------------------------------


class RegionLogit(nn.Module):
    """logit = sign x the sum of a 1x1 convolution's output: Grad-CAM of ``feat`` is then
    proportional to the input's channel mean, with the sign of the logit's weight."""

    def __init__(self, sign: float) -> None:
        super().__init__()
        self.feat = nn.Conv2d(3, 1, 1, bias=False)
        nn.init.constant_(self.feat.weight, 1 / 3)
        self.sign = sign

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.sign * self.feat(x).sum(dim=(1, 2, 3)).unsqueeze(1)


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_grad_cam_points_at_the_evidence_and_keeps_its_sign(sign):
    x = torch.zeros(2, 3, 32, 32)
    x[0, :, 5:8, 20:23] = 1.0
    x[1, :, 25:28, 2:5] = 1.0
    maps = grad_cam(RegionLogit(sign), "feat", x)
    assert maps.shape == (2, 32, 32)
    extreme = np.argmax(maps[0]) if sign > 0 else np.argmin(maps[0])
    assert pointing_hit(sign * maps[0], [(20, 5, 23, 8)], tolerance=0) == 1.0
    assert np.unravel_index(extreme, (32, 32))[0] in range(5, 8)
    assert (maps.min() < 0) == (sign < 0)


def test_from_letterbox_puts_a_spot_back_where_it_was():
    original = np.zeros((60, 120), dtype=np.uint8)  # height 60, width 120
    original[40:50, 90:100] = 255
    from PIL import Image

    boxed = letterbox(Image.fromarray(original), 64).astype(float)
    back = from_letterbox(boxed, width=120, height=60)
    assert back.shape == (60, 120)
    row, col = np.unravel_index(np.argmax(back), back.shape)
    assert 38 <= row <= 51 and 88 <= col <= 101


@pytest.mark.parametrize("backbone", ["resnet18", "mobilenet_v3_small", "efficientnet_b0"])
def test_the_chosen_layer_is_the_deepest_at_least_8_px_across(backbone):
    model, _ = build_backbone(backbone)
    for size in (64, 128):
        name = target_layer(model, backbone, size)
        names = stage_names(model, backbone)
        sides = output_sides(model, names, size)
        assert sides[name] >= 8
        deeper = names[names.index(name) + 1:]
        assert all(sides[n] < 8 for n in deeper), (size, sides)
    assert target_layer(model, "resnet18" if backbone == "resnet18" else backbone, 64,
                        override=names[0]) == names[0]
    with pytest.raises(ValueError, match="has no module"):
        target_layer(model, backbone, 64, override="nope")
    if backbone == "resnet18":
        assert target_layer(model, backbone, 64) == "layer2"
        assert target_layer(model, backbone, 128) == "layer3"


def test_grad_cam_equals_the_hand_computation():
    """For logit = s * sum(conv(x)) with a 1x1 convolution of weights 1/3, the gradient at
    every position of the layer's single channel is s, so alpha = s and the map is
    s * (the channel mean of x)."""
    x = torch.rand(3, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    for sign in (2.0, -0.5):
        maps = grad_cam(RegionLogit(sign), "feat", x)
        np.testing.assert_allclose(maps, sign * x.mean(dim=1).double().numpy(), rtol=1e-5)


class ToyNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU())
        self.feat = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.ReLU())
        self.head = nn.Linear(8, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.feat(self.stem(x)).amax(dim=(2, 3)))


def _patch_images(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, list]:
    """Noise images, half with a bright 3x3 patch (the label) at a random place."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 0.1, (n, 1, 16, 16))
    y = np.arange(n) % 2
    boxes = []
    for k in range(n):
        row, col = rng.integers(1, 12, 2)
        if y[k]:
            x[k, 0, row:row + 3, col:col + 3] += 1.0
        boxes.append([(col, row, col + 3, row + 3)])
    x = torch.from_numpy(x).float().expand(-1, 3, -1, -1).contiguous()
    return x, torch.from_numpy(y).float(), boxes


@functools.cache
def _trained_state() -> dict:
    torch.manual_seed(0)
    model = ToyNet()
    optimiser = torch.optim.Adam(model.parameters(), lr=0.01)
    for step in range(150):
        x, y, _ = _patch_images(32, step)
        loss = nn.functional.binary_cross_entropy_with_logits(model(x).squeeze(1), y)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return model.state_dict()


def _trained_toy() -> ToyNet:
    model = ToyNet()
    model.load_state_dict(_trained_state())
    return model.eval()


def test_a_trained_toy_model_points_at_the_patch_and_passes_the_sanity_check():
    model = _trained_toy()
    x, y, boxes = _patch_images(40, 999)
    positive = [k for k in range(len(x)) if y[k] == 1]
    maps = grad_cam(model, "feat", x[positive])
    hits = [pointing_hit(m, boxes[k], tolerance=0) for m, k in zip(maps, positive, strict=True)]
    assert np.mean(hits) == 1.0
    curve = cascading_randomisation(model, ["head", "feat", "stem"],
                                    lambda m: grad_cam(m, "feat", x[positive]),
                                    rank_correlation)
    assert [name for name, _ in curve] == ["head", "feat", "stem"]
    assert curve[-1][1] < 0.5  # the maps move with the model
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(),
                                                 _trained_toy().state_dict().values(),
                                                 strict=True))


def test_a_map_that_ignores_the_model_fails_the_sanity_check():
    """An edge filter of the input looks plausible and never changes with the weights."""
    model = _trained_toy()
    x, _, _ = _patch_images(8, 5)

    def edges(_model: nn.Module) -> np.ndarray:
        gray = x.mean(dim=1).numpy()
        return np.abs(np.diff(gray, axis=2, prepend=0)) + np.abs(np.diff(gray, axis=1,
                                                                          prepend=0))

    curve = cascading_randomisation(model, ["head", "feat", "stem"], edges, rank_correlation)
    assert all(value == pytest.approx(1.0) for _, value in curve)


def test_backbone_blocks_go_from_the_head_down():
    model, _ = build_backbone("resnet18")
    assert randomisation_blocks(model, "resnet18") == ["fc", "layer4", "layer3", "layer2",
                                                       "layer1"]
    model, _ = build_backbone("mobilenet_v3_small")
    blocks = randomisation_blocks(model, "mobilenet_v3_small")
    assert blocks[0] == "classifier" and blocks[1] == "features.12" and blocks[-1] == "features.0"


# --- the stage's pure parts ----------------------------------------------------------------


def _image(index: int, boxes, group: str = "g", site: str = "wrist"):
    from fraclab.artifacts.manifest import ManifestImage

    return ManifestImage(index=index, image_id=f"im{index}", source_path="", split="test",
                         group=group, label=1, boxes=tuple(boxes), width=40, height=30,
                         site=site, sha1="")


def test_score_rows_and_their_summary_recompute():
    from fraclab.explain.stage import agreement, per_site, score_rows, summarise

    images = [_image(k, [(5 + k, 5, 15 + k, 12)], group=f"p{k // 2}",
                     site="wrist" if k % 2 else "elbow") for k in range(6)]
    maps = []
    for image in images:
        saliency = np.zeros((30, 40))
        x1, y1, _, _ = image.boxes[0]
        saliency[int(y1) + 2, int(x1) + 2] = 1.0  # the maximum inside the box
        maps.append(saliency)
    predicted = [[(0, 20, 6, 29)]] * 3 + [[]] * 3  # the detector misses, then finds nothing
    rows = score_rows(images, maps, predicted, tolerance=0.0, seed=0)
    assert [r["gradcam_pointing"] for r in rows] == [1.0] * 6
    assert [r["detector_pointing"] for r in rows] == [0.0] * 6
    assert rows[0]["gradcam_energy"] == 1.0
    # Same seed, same baseline maps; another seed, another random map.
    assert score_rows(images, maps, predicted, 0.0, 0) == rows
    summary = summarise(rows, n_boot=200, seed=0)
    assert summary["gradcam"]["pointing"]["value"] == 1.0
    random_mean = np.mean([r["random_energy"] for r in rows])
    assert summary["random"]["energy"]["value"] == pytest.approx(random_mean)
    assert summary["random"]["energy"]["ci_low"] <= random_mean <= summary["random"][
        "energy"]["ci_high"]
    assert set(per_site(rows)) == {"wrist", "elbow"}
    assert per_site(rows)["wrist"]["images"] == 3
    shared = agreement(maps, predicted, [True, False, True, True, True, True], 0.0)
    assert shared == {"images": 2, "share": 0.0}  # positives with a detector box: 0 and 2


def test_best_detector_follows_the_report_rule(tmp_path):
    import json as json_

    from fraclab.explain.stage import best_detector

    for size, value in (("n", 0.2), ("s", 0.3)):
        (tmp_path / f"{size}.json").write_text(json_.dumps({"val": {"map50_95": value}}))
    (tmp_path / "m.json").write_text(json_.dumps({"skipped": True}))
    assert best_detector(tmp_path, ["n", "s", "m"]) == "s"
    assert best_detector(tmp_path, ["m"]) is None
