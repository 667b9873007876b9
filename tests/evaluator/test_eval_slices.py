import numpy as np
import pytest

from services.evaluator.slices import ImageMeta, build_slices, occlusion_slices, validate_buckets


def test_cumulative_occlusion_buckets_membership():
    occluded = np.array([0, 5, 6, 10, 11])
    slices = {s.name: s.images.tolist() for s in occlusion_slices(occluded, [5, 10, None])}
    assert slices == {"occluded<=5": [0, 1], "occluded<=10": [0, 1, 2, 3], "all": [0, 1, 2, 3, 4]}


@pytest.mark.parametrize(
    "buckets,message",
    [
        ([], "empty"),
        ([10, 5], "strictly increasing"),
        ([5, 5], "strictly increasing"),
        ([None, 5], "last"),
        ([-1], "negative"),
        ([2.5], "integer"),
        (["5"], "integer"),
        ([True], "integer"),
    ],
)
def test_invalid_buckets_refused(buckets, message):
    with pytest.raises(ValueError, match=message):
        validate_buckets(buckets)


def test_metadata_slices_and_all_always_present():
    meta = ImageMeta(
        occluded=np.array([0, 3, 12]),
        weather=np.array(["foggy", "clear", "foggy"], dtype=object),
        timeofday=np.array(["night", "daytime", ""], dtype=object),
        scene=np.array(["city street", "highway", "city street"], dtype=object),
    )
    names = {
        s.name: s.images.tolist()
        for s in build_slices(meta, [5], ("occlusion", "weather", "timeofday", "scene"))
    }
    assert names == {
        "occluded<=5": [0, 1],
        "all": [0, 1, 2],
        "weather=clear": [1],
        "weather=foggy": [0, 2],
        "timeofday=daytime": [1],
        "timeofday=night": [0],
        "scene=city street": [0, 2],
        "scene=highway": [1],
    }
    assert [s.name for s in build_slices(meta, slice_by=())] == ["all"]


def test_unknown_or_missing_slice_kind_refused():
    meta = ImageMeta(occluded=np.zeros(2, int))
    with pytest.raises(ValueError, match="cannot slice by"):
        build_slices(meta, slice_by=("colour",))
    with pytest.raises(ValueError, match="weather"):
        build_slices(meta, slice_by=("weather",))


def test_visibility_slices_use_documented_bins_densest_first():
    meta = ImageMeta(
        occluded=np.zeros(7, dtype=np.int64),
        visibility_m=np.array([50.0, 99.9, 100.0, 350.0, 700.0, 5000.0, np.nan]),
    )
    names = {s.name: s.images.tolist() for s in build_slices(meta, [None], ("visibility",))}
    assert list(names) == [
        "all",
        "visibility=<100m",
        "visibility=100-200m",
        "visibility=200-500m",
        "visibility=500-1000m",
        "visibility=>=1000m",
        "visibility=unknown",
    ]
    assert names["visibility=<100m"] == [0, 1]
    assert names["visibility=100-200m"] == [2]
    assert names["visibility=unknown"] == [6]


def test_images_without_visibility_fall_in_the_unknown_slice():
    for meta in (
        ImageMeta(occluded=np.zeros(2, dtype=np.int64), visibility_m=np.array([np.nan, np.nan])),
        ImageMeta(occluded=np.zeros(2, dtype=np.int64)),
    ):
        names = {s.name: s.images.tolist() for s in build_slices(meta, [None], ("visibility",))}
        assert names == {"all": [0, 1], "visibility=unknown": [0, 1]}
