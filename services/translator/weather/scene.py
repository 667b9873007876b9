"""What every weather needs to know about a photograph: where the sky is and how far away things are.

With a depth map, the sky is its infinite pixels and the depth is the map. Without one (a real photograph):

- Sky matte: sky is bright, neutral-to-blue, smooth, connected to the top border and above the horizon.
  A bright region that continues down below the horizon is a wall, not sky: its columns are dropped.
  The matte is soft (refined against the image with a guided filter), so a renderer that replaces the sky
  blends into the scenery instead of drawing a seam.
- Horizon: from the camera (height, pitch, field of view: KITTI defaults) unless given; sky seen below that
  row moves it down (the ground cannot be seen above the horizon).
- Geometric depth: the ground plane z = f·h / (v − v_h) below the horizon. Vertical structures (walls, cars,
  trees) take the depth of their ground-contact point: in each column the structure is followed from the
  horizon down while vertical edges dominate horizontal ones, and everything above that contact row up to the
  sky gets its ground depth. The sky is at infinity.

Everything is estimated on a copy about 320 pixels wide (box-averaged by a power of two): the maps are
smooth, and that keeps the whole analysis at a few milliseconds per frame.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

import cv2
import numpy as np

from services.translator.weather.atmosphere import _box_downsample
from services.translator.weather.depth import (
    DEFAULT_CAMERA_HEIGHT_M,
    DEFAULT_HFOV_DEG,
    focal_length_px,
)

WORK_WIDTH = 320  # the analysis runs on a copy at most about this wide
FAR_M = 1000.0  # the farthest finite depth the estimate gives (the ground just below the horizon)
_SKY_BELOW_HORIZON = 0.03  # of H: a bright region reaching further below the horizon is not sky
_HORIZON_SHIFT_MAX = 0.12  # of H: how far sky seen below the camera's horizon may move it down
# Street prior: standing structure whose contact is not found is taken at most this far away. Better a far
# wall kept a little too clear than a near one erased (the failure of the flat-ground estimate).
STRUCTURE_MAX_M = 40.0


@dataclass(frozen=True)
class Camera:
    """The camera for the geometric estimate. Defaults: KITTI (1.65 m above the road, level, 81.1° FOV)."""

    height_m: float = DEFAULT_CAMERA_HEIGHT_M
    pitch_deg: float = 0.0  # positive looks down: the horizon moves up
    hfov_deg: float = DEFAULT_HFOV_DEG
    horizon_fraction: float | None = None  # given horizon row / H; None = from pitch and the image

    def horizon_prior(self, height: int, width: int) -> float:
        """Horizon row (pixels, may lie outside the frame) of a pinhole camera with this pitch."""
        if self.horizon_fraction is not None:
            return self.horizon_fraction * height
        focal = focal_length_px(width, self.hfov_deg)
        return height / 2.0 - focal * math.tan(math.radians(self.pitch_deg))


@dataclass(frozen=True)
class Scene:
    """sky: HxW float32 alpha in [0, 1]; depth_m: HxW float32 metres, finite (the sky's own value is the
    depth of what the matte blends it with; renderers use `sky` for the sky itself); horizon_row: pixels;
    source: how the depth was found (provided | model | geometric)."""

    sky: np.ndarray
    depth_m: np.ndarray
    horizon_row: float
    source: str


def _smoothstep(x: np.ndarray, low: float, high: float) -> np.ndarray:
    t = np.clip((x - np.float32(low)) * np.float32(1.0 / (high - low)), 0.0, 1.0)
    return t * t * (np.float32(3.0) - np.float32(2.0) * t)


def work_factor(width: int) -> int:
    """Power-of-two box factor that brings `width` to at most about WORK_WIDTH."""
    factor = 1
    while width // (factor * 2) >= WORK_WIDTH * 0.9 and width // factor > WORK_WIDTH:
        factor *= 2
    return factor


def downsample(image: np.ndarray) -> tuple[np.ndarray, int]:
    """The analysis copy (box mean by a power of two) and its factor."""
    factor = work_factor(image.shape[1])
    if factor > 1 and min(image.shape[:2]) >= 2 * factor:
        return _box_downsample(image, factor), factor
    return image, 1


def guided_small(guide: np.ndarray, src: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """Guided filter (He et al.) on already-small arrays: keeps the guide's edges in `src`."""
    ksize = (2 * radius + 1, 2 * radius + 1)

    def box(x: np.ndarray) -> np.ndarray:
        return cv2.boxFilter(x, cv2.CV_32F, ksize, borderType=cv2.BORDER_REFLECT)

    mean_g, mean_p = box(guide), box(src)
    var_g = box(guide * guide) - mean_g * mean_g
    a = (box(guide * src) - mean_g * mean_p) / (var_g + np.float32(eps))
    b = mean_p - a * mean_g
    return box(a) * guide + box(b)


