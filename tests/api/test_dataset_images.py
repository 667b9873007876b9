"""One dataset image through the API: pixels, cached thumbnails, labels JSON, the translated image's
source through the lineage; translating a stored image; the evaluation and experiment lists."""

from __future__ import annotations

import io
import json

import numpy as np
from PIL import Image
from sqlalchemy import func, select

from services.common.core import keys
from services.common.core.db.models import Evaluation, EvaluationMetric, Experiment, Job
from services.common.core.db.session import session_scope
from services.common.core.storage import make_store
from tests.api.conftest import ingest, post_and_run, run_one
from tests.web.stack import make_scenes

FRAME = "Scene01/clone/Camera_0/00000"


def _dataset(api, run_queued, settings, data_root) -> dict:  # noqa: ANN001
    make_scenes(data_root / "vk", 3, width=160, height=48)
    return ingest(api, run_queued, settings, "vkitti2", f"file://{data_root / 'vk'}")


def _jobs(settings) -> int:  # noqa: ANN001
    with session_scope(settings.resolved_database_url) as s:
        return s.scalar(select(func.count()).select_from(Job)) or 0


def test_pixels_thumbnail_and_labels(api, run_queued, settings, data_root) -> None:
    ds = _dataset(api, run_queued, settings, data_root)
    base = f"/v1/datasets/{ds['id']}/images/{FRAME}"
    r = api.get(base)
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(r.content)).size == (160, 48)

    store = make_store(settings)
    key = keys.dataset_thumbnail(ds["id"], FRAME, 64)
    assert not store.exists(key)
    r = api.get(f"{base}/thumbnail", params={"size": 64})
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(r.content)).size == (64, 19)
    assert store.get_bytes(key) == r.content  # cached under the dataset's prefix
    assert key.startswith(keys.dataset_prefix(ds["id"]))

    labels = api.get(f"{base}/labels").json()
    assert labels["class_names"] == ["car", "van", "truck"]
    assert labels["metadata"]["width"] == 160 and labels["metadata"]["occluded_vehicles"] == 1
    (car,) = [b for b in labels["boxes"] if b["class_name"] == "car"]
    (van,) = [b for b in labels["boxes"] if b["class_name"] == "van"]
    assert car["occluded"] is False and car["track_id"] == 0 and car["x2"] > car["x1"]
    assert van["occluded"] is True and van["track_id"] == 3

    # Bad requests name the field, and make nothing.
    r = api.get(f"{base}/thumbnail", params={"size": 100})
    assert r.status_code == 422 and r.json()["detail"].startswith("size:")
    assert not store.exists(keys.dataset_thumbnail(ds["id"], FRAME, 100))
    r = api.get(f"/v1/datasets/{ds['id']}/images/Scene01/nope/labels")
    assert r.status_code == 404 and r.json()["detail"].startswith("image_id:")
    assert api.get(f"/v1/datasets/nope/images/{FRAME}").status_code == 404
    r = api.get(f"{base}/source")
    assert r.status_code == 404 and "not translated" in r.json()["detail"]


def test_a_translated_image_leads_to_its_source(api, run_queued, settings, data_root) -> None:
    ds = _dataset(api, run_queued, settings, data_root)
    job = post_and_run(
        api,
        run_queued,
        settings,
        "translate_dataset",
        f"/v1/datasets/{ds['id']}/translations",
        {"method": "physics", "weather": "fog", "params": {"visibility_m": 80}},
    )
    assert job.status == "succeeded", job.error
    new = job.result["dataset_id"]
    base = f"/v1/datasets/{new}/images/{FRAME}"
    translated = api.get(base)
    source = api.get(f"{base}/source")
    assert source.status_code == 200
    assert source.content == api.get(f"/v1/datasets/{ds['id']}/images/{FRAME}").content
    assert translated.content != source.content
    assert api.get(f"{base}/source/labels").json()["dataset_id"] == ds["id"]
    assert api.get(f"{base}/labels").json()["metadata"]["weather"] == "foggy"
    # The translation's visibility replaces the source's (visibility slices read it).
    assert api.get(f"{base}/labels").json()["metadata"]["visibility_m"] == 80.0
    assert api.get(f"{base}/source/labels").json()["metadata"]["visibility_m"] is None
    assert api.get(f"{base}/source/thumbnail", params={"size": 128}).status_code == 200


