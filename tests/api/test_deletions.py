"""DELETE for the things users make: refused while a job or another kept thing uses them, otherwise the
row and every stored object go."""

from __future__ import annotations

import io

import torch

from services.translator.cyclegan.networks import GeneratorConfig, build_generator
from tests.api.conftest import ingest, run_one, run_sharded
from tests.api.test_translator_models import upload_set
from tests.common.dataset_fixtures import make_kitti_tracking, make_vkitti2
from tests.scenes import png_bytes, road_scene


def _objects(api, prefix: str) -> list[str]:  # noqa: ANN001
    return list(api.app.state.store.list(prefix))


def test_a_dataset_is_deleted_only_when_nothing_uses_it(api, run_queued, settings, data_root) -> None:
    make_vkitti2(data_root / "vk")
    src = ingest(api, run_queued, settings, "vkitti2", f"file://{data_root}/vk")
    prefix = f"datasets/{src['id']}/"
    r = api.post(
        f"/v1/datasets/{src['id']}/translations",
        json={"weather": "rain", "filter": "variation=clone;camera=Camera_1"},
    )
    assert r.status_code == 202
    refused = api.delete(f"/v1/datasets/{src['id']}")
    assert (
        refused.status_code == 409 and f"translate_dataset job {r.json()['id']}" in refused.json()["detail"]
    )
    job = run_sharded(run_queued, settings, "translate_dataset", r.json()["id"])
    style = api.post(
        "/v1/styles/from-dataset", json={"name": "s", "weather": "fog", "dataset_id": src["id"], "n": 1}
    ).json()
    refused = api.delete(f"/v1/datasets/{src['id']}")
    assert refused.status_code == 409 and f"style {style['id']}" in refused.json()["detail"]
    assert api.delete(f"/v1/styles/{style['id']}").status_code == 204
    assert _objects(api, prefix)  # the sampled style's images were the dataset's: still there

    assert api.delete(f"/v1/datasets/{src['id']}").status_code == 204
    assert api.get(f"/v1/datasets/{src['id']}").status_code == 404
    assert _objects(api, prefix) == []
    derived = job.result["dataset_id"]
    assert api.get(f"/v1/datasets/{derived}/images").json()["total"] == 2  # the translation is its own
    assert api.delete(f"/v1/datasets/{src['id']}").status_code == 404


def test_a_dataset_whose_depth_maps_a_composition_reuses_is_kept(
    api, run_queued, settings, data_root
) -> None:
    make_kitti_tracking(data_root / "kt")
    make_vkitti2(data_root / "vk")
    kitti = ingest(api, run_queued, settings, "kitti_tracking", f"file://{data_root}/kt")
    vk = ingest(api, run_queued, settings, "vkitti2", f"file://{data_root}/vk")
    r = api.post(
        "/v1/datasets/compositions",
        json={
            "name": "b",
            "composition": "baseline",
            "kitti_dataset_id": kitti["id"],
            "vkitti_dataset_id": vk["id"],
        },
    )
    made = run_sharded(run_queued, settings, "compose_dataset", r.json()["id"]).result["dataset_id"]
    refused = api.delete(f"/v1/datasets/{vk['id']}")
    assert refused.status_code == 409 and f"dataset {made}" in refused.json()["detail"]
    assert api.delete(f"/v1/datasets/{made}").status_code == 204
    assert api.delete(f"/v1/datasets/{vk['id']}").status_code == 204


def test_translator_models_styles_and_image_sets(api, run_queued, settings) -> None:
    torch.manual_seed(0)
    buf = io.BytesIO()
    torch.save(build_generator(GeneratorConfig(ngf=8, n_blocks=2)).state_dict(), buf)
    model = api.post(
        "/v1/translator-models/import",
        data={"name": "m", "weather": "fog", "n_blocks": "2", "ngf": "8"},
        files={"file": ("g.pth", buf.getvalue())},
    ).json()
    image = png_bytes(road_scene(32, 16)[0])
    r = api.post(
        "/v1/translations",
        data={"method": "cyclegan", "model_id": model["id"]},
        files={"image": ("f.png", image)},
    )
    assert r.status_code == 202, r.text
    assert api.delete(f"/v1/translator-models/{model['id']}").status_code == 409
    run_one(run_queued, settings, "translate", r.json()["id"])
    assert api.delete(f"/v1/translator-models/{model['id']}").status_code == 204
    assert _objects(api, f"models/translator/{model['id']}/") == []
    assert api.get(f"/v1/translator-models/{model['id']}").status_code == 404

    style = api.post(
        "/v1/styles", data={"name": "s", "weather": "rain"}, files={"images": ("a.png", image)}
    ).json()
    assert _objects(api, f"styles/{style['id']}/")
    assert api.delete(f"/v1/styles/{style['id']}").status_code == 204
    assert _objects(api, f"styles/{style['id']}/") == []

    s = upload_set(api, "zip", 2, 0)
    set_id = s["prefix"].split("/")[1]
    r = api.post(
        "/v1/translator-models",
        json={
            "name": "t",
            "weather": "fog",
            "domain_a": {"prefix": s["prefix"]},
            "domain_b": {"prefix": s["prefix"]},
        },
    )
    assert r.status_code == 202, r.text
    refused = api.delete(f"/v1/image-sets/{set_id}")
    assert refused.status_code == 409 and "train_translator job" in refused.json()["detail"]
    assert api.delete(f"/v1/jobs/{r.json()['id']}").status_code in (200, 202, 204)
    assert api.delete(f"/v1/image-sets/{set_id}").status_code == 204
    assert _objects(api, s["prefix"]) == []
    assert api.delete(f"/v1/image-sets/{set_id}").status_code == 404
    assert api.delete("/v1/image-sets/..%2F..").status_code in (404, 422)
