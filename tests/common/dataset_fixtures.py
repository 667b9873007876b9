"""Writers of tiny datasets in their original layouts, with the quirks the readers must handle.

Each writer returns nothing; the expected counts live in the tests next to the assertions.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

from PIL import Image

# The layouts' file names and line formats are defined once, with the demo data.
from sim2real.demo.data import BBOX_HEADER, DONTCARE, kitti_line, vkitti2_depth, vkitti2_rgb, write_image
from sim2real.demo.data import bdd_label as _label
from sim2real.demo.data import write_text as _write

__all__ = ["BBOX_HEADER", "DONTCARE", "kitti_line", "write_image"]


def make_kitti(root: Path) -> None:
    """Two images of different sizes, DontCare lines, classes outside the taxonomy, a label without image.

    000000 (1242x375): Car occ0, Van occ1, Pedestrian, DontCare, Truck occ2 (height 6 px)
    000001 (1224x370): Car occ3, Car occ0, DontCare, Cyclist
    000002: label only (image missing)
    """
    t = root / "training"
    write_image(t / "image_2" / "000000.png", 1242, 375)
    write_image(t / "image_2" / "000001.png", 1224, 370)
    _write(
        t / "label_2" / "000000.txt",
        "\n".join(
            [
                kitti_line("Car", 0.0, 0, (587.01, 173.33, 614.12, 200.12)),
                kitti_line("Van", 0.0, 1, (100.0, 150.0, 200.0, 230.0)),
                kitti_line("Pedestrian", 0.0, 0, (700.0, 150.0, 720.0, 210.0)),
                DONTCARE,
                kitti_line("Truck", 0.5, 2, (900.0, 180.0, 960.0, 186.0)),
            ]
        )
        + "\n",
    )
    _write(
        t / "label_2" / "000001.txt",
        "\n".join(
            [
                kitti_line("Car", 0.0, 3, (10.0, 180.0, 110.0, 260.0)),
                kitti_line("Car", 0.3, 0, (1100.0, 170.0, 1224.0, 250.0)),
                DONTCARE,
                kitti_line("Cyclist", 0.0, 1, (400.0, 160.0, 430.0, 220.0)),
                "",
            ]
        ),
    )
    _write(t / "label_2" / "000002.txt", kitti_line("Car", 0.0, 0, (1.0, 2.0, 30.0, 40.0)) + "\n")


def make_kitti_tracking(root: Path) -> None:
    """Sequence 0001: images for frames 0-2, labels for frames 0, 1 and 5 (frame 5 has no image).

    frame 0: Car track 0 (occ 1), Van track 1, DontCare (track -1); frame 1: Car track 0;
    frame 2: no labels; frame 5: Truck track 2 (image missing).
    """
    t = root / "training"
    for f in range(3):
        write_image(t / "image_02" / "0001" / f"{f:06d}.png", 1242, 375)
    lines = [
        "0 0 " + kitti_line("Car", 0.0, 1, (10.0, 20.0, 110.0, 120.0)),
        "0 1 " + kitti_line("Van", 0.0, 0, (200.0, 20.0, 300.0, 120.0)),
        "0 -1 " + DONTCARE,
        "1 0 " + kitti_line("Car", 0.0, 0, (12.0, 20.0, 112.0, 120.0)),
        "5 2 " + kitti_line("Truck", 0.0, 0, (12.0, 20.0, 112.0, 120.0)),
    ]
    _write(t / "label_02" / "0001.txt", "\n".join(lines) + "\n")


def make_vkitti2(root: Path) -> None:
    """Archive layout: rgb, depth and textgt under separate top-level folders.

    Scene01/clone (info unsorted with gaps: 3 Van, 0 Car, 7 Truck, 5 Tram), both cameras in bbox.txt:
      Camera_0 frame 0: Car (occ 0.9), Van (occ 0.3 -> occluded)
      Camera_1 frame 0: Car (occ 0.8), Truck (occ 0.45 -> occluded, truncation 0.2)
      Camera_0 frame 1: Car (occ 0.95), Tram (not in taxonomy), track 9 (not in info.txt)
      Camera_1 frame 1: Truck 4 px high (occ 1.0)
      Camera_0 frame 2: rgb only, no boxes
    Scene02/fog (textgt only, no rgb): track 0 is a Truck here (occ 0.9), track 2 Car (occ 0.1 -> occluded)
    rgb for Scene01/clone Camera_0 frames 0-2, Camera_1 frames 0-1; depth for Camera_0 frames 0-1.
    """
    for f in range(3):
        write_image(vkitti2_rgb(root, "Scene01", "clone", "Camera_0", f), 1242, 375)
    for f in range(2):
        write_image(vkitti2_rgb(root, "Scene01", "clone", "Camera_1", f), 1242, 375)
        write_image(vkitti2_depth(root, "Scene01", "clone", "Camera_0", f), 1242, 375)
    text = root / "vkitti_2.0.3_textgt"
    _write(
        text / "Scene01" / "clone" / "info.txt",
        "trackID label model color\n3 Van Van1 Red\n0 Car Sedan4Door Black\n"
        "7 Truck Truck2 White\n5 Tram T Blue\n",
    )
    _write(
        text / "Scene01" / "clone" / "bbox.txt",
        "\n".join(
            [
                BBOX_HEADER,
                "0 0 0 100 199 50 99 4000 0.0 0.9 True",
                "0 0 3 300 349 60 89 500 0.0 0.3 False",
                "0 1 0 90 189 50 99 4000 0.0 0.8 True",
                "0 1 7 10 59 10 49 1000 0.2 0.45 False",
                "1 0 0 102 201 50 99 4000 0.0 0.95 True",
                "1 0 5 400 449 60 99 900 0.0 0.7 False",
                "1 0 9 500 549 60 99 900 0.0 0.7 False",
                "1 1 7 0 9 0 3 40 0.0 1.0 False",
            ]
        )
        + "\n",
    )
    _write(
        text / "Scene02" / "fog" / "info.txt",
        "trackID label model color\n2 Car Hatchback Blue\n0 Truck Big Red\n",
    )
    _write(
        text / "Scene02" / "fog" / "bbox.txt",
        "\n".join(
            [BBOX_HEADER, "0 0 0 10 109 10 59 5000 0.0 0.9 True", "0 0 2 200 239 30 59 100 0.0 0.1 False"]
        )
        + "\n",
    )


def make_vkitti2_sequence(
    root: Path, frames: int, width: int = 1242, height: int = 375, distinct: int = 4
) -> None:
    """One Virtual KITTI 2 sequence (Scene01/clone, Camera_0) of `frames` rendered road scenes with depth
    maps and one car per frame: what a dataset translation reads. `distinct` scenes repeat, so a long
    sequence costs little to make."""
    from tests.scenes import png_bytes, road_scene

    rgb = root / "vkitti_2.0.3_rgb" / "Scene01" / "clone" / "frames" / "rgb" / "Camera_0"
    depth = root / "vkitti_2.0.3_depth" / "Scene01" / "clone" / "frames" / "depth" / "Camera_0"
    rgb.mkdir(parents=True, exist_ok=True)
    depth.mkdir(parents=True, exist_ok=True)
    scenes = [road_scene(width, height, seed=s) for s in range(min(distinct, frames))]
    encoded = []
    for image, depth_cm in scenes:
        buf = io.BytesIO()
        Image.fromarray(image).save(buf, "JPEG", quality=95)
        encoded.append((buf.getvalue(), png_bytes(depth_cm)))
    for f in range(frames):
        jpeg, depth_png = encoded[f % len(encoded)]
        (rgb / f"rgb_{f:05d}.jpg").write_bytes(jpeg)
        (depth / f"depth_{f:05d}.png").write_bytes(depth_png)
    text = root / "vkitti_2.0.3_textgt" / "Scene01" / "clone"
    _write(text / "info.txt", "trackID label model color\n0 Car Sedan4Door Black\n")
    lines = [
        f"{f} 0 0 {width // 3} {width // 3 + 99} {height // 2} {height // 2 + 49} 4000 0.0 0.9 True"
        for f in range(frames)
    ]
    _write(text / "bbox.txt", "\n".join([BBOX_HEADER, *lines]) + "\n")


def make_bdd2018(root: Path) -> None:
    """2018 layout: ``bdd100k/labels/bdd100k_labels_images_train.json`` + ``bdd100k/images/100k/train``.

    a.jpg clear/city street/daytime: car (occluded), car, truck (truncated), bus, person, traffic sign,
          lane (no box2d), drivable area (no box2d)
    b.jpg foggy/highway/night: no ``labels`` key
    c.jpg rainy/residential/dawn/dusk: car (occluded), car (occluded), traffic light, car with x2 < x1
    d.jpg (image file 640x360 present) undefined weather: car
    """
    frames = [
        {
            "name": "a.jpg",
            "attributes": {"weather": "clear", "scene": "city street", "timeofday": "daytime"},
            "timestamp": 10000,
            "labels": [
                _label("car", (10.0, 20.0, 110.0, 90.0), occluded=True),
                _label("car", (200.0, 300.0, 260.0, 340.0)),
                _label("truck", (400.0, 200.0, 600.0, 380.0), truncated=True),
                _label("bus", (700.0, 200.0, 900.0, 380.0)),
                _label("person", (50.0, 300.0, 70.0, 360.0)),
                _label("traffic sign", (1000.0, 100.0, 1030.0, 130.0)),
                {"category": "lane", "attributes": {"laneDirection": "parallel"}, "poly2d": []},
                _label("drivable area", None),
            ],
        },
        {"name": "b.jpg", "attributes": {"weather": "foggy", "scene": "highway", "timeofday": "night"}},
        {
            "name": "c.jpg",
            "attributes": {"weather": "rainy", "scene": "residential", "timeofday": "dawn/dusk"},
            "labels": [
                _label("car", (1.0, 1.0, 51.0, 41.0), occluded=True),
                _label("car", (100.0, 1.0, 151.0, 41.0), occluded=True),
                _label("traffic light", (300.0, 10.0, 310.0, 30.0)),
                _label("car", (500.0, 100.0, 480.0, 150.0)),
            ],
        },
        {
            "name": "d.jpg",
            "attributes": {"weather": "undefined", "scene": "highway", "timeofday": "daytime"},
            "labels": [_label("car", (5.0, 5.0, 65.0, 45.0))],
        },
    ]
    _write(root / "bdd100k" / "labels" / "bdd100k_labels_images_train.json", json.dumps(frames))
    write_image(root / "bdd100k" / "images" / "100k" / "train" / "d.jpg", 640, 360)


def make_bdd2020(root: Path) -> None:
    """2020 det_20 layout: ``det_20/det_train.json`` (no images).

    e.jpg overcast/daytime: car, truck (occluded), other vehicle, trailer, pedestrian, bicycle, motorcycle
    f.jpg snowy/night: no labels key
    g.jpg clear/daytime: other vehicle (occluded), car (crowd)
    """
    frames = [
        {
            "name": "e.jpg",
            "attributes": {"weather": "overcast", "scene": "highway", "timeofday": "daytime"},
            "labels": [
                {
                    "id": "1",
                    "category": "car",
                    "attributes": {"occluded": False, "truncated": False, "crowd": False},
                    "box2d": {"x1": 1.0, "y1": 2.0, "x2": 101.0, "y2": 82.0},
                },
                {
                    "id": "2",
                    "category": "truck",
                    "attributes": {"occluded": True, "truncated": False, "crowd": False},
                    "box2d": {"x1": 200.0, "y1": 2.0, "x2": 401.0, "y2": 182.0},
                },
                {
                    "id": "3",
                    "category": "other vehicle",
                    "attributes": {"occluded": False, "truncated": False, "crowd": False},
                    "box2d": {"x1": 500.0, "y1": 2.0, "x2": 601.0, "y2": 82.0},
                },
                {
                    "id": "4",
                    "category": "trailer",
                    "attributes": {"occluded": False, "truncated": True, "crowd": False},
                    "box2d": {"x1": 700.0, "y1": 2.0, "x2": 801.0, "y2": 82.0},
                },
                {
                    "id": "5",
                    "category": "pedestrian",
                    "attributes": {"occluded": False, "truncated": False, "crowd": False},
                    "box2d": {"x1": 900.0, "y1": 2.0, "x2": 921.0, "y2": 82.0},
                },
                {
                    "id": "6",
                    "category": "bicycle",
                    "attributes": {},
                    "box2d": {"x1": 1.0, "y1": 300.0, "x2": 40.0, "y2": 340.0},
                },
                {
                    "id": "7",
                    "category": "motorcycle",
                    "attributes": {},
                    "box2d": {"x1": 50.0, "y1": 300.0, "x2": 90.0, "y2": 340.0},
                },
            ],
        },
        {"name": "f.jpg", "attributes": {"weather": "snowy", "scene": "city street", "timeofday": "night"}},
        {
            "name": "g.jpg",
            "attributes": {"weather": "clear", "scene": "city street", "timeofday": "daytime"},
            "labels": [
                {
                    "id": "8",
                    "category": "other vehicle",
                    "attributes": {"occluded": True, "truncated": False, "crowd": False},
                    "box2d": {"x1": 10.0, "y1": 10.0, "x2": 60.0, "y2": 50.0},
                },
                {
                    "id": "9",
                    "category": "car",
                    "attributes": {"occluded": False, "truncated": False, "crowd": True},
                    "box2d": {"x1": 100.0, "y1": 10.0, "x2": 160.0, "y2": 50.0},
                },
            ],
        },
    ]
    _write(root / "det_20" / "det_train.json", json.dumps(frames, indent=1))


def make_yolo(root: Path, names_as_dict: bool = False) -> None:
    """``data.yaml`` with names car, person, truck (list or dict form), path-relative splits.

    train/x.jpg (100x50): car box, person box, truck box; train/y.png (200x100): car box
    val/z.jpg (64x32): no label file (background image)
    """
    names = (
        "names:\n  0: car\n  1: person\n  2: truck\n" if names_as_dict else "names: [car, person, truck]\n"
    )
    _write(root / "data.yaml", f"path: .\ntrain: images/train\nval: images/val\n{names}")
    write_image(root / "images" / "train" / "x.jpg", 100, 50)
    write_image(root / "images" / "train" / "y.png", 200, 100)
    write_image(root / "images" / "val" / "z.jpg", 64, 32)
    _write(
        root / "labels" / "train" / "x.txt",
        "0 0.500000 0.500000 0.200000 0.400000\n1 0.100000 0.100000 0.100000 0.100000\n2 0.8 0.5 0.2 0.6\n",
    )
    _write(root / "labels" / "train" / "y.txt", "0 0.25 0.25 0.5 0.5\n")
