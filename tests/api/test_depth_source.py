"""params.depth_source on physics translations: refused when it cannot be served (409 with instructions for
missing model weights, 422 for 'provided' without depth), recorded with the result, listed by GET
/v1/weathers; and fog's airlight fixed once per sequence in a dataset translation, recorded in its lineage."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import func, select

from services.common.core import checkpoints
from services.common.core.db.models import Job
from services.common.core.db.session import session_scope
from services.common.core.images import decode_image
from services.translator.weather import depth_model
from services.translator.weather.fog import neutral_airlight
from tests.api.conftest import ingest, run_sharded
from tests.common.dataset_fixtures import make_vkitti2
from tests.depth_models import HORIZON_FRACTION, INPUT_HEIGHT, tiny_config, trained_pth, trained_state
from tests.scenes import png_bytes, road_scene


def _state(client, settings) -> tuple[int, list[str]]:  # noqa: ANN001
    """Job rows and stored uploads: a refused request changes neither."""
    with session_scope(settings.resolved_database_url) as s:
        jobs = s.scalar(select(func.count()).select_from(Job))
    return jobs, sorted(client.app.state.store.list("uploads/"))


def _fog(client, params: dict, depth: bool = False, size=(320, 96)):  # noqa: ANN001, ANN202
    rgb, depth_cm = road_scene(*size, seed=1)
    files = {"image": ("f.png", png_bytes(rgb), "image/png")}
    if depth:
        files["depth"] = ("d.png", png_bytes(depth_cm), "image/png")
    return client.post("/v1/translations", data={"weather": "fog", "params": json.dumps(params)}, files=files)


@pytest.fixture
def tiny_weights(monkeypatch) -> bytes:
    """The depth model's architecture shrunk to the tiny test config (upload check and worker alike), and
    weights for it trained on a generated frame."""
    monkeypatch.setattr(depth_model, "v2_small_config", tiny_config)
    monkeypatch.setattr(depth_model, "INPUT_HEIGHT", INPUT_HEIGHT)
    monkeypatch.setattr(
        checkpoints,
        "depth_anything_shapes",
        lambda: {k: tuple(v.shape) for k, v in trained_state().items()},
    )
    return trained_pth()


def test_model_without_weights_is_409_with_instructions_and_leaves_nothing(client, server_settings) -> None:
    before = _state(client, server_settings)
    r = _fog(client, {"depth_source": "model"})
    assert r.status_code == 409, r.text
    detail = r.json()["detail"]
    assert detail.startswith("params.depth_source: 'model' needs the depth model's weights")
    assert "/v1/weights/depth_anything" in detail and "SIM2REAL_DEPTH_ANYTHING_WEIGHTS" in detail
    assert "'geometric'" in detail
    assert _state(client, server_settings) == before


def test_provided_without_a_depth_map_is_422_naming_the_field(client, server_settings) -> None:
    before = _state(client, server_settings)
    r = _fog(client, {"depth_source": "provided"})
    assert r.status_code == 422 and r.json()["detail"].startswith("params.depth_source: 'provided' needs")
    assert _state(client, server_settings) == before


def test_the_operator_can_make_the_model_the_default(client_for, server_settings) -> None:
    client = client_for(server_settings.model_copy(update={"default_depth_source": "model"}))
    before = _state(client, server_settings)
    r = _fog(client, {})
    assert r.status_code == 409 and "SIM2REAL_DEFAULT_DEPTH_SOURCE" in r.json()["detail"]
    assert _state(client, server_settings) == before
    assert _fog(client, {"depth_source": "geometric"}).status_code == 202
    fog = next(
        w for w in client.get("/v1/weathers").json() if w["method"] == "physics" and w["weather"] == "fog"
    )
    assert not fog["available"] and "depth_anything" in fog["needs"]
    assert fog["depth_sources"]["default_without_depth"] == "model"


def test_weathers_list_the_depth_sources_and_why_one_is_missing(client, tiny_weights) -> None:
    rows = [w for w in client.get("/v1/weathers").json() if w["method"] == "physics"]
    assert rows and all(w["available"] for w in rows)
    sources = {s["name"]: s for s in rows[0]["depth_sources"]["sources"]}
    assert set(sources) == {"provided", "model", "geometric"}
    assert sources["geometric"]["available"] and sources["provided"]["available"]
    assert not sources["model"]["available"] and "/v1/weights/depth_anything" in sources["model"]["needs"]
    assert rows[0]["depth_sources"]["default_without_depth"] == "geometric"
    assert (
        client.post("/v1/weights/depth_anything", files={"file": ("d.pth", tiny_weights)}).status_code == 201
    )
    rows = [w for w in client.get("/v1/weathers").json() if w["method"] == "physics"]
    model = next(s for s in rows[0]["depth_sources"]["sources"] if s["name"] == "model")
    assert model == {"name": "model", "available": True, "needs": None}


def test_the_depth_source_used_is_recorded_with_the_result(
    client, server_settings, run_queued, tiny_weights
) -> None:
    assert (
        client.post("/v1/weights/depth_anything", files={"file": ("d.pth", tiny_weights)}).status_code == 201
    )
    horizon = {"horizon_fraction": HORIZON_FRACTION}
    requests = {
        "geometric": _fog(client, {}),
        "provided": _fog(client, {}, depth=True),
        "model": _fog(client, {"depth_source": "model", **horizon}, size=(1242, 375)),
    }
    assert all(r.status_code == 202 for r in requests.values()), [r.text for r in requests.values()]
    assert requests["model"].json()["params"]["translation"]["weights"] == {"depth_anything": 1}
    jobs = {j.id: j for j in run_queued(server_settings, "translate")}
    for source, r in requests.items():
        job = jobs[r.json()["id"]]
        assert job.status == "succeeded", job.error
        assert job.result["depth_source"] == source
    assert jobs[requests["model"].json()["id"]].result["weights"] == {"depth_anything": 1}
    assert jobs[requests["geometric"].json()["id"]].result["weights"] == {}


def _vkitti(api, run_queued, settings, data_root) -> dict:  # noqa: ANN001
    """make_vkitti2's Scene01/clone with generated frames: Camera_0 frames 0-2 (depth for 0-1), Camera_1
    frames 0-1 (no depth). Each frame is a little brighter than the one before, so a per-frame airlight
    estimate would differ from frame to frame."""
    make_vkitti2(data_root / "vk")
    base = data_root / "vk/vkitti_2.0.3_rgb/Scene01/clone/frames/rgb"
    depth_dir = data_root / "vk/vkitti_2.0.3_depth/Scene01/clone/frames/depth/Camera_0"
    for camera, frames in (("Camera_0", 3), ("Camera_1", 2)):
        for f in range(frames):
            rgb, depth = road_scene(1242, 375, seed=f)
            rgb = np.clip(rgb.astype(np.float32) * (0.7 + 0.12 * f), 0, 255).astype(np.uint8)
            Image.fromarray(rgb).save(base / camera / f"rgb_{f:05d}.jpg", quality=95)
            if camera == "Camera_0" and f < 2:
                (depth_dir / f"depth_{f:05d}.png").write_bytes(png_bytes(depth))
    return ingest(api, run_queued, settings, "vkitti2", f"file://{data_root}/vk")


def test_fog_airlight_is_fixed_once_per_sequence_and_recorded(api, run_queued, settings, data_root) -> None:
    src = _vkitti(api, run_queued, settings, data_root)
    store = api.app.state.store
    r = api.post(
        f"/v1/datasets/{src['id']}/translations",
        json={
            "method": "physics",
            "weather": "fog",
            "params": {"visibility_m": 60},
            "filter": "variation=clone",
            "image_format": "png",  # lossless: the sky's colour is compared to the airlight below
        },
    )
    assert r.status_code == 202, r.text
    job = run_sharded(run_queued, settings, "translate_dataset", r.json()["id"])
    assert job.status == "succeeded", job.error
    d = api.get(f"/v1/datasets/{job.result['dataset_id']}").json()
    fixed = d["lineage"]["sequence_params"]
    assert set(fixed) == {"vkitti2/Scene01/clone/Camera_0", "vkitti2/Scene01/clone/Camera_1"}
    assert d["lineage"]["depth_sources"] == {"geometric": 3, "provided": 2}

    def pixels(dataset: str, image_id: str, ext: str) -> np.ndarray:
        return decode_image(store.get_bytes(f"datasets/{dataset}/images/{image_id}{ext}"), 10**8)

    # Estimated from the sequence's first frame, with the same estimator a single image gets.
    first = pixels(src["id"], "Scene01/clone/Camera_0/00000", ".jpg")
    airlight = fixed["vkitti2/Scene01/clone/Camera_0"]["atmospheric_light"]
    np.testing.assert_allclose(airlight, neutral_airlight(first), atol=1e-4)
    later = pixels(src["id"], "Scene01/clone/Camera_0/00001", ".jpg")
    assert np.abs(neutral_airlight(later) - neutral_airlight(first)).max() > 0.02  # per frame it would drift
    # The sky (infinite depth in the map) is pure airlight: the same colour in every frame of the sequence.
    skies = [
        pixels(d["id"], f"Scene01/clone/Camera_0/{f:05d}", ".png")[:20].reshape(-1, 3).mean(axis=0)
        for f in (0, 1)
    ]
    np.testing.assert_allclose(skies[0], skies[1], atol=0.5)
    np.testing.assert_allclose(skies[0], np.asarray(airlight) * 255, atol=1.5)


def test_dataset_translations_refuse_what_they_cannot_serve(api, run_queued, settings, data_root) -> None:
    src = _vkitti(api, run_queued, settings, data_root)
    path = f"/v1/datasets/{src['id']}/translations"
    before = api.get("/v1/jobs").json()["total"]
    r = api.post(
        path, json={"weather": "fog", "params": {"depth_source": "provided"}, "filter": "variation=clone"}
    )
    assert r.status_code == 422, r.text
    assert r.json()["detail"].startswith("params.depth_source: 'provided' needs a depth map for every image")
    assert "3 of the 5" in r.json()["detail"]
    r = api.post(path, json={"weather": "fog", "params": {"depth_source": "model"}})
    assert r.status_code == 409 and "/v1/weights/depth_anything" in r.json()["detail"]
    assert api.get("/v1/jobs").json()["total"] == before
    ok = api.post(
        path,
        json={"weather": "fog", "params": {"depth_source": "provided"}, "filter": "camera=Camera_0;frame<=1"},
    )
    assert ok.status_code == 202, ok.text
