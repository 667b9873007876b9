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
from dataclasses import dataclass, field
from functools import cached_property

import cv2
import numpy as np

from services.translator.weather.atmosphere import _box_downsample
from services.translator.weather.colour import linear_to_srgb_u8, srgb_u8_to_linear
from services.translator.weather.depth import (
    DEFAULT_CAMERA_HEIGHT_M,
    DEFAULT_HFOV_DEG,
    focal_length_px,
)

WORK_WIDTH = 320  # the analysis runs on a copy at most about this wide
FAR_M = 1000.0  # the farthest finite depth the estimate gives (the ground just below the horizon)
_WHITE_DARKEST = (0.72, 0.85)  # darkest channel of a near-white sky (strong evidence)
_PALE_DARKEST = (0.5, 0.72)  # darkest channel of a pale sky: a hazy blue-grey sky reaches about 0.6
_PALE_WEIGHT = 0.45  # pale alone stays below the strong-evidence level (0.5)
_BLUE_EXCESS = (0.06, 0.16)  # blue over red of a blue sky
_FINE_TEXTURE = (0.007, 0.017)  # fine_texture: sky is below the first (wires aside), tiles above the second
_SKY_BELOW_HORIZON = 0.03  # of H: a bright region reaching further below the horizon is not sky
_HORIZON_SHIFT_MAX = 0.12  # of H: how far sky seen below the camera's horizon may move it down
# Street prior: standing structure whose contact is not found is taken at most this far away. Better a far
# wall kept a little too clear than a near one erased (the failure of the flat-ground estimate).
STRUCTURE_MAX_M = 40.0
_STRUCTURE_SMOOTH_FRACTION = 1.0 / 40.0  # of the width: σ of the smoothing of structure depth across columns


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
    """sky: HxW float32 alpha in [0, 1]; horizon_row: pixels; source: how the depth is found (provided |
    model | geometric); depth_m (computed on first use: overcast, dusk and night never ask): HxW float32
    metres, finite (the sky's own value is the depth of what the matte blends it with; renderers use `sky`
    for the sky itself)."""

    sky: np.ndarray
    horizon_row: float
    source: str
    estimate_depth: Callable[[], np.ndarray] = field(repr=False, compare=False)

    @cached_property
    def depth_m(self) -> np.ndarray:
        return self.estimate_depth()


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


def guided_coefficients(
    guide: np.ndarray, src: np.ndarray, radius: int, eps: float
) -> tuple[np.ndarray, np.ndarray]:
    """The guided filter's (He et al.) local linear model src ≈ a·guide + b, window-averaged: apply it as
    a·guide + b to the guide at this size, or upsample a and b and apply them to the full-size guide (the
    fast guided filter), which puts the guide's full-resolution edges into a map computed small."""
    ksize = (2 * radius + 1, 2 * radius + 1)

    def box(x: np.ndarray) -> np.ndarray:
        return cv2.boxFilter(x, cv2.CV_32F, ksize, borderType=cv2.BORDER_REFLECT)

    mean_g, mean_p = box(guide), box(src)
    var_g = box(guide * guide) - mean_g * mean_g
    a = (box(guide * src) - mean_g * mean_p) / (var_g + np.float32(eps))
    b = mean_p - a * mean_g
    return box(a), box(b)


