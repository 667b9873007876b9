"""Falling particles (rain drops, snowflakes) in the camera frustum and the light they block.

Particles are sampled uniformly in the volume of the viewing frustum between z_near and z_far, so their
count follows a physical number density (per m³). Each is projected with the pinhole model: its width is
f·D/z pixels and, while the shutter is open, it moves fall-speed × exposure metres, i.e. f·v·T/z pixels.

Footprint: the particle (a disc of its width) swept along its motion, (length + width) × width pixels of
uniform peak opacity. The lens is focused far away, so a particle at z is seen through a blur disc of
diameter f·aperture/z pixels, which we model as the Gaussian with the disc's second moment (σ = a quarter
of the diameter: a uniform disc of radius R has σ = R/2 along each axis), combined with the pixel's own
footprint (a 1-px box has variance 1/12). Three ways to draw it, each sampled at pixel centres:
- STREAK (blur σ of at least half a pixel, narrower than 4σ): the swept rectangle convolved with that
  Gaussian. A rectangle convolved with a Gaussian is separable into two differences of normal CDFs (across
  and along the motion), so each particle is drawn in closed form with its own defocus: near drops are
  wide and faint, and the blur moves ink around without creating or losing any.
- CAPSULE (at least 4σ and more than THIN_MAX_WIDTH_PX wide, e.g. near snowflakes): the swept disc itself,
  a capsule with round caps, its edge blurred: α = opacity·Φ((width/2 − distance to the motion segment)/σ),
  which is the exact blurred edge wherever the half-width exceeds 2σ.
- THIN (sharp and at most THIN_MAX_WIDTH_PX wide: all but the nearest rain drops): an antialiased 1-px
  line (Xiaolin Wu: at each step along the major axis the opacity is split between the two pixels
  straddling the line) carrying the streak's ink, opacity × width (at most 1), for a fraction of the work.

Particles block light independently: the light passing a pixel is the product of (1 − α) over the
particles covering it (the "over" operator for one particle colour), and a particle is hidden where the
scene is nearer than it. This module holds the geometry and a numpy reference; kernels.py draws the same
footprints in C++.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

APERTURE_M = 0.002  # entrance pupil of a dashcam-class lens (about 4 mm focal length at f/2)
PIXEL_VARIANCE = 1.0 / 12.0  # a 1-px box footprint
REACH_SIGMAS = 3.0  # footprints are cut this many σ beyond the rectangle (the CDF table is renormalised)
PHI_STEPS_PER_SIGMA = 128
SOFT_MIN_SIGMA_PX = 0.5  # below this defocus (and at most THIN_MAX_WIDTH_PX wide) a particle is a thin line
THIN_MAX_WIDTH_PX = 2.0
CAPSULE_MIN_WIDTH_SIGMAS = 4.0  # from this width (in blur σ) the round-capped capsule is drawn
THIN, STREAK, CAPSULE = 0, 1, 2  # Footprints.shape


@dataclass(frozen=True)
class Particles:
    """Projected particles: centre (px), depth (m), motion vector (px), width (px), peak opacity."""

    x: np.ndarray
    y: np.ndarray
    z: np.ndarray
    dx: np.ndarray
    dy: np.ndarray
    thickness: np.ndarray
    opacity: np.ndarray


@dataclass(frozen=True)
class Footprints:
    """Per-particle float32 footprint parameters, shared by the numpy and C++ renderers.

    (dx, dy): motion vector (a thin line runs from centre − d/2 to centre + d/2); (ux, uy): its unit
    direction; half_length / half_width: the rectangle's half sides; scale: CDF-table steps per pixel
    (PHI_STEPS_PER_SIGMA / σ); reach_length / reach_width: half sides of the drawn box (rectangle +
    REACH_SIGMAS·σ); shape: THIN, STREAK or CAPSULE.
    """

    x: np.ndarray
    y: np.ndarray
    z: np.ndarray
    dx: np.ndarray
    dy: np.ndarray
    ux: np.ndarray
    uy: np.ndarray
    half_length: np.ndarray
    half_width: np.ndarray
    scale: np.ndarray
    reach_length: np.ndarray
    reach_width: np.ndarray
    opacity: np.ndarray
    shape: np.ndarray


def frustum_volume_m3(width: int, height: int, focal_px: float, z_near: float, z_far: float) -> float:
    """Volume of the pyramid of view between depths z_near and z_far."""
    return (width / focal_px) * (height / focal_px) * (z_far**3 - z_near**3) / 3.0


def sample_positions(
    rng: np.random.Generator,
    density_per_m3: float,
    width: int,
    height: int,
    focal_px: float,
    z_near: float,
    z_far: float,
    max_count: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Poisson number of particles for the density, uniform in the frustum volume (pdf of z ∝ z²).

    float32 (the renderers draw in float32), x and y in pixels, z in metres.
    """
    expected = density_per_m3 * frustum_volume_m3(width, height, focal_px, z_near, z_far)
    count = int(min(rng.poisson(expected), max_count))
    u = rng.random((3, count), dtype=np.float32)
    z = np.cbrt(u[0] * np.float32(z_far**3 - z_near**3) + np.float32(z_near**3))
    return u[1] * np.float32(width), u[2] * np.float32(height), z


