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


def _uploads(settings) -> set[str]:  # noqa: ANN001
    from services.common.core.storage import make_store

    return set(make_store(settings).list("uploads/"))


def test_nul_characters_anywhere_are_a_422_naming_where(client, server_settings) -> None:
    """Postgres text cannot hold NUL: a path, query, JSON or form value with one was a 500 wherever it reached
    a lookup or an insert."""
    image = png_bytes(road_scene(32, 16)[0])
    before, uploads, styles = _jobs(client), _uploads(server_settings), len(client.get("/v1/styles").json())
    for path in ("/v1/datasets/a%00b", "/v1/jobs/%00", "/v1/jobs/%00/events", "/v1/translator-models/%00"):
        r = client.get(path)
        assert r.status_code == 422 and r.json()["detail"].startswith("path: contains a NUL"), (path, r.text)
    r = client.get("/v1/jobs", params={"parent_id": "a\x00"})
    assert r.status_code == 422 and "query parameter 'parent_id'" in r.json()["detail"], r.text
    cases = [
        ("/v1/datasets", {"name": "a\x00", "format": "kitti", "uri": "file:///d"}, "body.name"),
        ("/v1/evaluations/compare", {"a": "x", "b": "\x00"}, "body.b"),
        ("/v1/detector-trainings", {"dataset_id": "d", "hyperparameters": {"mosaic\x00": 1}}, "body.hyperparameters.mosaic\\u0000"),
        ("/v1/experiments", {"name": "e", "eval_dataset_id": "e", "arms": [{"name": "\x00", "train_dataset_id": "t"}]}, "body.arms[0].name"),
    ]  # fmt: skip
    for path, body, where in cases:
        r = client.post(path, json=body)
        assert r.status_code == 422 and r.json()["detail"].startswith(f"{where}: contains a NUL"), r.text
    r = client.post(
        "/v1/styles", data={"name": "s\x00", "weather": "rain"}, files={"images": ("s.png", image)}
    )
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "name"], r.text
    r = client.post("/v1/translations", data={"method": "cyclegan", "model_id": "m\x00"}, files={"image": ("f.png", image)})  # fmt: skip
    assert r.status_code == 404, r.text
    r = client.post("/v1/translations", data={"weather": "fog", "params": '{"a\\u0000": 1}'}, files={"image": ("f.png", image)})  # fmt: skip
    assert r.status_code == 422 and r.json()["detail"].startswith("params.a\\u0000: contains a NUL"), r.text
    assert _jobs(client) == before and _uploads(server_settings) == uploads
    assert len(client.get("/v1/styles").json()) == styles


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/v1/jobs", {"offset": str(2**63)}, "offset"),
        ("/v1/datasets", {"offset": str(10**20)}, "offset"),
        ("/v1/evaluations/compare", {"a": "x", "b": "y", "seed": str(2**40)}, "seed"),
        ("/v1/evaluations/compare", {"a": "x", "b": "y", "seed": "-1"}, "seed"),
    ],
)
def test_integers_past_what_postgres_holds_are_a_422(client, path: str, params: dict, field: str) -> None:
    r = client.get(path, params=params)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", field], r.text


def test_filter_numbers_past_the_index_columns_are_a_422(api, run_queued, settings, data_root) -> None:
    from tests.api.conftest import ingest
    from tests.common.dataset_fixtures import make_kitti

    make_kitti(data_root / "kitti")
    d = ingest(api, run_queued, settings, "kitti", f"file://{data_root}/kitti")
    for flt in ("frame<=99999999999999999999", "occluded_vehicles=9999999999"):
        r = api.get(f"/v1/datasets/{d['id']}/images", params={"filter": flt})
        assert r.status_code == 422 and "out of range" in r.json()["detail"], r.text
    before = _jobs(api)
    r = api.post(
        f"/v1/datasets/{d['id']}/translations", json={"weather": "fog", "filter": "width>=4294967296"}
    )
    assert r.status_code == 422 and r.json()["detail"].startswith("filter:"), r.text
    assert _jobs(api) == before
    assert (
        api.get(f"/v1/datasets/{d['id']}/images", params={"filter": "width>=2147483647"}).json()["total"] == 0
    )


def test_provided_depth_without_a_depth_map_is_refused_at_submit(client) -> None:
    before = _jobs(client)
    r = client.post(
        "/v1/translations",
        data={"weather": "fog", "params": '{"depth_source": "provided"}'},
        files={"image": ("f.png", png_bytes(road_scene(32, 16)[0]), "image/png")},
    )
    assert r.status_code == 422 and "params.depth_source" in r.json()["detail"]
    assert _jobs(client) == before


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ('{"name": "\\ud800", "format": "yolo", "uri": "file:///x"}', "surrogate"),
        ('{"name": "x", "format": "yolo", "uri": "file:///x", "options": {"\\udfff": 1}}', "surrogate"),
        (
            '{"name": "x", "format": "kitti", "uri": "file:///x", "options": {"split": {"seed": '
            + "9" * 5000
            + "}}}",
            "digits",
        ),
    ],
    ids=["lone surrogate in a value", "lone surrogate in a key", "5000-digit integer"],
)
def test_text_and_numbers_no_column_can_hold_are_refused(client, body: str, words: str) -> None:
    before = _jobs(client)
    r = client.post("/v1/datasets", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 422 and words in r.json()["detail"], r.text
    assert _jobs(client) == before


def test_a_uri_too_long_for_the_filesystem_is_a_422_naming_uri(api, data_root) -> None:
    r = api.post(
        "/v1/datasets", json={"name": "x", "format": "yolo", "uri": f"file://{data_root}/{'a' * 3000}"}
    )
    assert r.status_code == 422 and r.json()["detail"].startswith("uri: "), r.text


@pytest.mark.parametrize(
    ("fmt", "reader", "field"),
    [
        ("bdd100k", {"split": "bogus"}, "options.reader.split"),
        ("bdd100k", {"labels": "/etc/passwd"}, "options.reader.labels"),
        ("yolo", {"data_yaml": "../y/data.yaml"}, "options.reader.data_yaml"),
        ("vkitti2", {"variations": ["nope"]}, "options.reader.variations"),
    ],
)
def test_reader_option_values_are_checked_at_submit(api, data_root, fmt, reader, field) -> None:
    (data_root / "d").mkdir()
    before = _jobs(api)
    body = {"name": "x", "format": fmt, "uri": f"file://{data_root}/d", "options": {"reader": reader}}
    r = api.post("/v1/datasets", json=body)
    assert r.status_code == 422 and r.json()["detail"].startswith(field), r.text
    assert _jobs(api) == before


def test_a_yaml_alias_bomb_is_refused_without_expanding_it(tmp_path) -> None:
    from services.common.datasets.canonical import DatasetFormatError
    from services.common.datasets.yolo import load_data_yaml

    levels = ["a: &a [x, x, x, x, x, x, x, x, x]"]
    levels += [f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]" for i in range(8)]
    text = "\n".join(levels) + "\nnames: *i\n"
    with pytest.raises(DatasetFormatError, match="aliases"):
        load_data_yaml(tmp_path / "data.yaml", text=text)
