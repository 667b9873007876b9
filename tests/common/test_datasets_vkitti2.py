from pathlib import Path

import pytest

from services.common.datasets import vkitti2
from services.common.datasets.canonical import DatasetFormatError, ReadReport
from services.common.datasets.stats import compute_stats
from services.common.datasets.taxonomy import Taxonomy
from tests.common.dataset_fixtures import BBOX_HEADER, make_vkitti2

CLASSES = ["car", "van", "truck"]


@pytest.fixture
def vk_root(tmp_path: Path) -> Path:
    make_vkitti2(tmp_path)
    return tmp_path


def test_vkitti2_records_across_archive_folders(vk_root: Path) -> None:
    report = ReadReport()
    records = {r.image_id: r for r in vkitti2.iter_records(vk_root, Taxonomy(), report)}
    assert list(records) == [
        "Scene01/clone/Camera_0/00000",
        "Scene01/clone/Camera_0/00001",
        "Scene01/clone/Camera_0/00002",
        "Scene01/clone/Camera_1/00000",
        "Scene01/clone/Camera_1/00001",
        "Scene02/fog/Camera_0/00000",
    ]
    r = records["Scene01/clone/Camera_0/00000"]
    assert r.image_path == "vkitti_2.0.3_rgb/Scene01/clone/frames/rgb/Camera_0/rgb_00000.jpg"
    assert r.depth_path == "vkitti_2.0.3_depth/Scene01/clone/frames/depth/Camera_0/depth_00000.png"
    assert (r.width, r.height, r.size_source) == (1242, 375, "header")
    assert (r.scene, r.variation, r.camera, r.frame) == ("Scene01", "clone", "Camera_0", 0)
    assert (r.weather, r.timeofday) == ("clear", "daytime")
    # inclusive right/bottom: x2 = right + 1
    car = r.boxes[0]
    assert (car.cls, car.x1, car.y1, car.x2, car.y2, car.track_id) == (0, 100.0, 50.0, 200.0, 100.0, 0)
    assert [b.cls for b in r.boxes] == [0, 1]  # Car, Van from the unsorted info.txt
    assert [b.occluded for b in r.boxes] == [False, True]  # occupancy 0.9, 0.3
    cam1 = records["Scene01/clone/Camera_1/00000"]
    assert [b.cls for b in cam1.boxes] == [0, 2]
    assert cam1.boxes[1].truncated == pytest.approx(0.2)
    assert cam1.depth_path is None
    assert records["Scene01/clone/Camera_0/00002"].boxes == []

    fog = records["Scene02/fog/Camera_0/00000"]
    # track 0 is a Car in Scene01 but a Truck in Scene02
    assert [(b.track_id, b.cls) for b in fog.boxes] == [(0, 2), (2, 0)]
    assert (fog.image_path, fog.size_source, fog.width, fog.height) == (None, "default", 1242, 375)
    assert (fog.weather, fog.timeofday) == ("foggy", "daytime")

    assert report.skipped == {"class_not_in_taxonomy:Tram": 1, "track_id_not_in_info": 1}
    assert report.notes == {"rgb_missing": 1}
    stats = compute_stats(records.values(), CLASSES, report)
    assert stats.boxes_per_class == {"car": 4, "van": 1, "truck": 3}
    assert stats.occluded_vehicles["0"] == 3 and stats.occluded_vehicles["1"] == 3
    assert sum(stats.occluded_vehicles.values()) == 6
    assert stats.weather == {"clear": 5, "foggy": 1}


def test_vkitti2_filters_and_occlusion_threshold(vk_root: Path) -> None:
    report = ReadReport()
    tax = Taxonomy(min_occupancy=0.4, max_truncation=0.1, min_box_height=5, occlusion_occupancy_below=0.95)
    records = {r.image_id: r for r in vkitti2.iter_records(vk_root, tax, report)}
    assert report.skipped == {
        "class_not_in_taxonomy:Tram": 1,
        "track_id_not_in_info": 1,
        "occupancy_below_min": 2,  # van 0.3, Scene02 car 0.1
        "truncation_above_max": 1,  # Camera_1 truck 0.2
        "box_too_small": 1,  # the 4 px truck
    }
    assert [b.occluded for b in records["Scene01/clone/Camera_0/00000"].boxes] == [True]  # 0.9 < 0.95
    assert records["Scene01/clone/Camera_0/00001"].occluded_vehicles == 0  # 0.95 is not below 0.95


def test_vkitti2_selection_options(vk_root: Path) -> None:
    ids = [r.image_id for r in vkitti2.iter_records(vk_root, scenes=["Scene01"], cameras=["Camera_1"])]
    assert ids == ["Scene01/clone/Camera_1/00000", "Scene01/clone/Camera_1/00001"]
    assert [r.variation for r in vkitti2.iter_records(vk_root, variations=["fog"])] == ["fog"]


def test_vkitti2_weather_mapping() -> None:
    assert vkitti2.weather_of("morning") == ("clear", "dawn/dusk")
    assert vkitti2.weather_of("sunset") == ("clear", "dawn/dusk")
    assert vkitti2.weather_of("rain") == ("rainy", "daytime")
    assert vkitti2.weather_of("overcast") == ("overcast", "daytime")
    assert vkitti2.weather_of("15-deg-left") == ("clear", "daytime")


def test_vkitti2_malformed_is_moving_names_line(vk_root: Path) -> None:
    bbox = vk_root / "vkitti_2.0.3_textgt" / "Scene02" / "fog" / "bbox.txt"
    bbox.write_text(
        BBOX_HEADER + "\n0 0 0 10 109 10 59 5000 0.0 0.9 True\n0 0 2 200 239 30 59 100 0.0 0.1 maybe\n"
    )
    with pytest.raises(DatasetFormatError, match=r"Scene02/fog/bbox\.txt:3: isMoving"):
        list(vkitti2.iter_records(vk_root))
    bbox.write_text(BBOX_HEADER + "\n0 0 0 10 109 10\n")
    with pytest.raises(DatasetFormatError, match=r"bbox\.txt:2: expected 11 fields"):
        list(vkitti2.iter_records(vk_root))


def test_vkitti2_duplicate_track_in_info(vk_root: Path) -> None:
    info = vk_root / "vkitti_2.0.3_textgt" / "Scene02" / "fog" / "info.txt"
    info.write_text("trackID label model color\n2 Car A B\n2 Truck C D\n")
    with pytest.raises(DatasetFormatError, match=r"info\.txt:3: trackID 2 listed twice"):
        list(vkitti2.iter_records(vk_root))


def test_vkitti2_no_textgt(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="bbox.txt"):
        list(vkitti2.iter_records(tmp_path))
