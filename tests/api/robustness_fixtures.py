"""A Virtual KITTI 2-layout dataset with depth whose cars a colour detector finds, for robustness curves.

Grey sky and road (no chroma), saturated cars at known depths: fog blends a car toward the grey airlight by
its transmission exp(−2.996·d/V), so its chroma falls as visibility V falls, farther cars first. The
`ChromaDetector` reports every connected region of strong chroma as a car with its mean chroma as confidence:
deterministic, and what it misses is exactly what the weather washed out.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image

WIDTH, HEIGHT, HORIZON = 192, 112, 44
# Per frame: (x, depth in metres) of each car; the cars stand on the road below the horizon.
CARS = [[(10, 8.0), (70, 20.0), (130, 45.0)], [(20, 45.0), (90, 8.0), (150, 20.0)], [(40, 20.0), (120, 45.0)]]
CAR_COLOURS = [(200, 30, 30), (30, 40, 200), (30, 170, 40)]
CHROMA_THRESHOLD = 60  # of 255: the grey scene stays far below, a clear car far above


def write_vkitti2_scene(root: Path, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    rgb_dir = root / "vkitti_2.0.3_rgb" / "Scene01" / "clone" / "frames" / "rgb" / "Camera_0"
    depth_dir = root / "vkitti_2.0.3_depth" / "Scene01" / "clone" / "frames" / "depth" / "Camera_0"
    text = root / "vkitti_2.0.3_textgt" / "Scene01" / "clone"
    for d in (rgb_dir, depth_dir, text):
        d.mkdir(parents=True, exist_ok=True)
    rows = np.arange(HEIGHT, dtype=np.float32)[:, None]
    lines = [
        "frame cameraID trackID left right top bottom number_pixels truncation_ratio occupancy_ratio isMoving"
    ]
    for f, cars in enumerate(CARS):
        img = np.empty((HEIGHT, WIDTH, 3), np.float32)
        img[:HORIZON] = 185.0
        img[HORIZON:] = 105.0
        depth = np.full((HEIGHT, WIDTH), 65535, np.uint16)  # sky
        ground = np.clip(1.65 * 200 / np.maximum(rows[HORIZON:] - HORIZON, 0.5), 2, 600)
        depth[HORIZON:] = np.broadcast_to(ground * 100, (HEIGHT - HORIZON, WIDTH)).astype(np.uint16)
        for k, (x, dist) in enumerate(cars):
            y = HORIZON + 20 + 8 * k
            img[y : y + 18, x : x + 28] = CAR_COLOURS[k % len(CAR_COLOURS)]
            depth[y : y + 18, x : x + 28] = int(dist * 100)
            lines.append(f"{f} 0 {k} {x} {x + 27} {y} {y + 17} 504 0.0 0.9 False")
        img += rng.normal(0, 3, img.shape)
        Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(rgb_dir / f"rgb_{f:05d}.jpg", quality=98)
        Image.fromarray(depth).save(depth_dir / f"depth_{f:05d}.png")
    (text / "info.txt").write_text("trackID label model color\n0 Car A Red\n1 Car B Blue\n2 Car C Green\n")
    (text / "bbox.txt").write_text("\n".join(lines) + "\n")


@dataclass(frozen=True)
class Found:
    cls: int
    name: str
    conf: float
    x1: float
    y1: float
    x2: float
    y2: float

    def to_dict(self) -> dict:
        return asdict(self)


class ChromaDetector:
    """Stands in for a trained detector (the detect job's `Detector`): regions of strong colour are cars."""

    def __init__(self, class_names: list[str]) -> None:
        self.class_names = class_names
        self.car = class_names.index("car")

    def predict(self, images, conf=0.25, iou=0.7, imgsz=None, max_det=300):  # noqa: ANN001, ANN201, ARG002
        from scipy import ndimage

        out = []
        for image in images:
            rgb = image.astype(np.int16)
            chroma = rgb.max(axis=2) - rgb.min(axis=2)
            labels, _ = ndimage.label(chroma > CHROMA_THRESHOLD)
            found = []
            for k, sl in enumerate(ndimage.find_objects(labels), start=1):
                if sl is None:
                    continue
                region = labels[sl] == k
                if region.sum() < 20:  # speckle
                    continue
                score = float(chroma[sl][region].mean()) / 255
                found.append(
                    Found(
                        self.car,
                        "car",
                        score,
                        float(sl[1].start),
                        float(sl[0].start),
                        float(sl[1].stop),
                        float(sl[0].stop),
                    )
                )
            out.append(found[:max_det])
        return out
