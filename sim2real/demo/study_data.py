"""The demo study's two domains, written in layouts the service's readers ingest.

- **Source** (synthetic, clean): Virtual KITTI 2's layout, `clone` variation only, five scenes, JPEG frames
  with valid 16-bit depth maps (centimetres, 65535 = sky) and `bbox.txt` / `info.txt`. Every frame is an
  independent procedural road scene: 2–9 vehicles (car, van, truck; size ±20 %, any colour, 7–60 m away,
  hiding each other) and unlabelled distractors (poles, signs, buildings, road cones).
- **Target** (the "real weather" stand-in): BDD100K's 2018 layout, the same kind of scenes (drawn with other
  seeds) seen through `target_fog` (a fog model independent of the translator under test); every frame's
  attributes carry `weather: foggy` and the `visibility_m` it was rendered with.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from sim2real.demo.data import (
    BBOX_HEADER,
    BDD_CATEGORIES,
    _box,
    bdd2018_paths,
    bdd_label,
    vkitti2_depth,
    vkitti2_rgb,
    vkitti2_textgt,
    write_image,
    write_text,
)
from sim2real.demo.scenes import Box, Distractor, Vehicle, labelled_scene
from sim2real.demo.target_fog import TargetFog, render_target_fog

SOURCE_SCENES = ("Scene01", "Scene02", "Scene06", "Scene18", "Scene20")
LABELS = ("Car", "Car", "Car", "Van", "Truck")
Tick = Callable[[int], None]


def random_scene(rng: np.random.Generator) -> tuple[list[Vehicle], list[Distractor]]:
    """Vehicles of varied label, size, colour, lane and distance, and distractors that are not vehicles."""
    vehicles = [
        Vehicle(
            track=i,
            label=str(rng.choice(LABELS)),
            x_m=float(rng.uniform(-8, 8)),
            z_m=float(rng.uniform(7, 60)),
            colour=tuple(int(c) for c in rng.integers(15, 245, 3)),
            scale=float(rng.uniform(0.8, 1.2)),
        )
        for i in range(int(rng.integers(2, 10)))
    ]
    distractors = []
    for _ in range(int(rng.integers(2, 8))):
        side = float(rng.choice([-1.0, 1.0]))
        kind = rng.integers(0, 4)
        grey = tuple(int(c) for c in rng.integers(60, 200, 3))
        if kind == 0:  # a pole
            distractors.append(
                Distractor(side * rng.uniform(6, 12), rng.uniform(6, 70), 0.25, rng.uniform(4, 8), grey)
            )
        elif kind == 1:  # a sign on a pole
            x, z = side * rng.uniform(6, 11), rng.uniform(8, 60)
            distractors.append(Distractor(x, z, 0.15, 2.2, (120, 120, 120)))
            colour = [(200, 30, 30), (30, 60, 200), (230, 200, 30)][int(rng.integers(0, 3))]
            distractors.append(Distractor(x, z - 0.01, 0.9, 0.9, colour, elevation_m=2.2))
        elif kind == 2:  # a building
            distractors.append(
                Distractor(
                    side * rng.uniform(14, 30),
                    rng.uniform(40, 120),
                    rng.uniform(8, 25),
                    rng.uniform(6, 20),
                    grey,
                )
            )
        else:  # a road cone or a box on the road
            colour = tuple(int(c) for c in rng.integers(20, 245, 3))
            distractors.append(Distractor(rng.uniform(-6, 6), rng.uniform(6, 40), 0.5, 0.7, colour))
    return vehicles, distractors


def render_scene(width: int, height: int, seed: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray, list[Box]]:
    """One procedural road scene: RGB, depth (uint16 cm) and the visible vehicles' boxes."""
    rng = np.random.default_rng(seed)
    vehicles, distractors = random_scene(rng)
    return labelled_scene(
        width, height, vehicles, 0, noise_seed=int(rng.integers(0, 2**31 - 1)), distractors=distractors
    )


@dataclass(frozen=True)
class Written:
    """A tree the study ingests: where, as which format, with which ingest options, how many images."""

    name: str
    path: Path
    format: str
    options: dict[str, object]
    images: int


def write_source(
    root: Path, images: int, width: int, height: int, seed: int, tick: Tick | None = None
) -> Written:
    """Virtual KITTI 2 `clone` frames spread over five scenes (the ingest splits train/val by scene)."""
    per_scene = [images // len(SOURCE_SCENES) + (i < images % len(SOURCE_SCENES)) for i in range(5)]
    for s, (scene, frames) in enumerate(zip(SOURCE_SCENES, per_scene, strict=True)):
        rows, info = [BBOX_HEADER], ["trackID label model color"]
        tracks = 0
        for f in range(frames):
            rgb, depth_cm, boxes = render_scene(width, height, (seed, 1, s, f))
            write_image(vkitti2_rgb(root, scene, "clone", "Camera_0", f), width, height, rgb)
            depth_path = vkitti2_depth(root, scene, "clone", "Camera_0", f)
            depth_path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(depth_cm).save(depth_path)
            for b in boxes:
                # Track ids are per scene in Virtual KITTI 2: number every frame's vehicles apart.
                track = tracks + b.track
                info.append(f"{track} {b.label} {b.label}Model Grey")
                x1, y1, x2, y2 = (int(round(t)) for t in _box(b))
                rows.append(
                    f"{f} 0 {track} {x1} {max(x2 - 1, x1)} {y1} {max(y2 - 1, y1)} {b.pixels} "
                    f"{b.truncated:.2f} {1 - b.occluded:.2f} False"
                )
            tracks += 10
            if tick:
                tick(1)
        text = vkitti2_textgt(root, scene, "clone")
        write_text(text / "info.txt", "\n".join(info) + "\n")
        write_text(text / "bbox.txt", "\n".join(rows) + "\n")
    return Written("source", root, "vkitti2", {"reader": {"variations": ["clone"]}}, images)


def write_target(
    root: Path,
    split: str,
    images: int,
    width: int,
    height: int,
    seed: int,
    visibility_range_m: tuple[float, float] = (50.0, 500.0),
    tick: Tick | None = None,
) -> Written:
    """BDD100K-layout frames seen through the target fog, each recording its `visibility_m`."""
    labels_path, image_dir = bdd2018_paths(root, split)
    frames = []
    for i in range(images):
        rgb, depth_cm, boxes = render_scene(width, height, (seed, 2, len(split), i))
        fog = TargetFog.sample(np.random.default_rng((seed, 3, len(split), i)), visibility_range_m)
        name = f"{split}-{i:05d}.jpg"
        write_image(image_dir / name, width, height, render_target_fog(rgb, depth_cm, fog))
        frames.append(
            {
                "name": name,
                "attributes": {
                    "weather": "foggy",
                    "scene": "highway",
                    "timeofday": "daytime",
                    "visibility_m": fog.visibility_m,
                },
                "timestamp": 10000,
                "labels": [
                    bdd_label(
                        BDD_CATEGORIES[b.label],
                        _box(b),
                        occluded=b.occluded >= 0.1,
                        truncated=b.truncated > 0,
                    )
                    for b in boxes
                ],
            }
        )
        if tick:
            tick(1)
    write_text(labels_path, json.dumps(frames, indent=1))
    options: dict[str, object] = {"reader": {"split": split}}
    if split == "val":
        options["split"] = {"val_fraction": 0}
    return Written(f"target-{split}", root, "bdd100k", options, images)
