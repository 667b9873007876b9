"""Synthetic driving frames: a sky, a road receding to a horizon, vehicles as boxes, and depth in
Virtual KITTI 2's encoding (uint16 centimetres, 65535 = sky)."""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image

SKY_CM = 65535
CAMERA_HEIGHT_M = 1.65
# KITTI's focal length at its 375-row frames; scaled with the frame height.
FOCAL_PX_AT_375 = 720.0
HORIZON = 0.42


def road_scene(width: int = 1242, height: int = 375, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """RGB uint8 frame and its Virtual KITTI 2-style depth (uint16 centimetres, 65535 = sky)."""
    rng = np.random.default_rng(seed)
    horizon = int(height * HORIZON)
    rows = np.arange(height, dtype=np.float32)[:, None]
    img = _background(width, height)
    for _ in range(6):
        x = int(rng.integers(0, max(width - 60, 1)))
        y = int(rng.integers(horizon, max(height - 30, horizon + 1)))
        img[y : y + 30, x : x + 60] = rng.integers(20, 240, 3)
    img += rng.normal(0, 4, img.shape)
    depth_m = np.full((height, width), np.inf, np.float32)
    below = np.maximum(rows[horizon:] - horizon, 0.5)
    depth_m[horizon:] = np.broadcast_to(np.clip(1.65 * 720 / below, 2, 600), (height - horizon, width))
    depth_cm = np.where(np.isinf(depth_m), SKY_CM, np.minimum(depth_m * 100, 65534)).astype(np.uint16)
    return np.clip(img, 0, 255).astype(np.uint8), depth_cm


def _background(width: int, height: int) -> np.ndarray:
    """Sky gradient, ground and a road widening towards the camera (float32 RGB)."""
    horizon = int(height * HORIZON)
    rows = np.arange(height, dtype=np.float32)[:, None]
    img = np.zeros((height, width, 3), np.float32)
    sky = np.clip(rows / max(horizon, 1), 0, 1)
    img[:horizon] = (np.array([90, 140, 220]) * (1 - 0.3 * sky[:horizon]) + 40 * sky[:horizon])[:, None, :]
    ground_t = np.clip((rows[horizon:] - horizon) / max(height - horizon, 1), 0, 1)
    img[horizon:] = (np.array([70, 90, 60]) + 50 * ground_t)[:, None, :]
    road = np.abs(np.arange(width)[None, :] - width / 2) < (rows[horizon:] - horizon + 5) * 1.6
    img[horizon:][road] = [105, 105, 110]
    return img


# Real sizes (width, height in metres) per label, roughly KITTI's averages.
SIZES_M = {"Car": (1.7, 1.5), "Van": (1.9, 2.1), "Truck": (2.5, 3.2)}


@dataclass(frozen=True)
class Vehicle:
    """A vehicle in the scene: lateral offset `x_m` and distance `z_m` from the camera, moving towards it
    at `speed_m` metres per frame."""

    track: int
    label: str
    x_m: float
    z_m: float
    colour: tuple[int, int, int]
    speed_m: float = 0.0
    scale: float = 1.0  # size relative to the label's typical size (SIZES_M)


@dataclass(frozen=True)
class Distractor:
    """Something that is not a vehicle: a pole, a sign, a building or a road cone, standing on the ground
    `x_m` to the side and `z_m` ahead, `elevation_m` above it (a sign on its pole)."""

    x_m: float
    z_m: float
    w_m: float
    h_m: float
    colour: tuple[int, int, int]
    elevation_m: float = 0.0


@dataclass(frozen=True)
class Box:
    """A vehicle as drawn: its clipped box in pixels, how much of it is hidden by nearer vehicles
    (`occluded`, 0-1) or cut by the frame edge (`truncated`, 0-1), and its visible pixel count."""

    track: int
    label: str
    x1: float
    y1: float
    x2: float
    y2: float
    occluded: float
    truncated: float
    pixels: int
    depth_m: float


def random_vehicles(rng: np.random.Generator, n: int) -> list[Vehicle]:
    out = []
    for track in range(n):
        label = str(rng.choice(["Car", "Car", "Car", "Van", "Truck"]))
        out.append(
            Vehicle(
                track=track,
                label=label,
                x_m=float(rng.uniform(-7, 7)),
                z_m=float(rng.uniform(7, 45)),
                colour=tuple(int(c) for c in rng.integers(20, 240, 3)),
                speed_m=float(rng.uniform(-0.5, 1.0)),
            )
        )
    return out


def labelled_scene(
    width: int,
    height: int,
    vehicles: list[Vehicle],
    frame: int = 0,
    noise_seed: int = 0,
    distractors: list[Distractor] | None = None,
) -> tuple[np.ndarray, np.ndarray, list[Box]]:
    """RGB uint8, depth (uint16 cm, 65535 = sky) and the visible vehicles' boxes of one frame: vehicles
    (and unlabelled distractors) placed by a pinhole camera 1.65 m above a flat road, drawn far to near so
    nearer ones hide farther ones, with their depth written into the depth map."""
    horizon = int(height * HORIZON)
    focal = FOCAL_PX_AT_375 * height / 375
    img = _background(width, height)
    rows = np.arange(height, dtype=np.float32)[:, None]
    depth_m = np.full((height, width), np.inf, np.float32)
    below = np.maximum(rows[horizon:] - horizon, 0.5)
    depth_m[horizon:] = np.broadcast_to(
        np.clip(CAMERA_HEIGHT_M * focal / below, 2, 600), (height - horizon, width)
    )
    owner = np.full((height, width), -1, np.int32)
    placed = []
    for v in vehicles:
        z = v.z_m - v.speed_m * frame
        if z < 4:
            continue
        w_m, h_m = (v.scale * d for d in SIZES_M[v.label])
        cx = width / 2 + focal * v.x_m / z
        bottom = horizon + CAMERA_HEIGHT_M * focal / z
        bw, bh = focal * w_m / z, focal * h_m / z
        placed.append((z, v, (cx - bw / 2, bottom - bh, cx + bw / 2, bottom)))
    for d in distractors or ():
        if d.z_m < 2:
            continue
        cx = width / 2 + focal * d.x_m / d.z_m
        bottom = horizon + CAMERA_HEIGHT_M * focal / d.z_m - focal * d.elevation_m / d.z_m
        bw, bh = focal * d.w_m / d.z_m, focal * d.h_m / d.z_m
        placed.append((d.z_m, d, (cx - bw / 2, bottom - bh, cx + bw / 2, bottom)))
    full_area = {}
    for z, v, (x1, y1, x2, y2) in sorted(placed, key=lambda p: -p[0]):
        c1, r1, c2, r2 = (int(round(t)) for t in (x1, y1, x2, y2))
        if isinstance(v, Distractor):
            c1c, r1c, c2c, r2c = max(c1, 0), max(r1, 0), min(max(c2, c1 + 1), width), min(r2, height)
            if c2c > c1c and r2c > r1c:
                img[r1c:r2c, c1c:c2c] = v.colour
                owner[r1c:r2c, c1c:c2c] = -1
                depth_m[r1c:r2c, c1c:c2c] = z
            continue
        full_area[v.track] = max((c2 - c1) * (r2 - r1), 1)
        c1c, r1c, c2c, r2c = max(c1, 0), max(r1, 0), min(c2, width), min(r2, height)
        if c2c <= c1c or r2c <= r1c:
            continue
        img[r1c:r2c, c1c:c2c] = v.colour
        # A darker window band and wheels make it read as a vehicle.
        band = slice(max(r1c, r1 + (r2 - r1) // 5), max(r1c, r1 + (r2 - r1) * 2 // 5))
        img[band, c1c:c2c] = np.array(v.colour) * 0.35
        # Wheels: dark blocks at the bottom corners.
        wheel_h, wheel_w = max((r2 - r1) // 5, 1), max((c2 - c1) // 5, 1)
        rows_w = slice(max(r2 - wheel_h, r1c), r2c)
        img[rows_w, c1c : min(c1 + wheel_w, c2c)] = 25
        img[rows_w, max(c2 - wheel_w, c1c) : c2c] = 25
        owner[r1c:r2c, c1c:c2c] = v.track
        depth_m[r1c:r2c, c1c:c2c] = z
    boxes = []
    for z, v, (x1, y1, x2, y2) in placed:
        if isinstance(v, Distractor):
            continue
        visible = int((owner == v.track).sum())
        if visible == 0:
            continue
        c = (max(x1, 0), max(y1, 0), min(x2, width), min(y2, height))
        inside = max((c[2] - c[0]) * (c[3] - c[1]), 1.0)
        truncated = 1 - inside / max((x2 - x1) * (y2 - y1), 1.0)
        occluded = 1 - visible / inside
        boxes.append(
            Box(
                v.track,
                v.label,
                *c,
                occluded=float(np.clip(occluded, 0, 1)),
                truncated=float(np.clip(truncated, 0, 1)),
                pixels=visible,
                depth_m=float(z),
            )
        )
    rng = np.random.default_rng(noise_seed)
    img += rng.normal(0, 4, img.shape)
    depth_cm = np.where(np.isinf(depth_m), SKY_CM, np.minimum(depth_m * 100, 65534)).astype(np.uint16)
    return np.clip(img, 0, 255).astype(np.uint8), depth_cm, sorted(boxes, key=lambda b: b.track)


def png_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def jpeg_bytes(array: np.ndarray, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()
