"""How a dataset translation stores its images: png or jpeg, the default following the source, recorded in
lineage, validated with the field's full name, and exported like any other dataset."""

from __future__ import annotations

import io
import zipfile

import pytest

from services.common.datasets.image_format import source_format
from services.common.datasets.store import flat_name
from tests.api.conftest import ingest, label_of, translate_dataset
from tests.common.dataset_fixtures import make_kitti, make_vkitti2


def _translate(api, run_queued, settings, dataset_id: str, **body) -> dict:  # noqa: ANN001
    job = translate_dataset(api, run_queued, settings, dataset_id, method="physics", weather="fog", **body)
    return api.get(f"/v1/datasets/{job.result['dataset_id']}").json()


def _image_ids(settings, dataset_id: str) -> list[str]:  # noqa: ANN001
    from sqlalchemy import select

    from services.common.core.db.models import DatasetImage
    from services.common.core.db.session import session_scope

    with session_scope(settings.resolved_database_url) as s:
        return list(s.scalars(select(DatasetImage.image_id).where(DatasetImage.dataset_id == dataset_id)))


def _image_keys(settings, dataset_id: str) -> list[str]:  # noqa: ANN001
    from sqlalchemy import select

    from services.common.core.db.models import DatasetImage
    from services.common.core.db.session import session_scope

    with session_scope(settings.resolved_database_url) as s:
        return list(s.scalars(select(DatasetImage.image_key).where(DatasetImage.dataset_id == dataset_id)))


def test_source_format_is_jpeg_only_when_every_image_is() -> None:
    assert source_format(["a/1.jpg", "a/2.JPEG"]) == "jpeg"
    assert source_format(["a/1.jpg", "a/2.png"]) == "png"
    assert source_format([]) == "png"


def test_png_sources_stay_png_and_jpeg_can_be_asked_for(api, run_queued, settings, data_root) -> None:
    make_kitti(data_root / "kitti")
    src = ingest(api, run_queued, settings, "kitti", f"file://{data_root}/kitti")
    d = _translate(api, run_queued, settings, src["id"])  # KITTI ships PNG: the default is png
    assert d["lineage"]["image_format"] == "png" and "jpeg_quality" not in d["lineage"]
    keys = _image_keys(settings, d["id"])
    assert keys and all(k.endswith(".png") for k in keys)

    d = _translate(api, run_queued, settings, src["id"], image_format="jpeg", jpeg_quality=70)
    assert d["lineage"]["image_format"] == "jpeg" and d["lineage"]["jpeg_quality"] == 70
    store = api.app.state.store
    keys = _image_keys(settings, d["id"])
    assert keys and all(k.endswith(".jpg") and store.get_bytes(k)[:3] == b"\xff\xd8\xff" for k in keys)
    # The export takes .jpg images like any other, each with its source's labels.
    z = zipfile.ZipFile(io.BytesIO(api.get(f"/v1/datasets/{d['id']}/export").content))
    names = z.namelist()
    images = [n for n in names if n.startswith("images/")]
    assert len(images) == len(keys) and all(n.endswith(".jpg") for n in images)
    for image_id in _image_ids(settings, d["id"]):
        (label,) = [n for n in names if n.startswith("labels/") and n.endswith(f"/{flat_name(image_id)}.txt")]
        assert z.read(label) == label_of(settings, store, src["id"], image_id)


def test_a_jpeg_source_can_be_stored_lossless(api, run_queued, settings, data_root) -> None:
    make_vkitti2(data_root / "vk")
    src = ingest(api, run_queued, settings, "vkitti2", f"file://{data_root}/vk")
    d = _translate(api, run_queued, settings, src["id"], image_format="png", filter="variation=clone")
    assert d["lineage"]["image_format"] == "png"
    assert all(k.endswith(".png") for k in _image_keys(settings, d["id"]))


@pytest.mark.parametrize(
    ("body", "loc", "words"),
    [
        ({"image_format": "gif"}, ["body", "image_format"], "'png' or 'jpeg'"),
        ({"image_format": "jpeg", "jpeg_quality": 0}, ["body", "jpeg_quality"], "greater than or equal to 1"),
        (
            {"image_format": "jpeg", "jpeg_quality": 101},
            ["body", "jpeg_quality"],
            "less than or equal to 100",
        ),
    ],
)
def test_bad_storage_choices_are_refused_naming_the_field(api, data_root, body, loc, words) -> None:  # noqa: ANN001
    r = api.post("/v1/datasets/nope/translations", json={"method": "physics", "weather": "fog", **body})
    assert r.status_code == 422, r.text
    (error,) = r.json()["detail"]
    assert error["loc"] == loc and words in error["msg"], error


def test_jpeg_quality_without_jpeg_is_refused_and_leaves_no_job(api, run_queued, settings, data_root) -> None:
    make_kitti(data_root / "kitti")
    src = ingest(api, run_queued, settings, "kitti", f"file://{data_root}/kitti")
    jobs_before = api.get("/v1/jobs").json()
    for body, why in [({"jpeg_quality": 80}, "the default here is png"), ({"image_format": "png", "jpeg_quality": 80}, "image_format is png")]:  # fmt: skip
        r = api.post(
            f"/v1/datasets/{src['id']}/translations", json={"method": "physics", "weather": "fog", **body}
        )
        assert r.status_code == 422, r.text
        assert (
            r.json()["detail"].startswith("jpeg_quality: applies only to image_format jpeg") and why in r.text
        )
    assert api.get("/v1/jobs").json() == jobs_before
