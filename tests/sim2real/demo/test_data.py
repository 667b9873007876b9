"""The demo trees are read by the service's own readers, with labels that match the pixels and valid
16-bit depth maps; the study's composition takes one frame per source."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from PIL import Image

from services.common.datasets.canonical import ReadReport
from services.common.datasets.compositions import baseline_composition
from services.common.datasets.readers import iter_dataset
from sim2real.demo.data import VKITTI2_VARIATIONS, vkitti2_depth, write_demo_data


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return write_demo_data(tmp_path_factory.mktemp("demo"), frames=7, width=192, height=64)


def read(demo, name: str, **options):
    fmt = next(r["format"] for r in demo.ingest_requests() if r["name"] == name)
    report = ReadReport()
    return list(iter_dataset(fmt, demo.trees[name], None, report, **options)), report


def test_every_tree_is_read_whole(demo) -> None:
    for request in demo.ingest_requests():
        records, report = read(demo, request["name"], **request["options"].get("reader", {}))
        assert len(records) == demo.images[request["name"]], request["name"]
        assert all(r.image_path for r in records) and sum(len(r.boxes) for r in records) > len(records)
        assert set(report.skipped) <= {"dontcare", "no_box2d"}, report.skipped


def test_vkitti2_variations_share_geometry_and_depth_is_16_bit(demo) -> None:
    records, _ = read(demo, "vkitti2")
    assert Counter(r.variation for r in records) == {v: 14 for v in VKITTI2_VARIATIONS}
    boxes = {
        (r.scene, r.variation, r.frame): sorted((b.x1, b.y1, b.x2, b.y2) for b in r.boxes) for r in records
    }
    assert all(boxes[(s, v, f)] == boxes[(s, "clone", f)] for s, v, f in boxes)
    depth = np.asarray(Image.open(vkitti2_depth(demo.trees["vkitti2"], "Scene01", "clone", "Camera_0", 3)))
    assert depth.dtype == np.uint16 and depth.shape == (64, 192)
    sky, ground = depth == 65535, depth < 65535
    assert sky[0].all() and ground[-1].all()
    # Nearer rows are nearer: depth falls towards the bottom of the frame.
    assert depth[-1].mean() < depth[depth.shape[0] // 2 + 4].mean()


def test_labels_sit_on_the_vehicles_drawn(demo) -> None:
    records, _ = read(demo, "kitti")
    record = records[0]
    img = np.asarray(Image.open(demo.trees["kitti"] / record.image_path)).astype(np.float32)
    box = max(record.boxes, key=lambda b: (b.x2 - b.x1) * (b.y2 - b.y1))
    inside = img[int(box.y1) + 1 : int(box.y2) - 1, int(box.x1) + 1 : int(box.x2) - 1]
    # A vehicle is a flat body colour with a dark band: far less varied than the whole frame.
    assert inside.std(axis=(0, 1)).mean() < img.std(axis=(0, 1)).mean()


def test_the_baseline_composition_takes_one_frame_per_source(demo) -> None:
    kitti, _ = read(demo, "kitti_tracking")
    vkitti, _ = read(demo, "vkitti2")
    composition = baseline_composition(kitti, vkitti)
    assert composition.counts_by_origin() == {
        "kitti": 2,
        **{f"vkitti2:{v}": 2 for v in VKITTI2_VARIATIONS},
    }
    assert not composition.missing


def test_bdd_weathers_and_occlusion_flags(demo) -> None:
    records, _ = read(demo, "bdd100k-val", split="val")
    assert Counter(r.weather for r in records) == {"clear": 3, "foggy": 3, "rainy": 3, "overcast": 3}
    assert sum(r.occluded_vehicles for r in records) > 0
