"""Snow: falling flakes sized by distance over a scene veiled by snow extinction.

Flake number density from the water-equivalent snowfall rate S (mm/h = kg m⁻² h⁻¹):
N = S / 3600 / (m̄·v), with the mass of dry aggregate flakes m = 0.037·D^1.9 mg (D in mm; Locatelli &
Hobbs, 1974), averaged over an exponential size distribution of mean D̄ (E[D^1.9] = Γ(2.9)·D̄^1.9), and a
fall speed v ≈ 1 m/s. D̄ = 5 mm gives about 190 flakes per m³ per mm/h: density is linear in intensity.
Near flakes are large and defocused, far ones small (size f·D/z pixels); each moves v × exposure.
Flakes are drawn as shaded soft discs: each a Gaussian spot whose brightness falls off from its centre (σ from
the flake's size and its defocus at that distance), smeared along its fall path by the exposure, so near flakes
are large, soft and blurred and far ones small and sharp. Spots are splatted by size class onto a grid
coarse enough for their σ and blurred there (cost does not grow with flake size). Flakes behind a nearer
surface of a measured depth map are hidden. With `settled_cover`, snow also lies on the upward-facing
surfaces (settling.py), before the flakes and the veil.
Veil: dry-snow attenuation for optical links α = a·S^b dB/km with a = 5.42e-5·λ + 5.4958776 (λ in nm, here
550) and b = 1.38 (free-space-optics snow model, e.g. Kim & Korevaar / Nadeem et al.), i.e. visibility
≈ 0.9 km at 2 mm/h and ≈ 0.26 km at 5 mm/h.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from services.common.methods.physics import SnowParams
from services.translator.weather.atmosphere import (
    extinction_from_visibility,
    visibility_from_attenuation_db_km,
)
from services.translator.weather.depth import DEFAULT_HFOV_DEG, focal_length_px
from services.translator.weather.fog import neutral_airlight
from services.translator.weather.particles import Particles, defocus_sigma_px, falling, sample_positions
from services.translator.weather.precipitation import composite_precipitation
from services.translator.weather.scene import scene_for
from services.translator.weather.settling import settle_snow

FALL_SPEED_M_S = 1.0
Z_NEAR_M, Z_FAR_M = 0.3, 4.0  # farther flakes are sub-pixel and belong to the veil
MAX_FLAKES = 40_000
_GAMMA_2_9 = math.gamma(2.9)
WAVELENGTH_NM = 550.0


def flake_density(intensity_mm_h: float, mean_diameter_mm: float) -> float:
    """Flakes per m³ that carry `intensity_mm_h` of water at FALL_SPEED_M_S."""
    mean_mass_kg = 0.037 * _GAMMA_2_9 * mean_diameter_mm**1.9 * 1e-6
    flux_kg_m2_s = intensity_mm_h / 3600.0
    return flux_kg_m2_s / (mean_mass_kg * FALL_SPEED_M_S)


def snow_visibility_m(intensity_mm_h: float) -> float:
    """Visibility in metres from the dry-snow attenuation a·S^1.38 dB/km at 550 nm."""
    a = 5.42e-5 * WAVELENGTH_NM + 5.4958776
    return visibility_from_attenuation_db_km(a * intensity_mm_h**1.38)


def sample_flakes(rng: np.random.Generator, params: SnowParams, height: int, width: int) -> Particles:
    focal = focal_length_px(width, DEFAULT_HFOV_DEG)
    density = flake_density(params.intensity_mm_h, params.flake_size_mm)
    x, y, z = sample_positions(rng, density, width, height, focal, Z_NEAR_M, Z_FAR_M, MAX_FLAKES)
    diameter = np.clip(rng.exponential(params.flake_size_mm, size=z.size), 1.0, 4.0 * params.flake_size_mm)
    size_px = focal * diameter * 1e-3 / z
    length = focal * FALL_SPEED_M_S * (params.exposure_ms * 1e-3) / z
    # A flake smaller than a pixel covers only part of it.
    opacity = params.flake_opacity * np.minimum(1.0, size_px) ** 2
    return falling(x, y, z, length, params.angle_deg, size_px, opacity)


def flake_opacity_map(
    flakes: Particles, height: int, width: int, focal_px: float, occluder_depth_m: np.ndarray | None
) -> np.ndarray:
    """HxW float32: the flakes as shaded soft discs (Gaussian spots smeared along their fall), opacity."""
    out = np.zeros((height, width), np.float32)
    if flakes.x.size == 0 or out.size == 0:
        return out
    x, y, z = flakes.x, flakes.y, flakes.z
    keep = np.ones(x.size, bool)
    if occluder_depth_m is not None:
        cols = np.clip(x.astype(np.int64), 0, width - 1)
        rows = np.clip(y.astype(np.int64), 0, height - 1)
        keep = occluder_depth_m[rows, cols] > z
    # A disc of diameter D has σ = D/4 (second moment); add defocus and the pixel's own footprint.
    defocus = defocus_sigma_px(z, focal_px)
    sigma = np.sqrt((flakes.thickness * 0.25) ** 2 + defocus**2 + 0.25).astype(np.float32)
    klass = np.clip(np.round(np.log2(sigma) * 2.0), 0, 12).astype(np.int64)  # half-octave classes
    path = np.hypot(flakes.dx, flakes.dy).astype(np.float32)
    coarse: dict[int, np.ndarray] = {}  # grid factor -> the blurred classes drawn on that grid
    for k in np.unique(klass[keep]).tolist():
        chosen = np.flatnonzero(keep & (klass == k))
        s = float(2.0 ** (k / 2.0))
        factor = 1
        while s / (factor * 2) >= 1.0 and factor < 8:
            factor *= 2
        gh, gw = -(-height // factor), -(-width // factor)
        # Peak opacity `opacity` for a Gaussian of σ: its volume is opacity·2πσ², in grid cells.
        weight = flakes.opacity[chosen] * np.float32(2.0 * np.pi * s * s / (factor * factor))
        steps = np.maximum(1, np.ceil(path[chosen] / max(s, 1.0))).astype(np.int64)
        # Every step of every flake's fall path at once: one sample per (flake, step).
        owner = np.repeat(np.arange(chosen.size), steps)
        first = np.cumsum(steps) - steps
        step = np.arange(owner.size) - first[owner]
        per = steps[owner].astype(np.float32)
        frac = (step.astype(np.float32) + np.float32(0.5)) / per - np.float32(0.5)
        flake = chosen[owner]
        px = (x[flake] + frac * flakes.dx[flake]) * np.float32(1.0 / factor)
        py = (y[flake] + frac * flakes.dy[flake]) * np.float32(1.0 / factor)
        ix, iy = np.floor(px).astype(np.int64), np.floor(py).astype(np.int64)
        inside = (ix >= 0) & (ix < gw) & (iy >= 0) & (iy < gh)
        index = np.where(inside, iy * gw + ix, gh * gw)
        grid = np.bincount(index, weights=weight[owner] / per, minlength=gh * gw + 1).astype(np.float32)
        layer = cv2.GaussianBlur(grid[:-1].reshape(gh, gw), (0, 0), s / factor)
        if factor in coarse:
            coarse[factor] += layer
        else:
            coarse[factor] = layer
    # Classes on the same grid are upsampled together (one full-frame resize per grid, not per class).
    for factor, layer in coarse.items():
        if factor > 1:
            gh, gw = layer.shape
            layer = cv2.resize(layer, (gw * factor, gh * factor), interpolation=cv2.INTER_LINEAR)[
                :height, :width
            ]
        out += layer
    return np.minimum(out, np.float32(1.0))


def render_snow(
    image: np.ndarray, params: SnowParams, depth_m: np.ndarray | None = None, fast: bool | None = None
) -> np.ndarray:
    """Snowfall of `params.intensity_mm_h` (water equivalent); deterministic for `params.seed`.

    fast: None composites with the C++ kernels when they build here, False forces the numpy reference (the
    flakes are drawn with OpenCV either way).
    """
    rng = np.random.default_rng(params.seed)
    height, width = image.shape[:2]
    airlight = neutral_airlight(image)
    airlight = 0.7 * airlight.mean() + 0.3 * airlight  # snow clouds are grey-white
    visibility = params.visibility_m or snow_visibility_m(params.intensity_mm_h)
    flakes = sample_flakes(rng, params, height, width)
    # Flakes scatter diffuse daylight almost white; never darker than the sky they fall from.
    flake_colour = np.maximum(airlight, np.float32(0.92)).astype(np.float32)
    focal = focal_length_px(width, DEFAULT_HFOV_DEG)
    opacity = flake_opacity_map(flakes, height, width, focal, depth_m)
    scene = scene_for(image, params, depth_m)
    if params.settled_cover > 0:
        image = settle_snow(
            image, scene.depth_m, params.settled_cover, focal, rng, params.camera_pitch_deg, scene.sky
        )
    return composite_precipitation(
        image, scene, extinction_from_visibility(visibility), airlight, 1.0, opacity, flake_colour, fast
    )
