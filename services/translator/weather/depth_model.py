"""Monocular depth for `depth_source: model`: Depth Anything V2 Small through `transformers`, in metres.

The network predicts relative inverse depth (disparity up to an unknown scale and shift): larger is nearer.
Metres come from the ground plane the geometric estimate already knows (scene.py): below the horizon the
road at row v lies at z = f·h / (v − v_h), so its inverse depth 1/z = (v − v_h) / (f·h) is a straight line
in the row. Over the pixels that are ground (below each column's ground-contact row, below the horizon,
not sky, nearer than GROUND_FIT_MAX_M), the model's output x is fitted to that inverse depth,

    1/z ≈ s·x + t,

by least squares, trimmed: after each fit the pixels with the largest residuals (lane marks, a car the
contact search counted as road) are dropped, keeping TRIM_KEEP of them, and the line is fitted again. The
fit is used when s > 0 and it explains the ground (R² ≥ MIN_R2 over the kept pixels); depth is then
1/(s·x + t), capped at FAR_M (and at least MIN_DEPTH_M). Otherwise (no road in view, or a model whose output
does not vary with the ground) the frame falls back to the geometric estimate, and the scene says so
(`Scene.source == "geometric"`), so the result records what was used. The sky comes from the sky matte, as
for the geometric estimate: at infinity, blended through the soft alpha.

Weights are the operator's (`depth_anything` in services/common/core/weights.py): a `torch.save`'d
state_dict of transformers' DepthAnythingForDepthEstimation built from `v2_small_config()`. Nothing is
downloaded. Pure domain code: no storage, no queue.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from services.common.core.model_cache import ModelCache
from services.translator.weather.depth import focal_length_px
from services.translator.weather.scene import (
    FAR_M,
    Camera,
    Scene,
    analyse,
    contact_rows,
    downsample,
    upsample,
)

INPUT_HEIGHT = 518  # the shorter side the model sees (its training size); the aspect kept, in 14 px patches
PATCH = 14
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)
GROUND_FIT_MAX_M = 80.0  # ground farther than this (a few rows under the horizon) is left out of the fit
TRIM_KEEP = 0.8  # fraction of the ground pixels kept after each fit (the rest: largest residuals)
FIT_ITERATIONS = 3
MIN_GROUND_FRACTION = 0.02  # of the analysis pixels: fewer ground pixels than this and there is no fit
MIN_R2 = 0.3  # the fitted line must explain at least this much of the ground's inverse-depth variance
MIN_DEPTH_M = 0.5


def v2_small_config():  # noqa: ANN201 (transformers is imported lazily)
    """The architecture the weights must fit: Depth Anything V2 Small (DINOv2-S/14 backbone taking layers
    3, 6, 9 and 12, DPT neck and head), relative depth."""
    from transformers import DepthAnythingConfig, Dinov2Config

    backbone = Dinov2Config(
        hidden_size=384,
        num_attention_heads=6,
        num_hidden_layers=12,
        image_size=518,
        patch_size=PATCH,
        out_indices=[3, 6, 9, 12],
        reshape_hidden_states=False,
    )
    return DepthAnythingConfig(
        backbone_config=backbone,
        neck_hidden_sizes=[48, 96, 192, 384],
        reassemble_hidden_size=384,
        fusion_hidden_size=64,
        head_hidden_size=32,
        depth_estimation_type="relative",
    )


def build_model(config=None):  # noqa: ANN001, ANN201
    """An untrained DepthAnythingForDepthEstimation of `config` (default: V2 Small), in eval mode."""
    from transformers import DepthAnythingForDepthEstimation

    return DepthAnythingForDepthEstimation(config or v2_small_config()).eval()


# transformers before 5 named DINOv2's attention projections differently; a file saved with either loads.
_LEGACY_NAMES = {
    ".attention.attention.query.": ".attention.q_proj.",
    ".attention.attention.key.": ".attention.k_proj.",
    ".attention.attention.value.": ".attention.v_proj.",
    ".attention.output.dense.": ".attention.o_proj.",
}


def _current_names(state: dict, expected: set[str]) -> dict:
    renamed = {}
    for key, value in state.items():
        if key not in expected:
            for old, new in _LEGACY_NAMES.items():
                if old in key and key.replace(old, new) in expected:
                    key = key.replace(old, new)
                    break
        renamed[key] = value
    return renamed


def load_model(path: Path, config=None):  # noqa: ANN001, ANN201
    """The model with the weights in `path` (a state_dict; read with weights_only, no code runs)."""
    import torch

    model = build_model(config)
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict):
        raise ValueError(f"{path.name} holds a {type(state).__name__}, not a state_dict")
    expected = model.state_dict()
    state = _current_names(state, set(expected))
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong = [
        k
        for k in expected
        if k in state and tuple(getattr(state[k], "shape", ())) != tuple(expected[k].shape)
    ]
    if missing or unexpected or wrong:
        raise ValueError(
            f"{path.name} is not a Depth Anything V2 Small state_dict: missing {missing[:3]}, "
            f"unexpected {unexpected[:3]}, of another shape {wrong[:3]}"
        )
    model.load_state_dict(state, strict=True)
    return model.eval()


class DepthEstimator:
    """A loaded model: an RGB image to relative inverse depth (larger = nearer) at a requested size."""

    def __init__(self, model, device: str = "cpu", input_height: int = INPUT_HEIGHT) -> None:  # noqa: ANN001
        self.model = model.to(device).eval()
        self.device = device
        self.input_height = max(PATCH, input_height // PATCH * PATCH)

    def input_size(self, height: int, width: int) -> tuple[int, int]:
        """(rows, cols) the model sees: the shorter side at the input size, the image's aspect, multiples of
        the patch (as Depth Anything's own preprocessing)."""
        scale = self.input_height / min(height, width)
        rows, cols = (max(PATCH, round(side * scale / PATCH) * PATCH) for side in (height, width))
        return rows, cols

    def predict(self, image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        """HxW float32 (size = (W, H)) relative inverse depth of an HxWx3 uint8 RGB image."""
        import torch

        rows, cols = self.input_size(*image.shape[:2])
        shrink = rows < image.shape[0]
        resized = cv2.resize(
            image, (cols, rows), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC
        ).astype(np.float32)
        x = (resized * np.float32(1.0 / 255.0) - IMAGENET_MEAN) / IMAGENET_STD
        tensor = torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))[None].to(self.device)
        with torch.inference_mode():
            out = self.model(pixel_values=tensor).predicted_depth
        relative = out[0].float().cpu().numpy()
        return cv2.resize(relative, size, interpolation=cv2.INTER_LINEAR).astype(np.float32)


