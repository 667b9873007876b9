"""`sim2real demo data DIR`: small KITTI, KITTI tracking, Virtual KITTI 2 and BDD100K trees in their
original layouts, from one synthetic road scene generator, so the whole study runs without the real
datasets.

The layout helpers here (file names, label line formats) are the one definition the dataset readers'
tests build their edge cases with (tests/common/dataset_fixtures.py).

Virtual KITTI 2 scenes clone KITTI tracking sequences (Scene01 ↔ 0001, Scene02 ↔ 0002), as in the real
datasets: a scene's vehicles are the sequence's, every variation shows the same geometry in another look,
and depth maps are valid 16-bit PNGs in centimetres (65535 = sky). BDD100K images carry weather, scene and
time-of-day attributes with a matching look (fog, rain, overcast), and occlusion flags.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from sim2real.demo.scenes import Box, labelled_scene, random_vehicles

# ---- layouts -------------------------------------------------------------------------------------------

VKITTI2_VERSION = "vkitti_2.0.3"
VKITTI2_VARIATIONS = ("clone", "fog", "morning", "overcast", "rain", "sunset")
SCENE_TO_SEQUENCE = {"Scene01": "0001", "Scene02": "0002"}
BBOX_HEADER = (
    "frame cameraID trackID left right top bottom number_pixels truncation_ratio occupancy_ratio isMoving"
)
DONTCARE = "DontCare -1 -1 -10 503.89 169.71 590.61 190.13 -1 -1 -1 -1000 -1000 -1000 -10"


def write_text(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def write_image(path: Path, width: int, height: int, pixels: np.ndarray | None = None) -> Path:
    """`pixels` saved at `path` (format from the suffix), or a flat image of the given size."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if pixels is None:
        Image.new("RGB", (width, height), (90, 90, 90)).save(path)
    else:
        Image.fromarray(pixels).save(
            path, **({"quality": 92} if path.suffix.lower() in (".jpg", ".jpeg") else {})
        )
    return path


def kitti_line(label: str, trunc: float, occ: int, box: tuple[float, float, float, float]) -> str:
    """One KITTI label line (object and tracking share it after the tracking's frame and track columns)."""
    x1, y1, x2, y2 = box
    dims = "1.65 1.67 3.64 -0.65 1.71 46.70 -1.59"
    return f"{label} {trunc:.2f} {occ} -1.58 {x1:.2f} {y1:.2f} {x2:.2f} {y2:.2f} {dims}"


def kitti_object_paths(root: Path, index: int) -> tuple[Path, Path]:
    """(image, label) of KITTI object detection's `training/image_2`, `training/label_2`."""
    t = root / "training"
    return t / "image_2" / f"{index:06d}.png", t / "label_2" / f"{index:06d}.txt"


def kitti_tracking_paths(root: Path, sequence: str, frame: int) -> tuple[Path, Path]:
    """(image, sequence label file) of KITTI tracking's `training/image_02/<seq>/`, `training/label_02/`."""
    t = root / "training"
    return t / "image_02" / sequence / f"{frame:06d}.png", t / "label_02" / f"{sequence}.txt"


def vkitti2_rgb(root: Path, scene: str, variation: str, camera: str, frame: int) -> Path:
    base = root / f"{VKITTI2_VERSION}_rgb" / scene / variation / "frames" / "rgb" / camera
    return base / f"rgb_{frame:05d}.jpg"


def vkitti2_depth(root: Path, scene: str, variation: str, camera: str, frame: int) -> Path:
    base = root / f"{VKITTI2_VERSION}_depth" / scene / variation / "frames" / "depth" / camera
    return base / f"depth_{frame:05d}.png"


def vkitti2_textgt(root: Path, scene: str, variation: str) -> Path:
    """The folder holding a variation's `info.txt` and `bbox.txt`."""
    return root / f"{VKITTI2_VERSION}_textgt" / scene / variation


def bdd2018_paths(root: Path, split: str) -> tuple[Path, Path]:
    """(label JSON, image folder) of BDD100K's 2018 layout under `root`."""
    base = root / "bdd100k"
    return base / "labels" / f"bdd100k_labels_images_{split}.json", base / "images" / "100k" / split


def bdd_label(
    category: str, box: tuple[float, float, float, float] | None, **attributes: object
) -> dict[str, object]:
    """One BDD100K label: a box2d, or (without a box) a drivable-area polygon."""
    label: dict[str, object] = {
        "category": category,
        "attributes": {"occluded": False, "truncated": False, **attributes},
    }
    if box is not None:
        label["box2d"] = dict(zip(("x1", "y1", "x2", "y2"), box, strict=True))
    else:
        label["poly2d"] = [{"vertices": [[0.0, 700.0], [640.0, 400.0]], "types": "LL", "closed": False}]
    return label