def test_translate_a_stored_image_with_its_depth_map(api, run_queued, settings, data_root) -> None:
    ds = _dataset(api, run_queued, settings, data_root)
    before = _jobs(settings)
    for data, field in (
        ({"dataset_id": ds["id"]}, "image_id"),
        ({"image_id": FRAME}, "dataset_id"),
        ({}, "image"),
        ({"dataset_id": "nope", "image_id": FRAME}, "dataset_id"),
        ({"dataset_id": ds["id"], "image_id": "Scene01/none"}, "image_id"),
    ):
        r = api.post("/v1/translations", data={"method": "physics", "weather": "fog", **data})
        assert r.status_code in (404, 422) and r.json()["detail"].startswith(f"{field}:"), (data, r.text)
    png = io.BytesIO()
    Image.new("RGB", (8, 8)).save(png, "PNG")
    r = api.post(
        "/v1/translations",
        data={"method": "physics", "weather": "fog", "dataset_id": ds["id"], "image_id": FRAME},
        files={"image": ("a.png", png.getvalue(), "image/png")},
    )
    assert r.status_code == 422 and r.json()["detail"].startswith("image:")
    assert _jobs(settings) == before  # refused requests leave no job row
    assert not list(make_store(settings).list("uploads/"))  # and no stored object

    r = api.post(
        "/v1/translations",
        data={
            "method": "physics",
            "weather": "fog",
            "dataset_id": ds["id"],
            "image_id": FRAME,
            "params": json.dumps({"visibility_m": 60}),
        },
    )
    assert r.status_code == 202, r.text
    job = run_one(run_queued, settings, "translate", r.json()["id"])
    assert job.status == "succeeded", job.error
    assert job.params["depth_key"] is not None  # the dataset's depth map went with it
    out = np.asarray(Image.open(io.BytesIO(api.get(f"/v1/translations/{job.id}/image").content)))
    assert out.shape == (48, 160, 3)


def test_evaluation_and_experiment_lists(api, run_queued, settings, data_root) -> None:
    ds = _dataset(api, run_queued, settings, data_root)
    with session_scope(settings.resolved_database_url) as s:
        for i in range(3):
            s.add(Evaluation(id=f"ev{i}", dataset_id=ds["id"], predictions_uri=f"file:///p{i}", settings={}))
            s.flush()
            s.add(
                EvaluationMetric(
                    evaluation_id=f"ev{i}",
                    slice="all",
                    class_name="all",
                    ap50=0.1 * i,
                    ap50_95=0.0,
                    precision=0,
                    recall=0,
                    images=3,
                    instances=6,
                    ap50_low=0.0,
                    ap50_high=0.5,
                )
            )
        s.add(
            Experiment(
                id="ex0", name="study", eval_dataset_id=ds["id"], arms=[{"name": "baseline"}], seeds=[0]
            )
        )
        s.commit()
    # Scoped to this test's dataset: other tests of the run add evaluations and experiments of their own.
    mine = {"dataset_id": ds["id"]}
    page = api.get("/v1/evaluations", params={**mine, "limit": 2}).json()
    assert page["total"] == 3 and len(page["items"]) == 2
    assert {e["id"] for e in page["items"]} | {
        e["id"] for e in api.get("/v1/evaluations", params={**mine, "offset": 2}).json()["items"]
    } == {"ev0", "ev1", "ev2"}
    (ev1,) = [e for e in api.get("/v1/evaluations", params=mine).json()["items"] if e["id"] == "ev1"]
    assert ev1["ap50"] == 0.1 and ev1["ap50_high"] == 0.5
    assert api.get("/v1/evaluations", params={"dataset_id": "other"}).json()["total"] == 0
    assert api.get("/v1/evaluations", params={"limit": 0}).status_code == 422
    exps = api.get("/v1/experiments", params={"eval_dataset_id": ds["id"]}).json()
    assert exps["total"] == 1 and exps["items"][0]["arms"] == ["baseline"]
    assert exps["items"][0]["status"] == "queued" and exps["items"][0]["has_table"] is False
    assert api.get("/v1/experiments", params={"offset": -1}).status_code == 422
