"""Neural style transfer through the service: VGG-19 weights, styles, Gatys NST, AdaIN, weather discovery."""

from __future__ import annotations

import io

import numpy as np
import torch
from PIL import Image

from tests.api.test_translator_models import upload_set
from tests.scenes import png_bytes, road_scene


def _style(client) -> dict:  # noqa: ANN001
    rng = np.random.default_rng(0)
    files = [
        ("images", (f"s{i}.png", png_bytes(rng.integers(0, 255, (64, 96, 3), dtype=np.uint8))))
        for i in range(2)
    ]
    r = client.post("/v1/styles", data={"name": "rainy look", "weather": "rain"}, files=files)
    assert r.status_code == 201, r.text
    return r.json()


def test_without_weights_nst_is_refused_with_instructions(client, server_settings) -> None:
    style = _style(client)
    before = client.get("/v1/jobs", params={"kind": "translate"}).json()["total"]
    rgb, _ = road_scene(64, 32)
    r = client.post(
        "/v1/translations",
        data={"method": "nst", "style_id": style["id"]},
        files={"image": ("f.png", png_bytes(rgb))},
    )
    assert r.status_code == 409 and "/v1/weights/vgg19" in r.json()["detail"]
    assert "SIM2REAL_VGG19_WEIGHTS" in r.json()["detail"]
    assert client.get("/v1/jobs", params={"kind": "translate"}).json()["total"] == before
    weathers = client.get("/v1/weathers").json()
    nst = [w for w in weathers if w.get("style_id") == style["id"]]
    assert nst and nst[0]["available"] is False and "VGG-19" in nst[0]["needs"]
    assert {w["weather"] for w in weathers if w["method"] == "physics"} == {
        "fog",
        "rain",
        "overcast",
        "dusk",
        "night",
        "snow",
    }


def test_vgg_upload_is_checked(client) -> None:
    sd = {"features.0.weight": torch.zeros(64, 3, 5, 5)}
    buf = io.BytesIO()
    torch.save(sd, buf)
    r = client.post("/v1/weights/vgg19", files={"file": ("v.pth", buf.getvalue())})
    assert r.status_code == 422 and "features.0.weight" in r.json()["detail"]
    assert client.get("/v1/weights/vgg19").json() == {"available": False}


def test_gatys_and_adain_through_the_queue(client, run_queued, server_settings, vgg_features_pth) -> None:
    r = client.post("/v1/weights/vgg19", files={"file": ("vgg19.pth", vgg_features_pth)})
    assert r.status_code == 201, r.text
    style = _style(client)
    rgb, _ = road_scene(97, 45)
    r = client.post(
        "/v1/translations",
        files={"image": ("f.png", png_bytes(rgb))},
        data={
            "method": "nst",
            "style_id": style["id"],
            "params": '{"iterations": 4, "working_max_side": 64, "optimizer": "adam"}',
        },
    )
    assert r.status_code == 202, r.text
    assert r.json()["params"]["translation"]["weather"] == "rain"
    (job,) = [j for j in run_queued(server_settings, "translate") if j.id == r.json()["id"]]
    assert job.status == "succeeded", job.error
    out = np.asarray(Image.open(io.BytesIO(client.get(f"/v1/translations/{job.id}/image").content)))
    assert out.shape == rgb.shape and not np.array_equal(out, rgb)

    content, styles = upload_set(client, "zip", 3, 20), upload_set(client, "tgz", 3, 21)
    r = client.post(
        "/v1/translator-models",
        json={
            "name": "adain rain",
            "method": "adain",
            "weather": "rain",
            "domain_a": {"prefix": content["prefix"]},
            "domain_b": {"prefix": styles["prefix"]},
            "options": {"iterations": 3, "batch_size": 2, "crop_size": 32, "checkpoint_every": 2},
        },
    )
    assert r.status_code == 202, r.text
    (train,) = [j for j in run_queued(server_settings, "train_translator") if j.id == r.json()["id"]]
    assert train.status == "succeeded", train.error
    model = client.get(f"/v1/translator-models/{train.id}").json()
    assert model["method"] == "adain" and model["metrics"]["history"]
    r = client.post(
        "/v1/translations",
        files={"image": ("f.png", png_bytes(rgb))},
        data={"method": "adain", "model_id": train.id, "params": '{"alpha": 0.7}'},
    )
    assert r.status_code == 202, r.text
    (job,) = [j for j in run_queued(server_settings, "translate") if j.id == r.json()["id"]]
    assert job.status == "succeeded", job.error
    assert (job.result["width"], job.result["height"]) == (97, 45)
    weathers = client.get("/v1/weathers").json()
    assert any(w.get("model_id") == train.id and w["available"] for w in weathers)
    assert any(w.get("style_id") == style["id"] and w["available"] for w in weathers)


def test_style_from_a_dataset_filter(client_for, server_settings, run_queued, tmp_path) -> None:
    from tests.api.detection_fixtures import make_bdd_eval

    make_bdd_eval(tmp_path / "bdd")
    settings = server_settings.model_copy(update={"data_roots": str(tmp_path)})
    client = client_for(settings)
    r = client.post(
        "/v1/datasets",
        json={
            "name": "bdd",
            "format": "bdd100k",
            "uri": f"file://{tmp_path}/bdd",
            "options": {"reader": {"split": "val"}},
        },
    )
    (job,) = [j for j in run_queued(settings, "ingest_dataset") if j.id == r.json()["id"]]
    dataset_id = job.result["dataset_id"]
    body = {"name": "bdd fog", "weather": "fog", "dataset_id": dataset_id, "filter": "weather=foggy", "n": 8}
    r = client.post("/v1/styles/from-dataset", json=body)
    assert r.status_code == 201, r.text
    style = r.json()
    assert len(style["image_keys"]) == 2  # frames 1 and 3 are foggy; n caps the sample, it does not pad it
    assert style["source"]["filter"] == ["weather=foggy"]
    assert all(k.startswith(f"datasets/{dataset_id}/images/") for k in style["image_keys"])
    r = client.post("/v1/styles/from-dataset", json={**body, "filter": "weather=snowy"})
    assert r.status_code == 422 and "no images" in r.json()["detail"]
    r = client.post("/v1/styles/from-dataset", json={**body, "dataset_id": "nope"})
    assert r.status_code == 404
