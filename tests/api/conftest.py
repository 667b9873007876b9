"""Fixtures for API tests that read datasets from a folder under SIM2REAL_DATA_ROOTS."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def data_root(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    root.mkdir()
    return root


@pytest.fixture
def settings(server_settings, data_root):  # noqa: ANN001
    return server_settings.model_copy(update={"data_roots": str(data_root)})


@pytest.fixture
def api(client_for, settings):  # noqa: ANN001
    return client_for(settings)


def run_one(run_queued, settings, kind: str, job_id: str):  # noqa: ANN001, ANN201
    """Run the queued jobs of `kind` and return the one with `job_id`."""
    (job,) = [j for j in run_queued(settings, kind) if j.id == job_id]
    return job


def run_sharded(run_queued, settings, kind: str, job_id: str, rounds: int = 4):  # noqa: ANN001, ANN201
    """Run a parent job of `kind` that splits its work into shards: the parent (it plans and parks), its
    queued shards, and the parent again (it merges), until it no longer waits."""
    from services.common import contracts

    job = run_one(run_queued, settings, kind, job_id)
    for _ in range(rounds):
        if job.status != "queued":
            return job
        for shard_kind in (k.name for k in contracts.kinds().values() if k.shard):
            run_queued(settings, shard_kind)
        job = run_one(run_queued, settings, kind, job_id)
    return job


def translate_dataset(api, run_queued, settings, dataset_id: str, **body):  # noqa: ANN001, ANN201
    """A dataset translation through the API and its real shards; the succeeded parent job."""
    r = api.post(f"/v1/datasets/{dataset_id}/translations", json=body)
    assert r.status_code == 202, r.text
    job = run_sharded(run_queued, settings, "translate_dataset", r.json()["id"])
    assert job.status == "succeeded", job.error
    return job


def ingest(api, run_queued, settings, fmt: str, uri: str, name: str | None = None, **options) -> dict:  # noqa: ANN001
    """Ingest through the API and the real task; the dataset as GET /v1/datasets/{id} returns it."""
    r = api.post(
        "/v1/datasets", json={"name": name or f"{fmt} test", "format": fmt, "uri": uri, "options": options}
    )
    assert r.status_code == 202, r.text
    assert api.get(f"/v1/datasets/{r.json()['id']}").status_code == 404  # invisible until the job succeeds
    job = run_one(run_queued, settings, "ingest_dataset", r.json()["id"])
    assert job.status == "succeeded", job.error
    return api.get(f"/v1/datasets/{job.result['dataset_id']}").json()


def label_of(settings, store, dataset_id: str, image_id: str) -> bytes:  # noqa: ANN001
    """An image's stored YOLO label text, through its index row's label_key (its own file or a chunk)."""
    from sqlalchemy import select

    from services.common.core.db.models import DatasetImage
    from services.common.core.db.session import session_scope
    from services.common.datasets.store import LabelReader

    with session_scope(settings.resolved_database_url) as s:
        key = s.scalar(
            select(DatasetImage.label_key).where(
                DatasetImage.dataset_id == dataset_id, DatasetImage.image_id == image_id
            )
        )
    assert key, f"no label_key for {image_id} in dataset {dataset_id}"
    return LabelReader(store).text(key, image_id)


@pytest.fixture(scope="session")
def vgg_features_pth() -> bytes:
    """Random VGG-19 weights in torchvision's layout (features only: what NST uses), written by the test."""
    import io

    import torch
    import torchvision

    torch.manual_seed(0)
    sd = {
        k: v
        for k, v in torchvision.models.vgg19(weights=None).state_dict().items()
        if k.startswith("features.")
    }
    buf = io.BytesIO()
    torch.save(sd, buf)
    return buf.getvalue()


def post_and_run(api, run_queued, settings, kind: str, path: str, body: dict):  # noqa: ANN001, ANN201
    """POST a request that queues a `kind` job, run the queued jobs of that kind (and their shards), and
    return this one."""
    r = api.post(path, json=body)
    assert r.status_code == 202, r.text
    return run_sharded(run_queued, settings, kind, r.json()["id"])
