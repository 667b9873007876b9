"""Translation quality and the label-safety audit through the API and the real jobs: refusals name the
field by its full path and leave no job behind; every dataset translation audits its labels; the audit
runs again on request; the `min_box_fidelity` filter and the stats summary follow."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pydantic import BaseModel, ConfigDict
from sqlalchemy import func, select

from services.common import methods
from services.common.core.db.models import Job
from services.common.core.db.session import session_scope
from services.translator.translators import BuildContext, ImageTranslator
from tests.api.conftest import ingest, run_one, translate_dataset
from tests.quality_scenes import HEIGHT, LEFT_CAR, RIGHT_CAR, WIDTH, car_scene, erase_left_recolour_right
from tests.quality_weights import random_inception_pth
from tests.scenes import png_bytes


class EraserParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


def build_eraser(_params: EraserParams, _context: BuildContext) -> ImageTranslator:
    """A test translation that erases the left car and recolours the right one (car_scene's layout)."""
    return ImageTranslator(lambda images, _depths: [erase_left_recolour_right(i) for i in images])


ERASER = methods.MethodSpec(
    name="eraser",
    description="test: erases the left car, recolours the right one",
    weather_params={"eraser": EraserParams},
    builder="tests.api.test_quality:build_eraser",
)


@pytest.fixture(autouse=True)
def eraser_registered():  # noqa: ANN201
    methods.register(ERASER)
    yield
    methods.unregister("eraser")


def _yolo_line(box: tuple[int, int, int, int]) -> str:
    x1, y1, x2, y2 = box
    return f"0 {(x1 + x2) / 2 / WIDTH:.6f} {(y1 + y2) / 2 / HEIGHT:.6f} {(x2 - x1) / WIDTH:.6f} {(y2 - y1) / HEIGHT:.6f}"


def make_car_dataset(root: Path, images: int = 3, shift: tuple[int, int, int] | None = None) -> None:
    """YOLO layout: car_scene frames with both cars labelled, and one frame (`empty`) without labels."""
    (root / "images/train").mkdir(parents=True)
    (root / "labels/train").mkdir(parents=True)
    (root / "data.yaml").write_text("path: .\ntrain: images/train\nval: images/train\nnames: [car]\n")
    for i in range(images):
        img = car_scene(i)
        if shift is not None:
            img = np.clip(img.astype(np.int16) + np.array(shift), 0, 255).astype(np.uint8)
        (root / f"images/train/f{i}.png").write_bytes(png_bytes(img))
        (root / f"labels/train/f{i}.txt").write_text(
            _yolo_line(LEFT_CAR) + "\n" + _yolo_line(RIGHT_CAR) + "\n"
        )
    (root / "images/train/empty.png").write_bytes(png_bytes(car_scene(99)))


def _jobs(settings, kind: str) -> int:  # noqa: ANN001
    with session_scope(settings.resolved_database_url) as s:
        return s.scalar(select(func.count()).select_from(Job).where(Job.kind == kind)) or 0


def _translate(api, run_queued, settings, dataset_id: str, **extra) -> dict:  # noqa: ANN001
    job = translate_dataset(api, run_queued, settings, dataset_id, method="eraser", weather="eraser", **extra)
    return {"job": job, "dataset": api.get(f"/v1/datasets/{job.result['dataset_id']}").json()}


def _image_ids(api, dataset_id: str, *filters: str) -> list[str]:  # noqa: ANN001
    r = api.get(f"/v1/datasets/{dataset_id}/images", params=[("filter", f) for f in filters])
    assert r.status_code == 200, r.text
    return sorted(i["image_id"] for i in r.json()["items"])


def test_every_dataset_translation_audits_its_labels_and_the_filter_keeps_the_safe_images(
    api, run_queued, settings, data_root
) -> None:
    make_car_dataset(data_root / "cars")
    src = ingest(api, run_queued, settings, "yolo", f"file://{data_root}/cars")
    out = _translate(api, run_queued, settings, src["id"])
    translated = out["dataset"]
    summary = translated["stats"]["label_audit"]
    assert out["job"].result["label_audit"] == summary
    assert summary["images"] == 4 and summary["boxes"] == 6
    assert summary["erased_boxes"] == 3 and summary["images_with_erased_boxes"] == 3
    assert summary["images_with_invented_structure"] == 0

    every = _image_ids(api, translated["id"])
    assert len(every) == 4
    # Each labelled frame lost its left car; the frame without boxes has fidelity 1.0.
    assert _image_ids(api, translated["id"], "min_box_fidelity>=0.5") == [i for i in every if "empty" in i]
    assert _image_ids(api, translated["id"], "min_box_fidelity<0.5") == [i for i in every if "empty" not in i]
    listed = api.get(f"/v1/datasets/{translated['id']}/images").json()["items"]
    assert {i["image_id"]: i["box_fidelity"] for i in listed if "empty" in i["image_id"]} == {
        next(i for i in every if "empty" in i): 1.0
    }
    frame = next(i for i in every if "f0" in i)
    labels = api.get(f"/v1/datasets/{translated['id']}/images/{frame}/labels").json()
    by_x = sorted(labels["boxes"], key=lambda b: b["x1"])
    assert [b["erased"] for b in by_x] == [True, False]
    assert by_x[0]["fidelity"] < 0.5 <= by_x[1]["fidelity"]
    assert labels["label_audit"]["fidelity"] == by_x[0]["fidelity"]
    # The source was never audited: its images carry no fidelity, so the filter keeps none of them.
    assert _image_ids(api, src["id"], "min_box_fidelity>=0.5") == []

    bad = api.get(f"/v1/datasets/{translated['id']}/images", params={"filter": "min_box_fidelity>=2"})
    assert bad.status_code == 422 and "min_box_fidelity" in bad.json()["detail"]
    assert "0 to 1" in bad.json()["detail"]
    bad = api.post(
        f"/v1/datasets/{src['id']}/translations",
        json={"method": "eraser", "weather": "eraser", "filter": "min_box_fidelity>=half"},
    )
    assert bad.status_code == 422 and bad.json()["detail"].startswith("filter: ")


def test_the_audit_runs_again_on_request_and_refuses_what_is_not_a_translation(
    api, run_queued, settings, data_root
) -> None:
    make_car_dataset(data_root / "cars", images=2)
    src = ingest(api, run_queued, settings, "yolo", f"file://{data_root}/cars")
    translated = _translate(api, run_queued, settings, src["id"])["dataset"]
    audits_before = _jobs(settings, "audit_dataset")

    r = api.post(f"/v1/datasets/{src['id']}/audit")
    assert r.status_code == 422 and r.json()["detail"].startswith("dataset_id: ")
    assert "not a translated dataset" in r.json()["detail"]
    assert api.post("/v1/datasets/nope/audit").status_code == 404
    assert _jobs(settings, "audit_dataset") == audits_before

    r = api.post(f"/v1/datasets/{translated['id']}/audit")
    assert r.status_code == 202, r.text
    job = run_one(run_queued, settings, "audit_dataset", r.json()["id"])
    assert job.status == "succeeded", job.error
    assert job.result["images"] == 3 and job.result["summary"]["erased_boxes"] == 2
    again = api.get(f"/v1/datasets/{translated['id']}").json()["stats"]["label_audit"]
    assert again == job.result["summary"] == translated["stats"]["label_audit"]


def test_quality_requests_name_the_field_and_leave_no_job_without_weights(
    api, run_queued, settings, data_root
) -> None:
    make_car_dataset(data_root / "cars", images=2)
    src = ingest(api, run_queued, settings, "yolo", f"file://{data_root}/cars")
    ok_set = {"dataset_id": src["id"]}
    body = {"translated": ok_set, "target": ok_set, "source": ok_set, "max_images": 10}
    before = (_jobs(settings, "translation_quality"), _jobs(settings, "translate_dataset"))

    r = api.post("/v1/translation-quality", json=body)
    assert r.status_code == 409
    assert (
        "/v1/weights/inception" in r.json()["detail"] and "SIM2REAL_INCEPTION_WEIGHTS" in r.json()["detail"]
    )
    r = api.post(
        f"/v1/datasets/{src['id']}/translations",
        json={"method": "eraser", "weather": "eraser", "quality": {"target": ok_set}},
    )
    assert r.status_code == 409 and "inception" in r.json()["detail"]
    assert (_jobs(settings, "translation_quality"), _jobs(settings, "translate_dataset")) == before

    cases = [
        ({**body, "translated": {"dataset_id": "nope"}}, 404, "translated.dataset_id: "),
        ({**body, "target": {"dataset_id": src["id"], "filter": "colour=red"}}, 422, "target.filter: "),
        ({**body, "source": {"dataset_id": src["id"], "filter": "frame>x"}}, 422, "source.filter: "),
        ({**body, "translated": {"dataset_id": src["id"], "filter": "image_id=none"}}, 422, "translated: "),
    ]
    for request, status, prefix in cases:
        r = api.post("/v1/translation-quality", json=request)
        assert r.status_code == status and r.json()["detail"].startswith(prefix), (request, r.text)
    r = api.post("/v1/translation-quality", json={**body, "max_images": 1})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "max_images"]
    r = api.post("/v1/translation-quality", json={**body, "target": {"dataset_id": src["id"], "x": 1}})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "target", "x"]
    r = api.post(
        f"/v1/datasets/{src['id']}/translations",
        json={"method": "eraser", "weather": "eraser", "quality": {"target": {"dataset_id": "nope"}}},
    )
    assert r.status_code == 404 and r.json()["detail"].startswith("quality.target.dataset_id: ")
    assert (_jobs(settings, "translation_quality"), _jobs(settings, "translate_dataset")) == before
    assert api.get("/v1/translation-quality/nope/grids/target.png").status_code == 404


