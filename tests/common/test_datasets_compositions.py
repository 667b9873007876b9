from collections import Counter

import pytest

from services.common.datasets.canonical import Box, ImageRecord
from services.common.datasets.compositions import (
    SLOTS,
    baseline_composition,
    describe,
    scene_group,
    translated_composition,
)
from services.common.datasets.splits import split_by_group
from services.common.datasets.vkitti2 import weather_of

PAIRS = {"Scene01": ("0001", 14), "Scene02": ("0002", 7)}


def _kitti() -> list[ImageRecord]:
    return [
        ImageRecord(f"{seq}/{f:06d}", "kitti_tracking", f"{seq}/{f}.png", 1242, 375, scene=seq, frame=f)
        for seq, n in PAIRS.values()
        for f in range(n)
    ] + [ImageRecord("0005/000000", "kitti_tracking", "x.png", 1242, 375, scene="0005", frame=0)]


def _vkitti(skip: tuple[str, str, int] | None = None) -> list[ImageRecord]:
    out = []
    for scene, (_, n) in PAIRS.items():
        for variation in (*SLOTS[1:], "15-deg-left"):
            for camera in ("Camera_0", "Camera_1"):
                for f in range(n):
                    if skip == (scene, variation, f):
                        continue
                    weather, tod = weather_of(variation)
                    box = Box(0, f, 0, f + 10, 10, occluded=variation == "clone")
                    out.append(
                        ImageRecord(
                            f"{scene}/{variation}/{camera}/{f:05d}",
                            "vkitti2",
                            None,
                            1242,
                            375,
                            [box],
                            scene=scene,
                            variation=variation,
                            camera=camera,
                            frame=f,
                            weather=weather,
                            timeofday=tod,
                        )
                    )
    return out


def test_baseline_one_source_per_frame() -> None:
    res = baseline_composition(_kitti(), _vkitti(skip=("Scene01", "fog", 9)))
    by_frame = {(scene_group(e.record), e.record.frame): e.origin for e in res.entries}
    assert len(by_frame) == len(res.entries) == 14 + 7 - 1
    assert by_frame[("Scene01", 0)] == "kitti" and by_frame[("Scene01", 7)] == "kitti"
    assert by_frame[("Scene01", 1)] == "vkitti2:clone" and by_frame[("Scene02", 6)] == "vkitti2:sunset"
    assert ("Scene01", 9) not in by_frame and res.missing == Counter({"vkitti2:fog": 1})
    assert res.counts_by_origin() == {
        "kitti": 3,
        "vkitti2:clone": 3,
        "vkitti2:fog": 2,
        "vkitti2:morning": 3,
        "vkitti2:overcast": 3,
        "vkitti2:rain": 3,
        "vkitti2:sunset": 3,
    }
    assert all(e.record.camera in (None, "Camera_0") for e in res.entries)
    assert all(e.record.variation == e.origin.split(":")[1] for e in res.entries if e.origin != "kitti")
    assert "0005/000000" not in {e.record.image_id for e in res.entries}


def test_translated_replaces_fog_overcast_rain_with_clone_frames() -> None:
    res = translated_composition(_kitti(), _vkitti())
    counts = res.counts_by_origin()
    assert counts["translated:fog"] == counts["translated:overcast"] == counts["translated:rain"] == 3
    assert not any(o.startswith("vkitti2:fog") or o == "vkitti2:rain" for o in counts)
    fog = next(e for e in res.entries if e.origin == "translated:fog" and e.record.scene == "Scene01")
    assert fog.record.frame == 2 and fog.translate_to == "fog"
    assert fog.record.image_id == "Scene01/clone/Camera_0/00002" and fog.record.variation == "clone"
    assert (fog.record.weather, fog.record.timeofday) == ("foggy", "daytime")
    assert fog.record.boxes[0].x1 == 2 and fog.record.occluded_vehicles == 1  # the clone frame's labels
    untouched = {e.origin for e in res.entries} - {"translated:fog", "translated:overcast", "translated:rain"}
    assert untouched == {"kitti", "vkitti2:clone", "vkitti2:morning", "vkitti2:sunset"}
    with pytest.raises(ValueError, match="cannot translate"):
        translated_composition([], [], translated=("clone",))
    assert describe("translated")["translated"] == ["fog", "overcast", "rain"]


def test_recipe_rejects_wrong_sources() -> None:
    with pytest.raises(ValueError, match="KITTI tracking"):
        baseline_composition(_vkitti()[:1], [])


def test_split_by_scene_keeps_groups_whole_and_is_seeded() -> None:
    records = [
        ImageRecord(f"{s}/{f}", "vkitti2", None, 10, 10, scene=s, frame=f)
        for s, n in (("S1", 30), ("S2", 10), ("S3", 20), ("S4", 25), ("S5", 15))
        for f in range(n)
    ]
    train, val = split_by_group(records, key="scene", val_fraction=0.25, seed=3)
    assert split_by_group(records, key="scene", val_fraction=0.25, seed=3) == (train, val)
    assert len(train) + len(val) == 100 and not set(train) & set(val)
    assert not {i.split("/")[0] for i in train} & {i.split("/")[0] for i in val}
    assert len(val) >= 25
    splits = {tuple(split_by_group(records, val_fraction=0.25, seed=s)[1]) for s in range(10)}
    assert len(splits) > 1  # the seed matters
    assert split_by_group(records, val_fraction=0.0)[1] == []
    # at least one group stays in train however large the fraction
    assert split_by_group(records, val_fraction=0.99, seed=0)[0]


def test_split_recipe_keeps_kitti_sequence_with_its_clone() -> None:
    res = baseline_composition(_kitti(), _vkitti())
    records = [e.record for e in res.entries]
    train, val = split_by_group(records, key=scene_group, val_fraction=0.3, seed=1)
    group = {r.image_id: scene_group(r) for r in records}
    assert {group[i] for i in train}.isdisjoint({group[i] for i in val})
    assert {group[i] for i in val} and {group[i] for i in train}


def test_split_errors() -> None:
    one = [
        ImageRecord("a", "kitti", None, 1, 1, scene="S1"),
        ImageRecord("b", "kitti", None, 1, 1, scene="S1"),
    ]
    with pytest.raises(ValueError, match="at least 2 groups"):
        split_by_group(one)
    with pytest.raises(ValueError, match="is None"):
        split_by_group([ImageRecord("a", "kitti", None, 1, 1)])
    with pytest.raises(ValueError, match="appears twice"):
        split_by_group(one + [ImageRecord("a", "kitti", None, 1, 1, scene="S2")])
    with pytest.raises(ValueError, match="unknown split key"):
        split_by_group(one, key="colour")
