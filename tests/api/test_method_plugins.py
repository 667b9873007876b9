"""A translation method registered from a test module alone is served end to end: discovered, validated,
translated (one image and a dataset), trained by its own trainer, and translated with its model."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from services.common import methods
from tests.api.conftest import ingest, post_and_run, run_one
from tests.common.dataset_fixtures import make_vkitti2
from tests.fixtures import toy_methods
from tests.scenes import png_bytes, road_scene


@pytest.fixture(autouse=True)
def toy_registered():  # noqa: ANN201
    methods.register(toy_methods.SEPIA)
    methods.register(toy_methods.TINT)
    yield
    methods.unregister("sepia")
    methods.unregister("tint")


def _translate(api, run_queued, settings, image: np.ndarray, **form) -> np.ndarray:  # noqa: ANN001
    r = api.post("/v1/translations", data=form, files={"image": ("f.png", png_bytes(image), "image/png")})
    assert r.status_code == 202, r.text
    assert r.json()["params"]["translation"]["method"] == form["method"]
    job = run_one(run_queued, settings, "translate", r.json()["id"])
    assert job.status == "succeeded", job.error
    png = api.get(f"/v1/translations/{job.id}/image")
    assert png.status_code == 200
    return np.asarray(Image.open(io.BytesIO(png.content)).convert("RGB"))


def test_a_toy_method_is_listed_validated_and_translates(api, run_queued, settings) -> None:
    rows = [w for w in api.get("/v1/weathers").json() if w["method"] == "sepia"]
    assert [(w["weather"], w["available"]) for w in rows] == [("sepia", True)]
    assert rows[0]["params_schema"]["properties"]["strength"]["maximum"] == 1.0

    image, _ = road_scene(96, 48)
    out = _translate(
        api, run_queued, settings, image, method="sepia", weather="sepia", params=json.dumps({"strength": 1})
    )
    expected = toy_methods.build_sepia(toy_methods.SepiaParams(strength=1), None).translate([image], [None])[
        0
    ]
    assert out.shape == image.shape and np.array_equal(out, expected)

    bad = api.post(
        "/v1/translations",
        data={"method": "sepia", "weather": "sepia", "params": json.dumps({"strength": 2})},
        files={"image": ("f.png", png_bytes(image), "image/png")},
    )
    assert bad.status_code == 422 and "params.strength" in bad.json()["detail"]
    other = api.post(
        "/v1/translations",
        data={"method": "sepia", "weather": "fog"},
        files={"image": ("f.png", png_bytes(image), "image/png")},
    )
    assert other.status_code == 422 and "sepia" in other.json()["detail"]
    unknown = api.post(
        "/v1/translations", data={"method": "nope"}, files={"image": ("f.png", png_bytes(image), "image/png")}
    )
    assert unknown.status_code == 422 and "sepia" in unknown.json()["detail"]


def test_a_toy_method_translates_a_dataset(api, run_queued, settings, data_root) -> None:
    make_vkitti2(data_root / "vk")
    src = ingest(api, run_queued, settings, "vkitti2", f"file://{data_root}/vk")
    body = {"method": "sepia", "weather": "sepia", "params": {"strength": 0.5}, "filter": "variation=clone"}
    job = post_and_run(
        api, run_queued, settings, "translate_dataset", f"/v1/datasets/{src['id']}/translations", body
    )
    assert job.status == "succeeded", job.error
    made = api.get(f"/v1/datasets/{job.result['dataset_id']}").json()
    assert made["lineage"]["method"] == "sepia" and made["lineage"]["params"] == {"strength": 0.5, "seed": 0}
    assert job.result["images"] == 5


def test_a_trainable_toy_method_is_trained_by_its_own_trainer(api, run_queued, settings, data_root) -> None:
    make_vkitti2(data_root / "vk")
    src = ingest(api, run_queued, settings, "vkitti2", f"file://{data_root}/vk")
    body = {
        "name": "tint to fog",
        "method": "tint",
        "weather": "fog",
        "domain_a": {"dataset_id": src["id"], "filter": "variation=clone;camera=Camera_0"},
        "domain_b": {"dataset_id": src["id"], "filter": "variation=clone;camera=Camera_1"},
    }
    assert api.post("/v1/translator-models", json={**body, "method": "sepia"}).status_code == 422
    bad = api.post("/v1/translator-models", json={**body, "options": {"epochs": 3}})
    assert bad.status_code == 422 and "options.epochs" in bad.json()["detail"]
    r = api.post("/v1/translator-models", json=body)
    assert r.status_code == 202, r.text
    job = run_one(run_queued, settings, "train_translator", r.json()["id"])
    assert job.status == "succeeded", job.error
    assert toy_methods.TRAINED[-1] == job.id
    model = api.get(f"/v1/translator-models/{job.result['model_id']}").json()
    assert model["method"] == "tint" and model["metrics"]["images"] == 2
    assert any(w.get("model_id") == model["id"] for w in api.get("/v1/weathers").json())

    image, _ = road_scene(64, 32)
    need = api.post(
        "/v1/translations", data={"method": "tint"}, files={"image": ("f.png", png_bytes(image), "image/png")}
    )
    assert need.status_code == 422 and "model_id" in need.json()["detail"]
    out = _translate(api, run_queued, settings, image, method="tint", model_id=model["id"])
    mean = np.asarray(model["metrics"]["mean_rgb"])
    assert np.array_equal(out, np.round(0.5 * image + 0.5 * mean).astype(np.uint8))
