"""Small datasets with pixels for detector and evaluator tests: coloured boxes on a textured background."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

COLOURS = {"car": (220, 40, 40), "van": (40, 200, 40), "truck": (40, 60, 220)}


def _scene(
    rng: np.random.Generator, w: int, h: int, boxes: list[tuple[str, tuple[int, int, int, int]]]
) -> Image.Image:
    img = rng.integers(60, 120, (h, w, 3), dtype=np.uint8)
    for name, (x1, y1, x2, y2) in boxes:
        img[y1:y2, x1:x2] = COLOURS[name]
    return Image.fromarray(img)


def random_boxes(
    rng: np.random.Generator, w: int, h: int, n: int
) -> list[tuple[str, tuple[int, int, int, int]]]:
    out = []
    for _ in range(n):
        bw, bh = int(rng.integers(w // 6, w // 3)), int(rng.integers(h // 6, h // 3))
        x, y = int(rng.integers(0, w - bw)), int(rng.integers(0, h - bh))
        out.append((str(rng.choice(list(COLOURS))), (x, y, x + bw, y + bh)))
    return out


def make_yolo_train(root: Path, n_train: int = 8, n_val: int = 4, size: int = 160, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    names = list(COLOURS)
    for split, n in (("train", n_train), ("val", n_val)):
        for i in range(n):
            boxes = random_boxes(rng, size, size, int(rng.integers(1, 4)))
            (root / "images" / split).mkdir(parents=True, exist_ok=True)
            (root / "labels" / split).mkdir(parents=True, exist_ok=True)
            _scene(rng, size, size, boxes).save(root / "images" / split / f"{split}_{i:03d}.png")
            lines = [
                f"{names.index(c)} {(x1 + x2) / 2 / size:.6f} {(y1 + y2) / 2 / size:.6f} "
                f"{(x2 - x1) / size:.6f} {(y2 - y1) / size:.6f}"
                for c, (x1, y1, x2, y2) in boxes
            ]
            (root / "labels" / split / f"{split}_{i:03d}.txt").write_text("\n".join(lines) + "\n")
    (root / "data.yaml").write_text(
        "path: .\ntrain: images/train\nval: images/val\nnames: [car, van, truck]\n"
    )


# Occluded vehicles per image: the bucket edges 5 and 10 and their neighbours.
OCCLUDED = [0, 5, 6, 10, 11]


def make_bdd_eval(root: Path, width: int = 320, height: int = 192, seed: int = 1) -> list[dict]:
    """BDD100K 2018 layout with images; frame i has OCCLUDED[i] occluded cars plus one visible truck."""
    rng = np.random.default_rng(seed)
    frames = []
    img_dir = root / "bdd100k" / "images" / "100k" / "val"
    img_dir.mkdir(parents=True)
    for i, occ in enumerate(OCCLUDED):
        labels, boxes = [], []
        for k in range(occ + 1):
            cat = "truck" if k == occ else "car"
            x1, y1 = 10 + 25 * (k % 12), 10 + 60 * (k // 12)
            box = (x1, y1, x1 + 22, y1 + 40)
            boxes.append((cat, box))
            labels.append(
                {
                    "category": cat,
                    "attributes": {"occluded": cat == "car", "truncated": False},
                    "box2d": dict(zip(("x1", "y1", "x2", "y2"), map(float, box), strict=True)),
                }
            )
        labels.append({"category": "lane", "poly2d": [{"vertices": [[0, 0], [5, 5]]}]})
        name = f"frame-{i:04d}.jpg"
        _scene(rng, width, height, boxes).save(img_dir / name, quality=95)
        frames.append(
            {
                "name": name,
                "attributes": {
                    "weather": "foggy" if i % 2 else "clear",
                    "timeofday": "daytime",
                    "scene": "highway",
                },
                "labels": labels,
            }
        )
    label_dir = root / "bdd100k" / "labels"
    label_dir.mkdir(parents=True)
    (label_dir / "bdd100k_labels_images_val.json").write_text(json.dumps(frames))
    return frames


def write_predictions(
    folder: Path, frames: list[dict], width: int, height: int, *, drop_trucks: bool = False
) -> None:
    """Perfect predictions (each ground-truth box at conf 0.9), optionally missing every truck."""
    classes = {"car": 0, "van": 1, "truck": 2}
    folder.mkdir(parents=True, exist_ok=True)
    for f in frames:
        lines = []
        for lab in f["labels"]:
            if "box2d" not in lab or (drop_trucks and lab["category"] == "truck"):
                continue
            b = lab["box2d"]
            cx, cy = (b["x1"] + b["x2"]) / 2 / width, (b["y1"] + b["y2"]) / 2 / height
            w, h = (b["x2"] - b["x1"]) / width, (b["y2"] - b["y1"]) / height
            lines.append(f"{classes[lab['category']]} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f} 0.9")
        (folder / f"{f['name'].rsplit('.', 1)[0]}.txt").write_text("\n".join(lines) + "\n")