def falling(
    x: np.ndarray,
    y: np.ndarray,
    z: np.ndarray,
    path_px: np.ndarray,
    angle_deg: float,
    thickness: np.ndarray,
    opacity: np.ndarray,
) -> Particles:
    """Particles whose exposure-long path (pixels) slants `angle_deg` from vertical (wind)."""
    angle = math.radians(angle_deg)
    return Particles(
        x=x,
        y=y,
        z=z,
        dx=path_px * math.sin(angle),
        dy=path_px * math.cos(angle),
        thickness=thickness,
        opacity=opacity,
    )


def defocus_sigma_px(z_m: np.ndarray | float, focal_px: float) -> np.ndarray | float:
    """σ of the defocus blur in pixels: a quarter of the blur-disc diameter f·aperture/z (focused at ∞)."""
    return 0.25 * focal_px * APERTURE_M / z_m


def kernel_constants(focal_px: float) -> tuple[float, ...]:
    """The model constants kernels.py needs, in its order (one definition, here)."""
    return (
        defocus_sigma_px(1.0, focal_px),  # σ·z
        PIXEL_VARIANCE,
        REACH_SIGMAS,
        PHI_STEPS_PER_SIGMA,
        SOFT_MIN_SIGMA_PX,
        THIN_MAX_WIDTH_PX,
        CAPSULE_MIN_WIDTH_SIGMAS,
    )


def footprints(particles: Particles, focal_px: float) -> Footprints:
    """Per-particle drawing parameters, in float32 (kernels.py's make_footprints repeats these steps)."""
    x, y, z, dx, dy, thickness, opacity = (
        np.ascontiguousarray(a, dtype=np.float32)
        for a in (particles.x, particles.y, particles.z, particles.dx, particles.dy, particles.thickness,
                  particles.opacity)
    )  # fmt: skip
    one, half = np.float32(1.0), np.float32(0.5)
    length = np.sqrt(dx * dx + dy * dy)
    moving = length > 0
    safe = np.where(moving, length, one)
    width = np.maximum(thickness, one)  # thinner particles arrive with proportionally less opacity
    defocus = defocus_sigma_px(z, focal_px)  # float32, as in the kernel
    sigma = np.sqrt(defocus * defocus + np.float32(PIXEL_VARIANCE))
    half_length = (length + width) * half
    half_width = width * half
    reach = np.float32(REACH_SIGMAS) * sigma
    soft = (defocus >= np.float32(SOFT_MIN_SIGMA_PX)) | (thickness > np.float32(THIN_MAX_WIDTH_PX))
    capsule = (thickness > np.float32(THIN_MAX_WIDTH_PX)) & (
        width >= np.float32(CAPSULE_MIN_WIDTH_SIGMAS) * sigma
    )
    shape = np.where(capsule, np.uint8(CAPSULE), np.where(soft, np.uint8(STREAK), np.uint8(THIN)))
    zero = np.float32(0.0)
    return Footprints(
        x=x,
        y=y,
        z=z,
        dx=dx,
        dy=dy,
        ux=np.where(moving, dx / safe, np.float32(0.0)),
        uy=np.where(moving, dy / safe, one),
        half_length=half_length,
        half_width=half_width,
        scale=np.float32(PHI_STEPS_PER_SIGMA) / sigma,
        reach_length=half_length + reach,
        reach_width=half_width + reach,
        opacity=np.where(soft, np.minimum(np.maximum(opacity, zero), one), np.minimum(opacity * width, one)),
        shape=shape.astype(np.uint8),
    )


