"""Depth Anything models for tests: built from a tiny config with random weights, and one trained for a
few dozen steps on a generated frame to output an affine transform of its inverse depth (what a relative
depth model gives: unknown scale and shift), so the ground-plane fit has something to recover."""

from __future__ import annotations

import io
from functools import lru_cache

import cv2
import numpy as np
import torch

from services.translator.weather import depth_model
from services.translator.weather.depth import vkitti_depth_to_metres
from services.translator.weather.depth_model import DepthEstimator
from tests.scenes import road_scene

SCALE, SHIFT = 5.0, 0.1  # the trained model predicts SCALE·(1/z) + SHIFT: relative, not metres
INPUT_HEIGHT = 56  # rows the tiny model sees
HORIZON_FRACTION = 0.42  # where road_scene puts the horizon


def tiny_config():  # noqa: ANN201
    from transformers import DepthAnythingConfig, Dinov2Config

    backbone = Dinov2Config(
        hidden_size=32,
        num_attention_heads=2,
        num_hidden_layers=4,
        intermediate_size=64,
        image_size=98,
        patch_size=14,
        out_indices=[1, 2, 3, 4],
        reshape_hidden_states=False,
    )
    return DepthAnythingConfig(
        backbone_config=backbone,
        neck_hidden_sizes=[8, 16, 32, 32],
        reassemble_hidden_size=32,
        fusion_hidden_size=16,
        head_hidden_size=8,
    )


def untrained_estimator() -> DepthEstimator:
    torch.manual_seed(0)
    return DepthEstimator(depth_model.build_model(tiny_config()), "cpu", input_height=INPUT_HEIGHT)


def _target(depth_cm: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    metres = vkitti_depth_to_metres(depth_cm)
    inverse = np.where(np.isfinite(metres), 1.0 / metres, 0.0).astype(np.float32)
    return cv2.resize(inverse, size, interpolation=cv2.INTER_AREA) * SCALE + SHIFT


@lru_cache(maxsize=1)
def trained_state(steps: int = 50) -> dict[str, torch.Tensor]:
    """The tiny model's weights after `steps` of Adam on road_scene(seed=1) (once per test session)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a couple of shared cores: more threads only spin
    try:
        torch.manual_seed(0)
        model = depth_model.build_model(tiny_config()).train()
        image, depth_cm = road_scene(1242, 375, seed=1)
        rows, cols = DepthEstimator(model, "cpu", INPUT_HEIGHT).input_size(375, 1242)
        small = cv2.resize(image, (cols, rows), interpolation=cv2.INTER_AREA).astype(np.float32) / 255
        x = (small - depth_model.IMAGENET_MEAN) / depth_model.IMAGENET_STD
        pixels = torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))[None]
        target = torch.from_numpy(_target(depth_cm, (cols, rows)))[None]
        opt = torch.optim.Adam(model.parameters(), 3e-3)
        for _ in range(steps):
            loss = torch.nn.functional.l1_loss(model(pixel_values=pixels).predicted_depth, target)
            opt.zero_grad()
            loss.backward()
            opt.step()
        return {k: v.detach().clone() for k, v in model.state_dict().items()}
    finally:
        torch.set_num_threads(threads)


def trained_estimator() -> DepthEstimator:
    model = depth_model.build_model(tiny_config())
    model.load_state_dict(trained_state())
    return DepthEstimator(model, "cpu", input_height=INPUT_HEIGHT)


def trained_pth() -> bytes:
    """The trained tiny model as an operator would supply weights: a torch.save'd state_dict."""
    buf = io.BytesIO()
    torch.save(trained_state(), buf)
    return buf.getvalue()
