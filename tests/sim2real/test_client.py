"""`sim2real.client.Client` against the embedded stack, and what it must never import."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from sim2real.client import Client, JobFailed, Sim2RealError, encode_upload
from sim2real.models import JobEvent
from tests.scenes import road_scene
from tests.web.stack import ROOT


def test_importing_the_client_loads_no_torch_fastapi_or_sqlalchemy() -> None:
    code = (
        "import sys, sim2real.client, sim2real.cli\n"
        "bad = [m for m in ('torch', 'fastapi', 'sqlalchemy', 'celery', 'services') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_translate_arrays_and_follow_progress_events(service) -> None:
    rgb, depth_cm = road_scene(640, 192, seed=2)
    events: list[JobEvent] = []
    with service.client() as c:
        job = c.translate(rgb, weather="fog", params={"visibility_m": 80}, depth=depth_cm)
        assert job.kind == "translate" and job.status in (
            "queued",
            "running",
            "succeeded",
        )  # a worker may be quick
        assert job.wait(progress=events.append, timeout=120) is job
        assert job.status == "succeeded" and job.result["width"] == 640
        out = c.translation_image(job.id)
    assert events and events[-1].status == "succeeded" and events[-1].progress == 1.0
    assert out.shape == rgb.shape and out.dtype == np.uint8
    assert not np.array_equal(out, rgb)


def test_paths_bytes_and_saved_results(service, tmp_path) -> None:
    rgb, _ = road_scene(320, 96, seed=3)
    Image.fromarray(rgb).save(tmp_path / "in.png")
    with service.client() as c:
        by_path = c.translate(tmp_path / "in.png", weather="overcast").wait(timeout=120)
        by_bytes = c.translate((tmp_path / "in.png").read_bytes(), weather="overcast").wait(timeout=120)
        saved = c.translation_image(by_path.id, save_to=tmp_path / "out" / "a.png")
        assert saved == tmp_path / "out" / "a.png"
        assert np.array_equal(np.asarray(Image.open(saved).convert("RGB")), c.translation_image(by_bytes.id))


def test_paginated_jobs_iterate_every_page(service) -> None:
    with service.client() as c:
        for seed in range(3):
            c.translate(road_scene(64, 32, seed=seed)[0], weather="rain").wait(timeout=120)
        one_page = [j.id for j in c.jobs(kind="translate", page_size=500)]
        small_pages = [j.id for j in c.jobs(kind="translate", page_size=2)]
    assert len(one_page) >= 3 and small_pages == one_page


def test_refusals_and_failed_jobs_raise_with_the_servers_message(service, tmp_path) -> None:
    with service.client() as c:
        with pytest.raises(Sim2RealError) as refused:
            c.translate(road_scene(64, 32)[0], weather="fog", params={"visibility_m": -1})
        assert refused.value.status == 422 and "params.visibility_m" in refused.value.message
        (tmp_path / "empty").mkdir()
        # Outside the data roots: refused before any job exists.
        with pytest.raises(Sim2RealError, match="uri"):
            c.ingest_dataset("x", "kitti", tmp_path / "empty")
        empty = service.demo.root / "empty-for-client"
        empty.mkdir(exist_ok=True)
        job = c.ingest_dataset("x", "kitti", empty)
        with pytest.raises(JobFailed) as failed:
            job.wait(timeout=60)
        assert failed.value.job.status == "failed" and "label_2" in str(failed.value)


def test_uploads_encode_depth_as_16_bit_png() -> None:
    depth = np.array([[0, 1000], [65534, 65535]], np.uint16)
    name, data = encode_upload(depth, "d.png")
    import io

    back = np.asarray(Image.open(io.BytesIO(data)))
    assert name == "d.png" and back.dtype == np.uint16 and np.array_equal(back, depth)


def test_the_url_and_key_come_from_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("SIM2REAL_URL", "http://example.invalid:1234/")
    monkeypatch.setenv("SIM2REAL_API_KEY", "k")
    c = Client()
    assert c.url == "http://example.invalid:1234" and c._http.headers["Authorization"] == "Bearer k"
