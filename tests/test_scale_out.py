"""Scale-out through real worker processes: a dataset translation split into shards that several batch
workers take, survive a killed worker and stop on cancel; and an interactive queue that answers while a
training occupies the training queue's worker."""

from __future__ import annotations

import io
import signal
import time
import zipfile
from collections import Counter
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import create_engine, select

from services.common.core.db.models import DatasetImage
from services.common.core.settings import Settings
from services.common.core.storage import make_store
from services.translator import native
from tests.common.dataset_fixtures import make_vkitti2_sequence
from tests.scenes import png_bytes, road_scene
from tests.test_end_to_end import Stack, server_stack, wait_job  # noqa: F401 - server_stack is a fixture

FRAMES = 12


@pytest.fixture
def stack(server_stack: Stack) -> Stack:  # noqa: F811
    """The end-to-end stack with the compiled C++ kernels shared across tests (keyed by their source,
    flags and CPU), so each worker process does not compile them again in its fresh home."""
    server_stack.env["SIM2REAL_KERNEL_CACHE"] = str(native.cache_dir())
    return server_stack


@pytest.fixture
def sharded_stack(stack: Stack, tmp_path) -> Stack:
    """The stack with shards of 2 images and a 12-frame 1242x375 sequence with depth ingested."""
    stack.env["SIM2REAL_SHARD_IMAGES"] = "2"
    make_vkitti2_sequence(tmp_path / "data" / "vk", FRAMES)
    stack.start("evaluator")
    r = httpx.post(
        f"{stack.url}/v1/datasets",
        json={"name": "seq", "format": "vkitti2", "uri": f"file://{tmp_path}/data/vk"},
        timeout=30,
    )
    assert r.status_code == 202, r.text
    done = wait_job(stack.url, r.json()["id"], timeout=120)
    assert done["status"] == "succeeded", (done, stack.logs())
    stack.dataset_id = done["result"]["dataset_id"]  # type: ignore[attr-defined]
    return stack


def _translate(stack: Stack) -> str:
    r = httpx.post(
        f"{stack.url}/v1/datasets/{stack.dataset_id}/translations",  # type: ignore[attr-defined]
        json={"method": "physics", "weather": "fog", "params": {"visibility_m": 80}},
        timeout=30,
    )
    assert r.status_code == 202, r.text
    return r.json()["id"]


def _shards(stack: Stack, parent_id: str) -> list[dict]:
    page = httpx.get(f"{stack.url}/v1/jobs", params={"parent_id": parent_id, "limit": 500}, timeout=10).json()
    return page["items"]


def _indexed_once(stack: Stack, pg_url: str, dataset_id: str) -> None:
    """The dataset's index and its stored images hold every frame exactly once."""
    engine = create_engine(pg_url)
    with engine.connect() as c:
        ids = [
            r[0]
            for r in c.execute(select(DatasetImage.image_id).where(DatasetImage.dataset_id == dataset_id))
        ]
    engine.dispose()
    assert len(ids) == FRAMES and len(set(ids)) == FRAMES, Counter(ids).most_common(3)
    env = stack.env
    store = make_store(
        Settings(
            store_endpoint=env["SIM2REAL_STORE_ENDPOINT"],
            store_bucket=env["SIM2REAL_STORE_BUCKET"],
            store_access_key=env["SIM2REAL_STORE_ACCESS_KEY"],
            store_secret_key=env["SIM2REAL_STORE_SECRET_KEY"],
        )
    )
    stored = list(store.list(f"datasets/{dataset_id}/images/"))
    # Virtual KITTI 2 ships JPEG, so the translation stores JPEG by default (image_format).
    assert len(stored) == FRAMES and all(k.endswith(".jpg") for k in stored), stored