def upsample(small: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear resize of an analysis map back to the image size (a no-op at the same size)."""
    if small.shape[:2] == (height, width):
        return np.ascontiguousarray(small, dtype=np.float32)
    return cv2.resize(small.astype(np.float32, copy=False), (width, height), interpolation=cv2.INTER_LINEAR)


def sky_candidates(small_rgb: np.ndarray) -> np.ndarray:
    """hxw float32 in [0, 1]: how much each analysis pixel looks like sky by itself: smooth and either
    near-white (overcast, or a clear sky the exposure clipped) or clearly blue. Sunlit grey walls are
    neither bright enough in their darkest channel nor blue enough."""
    s = small_rgb.astype(np.float32) * np.float32(1.0 / 255.0)
    r, g, b = cv2.split(s)
    darkest = cv2.min(cv2.min(r, g), b)
    grey = cv2.cvtColor(s, cv2.COLOR_RGB2GRAY)
    mean = cv2.blur(grey, (3, 3))
    std = np.sqrt(np.maximum(cv2.blur(grey * grey, (3, 3)) - mean * mean, 0.0))
    white = _smoothstep(darkest, 0.6, 0.85) * _smoothstep(b - r, -0.12, -0.02)
    blue = _smoothstep(b - r, 0.08, 0.2) * _smoothstep(b, 0.55, 0.75)
    smooth = 1.0 - _smoothstep(std, 0.015, 0.045)
    return (np.maximum(white, blue) * smooth).astype(np.float32)


def sky_matte_small(small_rgb: np.ndarray, horizon_prior: float) -> tuple[np.ndarray, float]:
    """(hxw float32 sky alpha, horizon row) at analysis resolution; horizon_prior in analysis rows.

    Hysteresis: regions of weak sky evidence touching the top border that hold strong evidence. Columns
    where such a region reaches more than a few per cent of H below the horizon are walls, not sky.
    """
    h, w = small_rgb.shape[:2]
    score = sky_candidates(small_rgb)
    _, labels = cv2.connectedComponents((score > 0.2).astype(np.uint8), connectivity=4)
    top = np.unique(labels[0][labels[0] > 0])
    strong = np.unique(labels[score > 0.5])
    keep_labels = np.intersect1d(top, strong)
    connected = np.isin(labels, keep_labels) if keep_labels.size else np.zeros((h, w), bool)
    has = connected.any(axis=0)
    # Lowest sky row per column (exclusive end).
    bottom = np.where(has, h - np.argmax(connected[::-1], axis=0), 0)
    limit_rows = _SKY_BELOW_HORIZON * h
    horizon = float(horizon_prior)
    plausible = has & (bottom <= horizon_prior + _HORIZON_SHIFT_MAX * h)
    if plausible.sum() >= max(3, w // 20):
        # Sky seen below the camera's horizon: the horizon is at least that low.
        seen = float(np.percentile(bottom[plausible], 90))
        horizon = min(max(horizon, seen - limit_rows), horizon_prior + _HORIZON_SHIFT_MAX * h)
    keep = has & (bottom <= horizon + limit_rows)
    # A column dropped as a wall takes its neighbours' edges with it (the wall's anti-aliased rim).
    keep = cv2.erode(keep.astype(np.uint8)[None, :], np.ones((1, 3), np.uint8))[0].astype(bool)
    mask = connected & keep[None, :]
    alpha = (mask * np.clip(score * np.float32(2.0), 0.0, 1.0)).astype(np.float32)
    if min(h, w) > 4:
        grey = cv2.cvtColor(small_rgb, cv2.COLOR_RGB2GRAY).astype(np.float32) * np.float32(1.0 / 255.0)
        alpha = guided_small(grey, alpha, 2, 1e-3)
    return np.clip(alpha, 0.0, 1.0).astype(np.float32), horizon


def ground_depth_rows(
    rows: np.ndarray, horizon_row: float, focal_px: float, camera_height_m: float
) -> np.ndarray:
    """z = f·h / (v − v_h) for row centres `rows`, capped at FAR_M (at and above the horizon too)."""
    below = rows.astype(np.float32) - np.float32(horizon_row)
    with np.errstate(divide="ignore"):
        z = np.where(below > 0, np.float32(focal_px * camera_height_m) / np.maximum(below, 1e-6), FAR_M)
    return np.minimum(z, np.float32(FAR_M)).astype(np.float32)


def contact_rows(small_rgb: np.ndarray, horizon_row: float, sky: np.ndarray | None = None) -> np.ndarray:
    """Per column, the analysis row where standing structure meets the ground (>= the horizon row).

    The ground is what the bottom of the frame shows (road, pavement, verge): a colour histogram of the
    bottom band is back-projected, and each column is followed up from the bottom while it looks like that
    ground (short gaps such as lane marks bridged). Where it stops, a wall, car or trunk stands on it. The
    contact row is median-filtered across columns (objects are wide, single columns are noise).
    """
    h, w = small_rgb.shape[:2]
    q = small_rgb >> 5  # 8 levels per channel
    code = (q[..., 0].astype(np.int32) << 6) | (q[..., 1].astype(np.int32) << 3) | q[..., 2]
    band = code[int(h * 0.8) :]
    counts = np.bincount(band.ravel(), minlength=512)
    # Colours that make up at least 0.5 % of the band are ground colours.
    ground = (counts >= max(2.0, 0.005 * band.size))[code]
    # Mostly ground in a small neighbourhood: lane marks, shadows and speckle do not end the ground.
    ground = (cv2.blur(ground.astype(np.float32), (5, 7)) > 0.4).astype(np.uint8)
    ground[int(h * 0.95) :] = 1  # the bottom rows are ground by construction
    start = min(h - 1, max(0, int(math.floor(horizon_row)) + 1))
    run = np.cumprod(ground[::-1].astype(np.int32), axis=0).sum(axis=0)  # ground rows from the bottom up
    contact = np.clip(h - run, start, h - 1).astype(np.int32)
    ksize = max(3, (w // 24) | 1)
    if h < 256 and w >= ksize:
        contact = cv2.medianBlur(contact.astype(np.uint8)[None, :], min(ksize, 255))[0].astype(np.int32)
    return np.maximum(contact, start)


def geometric_depth_small(
    small_rgb: np.ndarray, horizon_row: float, focal_px: float, camera_height_m: float
) -> np.ndarray:
    """hxw float32 metres: ground plane below each column's contact row, the contact's depth above it."""
    h, w = small_rgb.shape[:2]
    ground = ground_depth_rows(np.arange(h) + 0.5, horizon_row, focal_px, camera_height_m)
    ground = np.minimum(ground, np.float32(FAR_M))
    contact = contact_rows(small_rgb, horizon_row)
    structure = np.minimum(ground[contact], np.float32(STRUCTURE_MAX_M))  # per column
    rows = np.arange(h)[:, None]
    depth = np.where(rows >= contact[None, :], ground[:, None], structure[None, :])
    # Ground cannot lie behind what stands on it: the rows between horizon and contact are capped too.
    return np.minimum(depth, structure[None, :]).astype(np.float32)


def analyse(
    image: np.ndarray,
    depth_m: np.ndarray | None = None,
    camera: Camera | None = None,
) -> Scene:
    """The sky matte and a finite depth map for `image` (HxWx3 uint8 RGB).

    depth_m: a measured depth map (np.inf = sky), used as is; without one, the geometric estimate.
    """
    camera = camera or Camera()
    height, width = image.shape[:2]
    if depth_m is not None:
        finite = np.isfinite(depth_m)
        sky = (~finite).astype(np.float32)
        depth = np.where(finite, depth_m, np.float32(FAR_M)).astype(np.float32)
        return Scene(sky, depth, camera.horizon_prior(height, width), "provided")
    small, factor = downsample(image)
    h, w = small.shape[:2]
    prior = camera.horizon_prior(height, width) / factor
    sky_small, horizon = sky_matte_small(small, prior)
    focal = focal_length_px(w, camera.hfov_deg)
    depth_small = geometric_depth_small(small, horizon, focal, camera.height_m)
    return Scene(
        upsample(sky_small, height, width),
        upsample(depth_small, height, width),
        horizon * factor,
        "geometric",
    )


def camera_of(params: object) -> Camera:
    """The camera a weather's params describe (every physics weather has the fields)."""
    return Camera(
        height_m=getattr(params, "camera_height_m", DEFAULT_CAMERA_HEIGHT_M),
        pitch_deg=getattr(params, "camera_pitch_deg", 0.0),
        hfov_deg=getattr(params, "hfov_deg", DEFAULT_HFOV_DEG),
        horizon_fraction=getattr(params, "horizon_fraction", None),
    )


# The monocular model's scene (depth_model.model_scene with a loaded estimator). The physics builder hands it
# in for the length of a render: this module cannot import the model's (which builds on it).
ModelDepth = Callable[[np.ndarray, Camera], Scene]
_MODEL_DEPTH: ContextVar[ModelDepth | None] = ContextVar("model_depth", default=None)


@contextmanager
def model_depth(provider: ModelDepth) -> Iterator[None]:
    """Within the block, depth_source 'model' is answered by `provider(image, camera)`."""
    token = _MODEL_DEPTH.set(provider)
    try:
        yield
    finally:
        _MODEL_DEPTH.reset(token)


def scene_for(image: np.ndarray, params: object, depth_m: np.ndarray | None) -> Scene:
    """The scene a renderer works with: `params.depth_source` decides ('provided' needs the map, 'model' the
    depth model given by `model_depth`). Without a depth map and with no source named, geometric."""
    source = getattr(params, "depth_source", None)
    camera = camera_of(params)
    if source == "geometric":
        return analyse(image, None, camera)
    if source == "model":
        provider = _MODEL_DEPTH.get()
        if provider is None:
            raise ValueError(
                "depth_source 'model' needs the depth model loaded from the operator's weights (the physics "
                "builder does this); choose 'geometric' or 'provided' otherwise."
            )
        return provider(image, camera)
    if source == "provided" and depth_m is None:
        raise ValueError(
            "depth_source 'provided' needs a depth map with the image; send one or choose 'geometric'."
        )
    return analyse(image, depth_m, camera)
