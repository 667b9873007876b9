"""The monocular depth path: Depth Anything (transformers) built from a config, scaled to metres by the ground.

No real weights exist here: the models are built from a small config with random weights
(tests/depth_models.py), one of them trained for a few dozen steps to predict the relative inverse depth of
a generated frame.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from services.common.core.checkpoints import check_depth_anything, depth_anything_shapes, read_tensor_shapes
from services.common.methods.physics import FogParams
from services.translator.weather import depth_model
from services.translator.weather.depth import focal_length_px, vkitti_depth_to_metres
from services.translator.weather.depth_model import (
    DepthEstimator,
    GroundFit,
    fit_ground_plane,
    metric_depth,
    model_scene,
)
from services.translator.weather.registry import render
from services.translator.weather.scene import Camera, analyse, model_depth, scene_for
from tests.depth_models import HORIZON_FRACTION, tiny_config, trained_estimator, untrained_estimator
from tests.scenes import road_scene

ROOT = Path(__file__).resolve().parents[2]
REALDATA = Path(os.environ.get("SIM2REAL_REALDATA", ROOT.parent / "shared" / "realdata"))


@pytest.fixture(scope="module")
def trained() -> DepthEstimator:
    return trained_estimator()


def ground_truth_rows(depth_cm: np.ndarray, near: float, far: float) -> np.ndarray:
    metres = vkitti_depth_to_metres(depth_cm)
    return np.isfinite(metres) & (metres >= near) & (metres <= far)


def test_the_weights_check_describes_the_architecture_the_worker_builds() -> None:
    from transformers import DepthAnythingForDepthEstimation

    with torch.device("meta"):  # shapes only: no 25 M random numbers drawn
        model = DepthAnythingForDepthEstimation(depth_model.v2_small_config())
    built = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    table = depth_anything_shapes()
    assert {k: built.get(k) for k in table} == table
    assert depth_model.v2_small_config().backbone_config.out_indices == [3, 6, 9, 12]


def test_a_state_dict_of_another_size_is_refused_by_name() -> None:
    buf = io.BytesIO()
    torch.save(depth_model.build_model(tiny_config()).state_dict(), buf)
    with pytest.raises(ValueError, match="Depth Anything V2 Small.*cls_token is 1×1×32, expected 1×1×384"):
        check_depth_anything(read_tensor_shapes(buf.getvalue()))


def test_files_saved_with_older_transformers_names_load(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(depth_model, "v2_small_config", tiny_config)
    model = depth_model.build_model()
    legacy = {}
    for key, value in model.state_dict().items():
        for old, new in depth_model._LEGACY_NAMES.items():
            key = key.replace(new, old)
        legacy[key] = value
    assert any(".attention.attention.query." in k for k in legacy)
    torch.save(legacy, tmp_path / "d.pth")
    loaded = depth_model.load_model(tmp_path / "d.pth")
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    torch.save({"head.conv3.weight": torch.ones(1)}, tmp_path / "bad.pth")
    with pytest.raises(ValueError, match="not a Depth Anything V2 Small state_dict"):
        depth_model.load_model(tmp_path / "bad.pth")


def test_the_fit_recovers_metres_from_relative_inverse_depth_despite_outliers() -> None:
    rng = np.random.default_rng(0)
    h, w, horizon, focal, height_m = 90, 320, 40.0, 190.0, 1.65
    rows = np.arange(h, dtype=np.float32)[:, None] + 0.5
    truth = np.broadcast_to(np.maximum(rows - horizon, 0) / (focal * height_m), (h, w)).astype(np.float32)
    relative = (truth - 0.02) / 0.3 + rng.normal(0, 0.002, (h, w)).astype(np.float32)
    mask = np.broadcast_to(rows > horizon + 3, (h, w)).copy()
    outliers = rng.random((h, w)) < 0.1  # a car the ground search took for road: much nearer
    relative[outliers & mask] += 0.5
    fit = fit_ground_plane(relative, truth, mask)
    assert fit is not None and fit.inliers < fit.pixels
    assert fit.scale == pytest.approx(0.3, rel=0.03) and fit.shift == pytest.approx(0.02, abs=0.002)
    metres = metric_depth(relative, fit)[mask & ~outliers]
    expected = 1.0 / truth[mask & ~outliers]
    assert np.median(np.abs(metres / expected - 1)) < 0.03


def test_no_fit_without_ground_or_from_a_constant_output() -> None:
    truth = np.tile(np.linspace(0, 0.3, 40, dtype=np.float32)[:, None], (1, 60))
    mask = np.ones_like(truth, bool)
    assert fit_ground_plane(np.zeros_like(truth), truth, mask) is None  # constant: says nothing
    assert fit_ground_plane(truth, truth, np.zeros_like(mask)) is None  # no ground
    assert fit_ground_plane(-truth, truth, mask) is None  # nearer where it should be farther
    assert isinstance(fit_ground_plane(truth * 2, truth, mask), GroundFit)


def test_model_depth_is_metric_on_the_ground_of_a_generated_frame(trained) -> None:
    image, depth_cm = road_scene(1242, 375, seed=1)
    scene = model_scene(
        image, Camera(horizon_fraction=HORIZON_FRACTION), trained
    )  # the generated camera's horizon
    assert scene.source == "model" and scene.depth_m.shape == image.shape[:2]
    assert np.isfinite(scene.depth_m).all() and scene.depth_m.min() > 0
    road = ground_truth_rows(depth_cm, 5.0, 40.0)
    error = np.abs(scene.depth_m[road] / vkitti_depth_to_metres(depth_cm)[road] - 1)
    assert np.median(error) < 0.15, np.median(error)
    assert scene.sky[:20].mean() > 0.9 and scene.sky[-20:].max() < 0.05  # sky from the matte


def test_model_depth_runs_on_a_real_frame_and_keeps_the_ground_plane(trained) -> None:
    path = REALDATA / "kitti_000007.png"
    if not path.is_file():
        pytest.skip(f"no real frame at {path} (set SIM2REAL_REALDATA to a folder of real frames)")
    image = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    camera = Camera()
    scene = model_scene(image, camera, trained)
    assert scene.depth_m.shape == image.shape[:2] and np.isfinite(scene.depth_m).all()
    if scene.source != "model":
        pytest.fail("the ground-plane fit was refused on the real frame")
    # Metric: where the fit took the ground, the depth is the ground plane's (z = f·h / (v − v_h)).
    focal = focal_length_px(image.shape[1], camera.hfov_deg)
    rows = np.arange(image.shape[0], dtype=np.float32)[:, None] + 0.5
    plane = focal * camera.height_m / np.maximum(rows - scene.horizon_row, 1e-3)
    band = (rows[:, 0] > scene.horizon_row + 40) & (rows[:, 0] < image.shape[0] - 10)
    road = np.zeros(image.shape[:2], bool)
    road[band, 400:840] = True  # the lane ahead in kitti_000007 (open road below the car line)
    error = np.abs(scene.depth_m[road] / np.broadcast_to(plane, image.shape[:2])[road] - 1)
    assert np.median(error) < 0.35, np.median(error)


def test_an_untrained_model_falls_back_to_geometric_and_says_so() -> None:
    image, _ = road_scene(1242, 375, seed=3)
    scene = model_scene(image, Camera(), untrained_estimator())
    geometric = analyse(image, None, Camera())
    assert scene.source == "geometric"
    np.testing.assert_array_equal(scene.depth_m, geometric.depth_m)


def test_fog_renders_over_the_model_depth_only_when_given_the_model(trained) -> None:
    image, _ = road_scene(1242, 375, seed=1)
    params = FogParams(visibility_m=80, depth_source="model")
    with pytest.raises(ValueError, match="depth_source 'model' needs the depth model"):
        scene_for(image, params, None)
    with model_depth(lambda img, camera: model_scene(img, camera, trained)):
        fogged = render("fog", image, params)
    geometric = render("fog", image, FogParams(visibility_m=80, depth_source="geometric"))
    assert fogged.shape == image.shape and fogged.dtype == np.uint8
    assert not np.array_equal(fogged, geometric)
    assert fogged.astype(np.float32).std() < image.astype(np.float32).std()
