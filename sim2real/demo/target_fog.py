"""The demo study's TARGET weather: a fog model written for the demo, independent of the translator under
test (services/translator/weather, physics fog).

The study asks how much training on translated images closes the gap to a target domain. If the target
were rendered by the same model as the translation, the translated arm would be trained on the target
distribution itself and the answer would be circular. So the target is rendered here by a different
model, with different physics and a different camera:

- **Height-dependent (radiation) fog**: extinction decays with height above the road,
  β(h) = β₀·exp(−h / H) with a scale height H of 8–40 m, integrated along each camera ray; the
  translator's fog is homogeneous along the ray (Koschmieder, β constant).
- **Visibility by the 2 % contrast threshold** (Koschmieder's original, β₀ = 3.912 / V at road level);
  the translator uses the 5 % threshold (β = 2.996 / V).
- **Patchy density**: two octaves of bilinearly upsampled value noise scale β₀ by up to ±`patchiness`.
- **Blended in display (sRGB) values** with a tinted airlight that brightens towards the top of the frame;
  the translator composites in linear light with a neutral, per-sequence airlight.
- **Overcast light and a cheaper camera**: the scene loses contrast and saturation before the fog, then a
  Gaussian defocus blur, Poisson–Gaussian sensor noise and JPEG compression (quality 70–90).

Pure numpy + Pillow: no Celery, storage or torch, and nothing from the translator package.
"""

from __future__ import annotations

import io
from dataclasses import asdict, dataclass

import numpy as np
from PIL import Image, ImageFilter

from sim2real.demo.scenes import CAMERA_HEIGHT_M, FOCAL_PX_AT_375, HORIZON, SKY_CM

MODEL_NAME = "demo height-fog (sim2real.demo.target_fog)"
CONTRAST_THRESHOLD = 0.02  # Koschmieder's 2 %: β₀ = −ln(0.02) / V = 3.912 / V
SKY_DISTANCE_M = 2000.0  # how far a sky ray is integrated


@dataclass(frozen=True)
class TargetFog:
    """One target rendering's parameters (drawn per image by `sample`); `visibility_m` is the road-level
    meteorological visibility the image records."""

    visibility_m: float
    scale_height_m: float = 20.0
    patchiness: float = 0.35
    airlight: tuple[float, float, float] = (0.80, 0.82, 0.85)
    contrast: float = 0.8  # overcast light: the scene's contrast around its mean before the fog
    saturation: float = 0.7
    blur_px: float = 0.8
    shot_noise: float = 0.004  # Poisson-like: variance proportional to the signal
    read_noise: float = 0.012
    jpeg_quality: int = 80
    seed: int = 0

    @classmethod
    def sample(
        cls, rng: np.random.Generator, visibility_range_m: tuple[float, float] = (50.0, 500.0)
    ) -> TargetFog:
        """Random parameters; visibility log-uniform over `visibility_range_m`."""
        lo, hi = np.log(visibility_range_m[0]), np.log(visibility_range_m[1])
        grey = float(rng.uniform(0.70, 0.90))
        tint = rng.uniform(-0.03, 0.05, 3) * np.array([-1.0, 0.0, 1.0])  # slightly blue or slightly warm
        return cls(
            visibility_m=round(float(np.exp(rng.uniform(lo, hi))), 1),
            scale_height_m=float(rng.uniform(8.0, 40.0)),
            patchiness=float(rng.uniform(0.15, 0.5)),
            airlight=tuple(float(np.clip(grey + t, 0, 1)) for t in tint),
            contrast=float(rng.uniform(0.65, 0.9)),
            saturation=float(rng.uniform(0.5, 0.85)),
            blur_px=float(rng.uniform(0.4, 1.2)),
            shot_noise=float(rng.uniform(0.002, 0.006)),
            read_noise=float(rng.uniform(0.006, 0.02)),
            jpeg_quality=int(rng.integers(70, 91)),
            seed=int(rng.integers(0, 2**31 - 1)),
        )

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _value_noise(rng: np.random.Generator, height: int, width: int, cells: int) -> np.ndarray:
    """Noise in [−1, 1] varying over about width / `cells` pixels (bilinear upsampling of a coarse grid)."""
    gh = max(2, round(cells * height / max(width, 1)) + 1)
    grid = rng.uniform(-1.0, 1.0, (gh, cells + 1)).astype(np.float32)
    return np.asarray(Image.fromarray(grid, mode="F").resize((width, height), Image.Resampling.BILINEAR))


