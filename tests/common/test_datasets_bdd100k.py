from pathlib import Path

import pytest

from services.common.datasets import bdd100k
from services.common.datasets.canonical import DatasetFormatError, ReadReport
from services.common.datasets.stats import compute_stats
from services.common.datasets.taxonomy import Taxonomy, default_taxonomy
from tests.common.dataset_fixtures import make_bdd2018, make_bdd2020

CLASSES = ["car", "van", "truck"]


def test_bdd2018_counts_skips_and_sizes(tmp_path: Path) -> None:
    make_bdd2018(tmp_path)
    report = ReadReport()
    records = list(bdd100k.iter_records(tmp_path, Taxonomy(), report, split="train"))
    assert [r.image_id for r in records] == ["a.jpg", "b.jpg", "c.jpg", "d.jpg"]
    assert [len(r.boxes) for r in records] == [3, 0, 2, 1]
    assert [r.occluded_vehicles for r in records] == [1, 0, 2, 0]
    a, b, c, d = records
    assert (a.weather, a.scene, a.timeofday) == ("clear", "city street", "daytime")
    assert (c.weather, c.timeofday) == ("rainy", "dawn/dusk")
    assert [bx.truncated for bx in a.boxes] == [False, False, True]
    assert (a.width, a.height, a.size_source, a.image_path) == (1280, 720, "default", None)
    assert (d.width, d.height, d.size_source) == (640, 360, "header")
    assert d.image_path == "bdd100k/images/100k/train/d.jpg"
    assert report.skipped == {
        "no_box2d": 2,
        "class_not_in_taxonomy:bus": 1,
        "class_not_in_taxonomy:person": 1,
        "class_not_in_taxonomy:traffic sign": 1,
        "class_not_in_taxonomy:traffic light": 1,
        "degenerate_box": 1,
    }
    assert report.notes == {"frame_without_labels": 1, "size_assumed_1280x720": 3}
    stats = compute_stats(records, CLASSES, report)
    assert stats.boxes_per_class == {"car": 5, "van": 0, "truck": 1}
    assert stats.weather == {"clear": 1, "foggy": 1, "rainy": 1, "undefined": 1}
    assert stats.timeofday == {"daytime": 2, "dawn/dusk": 1, "night": 1}
    assert {k: v for k, v in stats.occluded_vehicles.items() if v} == {"0": 2, "1": 1, "2": 1}
    assert stats.skipped == report.to_dict()["skipped"]


def test_bdd2018_include_bus(tmp_path: Path) -> None:
    make_bdd2018(tmp_path)
    tax = default_taxonomy(include_bus=True)
    records = list(bdd100k.iter_records(tmp_path, tax))
    assert [tax.classes[b.cls] for b in records[0].boxes] == ["car", "car", "truck", "bus"]


def test_bdd2020_categories(tmp_path: Path) -> None:
    make_bdd2020(tmp_path)
    report = ReadReport()
    records = list(bdd100k.iter_records(tmp_path, None, report))
    assert [r.image_id for r in records] == ["e.jpg", "f.jpg", "g.jpg"]
    assert [len(r.boxes) for r in records] == [2, 0, 1]
    assert [r.occluded_vehicles for r in records] == [1, 0, 0]
    assert report.skipped == {
        "class_not_in_taxonomy:other vehicle": 2,
        "class_not_in_taxonomy:trailer": 1,
        "class_not_in_taxonomy:pedestrian": 1,
        "class_not_in_taxonomy:bicycle": 1,
        "class_not_in_taxonomy:motorcycle": 1,
    }
    assert report.notes == {"frame_without_labels": 1, "size_assumed_1280x720": 3}

    report = ReadReport()
    tax = default_taxonomy(other_vehicle_as="truck")
    records = list(bdd100k.iter_records(tmp_path / "det_20" / "det_train.json", tax, report))
    assert [r.occluded_vehicles for r in records] == [1, 0, 1]
    assert compute_stats(records, tax.classes).boxes_per_class == {"car": 2, "van": 0, "truck": 3}
    assert "class_not_in_taxonomy:other vehicle" not in report.skipped


def test_bdd_truncated_json_is_a_format_error(tmp_path: Path) -> None:
    make_bdd2018(tmp_path)
    f = tmp_path / "bdd100k" / "labels" / "bdd100k_labels_images_train.json"
    f.write_text(f.read_text()[:-300])
    with pytest.raises(DatasetFormatError, match="bdd100k_labels_images_train.json"):
        list(bdd100k.iter_records(tmp_path))


def test_bdd_bad_box_names_frame(tmp_path: Path) -> None:
    f = tmp_path / "det_val.json"
    f.write_text('[{"name": "x.jpg", "labels": [{"category": "car", "box2d": {"x1": 1, "y1": 2, "x2": 3}}]}]')
    with pytest.raises(DatasetFormatError, match=r"frame #0 \(x.jpg\)"):
        list(bdd100k.iter_records(tmp_path, split="val"))


def test_bdd_missing_split_file(tmp_path: Path) -> None:
    make_bdd2018(tmp_path)
    with pytest.raises(ValueError, match="bdd100k_labels_images_val.json"):
        list(bdd100k.iter_records(tmp_path, split="val"))
