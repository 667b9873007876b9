import pytest

from services.common.datasets.canonical import Box, ImageRecord, ReadReport
from services.common.datasets.stats import compute_stats


def _rec(n_occluded: int, weather: str | None = "clear", cls: int = 0) -> ImageRecord:
    boxes = [Box(cls, 0, 0, 1, 1, occluded=True) for _ in range(n_occluded)] + [Box(2, 0, 0, 1, 1)]
    return ImageRecord(f"i{n_occluded}-{weather}", "bdd100k", None, 10, 10, boxes, weather=weather)


def test_histograms_and_buckets() -> None:
    records = [_rec(0), _rec(0, None), _rec(5, "foggy"), _rec(6, cls=1), _rec(19), _rec(20), _rec(33)]
    report = ReadReport()
    report.skip("no_box2d", 4)
    s = compute_stats(records, ["car", "van", "truck"], report)
    assert s.images == 7 and s.boxes == 83 + 7 and s.occluded_boxes == 83
    assert s.boxes_per_class == {"car": 77, "van": 6, "truck": 7}
    assert list(s.occluded_vehicles) == [str(i) for i in range(20)] + ["20+"]
    assert {k: v for k, v in s.occluded_vehicles.items() if v} == {"0": 2, "5": 1, "6": 1, "19": 1, "20+": 2}
    assert s.occlusion_buckets == {"<=5": 3, "<=10": 4, "all": 7}
    assert s.weather == {"clear": 5, "foggy": 1, "unknown": 1}
    assert s.skipped == {"no_box2d": 4}
    assert s.to_dict()["images_per_source"] == {"bdd100k": 7}


def test_custom_cap() -> None:
    s = compute_stats([_rec(2), _rec(3)], ["car", "van", "truck"], occlusion_cap=3, occlusion_buckets=(1,))
    assert s.occluded_vehicles == {"0": 0, "1": 0, "2": 1, "3+": 1}
    assert s.occlusion_buckets == {"<=1": 0, "all": 2}
    with pytest.raises(ValueError, match="below occlusion_cap"):
        compute_stats([], ["car"], occlusion_cap=3)