@pytest.mark.slow  # Inception-v3 features of ~14 images on a CPU
def test_translation_quality_end_to_end_with_random_inception_weights(
    api, run_queued, settings, data_root
) -> None:
    make_car_dataset(data_root / "cars", images=3)
    make_car_dataset(data_root / "shifted", images=3, shift=(90, -50, 70))
    cars = ingest(api, run_queued, settings, "yolo", f"file://{data_root}/cars")
    shifted = ingest(api, run_queued, settings, "yolo", f"file://{data_root}/shifted")
    r = api.post("/v1/weights/inception", files={"file": ("inception.pth", random_inception_pth())})
    assert r.status_code in (200, 201), r.text

    r = api.post(
        "/v1/translation-quality",
        json={
            "translated": {"dataset_id": cars["id"]},  # the target itself: identical sets
            "target": {"dataset_id": cars["id"]},
            "source": {"dataset_id": shifted["id"]},
            "max_images": 3,
        },
    )
    assert r.status_code == 202, r.text
    assert r.json()["params"]["quality"]["weights"] == {"inception": 1}
    job = run_one(run_queued, settings, "translation_quality", r.json()["id"])
    assert job.status == "succeeded", job.error
    result = job.result
    same, moved = result["translated_to_target"], result["source_to_target"]
    assert same["images"] == 3 and same["kid_subset_size"] == 3
    assert abs(same["kid_mean"]) < 0.05 * moved["kid_mean"] and abs(same["fid"]) < 1e-3 * moved["fid"]
    assert result["movement"]["kid_reduction"] > 0 and "toward the target" in result["movement"]["statement"]
    for which in ("translated", "target", "source"):
        png = api.get(f"/v1/translation-quality/{job.id}/grids/{which}.png")
        assert png.status_code == 200 and Image.open(io.BytesIO(png.content)).size[0] > 0

    out = _translate(
        api,
        run_queued,
        settings,
        shifted["id"],
        quality={"target": {"dataset_id": cars["id"], "filter": "num_boxes>=1"}, "max_images": 2},
    )
    quality = out["job"].result["quality"]
    assert quality["translated_to_target"]["images"] == 2 and quality["source_to_target"]["images"] == 2
    assert out["dataset"]["lineage"]["quality"] == quality
    assert api.get(f"/v1/translation-quality/{out['job'].id}/grids/source.png").status_code == 200