def optical_depth(depth_m: np.ndarray, fog: TargetFog, beta0: np.ndarray | float) -> np.ndarray:
    """∫ β(h(s)) ds along each pixel's ray, for β(h) = β₀·exp(−h/H) and a camera CAMERA_HEIGHT_M above a
    flat road; the ray's height changes linearly with distance, so the integral is closed-form."""
    height, width = depth_m.shape
    focal = FOCAL_PX_AT_375 * height / 375
    horizon = height * HORIZON
    rows = np.arange(height, dtype=np.float32)[:, None]
    # Height of the point each pixel sees: above the horizon rows rise, below they fall to the road.
    h_point = CAMERA_HEIGHT_M - (rows - horizon) * depth_m / focal
    h_point = np.maximum(h_point, 0.0)
    hc, big_h = CAMERA_HEIGHT_M, fog.scale_height_m
    dh = h_point - hc
    flat = np.abs(dh) < 1e-3
    safe = np.where(flat, 1.0, dh)
    mean_density = np.where(
        flat,
        np.exp(-hc / big_h),
        big_h * (np.exp(-hc / big_h) - np.exp(-h_point / big_h)) / safe,
    )
    return beta0 * depth_m * mean_density


def render_target_fog(rgb: np.ndarray, depth_cm: np.ndarray, fog: TargetFog) -> np.ndarray:
    """`rgb` (uint8 H×W×3) seen through the demo's target fog, over its depth map (uint16 cm, 65535 =
    sky); returns uint8 RGB after the camera's blur, noise and JPEG round trip."""
    rng = np.random.default_rng(fog.seed)
    height, width = depth_cm.shape
    depth_m = np.where(depth_cm >= SKY_CM, SKY_DISTANCE_M, depth_cm.astype(np.float32) / 100.0)
    beta0 = -np.log(CONTRAST_THRESHOLD) / fog.visibility_m
    patches = 0.6 * _value_noise(rng, height, width, 6) + 0.4 * _value_noise(rng, height, width, 17)
    beta = beta0 * np.clip(1.0 + fog.patchiness * patches, 0.2, None)
    t = np.exp(-optical_depth(depth_m.astype(np.float32), fog, beta))[..., None]

    img = rgb.astype(np.float32) / 255.0
    mean = img.mean(axis=(0, 1), keepdims=True)
    img = mean + fog.contrast * (img - mean)
    grey = img.mean(axis=2, keepdims=True)
    img = grey + fog.saturation * (img - grey)
    rows = np.linspace(1.0, 0.0, height, dtype=np.float32)[:, None, None]
    airlight = np.asarray(fog.airlight, np.float32)[None, None, :] * (0.92 + 0.1 * rows)
    img = img * t + airlight * (1.0 - t)  # blended in display values, not linear light

    out = Image.fromarray((np.clip(img, 0, 1) * 255).round().astype(np.uint8))
    if fog.blur_px > 0:
        out = out.filter(ImageFilter.GaussianBlur(fog.blur_px))
    img = np.asarray(out).astype(np.float32) / 255.0
    sigma = np.sqrt(fog.shot_noise * np.clip(img, 0, 1) + fog.read_noise**2)
    img = img + rng.standard_normal(img.shape).astype(np.float32) * sigma
    buf = io.BytesIO()
    Image.fromarray((np.clip(img, 0, 1) * 255).round().astype(np.uint8)).save(
        buf, format="JPEG", quality=fog.jpeg_quality
    )
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))
