import dataclasses

import pytest

from services.common.datasets.canonical import (
    Box,
    DatasetFormatError,
    ImageRecord,
    from_yolo_lines,
    to_yolo_lines,
)
from services.common.datasets.taxonomy import Taxonomy, default_taxonomy


def _record(boxes: list[Box]) -> ImageRecord:
    return ImageRecord("r", "kitti", "a.png", 200, 100, boxes)


def test_yolo_round_trip_and_clipping() -> None:
    rec = _record([Box(0, 10, 20, 50, 60, occluded=True), Box(2, -10, 90, 30, 120), Box(1, 300, 0, 400, 10)])
    lines = to_yolo_lines(rec, ["car", "van", "truck"])
    # second box clipped to x 0..30, y 90..100; third box lies outside the image and is dropped
    assert lines == ["0 0.150000 0.400000 0.200000 0.400000", "2 0.075000 0.950000 0.150000 0.100000"]
    back = from_yolo_lines(lines, 200, 100, num_classes=3)
    assert [(b.cls, b.x1, b.y1, b.x2, b.y2) for b in back] == [
        (0, pytest.approx(10), pytest.approx(20), pytest.approx(50), pytest.approx(60)),
        (2, pytest.approx(0), pytest.approx(90), pytest.approx(30), pytest.approx(100)),
    ]


def test_to_yolo_rejects_class_outside_names() -> None:
    with pytest.raises(ValueError, match="class index 3"):
        to_yolo_lines(_record([Box(3, 1, 1, 5, 5)]), ["car", "van", "truck"])


def test_from_yolo_malformed_names_line() -> None:
    with pytest.raises(DatasetFormatError, match=r"lbl\.txt:2: expected 5 fields"):
        from_yolo_lines(["0 0.5 0.5 0.1 0.1", "1 0.5 0.5"], 10, 10, file="lbl.txt")
    with pytest.raises(DatasetFormatError, match=r"lbl\.txt:1: not a number"):
        from_yolo_lines(["car 0.5 0.5 0.1 0.1"], 10, 10, file="lbl.txt")


def test_occluded_count_follows_boxes_and_dict_round_trip() -> None:
    rec = _record([Box(0, 1, 1, 5, 5, occluded=True), Box(1, 1, 1, 5, 5, occluded=True), Box(2, 1, 1, 5, 5)])
    assert rec.occluded_vehicles == 2
    assert dataclasses.replace(rec, boxes=rec.boxes[2:]).occluded_vehicles == 0
    again = ImageRecord.from_dict(rec.to_dict())
    assert again == rec and again.occluded_vehicles == 2


def test_taxonomy_round_trip_and_validation() -> None:
    tax = default_taxonomy(include_bus=True, other_vehicle_as="truck", min_box_height=8)
    assert Taxonomy.from_dict(tax.to_dict()) == tax
    assert tax.classes == ["car", "van", "truck", "bus"]
    assert tax.class_index("bdd100k", "bus") == 3
    assert tax.class_index("bdd100k", "other vehicle") == 2
    assert tax.class_index("bdd100k", "van") is None
    assert Taxonomy().class_index("bdd100k", "other vehicle") is None
    with pytest.raises(ValueError, match="not classes"):
        Taxonomy(classes=["car"], mapping={"kitti": {"Van": "van"}})
    with pytest.raises(ValueError, match="unknown taxonomy keys"):
        Taxonomy.from_dict({"classes": ["car"], "colour": 1})
    with pytest.raises(ValueError, match="occlusion_occupancy_below"):
        Taxonomy(occlusion_occupancy_below=1.5)