def upsample(small: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear resize of an analysis map back to the image size (a no-op at the same size)."""
    if small.shape[:2] == (height, width):
        return np.ascontiguousarray(small, dtype=np.float32)
    return cv2.resize(small.astype(np.float32, copy=False), (width, height), interpolation=cv2.INTER_LINEAR)


def fine_texture(grey: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Mean gradient magnitude of the grey image (uint8; in [0, 1] per pixel step of a half-size copy) over
    each analysis pixel (`size` = (w, h)): texture finer than the analysis copy can see, such as tiles.
    The half-size copy (2×2 means) keeps tiles and brickwork and drops sensor and JPEG noise."""
    if min(grey.shape) >= 2 * max(1, size[1]) and grey.shape[1] >= 4 * size[0]:
        grey = cv2.resize(grey, (grey.shape[1] // 2, grey.shape[0] // 2), interpolation=cv2.INTER_LINEAR)
    gx = cv2.Sobel(grey, cv2.CV_16S, 1, 0, ksize=3)
    gy = cv2.Sobel(grey, cv2.CV_16S, 0, 1, ksize=3)
    magnitude = cv2.add(cv2.convertScaleAbs(gx, alpha=0.5), cv2.convertScaleAbs(gy, alpha=0.5))
    small = (
        cv2.resize(magnitude, size, interpolation=cv2.INTER_AREA)
        if magnitude.shape[::-1] != size
        else magnitude
    )
    return small.astype(np.float32) * np.float32(2.0 / (8.0 * 255.0))


def sky_candidates(small_rgb: np.ndarray, fine: np.ndarray | None = None) -> np.ndarray:
    """hxw float32 in [0, 1]: how much each analysis pixel looks like sky by itself: smooth and either
    near-white (overcast, or a clear sky the exposure clipped) or clearly blue. Sunlit grey walls are
    neither bright enough in their darkest channel nor blue enough; a blue tiled or painted wall is blue,
    but not smooth at full resolution (`fine`, from fine_texture)."""
    s = small_rgb.astype(np.float32) * np.float32(1.0 / 255.0)
    r, g, b = cv2.split(s)
    darkest = cv2.min(cv2.min(r, g), b)
    grey = cv2.cvtColor(s, cv2.COLOR_RGB2GRAY)
    mean = cv2.blur(grey, (3, 3))
    std = np.sqrt(np.maximum(cv2.blur(grey * grey, (3, 3)) - mean * mean, 0.0))
    not_warm = _smoothstep(b - r, -0.12, -0.02)
    # Near-white (overcast, or a clear sky the exposure clipped) is strong evidence; pale grey-blue (a hazy
    # sky, but also grey concrete) only weak: it joins a region that strong evidence elsewhere makes sky.
    white = (
        np.maximum(
            _smoothstep(darkest, *_WHITE_DARKEST),
            np.float32(_PALE_WEIGHT) * _smoothstep(darkest, *_PALE_DARKEST),
        )
        * not_warm
    )
    blue = _smoothstep(b - r, *_BLUE_EXCESS) * _smoothstep(b, 0.55, 0.75)
    smooth = 1.0 - _smoothstep(std, 0.015, 0.045)
    if fine is not None:
        smooth = smooth * (1.0 - _smoothstep(fine, *_FINE_TEXTURE))
    return (np.maximum(white, blue) * smooth).astype(np.float32)


def sky_matte_small(
    small_rgb: np.ndarray, horizon_prior: float, fine: np.ndarray | None = None
) -> tuple[np.ndarray, float]:
    """(hxw float32 raw sky alpha, horizon row) at analysis resolution; horizon_prior in analysis rows.
    refine_matte turns the raw alpha into the soft full-resolution matte.

    Hysteresis: regions of weak sky evidence touching the top border that hold strong evidence. Columns
    where such a region reaches more than a few per cent of H below the horizon are walls, not sky.
    """
    h, w = small_rgb.shape[:2]
    score = sky_candidates(small_rgb, fine)
    count, labels, stats, _ = cv2.connectedComponentsWithStats((score > 0.2).astype(np.uint8), connectivity=4)
    # Per-label flags through bincount and a lookup table (np.unique / np.isin sort: several times slower).
    chosen = np.bincount(labels[0], minlength=count) > 0  # touches the top border
    chosen &= np.bincount(labels[score > 0.5], minlength=count) > 0  # holds strong evidence
    chosen[0] = False
    keep_labels = np.flatnonzero(chosen)
    connected = chosen[labels]
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
    if mask.any():
        mask |= _sky_through_gaps(small_rgb, labels, stats, score, keep_labels, mask, horizon)
    if mask.any():
        mask |= _enclosed_by_sky(mask, horizon)
    mask = mask.astype(np.uint8)
    # Binary, grown by one analysis pixel so the mixed pixels at the boundary are inside: refine_matte's
    # local linear fit against the image then decides how much of each full-size pixel is sky.
    if mask.any():
        mask = cv2.dilate(mask, np.ones((3, 3), np.uint8))
    return mask.astype(np.float32), horizon


def _enclosed_by_sky(sky: np.ndarray, horizon: float) -> np.ndarray:
    """Holes in the sky: regions the sky mask misses that do not reach the bottom border (everything that
    stands on the ground does, through its trunk, pole or walls) and lie above the horizon. These are the
    textured parts of clouds that the smoothness test rejects; left out, the soft matte would half-mat
    them and a night or dusk sky would show them as lit scenery."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats((~sky).astype(np.uint8), connectivity=4)
    grounded = np.bincount(labels[-1], minlength=count) > 0
    bottom = stats[:, cv2.CC_STAT_TOP] + stats[:, cv2.CC_STAT_HEIGHT]
    hole = ~grounded & (bottom <= horizon)
    hole[0] = False  # label 0 is the sky itself
    return hole[labels]


_GAP_MIN_SKY = 0.01  # of the frame: the open sky needed before gaps of its colour count as sky
_GAP_BELOW_SKY = 0.05  # of H: how far below the open sky's lowest row sky seen through a gap may lie
_GAP_COLOUR_LEVELS = 24.0  # how far (per channel, 0–255) sky seen through foliage may differ from the sky


def _sky_through_gaps(
    small_rgb: np.ndarray,
    labels: np.ndarray,
    stats: np.ndarray,
    score: np.ndarray,
    sky_labels: np.ndarray,
    sky: np.ndarray,
    horizon: float,
) -> np.ndarray:
    """Sky seen through gaps in foliage or between structures: regions of sky evidence that do not touch the
    top border, lie wholly above the horizon and not far below the open sky, hold strong evidence and have
    the colour of the sky found (a lamp, a white sign or a white roof is lower, or another colour). Without
    a substantial open sky there is no sky colour to match, and no gaps."""
    h = labels.shape[0]
    if sky.sum() < _GAP_MIN_SKY * sky.size:
        return np.zeros_like(sky)  # too little open sky to say what colour the sky is
    rows = np.flatnonzero(sky.any(axis=1))
    reach = float(rows[-1]) + _GAP_BELOW_SKY * h  # gaps lie beside the open sky, not far below it
    count = stats.shape[0]
    flat = labels.ravel()
    sky_colour = small_rgb[sky].reshape(-1, 3).astype(np.float32).mean(axis=0)
    area = np.maximum(stats[:, cv2.CC_STAT_AREA], 1).astype(np.float32)
    colour = np.stack(
        [np.bincount(flat, small_rgb[..., c].ravel().astype(np.float32), count) / area for c in range(3)],
        axis=1,
    )
    strong = np.bincount(flat, (score > 0.5).ravel(), count) > 0
    bottom = stats[:, cv2.CC_STAT_TOP] + stats[:, cv2.CC_STAT_HEIGHT]
    above = (bottom <= horizon) & (bottom <= reach)
    alike = np.abs(colour - sky_colour).max(axis=1) <= _GAP_COLOUR_LEVELS
    gap = strong & above & alike
    gap[0] = False
    gap[sky_labels] = False
    return gap[labels]


_MATTE_RADIUS = 2  # analysis pixels: the guided filter's window for the matte
_MATTE_EPS = 1e-3  # grey² (grey in [0, 1]): edges of about 0.03 or more steer the matte


def refine_matte(grey: np.ndarray, small_rgb: np.ndarray, raw: np.ndarray) -> np.ndarray:
    """HxW float32 soft sky alpha at the size of `grey` (the full image, uint8) from the analysis-size
    `raw` alpha.

    The fast guided filter: the local linear model alpha ≈ a·grey + b is fitted on the analysis copy and
    applied to the full-size grey image, so the matte follows the photograph's own edges (branches, wires,
    roof lines) instead of the analysis grid, and sky seen between leaves near the sky is matted too. Where
    the raw matte is zero in a whole window, a and b are zero: the refinement never adds sky far from it.
    """
    height, width = grey.shape[:2]
    h, w = small_rgb.shape[:2]
    if min(h, w) <= 4:
        return upsample(raw, height, width)
    rows = np.flatnonzero(raw.any(axis=1))
    if rows.size == 0:
        return np.zeros((height, width), np.float32)
    grey_small = cv2.cvtColor(small_rgb, cv2.COLOR_RGB2GRAY).astype(np.float32) * np.float32(1.0 / 255.0)
    a, b = guided_coefficients(grey_small, raw, _MATTE_RADIUS, _MATTE_EPS)
    if (h, w) == (height, width):
        alpha = a * grey_small + b
        return np.clip(alpha, 0.0, 1.0, out=alpha).astype(np.float32, copy=False)
    # Only the band of rows the two box filters can carry the raw matte into (the sky is the top of the
    # frame); below it a and b are zero.
    band_small = min(h, int(rows[-1]) + 4 * _MATTE_RADIUS + 3)
    band = min(height, round(band_small * height / h))
    alpha = np.zeros((height, width), np.float32)
    top = alpha[:band]
    scale = np.float32(1.0 / 255.0)
    top[:] = cv2.resize(a[:band_small], (width, band), interpolation=cv2.INTER_LINEAR)
    top *= grey[:band].astype(np.float32) * scale
    top += cv2.resize(b[:band_small], (width, band), interpolation=cv2.INTER_LINEAR)
    np.clip(top, 0.0, 1.0, out=top)
    return alpha


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
    # Neighbouring columns see the same street: smooth their depths (in log, a ratio scale) so a pole or a
    # gap between cars does not draw a vertical stripe through the fog above it.
    if w >= 8:
        log_depth = np.log(structure.astype(np.float32))[None, :]
        sigma = max(1.0, w * _STRUCTURE_SMOOTH_FRACTION)
        structure = np.exp(
            cv2.GaussianBlur(log_depth, (0, 0), sigmaX=sigma, sigmaY=0.1, borderType=cv2.BORDER_REFLECT)
        )[0]
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
        return Scene(sky, camera.horizon_prior(height, width), "provided", lambda: depth)
    small, factor = downsample(image)
    h, w = small.shape[:2]
    prior = camera.horizon_prior(height, width) / factor
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    sky_small, horizon = sky_matte_small(small, prior, fine_texture(grey, (w, h)))
    focal = focal_length_px(w, camera.hfov_deg)

    def geometric() -> np.ndarray:
        return upsample(geometric_depth_small(small, horizon, focal, camera.height_m), height, width)

    return Scene(refine_matte(grey, small, sky_small), horizon * factor, "geometric", geometric)


_MIXED = (0.02, 0.98)  # matte values between these are boundary pixels: part sky, part scenery
_SKY_COLOUR_RADIUS = 4  # analysis pixels: the window of the local sky and scenery colours
_DECIDED = (0.2, 0.8)  # unmix: the matte's ramp after the colour corrections
_SKY_LIKE = (0.06, 0.3)  # relative colour distance to the local sky: at the first a boundary pixel is sky


def sky_colour(image: np.ndarray, sky: np.ndarray) -> np.ndarray | None:
    """Mean sRGB colour (3 floats) of the pixels the matte holds as sky, or None when there are none."""
    step = 4 if min(sky.shape) >= 16 else 1  # every 4th pixel each way: the mean is as good, 16× cheaper
    solid = sky[::step, ::step] > _MIXED[1]
    if not solid.any():
        return None
    return image[::step, ::step][solid].reshape(-1, 3).astype(np.float32).mean(axis=0)


def unmix(image: np.ndarray, sky: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(scenery image, sky matte) for renderers that darken the scenery and replace the sky.

    Where the matte mixes sky and scenery (its boundary), a pixel is, in linear light, I = α·S + (1 − α)·F
    with S the local sky colour (a normalised blur of the solid sky). Matting's colour decontamination,
    kept conservative:
    - a boundary pixel of the sky's own colour is sky: its α rises toward 1 (the soft matte leaves pure sky
      next to branches at 0.7–0.9, which a night render would keep as lit scenery: a halo);
    - a pixel holds no more sky than its own light allows: α ≤ I/S in every channel (a dark branch or wall
      edge next to the sky is mostly branch or wall, whatever the soft matte says);
    - the uncertain middle is decided (a narrow ramp stays mixed);
    - the scenery's own colour is F = (I − α·S)/(1 − α), kept between 0 and I (never brighter than the
      pixel: the division must not turn noise into light), so that (1 − α)·render(F) + α·sky carries no
      daylight sky into the scenery's rim; mostly-sky pixels keep their colour (the sky's brightness).
    """
    mixed = np.flatnonzero((sky > _MIXED[0]) & (sky < _MIXED[1]))
    if mixed.size == 0 or not (sky > _MIXED[1]).any():
        return image, sky
    height, width = image.shape[:2]
    small, factor = downsample(image)
    size = (small.shape[1], small.shape[0])
    sky_small = _box_downsample(sky, factor) if factor > 1 else sky
    solid = (sky_small[: size[1], : size[0]] > _MIXED[1]).astype(np.float32)
    local = _local_mean(srgb_u8_to_linear(small), solid)
    rows, cols = np.divmod(mixed, width)
    s_rgb = local[np.minimum(rows // factor, size[1] - 1), np.minimum(cols // factor, size[0] - 1)]
    lin = srgb_u8_to_linear(image.reshape(-1, 3)[mixed])
    gap = np.abs(lin - s_rgb)
    # Column-wise maxima and minima: numpy's max(axis=1) over three values is several times slower.
    brightest = np.maximum(np.maximum(s_rgb[:, 0], s_rgb[:, 1]), s_rgb[:, 2])
    distance = np.maximum(np.maximum(gap[:, 0], gap[:, 1]), gap[:, 2]) / np.maximum(
        brightest, np.float32(0.05)
    )
    alpha = np.maximum(sky.reshape(-1)[mixed], 1.0 - _smoothstep(distance, *_SKY_LIKE))
    room = lin / np.maximum(s_rgb, np.float32(1e-4))
    alpha = np.minimum(alpha, np.minimum(np.minimum(room[:, 0], room[:, 1]), room[:, 2]))
    # Decide the uncertain middle: a pixel that is mostly sky is sky, mostly scenery is scenery; only a
    # narrow ramp stays mixed (a render that replaces the sky shows half-matted sky as a halo).
    alpha = _smoothstep(alpha, *_DECIDED)[:, None]
    fg = np.clip((lin - alpha * s_rgb) / np.maximum(np.float32(1.0) - alpha, np.float32(1e-3)), 0.0, lin)
    out, new_sky = image.copy(), sky.copy()
    # Mostly-sky pixels keep their own colour: renderers take the sky's brightness from it.
    scenery = alpha[:, 0] < 0.5
    out.reshape(-1, 3)[mixed[scenery]] = linear_to_srgb_u8(fg[scenery])
    new_sky.reshape(-1)[mixed] = alpha[:, 0]
    return out, new_sky


def _local_mean(lin_small: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """hxwx3 normalised blur: the mean colour of the weighted pixels around each analysis pixel (their
    overall mean where none is near)."""
    k = (2 * _SKY_COLOUR_RADIUS + 1, 2 * _SKY_COLOUR_RADIUS + 1)
    weighted = lin_small * weight[..., None]
    near = cv2.blur(weight, k)
    local = cv2.blur(weighted, k)
    local /= np.maximum(near, np.float32(1e-6))[..., None]
    far = near <= 1e-3
    if far.any():
        local[far] = weighted.reshape(-1, 3).sum(axis=0) / max(float(weight.sum()), 1.0)
    return local


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