def test_two_batch_workers_share_the_shards(sharded_stack: Stack, pg_url: str) -> None:
    stack = sharded_stack
    stack.start("translator.batch", "-a")
    stack.start("translator.batch", "-b")
    stack.wait_ready("translator.batch-a")
    stack.wait_ready("translator.batch-b")
    job_id = _translate(stack)
    seen_eta = False
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        job = httpx.get(f"{stack.url}/v1/jobs/{job_id}", timeout=10).json()
        seen_eta |= job["eta_s"] is not None
        if job["status"] in ("succeeded", "failed", "cancelled"):
            break
        time.sleep(0.1)
    assert job["status"] == "succeeded", (job, stack.logs())
    result = job["result"]
    assert (result["dataset_id"], result["images"], result["shards"]) == (job_id, FRAMES, FRAMES // 2)
    assert result["label_audit"]["images"] == FRAMES  # every image audited once, whichever shard ran it
    assert job["eta_s"] is None and seen_eta  # an estimate while it ran, none once finished
    shards = _shards(stack, job_id)
    assert len(shards) == FRAMES // 2 and {s["kind"] for s in shards} == {"translate_shard"}
    workers = {s["result"]["worker"] for s in shards}
    assert len(workers) == 2, workers  # both processes took shards, and each shard says which
    assert all(s["worker_id"] == s["result"]["worker"] for s in shards)
    _indexed_once(stack, pg_url, job_id)


def test_a_worker_killed_mid_shard_leaves_every_image_once(sharded_stack: Stack, pg_url: str) -> None:
    stack = sharded_stack
    first = stack.start("translator.batch", "-1")
    job_id = _translate(stack)
    # Wait until a shard is running (best: with an image written), then kill its worker. Shards overlap
    # their images' storing, so a half-done shard is seldom seen for long: one merely running will do.
    deadline = time.monotonic() + 120
    victim = None
    while victim is None and time.monotonic() < deadline:
        running = [s for s in _shards(stack, job_id) if s["status"] == "running" and s["progress"] < 1]
        started = [s for s in running if s["progress"] > 0]
        victim = (started or running or [None])[0]
        time.sleep(0.02)
    assert victim is not None, stack.logs()
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    stack.start("translator.batch", "-2")
    done = wait_job(stack.url, job_id, timeout=180)
    assert done["status"] == "succeeded", (done, stack.logs())
    assert done["result"]["images"] == FRAMES
    shards = {s["id"]: s for s in _shards(stack, job_id)}
    assert shards[victim["id"]]["attempts"] == 2 and shards[victim["id"]]["status"] == "succeeded"
    _indexed_once(stack, pg_url, job_id)


def test_cancel_stops_every_shard(sharded_stack: Stack) -> None:
    stack = sharded_stack
    stack.start("translator.batch", "-1")
    job_id = _translate(stack)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if any(s["status"] == "running" for s in _shards(stack, job_id)):
            break
        time.sleep(0.02)
    assert httpx.delete(f"{stack.url}/v1/jobs/{job_id}", timeout=10).json()["status"] == "cancelled"
    cancelled_at = datetime.now(UTC)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        shards = _shards(stack, job_id)
        if all(s["status"] in ("succeeded", "cancelled") for s in shards):
            break
        time.sleep(0.1)
    assert all(s["status"] in ("succeeded", "cancelled") for s in shards), shards

    # Shards finish fast (decode and encode overlap): those done or running at the cancel may finish,
    # but none that starts after it does any work, and the rest are cancelled.
    def started(shard: dict) -> datetime:  # the API's times are UTC, written without an offset
        return datetime.fromisoformat(shard["started_at"]).replace(tzinfo=UTC)

    # (a shard claimed just after may start, see the cancel and stop with nothing done: it is cancelled)
    late = [s for s in shards if s["status"] == "succeeded" and started(s) > cancelled_at]
    assert not late, late
    assert any(s["status"] == "cancelled" for s in shards), shards
    time.sleep(1)  # nothing starts again afterwards
    assert not [s for s in _shards(stack, job_id) if s["status"] in ("queued", "running")]
    assert httpx.get(f"{stack.url}/v1/jobs/{job_id}", timeout=10).json()["status"] == "cancelled"


def _image_set(url: str, n: int, seed: int) -> str:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for i in range(n):
            rgb, _ = road_scene(96, 64, seed=seed * 100 + i)
            z.writestr(f"img_{i}.png", png_bytes(rgb))
    r = httpx.post(f"{url}/v1/image-sets", files={"archive": ("a.zip", buf.getvalue())}, timeout=30)
    assert r.status_code == 201, r.text
    return r.json()["prefix"]


def test_an_interactive_translation_does_not_wait_behind_a_training(stack: Stack) -> None:
    url = stack.url
    stack.start("translator.training")
    stack.start("translator.interactive")
    a, b = _image_set(url, 4, 1), _image_set(url, 4, 2)
    # A tiny CycleGAN whose epochs are long: many of them, on 64 px crops.
    options = {"ngf": 4, "ndf": 4, "n_blocks": 1, "n_epochs": 5000, "n_epochs_decay": 0}
    options |= {"load_size": 64, "crop_size": 64, "sample_count": 0, "checkpoint_every_iters": 100000}
    r = httpx.post(
        f"{url}/v1/translator-models",
        json={
            "name": "long",
            "weather": "fog",
            "domain_a": {"prefix": a},
            "domain_b": {"prefix": b},
            "options": options,
        },
        timeout=30,
    )
    assert r.status_code == 202, r.text
    training = r.json()["id"]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        job = httpx.get(f"{url}/v1/jobs/{training}", timeout=10).json()
        if job["status"] == "running":
            break
        assert job["status"] in ("queued", "running"), (job, stack.logs())
        time.sleep(0.1)
    try:
        rgb, depth_cm = road_scene(640, 192, seed=4)
        r = httpx.post(
            f"{url}/v1/translations",
            data={"weather": "fog", "method": "physics", "params": '{"visibility_m": 120}'},
            files={"image": ("f.png", png_bytes(rgb)), "depth": ("d.png", png_bytes(depth_cm))},
            timeout=30,
        )
        assert r.status_code == 202, r.text
        done = wait_job(url, r.json()["id"], timeout=60)
        assert done["status"] == "succeeded", (done, stack.logs())
        job = httpx.get(f"{url}/v1/jobs/{training}", timeout=10).json()
        assert job["status"] == "running", job  # the training worker is still busy with it
    finally:
        httpx.delete(f"{url}/v1/jobs/{training}", timeout=10)
