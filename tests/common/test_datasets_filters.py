import pytest

from services.common.datasets.canonical import Box, ImageRecord
from services.common.datasets.filters import Term, parse_filter


def _rec(image_id: str, weather: str | None, occluded: int, scene: str = "Scene01") -> ImageRecord:
    boxes = [Box(0, 0, 0, 10, 10, occluded=i < occluded) for i in range(occluded + 1)]
    return ImageRecord(
        image_id,
        "vkitti2",
        None,
        100,
        100,
        boxes,
        scene=scene,
        weather=weather,
        timeofday="daytime",
        camera="Camera_0",
    )


RECORDS = [_rec("a", "foggy", 0), _rec("b", "rainy", 3), _rec("c", "clear", 7, "Scene02"), _rec("d", None, 5)]


def _ids(spec) -> list[str]:
    return [r.image_id for r in parse_filter(spec).apply(RECORDS)]


def test_parse_exposes_terms() -> None:
    f = parse_filter("weather=foggy,rainy; occluded_vehicles <= 5")
    assert f.terms == (Term("weather", "=", ("foggy", "rainy")), Term("occluded_vehicles", "<=", 5))
    assert str(f) == "weather=foggy,rainy;occluded_vehicles<=5"


def test_filters_apply() -> None:
    assert _ids("weather=foggy,rainy") == ["a", "b"]
    assert _ids("weather!=foggy") == ["b", "c", "d"]  # None never equals, always differs
    assert _ids(["occluded_vehicles<=5", "scene=Scene01"]) == ["a", "b", "d"]
    assert _ids("occluded_vehicles>3&occluded_vehicles<7") == ["d"]
    assert _ids("occluded_vehicles>=7") == ["c"]
    assert _ids("num_boxes=1,4") == ["a", "b"]
    assert _ids("camera=Camera_0;timeofday=daytime") == ["a", "b", "c", "d"]
    assert _ids(None) == ["a", "b", "c", "d"]


def test_filter_values_with_spaces_and_slashes() -> None:
    rec = ImageRecord("x", "bdd100k", None, 1, 1, timeofday="dawn/dusk", weather="partly cloudy")
    assert parse_filter("timeofday=dawn/dusk;weather=partly cloudy").matches(rec)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("colour=red", "known fields: source, scene"),
        ("weather<foggy", "numeric field"),
        ("occluded_vehicles<=five", "not an integer"),
        ("weather=", "no value"),
        ("weather=foggy,,rainy", "empty item"),
        ("occluded_vehicles<=3,4", "comma lists"),
        ("weather~foggy", "cannot parse"),
    ],
)
def test_filter_errors(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_filter(spec)


def test_numbers_past_the_index_columns_are_refused() -> None:
    assert parse_filter("frame<=2147483647").terms[0].value == 2**31 - 1
    for spec in ("frame<=2147483648", "width=1,99999999999999999999", "height>-2147483649"):
        with pytest.raises(ValueError, match="out of range; use an integer from -2147483648 to 2147483647"):
            parse_filter(spec)


def test_min_box_fidelity_takes_a_fraction_and_records_do_not_carry_it() -> None:
    (term,) = parse_filter("min_box_fidelity>=0.5").terms
    assert term == Term("min_box_fidelity", ">=", 0.5) and str(term) == "min_box_fidelity>=0.5"
    assert parse_filter("min_box_fidelity<1").terms[0].value == 1.0
    for bad, words in (("min_box_fidelity>=1.5", "0 to 1"), ("min_box_fidelity>=half", "not a number")):
        with pytest.raises(ValueError, match=words):
            parse_filter(bad)
    with pytest.raises(ValueError, match="0 to 1"):
        parse_filter("min_box_fidelity>=nan")
    # The audit's value lives in the index only: a bare record never matches an ordering on it.
    record = ImageRecord("a", "kitti", None, 10, 10)
    assert not parse_filter("min_box_fidelity>=0").matches(record)