# ---- looks ---------------------------------------------------------------------------------------------


def apply_look(rgb: np.ndarray, depth_cm: np.ndarray, look: str, seed: int = 0) -> np.ndarray:
    """A variation's look, rendered crudely (the demo's stand-in for Virtual KITTI 2's own renders and
    BDD100K's weather): fog thickens with depth, rain darkens and streaks, overcast flattens, morning and
    sunset tint."""
    img = rgb.astype(np.float32)
    depth_m = np.where(depth_cm >= 65535, 1000.0, depth_cm / 100.0)[..., None]
    if look in ("fog", "foggy"):
        t = np.exp(-depth_m / 40.0)
        img = img * t + 200.0 * (1 - t)
    elif look in ("rain", "rainy"):
        img = img * 0.7 + np.array([10, 12, 20])
        rng = np.random.default_rng(seed)
        h, w = depth_cm.shape
        for _ in range(w // 3):
            x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
            img[y : y + max(h // 12, 3), x] = 190
    elif look == "overcast":
        grey = img.mean(axis=2, keepdims=True)
        img = 0.35 * img + 0.65 * grey * 0.9 + 10
    elif look == "morning":
        img = img * np.array([1.1, 1.0, 0.85]) + 12
    elif look == "sunset":
        img = img * np.array([1.05, 0.8, 0.6])
    return np.clip(img, 0, 255).astype(np.uint8)


# ---- the demo trees ------------------------------------------------------------------------------------


def _kitti_occlusion(box: Box) -> int:
    """KITTI's occlusion state: 0 fully visible, 1 partly, 2 largely occluded."""
    return 0 if box.occluded < 0.1 else 1 if box.occluded < 0.5 else 2


def _box(b: Box) -> tuple[float, float, float, float]:
    return (round(b.x1, 2), round(b.y1, 2), round(b.x2, 2), round(b.y2, 2))


@dataclass
class DemoData:
    """Where each tree went, with the format to ingest it as and its reader options."""

    root: Path
    trees: dict[str, Path] = field(default_factory=dict)
    images: dict[str, int] = field(default_factory=dict)

    def ingest_requests(self) -> list[dict[str, object]]:
        """The POST /v1/datasets bodies (name, format, uri, options) that ingest every tree."""
        out = []
        for name, path in self.trees.items():
            fmt = "bdd100k" if name.startswith("bdd100k") else name.split("-")[0]
            options: dict[str, object] = {}
            if name == "bdd100k-val":
                options = {"reader": {"split": "val"}, "split": {"val_fraction": 0}}
            elif name == "bdd100k-train":
                options = {"reader": {"split": "train"}}
            out.append({"name": name, "format": fmt, "uri": path.resolve().as_uri(), "options": options})
        return out


def write_kitti_tracking(
    root: Path, frames: int, width: int, height: int, seed: int, vehicles_per_scene: int = 6
) -> int:
    """KITTI tracking sequences 0001 and 0002 (the ones Scene01 and Scene02 clone)."""
    count = 0
    for sequence in SCENE_TO_SEQUENCE.values():
        vehicles = random_vehicles(np.random.default_rng((seed, int(sequence))), vehicles_per_scene)
        lines = []
        for f in range(frames):
            rgb, _, boxes = labelled_scene(width, height, vehicles, f, noise_seed=seed * 1000 + f + 7)
            image, labels = kitti_tracking_paths(root, sequence, f)
            write_image(image, width, height, rgb)
            count += 1
            for b in boxes:
                lines.append(
                    f"{f} {b.track} " + kitti_line(b.label, b.truncated, _kitti_occlusion(b), _box(b))
                )
        write_text(labels, "\n".join(lines) + "\n")
    return count


def write_kitti_object(root: Path, images: int, width: int, height: int, seed: int) -> int:
    """KITTI object detection: `training/image_2` and `training/label_2`, one scene per image."""
    for i in range(images):
        vehicles = random_vehicles(np.random.default_rng((seed, 100 + i)), 5)
        rgb, _, boxes = labelled_scene(width, height, vehicles, 0, noise_seed=seed + i)
        image, labels = kitti_object_paths(root, i)
        write_image(image, width, height, rgb)
        lines = [kitti_line(b.label, b.truncated, _kitti_occlusion(b), _box(b)) for b in boxes]
        write_text(labels, "\n".join([*lines, DONTCARE]) + "\n")
    return images


def write_vkitti2(
    root: Path, frames: int, width: int, height: int, seed: int, vehicles_per_scene: int = 6
) -> int:
    """Virtual KITTI 2 (archive layout: rgb, depth and textgt folders) for Scene01 and Scene02, every
    variation, Camera_0: JPEG frames, 16-bit depth PNGs, info.txt and bbox.txt."""
    count = 0
    for scene, sequence in SCENE_TO_SEQUENCE.items():
        vehicles = random_vehicles(np.random.default_rng((seed, int(sequence))), vehicles_per_scene)
        info = ["trackID label model color"] + [f"{v.track} {v.label} {v.label}Model Grey" for v in vehicles]
        rendered = [
            labelled_scene(width, height, vehicles, f, noise_seed=seed * 1000 + f) for f in range(frames)
        ]
        for variation in VKITTI2_VARIATIONS:
            rows = [BBOX_HEADER]
            for f, (rgb, depth_cm, boxes) in enumerate(rendered):
                look = apply_look(rgb, depth_cm, variation, seed=f) if variation != "clone" else rgb
                write_image(vkitti2_rgb(root, scene, variation, "Camera_0", f), width, height, look)
                path = vkitti2_depth(root, scene, variation, "Camera_0", f)
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(depth_cm).save(path)
                count += 1
                for b in boxes:
                    x1, y1, x2, y2 = (int(round(t)) for t in _box(b))
                    rows.append(
                        f"{f} 0 {b.track} {x1} {max(x2 - 1, x1)} {y1} {max(y2 - 1, y1)} {b.pixels} "
                        f"{b.truncated:.2f} {1 - b.occluded:.2f} True"
                    )
            text = vkitti2_textgt(root, scene, variation)
            write_text(text / "info.txt", "\n".join(info) + "\n")
            write_text(text / "bbox.txt", "\n".join(rows) + "\n")
    return count


BDD_WEATHERS = ("clear", "foggy", "rainy", "overcast")
BDD_CATEGORIES = {"Car": "car", "Van": "car", "Truck": "truck"}


def write_bdd100k(root: Path, split: str, images: int, width: int, height: int, seed: int) -> int:
    """BDD100K 2018 layout for one split: weathers cycle through clear, foggy, rainy and overcast (the
    images look it), occlusion flags from how much of each vehicle nearer ones hide."""
    labels_path, image_dir = bdd2018_paths(root, split)
    frames = []
    for i in range(images):
        vehicles = random_vehicles(np.random.default_rng((seed, 500 + i, len(split))), 4 + i % 8)
        rgb, depth_cm, boxes = labelled_scene(width, height, vehicles, 0, noise_seed=seed + 31 * i)
        weather = BDD_WEATHERS[i % len(BDD_WEATHERS)]
        name = f"{split}-{i:04d}.jpg"
        write_image(image_dir / name, width, height, apply_look(rgb, depth_cm, weather, seed=i))
        frames.append(
            {
                "name": name,
                "attributes": {"weather": weather, "scene": "highway", "timeofday": "daytime"},
                "timestamp": 10000,
                "labels": [
                    bdd_label(
                        BDD_CATEGORIES[b.label],
                        _box(b),
                        occluded=b.occluded >= 0.1,
                        truncated=b.truncated > 0,
                    )
                    for b in boxes
                ]
                + [bdd_label("drivable area", None)],
            }
        )
    write_text(labels_path, json.dumps(frames, indent=1))
    return images


def write_demo_data(
    root: str | Path, frames: int = 7, width: int = 320, height: int = 96, seed: int = 0
) -> DemoData:
    """Write every demo tree under `root`: `kitti/`, `kitti_tracking/`, `vkitti2/`, `bdd100k-train/` and
    `bdd100k-val/`. `frames` per KITTI tracking sequence and Virtual KITTI 2 scene and variation (7 gives
    the study's composition one frame per source); BDD100K frames are `width` wide at 16:9."""
    if frames < 1 or width < 64 or height < 32:
        raise ValueError("frames must be at least 1, width at least 64 and height at least 32")
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    out = DemoData(root=root)
    bdd_h = width * 9 // 16
    writers = {
        "kitti": lambda p: write_kitti_object(p, 8, width, height, seed),
        "kitti_tracking": lambda p: write_kitti_tracking(p, frames, width, height, seed),
        "vkitti2": lambda p: write_vkitti2(p, frames, width, height, seed),
        "bdd100k-train": lambda p: write_bdd100k(p, "train", 12, width, bdd_h, seed),
        "bdd100k-val": lambda p: write_bdd100k(p, "val", 12, width, bdd_h, seed + 1),
    }
    for name, write in writers.items():
        path = root / name
        out.images[name] = write(path)
        out.trees[name] = path
    return out
