from pathlib import Path

import pytest

from services.common.datasets import yolo
from services.common.datasets.canonical import DatasetFormatError, ReadReport, to_yolo_lines
from services.common.datasets.taxonomy import Taxonomy
from tests.common.dataset_fixtures import make_yolo


@pytest.mark.parametrize("names_as_dict", [False, True])
def test_yolo_folder(tmp_path: Path, names_as_dict: bool) -> None:
    make_yolo(tmp_path, names_as_dict=names_as_dict)
    report = ReadReport()
    records = list(yolo.iter_records(tmp_path, Taxonomy(), report))
    assert [r.image_id for r in records] == ["images/train/x", "images/train/y", "images/val/z"]
    assert [(r.width, r.height) for r in records] == [(100, 50), (200, 100), (64, 32)]
    x = records[0]
    assert [b.cls for b in x.boxes] == [0, 2]  # car, truck (taxonomy indices); person skipped
    car = x.boxes[0]
    assert (car.x1, car.y1, car.x2, car.y2) == pytest.approx((40.0, 15.0, 60.0, 35.0))
    assert records[2].boxes == []
    assert report.skipped == {"class_not_in_taxonomy:person": 1}
    assert report.notes == {"no_label_file": 1}
    assert to_yolo_lines(x, Taxonomy().classes) == [
        "0 0.500000 0.500000 0.200000 0.400000",
        "2 0.800000 0.500000 0.200000 0.600000",
    ]


def test_yolo_single_split(tmp_path: Path) -> None:
    make_yolo(tmp_path)
    assert [r.image_id for r in yolo.iter_records(tmp_path, split="val")] == ["images/val/z"]
    with pytest.raises(ValueError, match="no 'test' entry"):
        list(yolo.iter_records(tmp_path, split="test"))


def test_yolo_bad_class_index_names_file_and_line(tmp_path: Path) -> None:
    make_yolo(tmp_path)
    (tmp_path / "labels" / "train" / "y.txt").write_text("0 0.25 0.25 0.5 0.5\n7 0.5 0.5 0.1 0.1\n")
    with pytest.raises(DatasetFormatError, match=r"y\.txt:2: class index 7 outside 0\.\.2"):
        list(yolo.iter_records(tmp_path))


def test_yolo_names_dict_with_gap(tmp_path: Path) -> None:
    make_yolo(tmp_path)
    (tmp_path / "data.yaml").write_text("train: images/train\nnames:\n  0: car\n  2: truck\n")
    with pytest.raises(DatasetFormatError, match="0..n-1"):
        list(yolo.iter_records(tmp_path))


def test_label_path_rule() -> None:
    assert yolo.label_path_for(Path("/d/images/train/a.b.jpg")) == Path("/d/labels/train/a.b.txt")