@lru_cache(maxsize=1)
def phi_table() -> np.ndarray:
    """Normal CDF on [−REACH_SIGMAS, REACH_SIGMAS] in steps of 1/PHI_STEPS_PER_SIGMA, rescaled to run
    exactly from 0 to 1 so a footprint is exactly zero outside its drawn box (float32, read-only)."""
    steps = int(REACH_SIGMAS * PHI_STEPS_PER_SIGMA)
    v = np.arange(-steps, steps + 1, dtype=np.float64) / PHI_STEPS_PER_SIGMA
    cdf = np.array([0.5 * math.erfc(-t / math.sqrt(2.0)) for t in v])
    table = ((cdf - cdf[0]) / (cdf[-1] - cdf[0])).astype(np.float32)
    table.setflags(write=False)
    return table


def _phi(steps: np.ndarray) -> np.ndarray:
    """Φ at `steps` table steps from 0: table[round(steps) + mid], clamped, as kernels.py computes it."""
    table = phi_table()
    index = np.minimum(steps + np.float32((table.size - 1) // 2 + 0.5), np.float32(table.size - 0.5))
    return table[np.maximum(index.astype(np.int64), 0)]


def box_bounds(fp: Footprints) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """First/last row and column (inclusive, unclipped) of each particle's drawn box."""
    ax, ay = np.abs(fp.ux), np.abs(fp.uy)
    reach_x = ax * fp.reach_length + ay * fp.reach_width
    reach_y = ay * fp.reach_length + ax * fp.reach_width
    return (
        np.ceil(fp.y - reach_y).astype(np.int64),
        np.floor(fp.y + reach_y).astype(np.int64),
        np.ceil(fp.x - reach_x).astype(np.int64),
        np.floor(fp.x + reach_x).astype(np.int64),
    )


def coverage(fp: Footprints, i: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """α of particles i at pixel centres (rows, cols) (broadcast together), float32."""
    px = cols.astype(np.float32) - fp.x[i]
    py = rows.astype(np.float32) - fp.y[i]
    along = px * fp.ux[i] + py * fp.uy[i]
    across = py * fp.ux[i] - px * fp.uy[i]
    scale = fp.scale[i]
    hl, hw = fp.half_length[i], fp.half_width[i]
    x_profile = _phi((across + hw) * scale) - _phi((across - hw) * scale)
    y_profile = _phi((along + hl) * scale) - _phi((along - hl) * scale)
    segment = hl - hw  # the capsule's axis runs ±segment along the motion
    beyond = along - np.minimum(np.maximum(along, -segment), segment)
    edge = _phi((hw - np.sqrt(beyond * beyond + across * across)) * scale)
    return fp.opacity[i] * np.where(fp.shape[i] == CAPSULE, edge, x_profile * y_profile)


def thin_line_pixels(fp: Footprints, i: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Rows, columns, opacities and particle of each pixel of the thin lines of particles i (flat arrays).

    At every integer step k of the major axis between the rounded ends, the line's minor coordinate m
    (clamped to the segment) splits the opacity: 1 − frac(m) to pixel floor(m), frac(m) to the next one.
    """
    half = np.float32(0.5)
    xa, xb = fp.x[i] - half * fp.dx[i], fp.x[i] + half * fp.dx[i]
    ya, yb = fp.y[i] - half * fp.dy[i], fp.y[i] + half * fp.dy[i]
    y_major = np.abs(fp.dy[i]) >= np.abs(fp.dx[i])
    ma, mb = np.where(y_major, ya, xa), np.where(y_major, yb, xb)
    na, nb = np.where(y_major, xa, ya), np.where(y_major, xb, yb)
    flip = ma > mb
    ma, mb, na, nb = (
        np.where(flip, mb, ma),
        np.where(flip, ma, mb),
        np.where(flip, nb, na),
        np.where(flip, na, nb),
    )
    k0 = np.floor(ma + half).astype(np.int64)
    k1 = np.floor(mb + half).astype(np.int64)
    span = mb - ma
    slope = np.divide(nb - na, span, out=np.zeros_like(span), where=span > 0)
    count = k1 - k0 + 1
    level = np.ceil(np.log2(count)).astype(np.int64)
    parts: list[tuple[np.ndarray, ...]] = []
    for lv in np.unique(level).tolist():
        g = np.flatnonzero(level == lv)
        k = k0[g, None] + np.arange(1 << lv)[None, :]
        valid = k <= k1[g, None]
        t = np.minimum(np.maximum(k.astype(np.float32) - ma[g, None], np.float32(0.0)), span[g, None])
        m = na[g, None] + t * slope[g, None]
        floor = np.floor(m)
        frac = m - floor
        m0 = floor.astype(np.int64)
        k, m0, frac = k[valid], m0[valid], frac[valid]
        ym = np.broadcast_to(y_major[g, None], valid.shape)[valid]
        owner = np.broadcast_to(i[g, None], valid.shape)[valid]
        opacity = fp.opacity[owner]
        for minor, share in ((m0, opacity * (np.float32(1.0) - frac)), (m0 + 1, opacity * frac)):
            parts.append((np.where(ym, k, minor), np.where(ym, minor, k), share, owner))
    if not parts:
        empty = np.zeros(0, np.int64)
        return empty, empty, np.zeros(0, np.float32), empty
    return tuple(np.concatenate(column) for column in zip(*parts, strict=True))  # type: ignore[return-value]


def soft_pixels(fp: Footprints, i: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Rows, columns, opacities and particle of each pixel of the STREAK or CAPSULE footprints of
    particles i (flat).

    Particles are grouped by box size (powers of two), each group one vectorised pass over padded boxes.
    """
    r0, r1, c0, c1 = box_bounds(fp)
    box_h = np.maximum(r1[i] - r0[i] + 1, 1)
    box_w = np.maximum(c1[i] - c0[i] + 1, 1)
    size_class = np.ceil(np.log2(box_h)).astype(np.int64) * 64 + np.ceil(np.log2(box_w)).astype(np.int64)
    parts: list[tuple[np.ndarray, ...]] = []
    for key in np.unique(size_class).tolist():
        g = i[size_class == key]
        rows = r0[g, None, None] + np.arange(1 << (key // 64))[None, :, None]
        cols = c0[g, None, None] + np.arange(1 << (key % 64))[None, None, :]
        alpha = coverage(fp, g[:, None, None], rows, cols)
        keep = (rows <= r1[g, None, None]) & (cols <= c1[g, None, None])
        full = keep.shape
        parts.append(
            (
                np.broadcast_to(rows, full)[keep],
                np.broadcast_to(cols, full)[keep],
                alpha[keep],
                np.broadcast_to(g[:, None, None], full)[keep],
            )
        )
    if not parts:
        empty = np.zeros(0, np.int64)
        return empty, empty, np.zeros(0, np.float32), empty
    return tuple(np.concatenate(column) for column in zip(*parts, strict=True))  # type: ignore[return-value]


def render_transmittance(
    particles: Particles, height: int, width: int, focal_px: float, depth_m: np.ndarray | None
) -> np.ndarray:
    """HxW float32: the fraction of the scene's light that passes all particles (1 = none in the way).

    A particle is hidden where depth_m is not farther than it. Numpy reference of kernels.py's
    transmittance (same float32 expressions; products may be taken in another order).
    """
    out = np.ones((height, width), dtype=np.float32)
    if particles.x.size == 0 or out.size == 0:
        return out
    fp = footprints(particles, focal_px)
    thin = fp.shape == THIN
    for pixels in (soft_pixels(fp, np.flatnonzero(~thin)), thin_line_pixels(fp, np.flatnonzero(thin))):
        rows, cols, alpha, owner = pixels
        keep = (rows >= 0) & (rows < height) & (cols >= 0) & (cols < width) & (alpha > 0)
        rows, cols, alpha, owner = rows[keep], cols[keep], alpha[keep], owner[keep]
        if depth_m is not None:
            seen = depth_m.astype(np.float32, copy=False)[rows, cols] > fp.z[owner]
            rows, cols, alpha = rows[seen], cols[seen], alpha[seen]
        np.multiply.at(out, (rows, cols), np.float32(1.0) - alpha)
    return out