_ESTIMATORS = ModelCache(capacity=2)


def load_estimator(path: Path, device: str) -> DepthEstimator:
    """The estimator for a weights file on `device`, loaded once per process."""
    return _ESTIMATORS.get(f"{path}@{device}", lambda: DepthEstimator(load_model(path), device, INPUT_HEIGHT))


@dataclass(frozen=True)
class GroundFit:
    """1/z = scale·x + shift over the ground (x: the model's output), and how well it held."""

    scale: float  # 1/m per unit of model output
    shift: float  # 1/m
    pixels: int  # ground pixels offered to the fit
    inliers: int  # kept after trimming
    r2: float  # explained variance of the ground's inverse depth, over the kept pixels


def fit_ground_plane(
    relative: np.ndarray,
    ground_inverse: np.ndarray,
    mask: np.ndarray,
    keep: float = TRIM_KEEP,
    iterations: int = FIT_ITERATIONS,
) -> GroundFit | None:
    """Trimmed least squares of the ground's inverse depth on the model's output (see the module docstring);
    None when there is too little ground or the model's output does not follow it."""
    x = relative[mask].astype(np.float64)
    y = ground_inverse[mask].astype(np.float64)
    if x.size < max(16, MIN_GROUND_FRACTION * mask.size):
        return None
    used = np.ones(x.size, bool)
    scale = shift = 0.0
    for _ in range(max(1, iterations)):
        xs, ys = x[used], y[used]
        var = float(xs.var())
        if var <= 1e-12 * max(1.0, float(np.abs(xs).mean()) ** 2):
            return None  # a constant output says nothing about distance
        scale = float(((xs - xs.mean()) * (ys - ys.mean())).mean() / var)
        shift = float(ys.mean() - scale * xs.mean())
        residual = np.abs(y - (scale * x + shift))
        used = residual <= np.quantile(residual, keep)
    xs, ys = x[used], y[used]
    total = float(((ys - ys.mean()) ** 2).sum())
    r2 = 1.0 - float(((ys - (scale * xs + shift)) ** 2).sum()) / total if total > 0 else 0.0
    if scale <= 0 or r2 < MIN_R2:
        return None
    return GroundFit(scale, shift, int(x.size), int(used.sum()), r2)


def metric_depth(relative: np.ndarray, fit: GroundFit) -> np.ndarray:
    """Metres from the model's output through the fitted line: 1/(s·x + t), in [MIN_DEPTH_M, FAR_M]."""
    inverse = relative.astype(np.float32) * np.float32(fit.scale) + np.float32(fit.shift)
    inverse = np.maximum(inverse, np.float32(1.0 / FAR_M))
    return np.clip(np.float32(1.0) / inverse, MIN_DEPTH_M, FAR_M).astype(np.float32)


def ground_mask(
    small_rgb: np.ndarray, sky: np.ndarray, horizon_row: float, focal_px: float, camera_height_m: float
) -> tuple[np.ndarray, np.ndarray]:
    """(mask of the ground pixels the fit uses, the ground plane's inverse depth in 1/m) at analysis size."""
    h, w = small_rgb.shape[:2]
    rows = np.arange(h, dtype=np.float32) + np.float32(0.5)
    inverse = np.maximum(rows - np.float32(horizon_row), 0.0) / np.float32(focal_px * camera_height_m)
    contact = contact_rows(small_rgb, horizon_row)
    near = inverse >= np.float32(1.0 / GROUND_FIT_MAX_M)
    mask = (rows[:, None] >= contact[None, :]) & near[:, None] & (sky < 0.1)
    return mask, np.broadcast_to(inverse[:, None], (h, w))


def model_scene(image: np.ndarray, camera: Camera, estimator: DepthEstimator) -> Scene:
    """The scene with the model's depth in metres (ground-plane fit) and the geometric estimate's sky matte
    and horizon, or the geometric scene itself when the fit fails (its `source` then says 'geometric')."""
    height, width = image.shape[:2]
    geometric = analyse(image, None, camera)
    small, factor = downsample(image)
    h, w = small.shape[:2]
    sky = cv2.resize(geometric.sky, (w, h), interpolation=cv2.INTER_AREA)
    horizon = geometric.horizon_row / factor
    relative = estimator.predict(image, (w, h))
    mask, ground_inverse = ground_mask(
        small, sky, horizon, focal_length_px(w, camera.hfov_deg), camera.height_m
    )
    fit = fit_ground_plane(relative, ground_inverse, mask)
    if fit is None:
        return geometric
    depth = upsample(metric_depth(relative, fit), height, width)
    return Scene(geometric.sky, geometric.horizon_row, "model", lambda: depth)