def _image_set(client, n: int, seed: int) -> str:  # noqa: ANN001
    buf = io.BytesIO()
    import zipfile

    with zipfile.ZipFile(buf, "w") as z:
        for i in range(n):
            z.writestr(f"img_{i}.png", png_bytes(car_scene(seed + i)[::2, ::2].copy()))
    r = client.post("/v1/image-sets", files={"archive": ("a.zip", buf.getvalue())})
    assert r.status_code == 201, r.text
    return r.json()["prefix"]


TINY_CYCLEGAN = {
    "ngf": 8,
    "ndf": 8,
    "n_blocks": 2,
    "n_epochs": 1,
    "n_epochs_decay": 1,
    "load_size": 72,
    "crop_size": 64,
    "sample_count": 1,
    "preprocess": "resize_and_crop",
}


def _train_request(a: str, b: str, **options) -> dict:  # noqa: ANN003
    return {
        "name": "tiny",
        "method": "cyclegan",
        "weather": "fog",
        "domain_a": {"prefix": a},
        "domain_b": {"prefix": b},
        "options": {**TINY_CYCLEGAN, **options},
    }


def test_training_with_kid_needs_the_inception_weights(api, settings) -> None:
    a, b = _image_set(api, 2, 0), _image_set(api, 2, 10)
    before = _jobs(settings, "train_translator")
    r = api.post("/v1/translator-models", json=_train_request(a, b, kid_every_epochs=1))
    assert r.status_code == 409 and "/v1/weights/inception" in r.json()["detail"]
    r = api.post("/v1/translator-models", json=_train_request(a, b, kid_every_epochs=-1))
    assert r.status_code == 422 and "options.kid_every_epochs" in r.text
    assert _jobs(settings, "train_translator") == before
    r = api.post("/v1/translator-models", json=_train_request(a, b))  # KID is off by default
    assert r.status_code == 202, r.text
    assert r.json()["params"]["weights"] == {}


