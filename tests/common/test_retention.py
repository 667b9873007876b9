"""Retention on real Postgres and a real store: inputs of old failed/cancelled jobs and unused image sets go,
everything else stays; bounded batches; at most once per hour per worker."""

from __future__ import annotations

import io
import logging
import zipfile
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from services.common.core import keys
from services.common.core.db.migrate import upgrade
from services.common.core.db.models import ImageSet, Job, TranslatorModel
from services.common.core.db.session import session_scope
from services.common.runtime import lifecycle as jobs
from services.common.runtime.worker import WorkerRuntime
from tests.scenes import png_bytes, road_scene

DAY = timedelta(days=1)


@pytest.fixture
def runtime(server_settings) -> WorkerRuntime:
    upgrade(server_settings.resolved_database_url)
    return WorkerRuntime("translator", server_settings.model_copy(update={"retention_days": 1.0}))


def _finished_job(client, status: str, age: timedelta) -> str:  # noqa: ANN001
    """A translation submitted through the API (its image under uploads/{id}/) that ended `age` ago."""
    rgb, _ = road_scene(64, 32)
    r = client.post("/v1/translations", data={"weather": "fog"}, files={"image": ("f.png", png_bytes(rgb))})
    assert r.status_code == 202, r.text
    job_id = r.json()["id"]
    with session_scope(client.app.state.settings.resolved_database_url) as s:
        s.execute(update(Job).where(Job.id == job_id).values(status=status, finished_at=jobs.utcnow() - age))
    return job_id


def _image_set(client, age: timedelta) -> str:  # noqa: ANN001
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for i in range(2):
            z.writestr(f"img_{i}.png", png_bytes(road_scene(40, 24, seed=i)[0]))
    r = client.post("/v1/image-sets", files={"archive": ("a.zip", buf.getvalue())})
    assert r.status_code == 201, r.text
    set_id = r.json()["id"]
    with session_scope(client.app.state.settings.resolved_database_url) as s:
        s.execute(update(ImageSet).where(ImageSet.id == set_id).values(created_at=jobs.utcnow() - age))
    return set_id


def _uploads(runtime: WorkerRuntime, some_id: str) -> list[str]:
    return list(runtime.store.list(keys.upload_prefix(some_id)))


def test_old_inputs_of_failed_and_cancelled_jobs_and_unused_image_sets_are_removed(
    runtime: WorkerRuntime, client, caplog
) -> None:
    url = runtime.settings.resolved_database_url
    failed = _finished_job(client, "failed", 2 * DAY)
    cancelled = _finished_job(client, "cancelled", 2 * DAY)
    succeeded = _finished_job(client, "succeeded", 2 * DAY)
    failed_today = _finished_job(client, "failed", DAY / 2)
    unused, new = _image_set(client, 2 * DAY), _image_set(client, DAY / 2)
    trained_from, modelled = _image_set(client, 2 * DAY), _image_set(client, 2 * DAY)
    with session_scope(url) as s:
        domain = {"prefix": keys.image_set_prefix(trained_from)}
        other = {"dataset_id": "d" * 32}
        jobs.create_job(
            s,
            "train_translator",
            {"name": "m", "method": "cyclegan", "weather": "fog", "domain_a": domain, "domain_b": other},
        ).status = "succeeded"
        s.add(
            TranslatorModel(
                name="m",
                method="cyclegan",
                weather="fog",
                domain_a=other,
                domain_b={"prefix": keys.upload_prefix(modelled)},  # a parent folder takes the set whole
                checkpoint_key="models/translator/x/generator.pth",
            )
        )
    with caplog.at_level(logging.INFO, logger="sim2real.worker"):
        removed = runtime.expire()
    assert sorted(removed.job_inputs) == sorted([failed, cancelled]) and removed.image_sets == [unused]
    assert removed.objects == 1 + 1 + 2
    assert _uploads(runtime, failed) == _uploads(runtime, cancelled) == [] == _uploads(runtime, unused)
    for kept in (succeeded, failed_today, new, trained_from, modelled):
        assert _uploads(runtime, kept), kept
    with session_scope(url) as s:
        assert set(s.scalars(select(ImageSet.id))) >= {new, trained_from, modelled}
        assert s.get(ImageSet, unused) is None
        assert s.get(Job, failed).inputs_removed_at is not None and s.get(Job, failed).status == "failed"
    assert failed in caplog.text and unused in caplog.text
    assert not runtime.expire()  # nothing twice


def test_retention_removes_bounded_batches(runtime: WorkerRuntime, client) -> None:
    olds = [_finished_job(client, "failed", 2 * DAY) for _ in range(3)]
    sets = [_image_set(client, 2 * DAY) for _ in range(2)]
    passes = []
    while removed := runtime.expire(limit=2):
        passes.append(removed)
    assert all(len(p.job_inputs) <= 2 and len(p.image_sets) <= 2 for p in passes) and len(passes) >= 2
    assert {i for p in passes for i in p.job_inputs} >= set(olds)
    assert {i for p in passes for i in p.image_sets} >= set(sets)
    assert all(_uploads(runtime, i) == [] for i in olds + sets)


def test_the_sweeper_runs_retention_at_most_once_an_hour(runtime: WorkerRuntime, monkeypatch) -> None:
    passes: list[int] = []
    monkeypatch.setattr(runtime, "recover", lambda: 0)
    monkeypatch.setattr(runtime, "expire", lambda: passes.append(1))
    for _ in range(3):
        runtime.sweep()
    assert passes == [1]


def test_the_unrecorded_dataset_of_an_old_cancelled_dataset_translation_is_removed(
    runtime: WorkerRuntime, client
) -> None:
    """Cancelled while parked, after some shards had written images: nothing records that dataset, and
    retention removes what the shards wrote; a succeeded one keeps its own."""
    url = runtime.settings.resolved_database_url
    ids = {}
    for status in ("cancelled", "succeeded"):
        with session_scope(url) as s:
            job = jobs.create_job(
                s,
                "translate_dataset",
                {
                    "source_dataset_id": "s" * 32,
                    "translation": {"method": "physics", "weather": "fog"},
                    "name": "t",
                    "images": 2,
                },
            )
            job.status, job.finished_at = status, jobs.utcnow() - 2 * DAY
            ids[status] = job.id
        runtime.store.put_bytes(keys.dataset_image(ids[status], "a/0", ".png"), b"png")
    removed = runtime.expire()
    assert removed.job_inputs == [ids["cancelled"]] and removed.objects == 1
    assert list(runtime.store.list(keys.dataset_prefix(ids["cancelled"]))) == []
    assert list(runtime.store.list(keys.dataset_prefix(ids["succeeded"])))
