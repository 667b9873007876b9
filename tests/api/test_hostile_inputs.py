"""Inputs that once caused a 5xx or poisoned later requests: each is a 4xx naming the field, leaves no job,
and the job list still answers afterwards."""

from __future__ import annotations

import json

import pytest

from tests.scenes import png_bytes, road_scene


def _jobs(client) -> int:  # noqa: ANN001
    r = client.get("/v1/jobs")
    assert r.status_code == 200, r.text
    return r.json()["total"]


def _nested(levels: int) -> str:
    return '{"a": ' * levels + "1" + "}" * levels


@pytest.mark.parametrize(
    ("path", "body", "words"),
    [
        (
            "/v1/datasets",
            '{"name": "x", "format": "kitti", "uri": "file:///d", "options": ' + _nested(900) + "}",
            "nested",
        ),
        (
            "/v1/datasets",
            '{"name": "x", "format": "kitti", "uri": "file:///d", "options": {"split": {"val_fraction": NaN}}}',
            "NaN",
        ),
        ("/v1/evaluations", '{"dataset_id": "x", "detector_model_id": "y", "conf": 1e400}', "1e400"),
        ("/v1/evaluations", '{"dataset_id": "x", "conf": -Infinity}', "Infinity"),
        ("/v1/datasets", '{"name": "x", "format": "kitti", "uri": "file:///' + "a" * 100_000 + '"}', "uri"),
    ],
    ids=["900 deep", "NaN", "1e400", "-Infinity", "100k uri"],
)
def test_json_bodies_that_poisoned_the_service_are_refused(client, path: str, body: str, words: str) -> None:
    before = _jobs(client)
    r = client.post(path, content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 422, r.text
    assert words in json.dumps(r.json())
    assert _jobs(client) == before


def test_non_finite_values_in_forms_are_refused_with_a_readable_422(client) -> None:
    image = png_bytes(road_scene(32, 16)[0])
    before = _jobs(client)
    r = client.post(
        "/v1/translations",
        data={"weather": "fog", "params": '{"visibility_m": 1e400}'},
        files={"image": ("f.png", image, "image/png")},
    )
    assert r.status_code == 422 and "params" in r.json()["detail"] and "1e400" in r.json()["detail"]
    r = client.post(
        "/v1/detections", data={"model_id": "m", "conf": "nan"}, files={"image": ("f.png", image)}
    )
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"][-1] == "conf" and r.json()["detail"][0]["input"] == "nan"
    assert _jobs(client) == before


def test_negative_seeds_are_refused_at_submit_naming_the_field(client) -> None:
    image = png_bytes(road_scene(32, 16)[0])
    before = _jobs(client)
    r = client.post(
        "/v1/translations",
        data={"weather": "rain", "params": '{"seed": -7}'},
        files={"image": ("f.png", image, "image/png")},
    )
    assert r.status_code == 422 and "params.seed" in r.json()["detail"] and ">= 0" in r.json()["detail"]
    r = client.post(
        "/v1/datasets/compositions",
        json={
            "name": "x",
            "composition": "baseline",
            "kitti_dataset_id": "a",
            "vkitti_dataset_id": "b",
            "seed": -1,
        },
    )
    assert r.status_code == 422 and r.json()["detail"][0]["loc"][-1] == "seed"
    assert _jobs(client) == before


@pytest.mark.parametrize(
    ("fmt", "options", "words"),
    [
        ("bdd100k", {"reader": {"label_file": "x.json"}}, "options.reader.label_file: unknown option"),
        ("bdd100k", {"reader": {"split": 3}}, "options.reader.split"),
        ("vkitti2", {"reader": {"variations": "clone"}}, "options.reader.variations"),
        ("kitti", {"split": {"val_fraction": 1.5}}, "options.split.val_fraction"),
        ("kitti", {"split": {"seed": -1}}, "options.split.seed"),
        ("kitti", {"split": {"fraction": 0.1}}, "options.split.fraction: unknown option"),
        ("kitti", {"reader": [1]}, "options.reader: must be a JSON object"),
    ],
)
def test_reader_and_split_options_are_checked_at_submit(api, data_root, fmt, options, words) -> None:
    before = _jobs(api)
    (data_root / "d").mkdir()
    r = api.post(
        "/v1/datasets", json={"name": "x", "format": fmt, "uri": f"file://{data_root}/d", "options": options}
    )
    assert r.status_code == 422 and words in r.json()["detail"], r.text
    assert _jobs(api) == before