@pytest.mark.slow  # a tiny CycleGAN plus Inception-v3 features of 8 images on a CPU
def test_cyclegan_training_records_kid_against_domain_b(api, run_queued, settings) -> None:
    a, b = _image_set(api, 2, 0), _image_set(api, 2, 10)
    r = api.post("/v1/weights/inception", files={"file": ("inception.pth", random_inception_pth())})
    assert r.status_code in (200, 201), r.text
    r = api.post("/v1/translator-models", json=_train_request(a, b, kid_every_epochs=1, kid_images=2))
    assert r.status_code == 202, r.text
    assert r.json()["params"]["weights"] == {"inception": 1}
    job = run_one(run_queued, settings, "train_translator", r.json()["id"])
    assert job.status == "succeeded", job.error
    kid = job.result["kid"]
    assert kid["every_epochs"] == 1 and kid["images"] == 2
    assert [e["epoch"] for e in kid["epochs"]] == [1, 2]
    assert all(np.isfinite(e["kid_mean"]) and e["kid_std"] >= 0 for e in kid["epochs"])
    model = api.get(f"/v1/translator-models/{job.id}").json()
    assert model["metrics"]["kid"] == kid
    assert [e.get("kid") for e in model["metrics"]["epochs"]] == [e["kid_mean"] for e in kid["epochs"]]
