from pathlib import Path

import pytest

from services.common.datasets import kitti, kitti_tracking
from services.common.datasets.canonical import DatasetFormatError, ReadReport
from services.common.datasets.stats import compute_stats
from services.common.datasets.taxonomy import Taxonomy, default_taxonomy
from tests.common.dataset_fixtures import DONTCARE, kitti_line, make_kitti, make_kitti_tracking


@pytest.fixture
def kitti_root(tmp_path: Path) -> Path:
    make_kitti(tmp_path)
    return tmp_path


def test_kitti_counts_sizes_and_skips(kitti_root: Path) -> None:
    report = ReadReport()
    records = list(kitti.iter_records(kitti_root, Taxonomy(), report))
    assert [r.image_id for r in records] == ["000000", "000001"]
    assert [(r.width, r.height) for r in records] == [(1242, 375), (1224, 370)]
    assert records[0].image_path == "training/image_2/000000.png"
    assert [r.frame for r in records] == [0, 1]
    assert report.skipped == {
        "dontcare": 2,
        "class_not_in_taxonomy:Pedestrian": 1,
        "class_not_in_taxonomy:Cyclist": 1,
        "missing_image": 1,
    }
    assert (report.images, report.boxes) == (2, 5)
    # 000000: Van occ1 + Truck occ2; 000001: Car occ3 (unknown counts as occluded)
    assert [r.occluded_vehicles for r in records] == [2, 1]
    first = records[0].boxes[0]
    assert (first.cls, first.x1, first.y1, first.x2, first.y2) == (0, 587.01, 173.33, 614.12, 200.12)
    assert records[1].boxes[1].truncated == pytest.approx(0.3)
    stats = compute_stats(records, ["car", "van", "truck"], report)
    assert stats.boxes_per_class == {"car": 3, "van": 1, "truck": 1}
    assert stats.weather == {"unknown": 2}


def test_kitti_min_box_height_and_merged_van(kitti_root: Path) -> None:
    report = ReadReport()
    tax = default_taxonomy(merge_van_into_car=True, min_box_height=10)
    records = list(kitti.iter_records(kitti_root, tax, report))
    assert report.skipped["box_too_small"] == 1  # the 6 px truck
    assert [b.cls for b in records[0].boxes] == [0, 0]  # car and the van merged into car
    assert tax.classes == ["car", "truck"]


def test_kitti_malformed_line_names_file_and_line(kitti_root: Path) -> None:
    label = kitti_root / "training" / "label_2" / "000001.txt"
    lines = [kitti_line("Car", 0, 0, (1, 2, 30, 40)), DONTCARE, "Car 0.00 0 -1.58 1 2 30"]
    label.write_text("\n".join(lines) + "\n")
    with pytest.raises(DatasetFormatError, match=r"000001\.txt:3: expected 15 fields"):
        list(kitti.iter_records(kitti_root))
    lines[2] = kitti_line("Pedestrian", 0, 0, (1, 2, 30, 40)).replace("46.70", "x")
    label.write_text("\n".join(lines) + "\n")
    with pytest.raises(DatasetFormatError, match=r"000001\.txt:3: not a number"):
        list(kitti.iter_records(kitti_root))


def test_kitti_wrong_root_says_what_to_point_at(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="label_2"):
        list(kitti.iter_records(tmp_path))


def test_kitti_tracking_sequences(tmp_path: Path) -> None:
    make_kitti_tracking(tmp_path)
    report = ReadReport()
    records = list(kitti_tracking.iter_records(tmp_path, None, report))
    assert [r.image_id for r in records] == ["0001/000000", "0001/000001", "0001/000002"]
    assert [(r.scene, r.frame) for r in records] == [("0001", 0), ("0001", 1), ("0001", 2)]
    assert [len(r.boxes) for r in records] == [2, 1, 0]
    assert [b.track_id for b in records[0].boxes] == [0, 1]
    assert records[0].occluded_vehicles == 1
    assert report.skipped == {"dontcare": 1, "missing_image": 1}
