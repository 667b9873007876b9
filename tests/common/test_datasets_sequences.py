"""Which frames form one sequence (a dataset translation fixes fog's airlight once per sequence)."""

from services.common.datasets.canonical import ImageRecord
from services.common.datasets.sequences import by_sequence, sequence_key


def record(image_id: str, source: str, **fields: object) -> ImageRecord:
    return ImageRecord(image_id=image_id, source=source, image_path=None, width=10, height=10, **fields)


def test_recordings_are_sequences_and_other_images_one_per_source() -> None:
    vk = record("a", "vkitti2", scene="Scene01", variation="fog", camera="Camera_0", frame=3)
    tracking = record("b", "kitti_tracking", scene="0001", camera="image_02", frame=0)
    assert sequence_key(vk) == "vkitti2/Scene01/fog/Camera_0"
    assert sequence_key(tracking) == "kitti_tracking/0001/image_02"
    # KITTI object frames have an index but no sequence; BDD100K's "scene" is a kind of place, not a drive.
    assert sequence_key(record("c", "kitti", frame=7)) == "kitti"
    assert sequence_key(record("d", "bdd100k", scene="city street")) == "bdd100k"


def test_groups_are_in_frame_order() -> None:
    frames = [
        record(f"Scene01/clone/Camera_0/{f:05d}", "vkitti2", scene="Scene01", variation="clone", frame=f)
        for f in (2, 0, 1)
    ]
    other = record(
        "Scene01/clone/Camera_1/00000",
        "vkitti2",
        scene="Scene01",
        variation="clone",
        camera="Camera_1",
        frame=0,
    )
    groups = by_sequence([*frames, other], lambda r: r)
    assert list(groups) == ["vkitti2/Scene01/clone", "vkitti2/Scene01/clone/Camera_1"]
    assert [r.frame for r in groups["vkitti2/Scene01/clone"]] == [0, 1, 2]
