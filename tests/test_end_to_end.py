"""Through real processes: uvicorn API -> broker -> Celery worker subprocess -> database -> object store."""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from services.common import contracts
from services.embedded import commands, worker_command
from tests.conftest import REDIS_URL
from tests.scenes import png_bytes, rms_contrast, road_scene

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Stack:
    """The API and workers as separate processes, configured only through SIM2REAL_* variables."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.port = free_port()
        self.env = {**os.environ, **env, "SIM2REAL_PORT": str(self.port), "PYTHONUNBUFFERED": "1"}
        self.log_dir = log_dir
        self.procs: dict[str, subprocess.Popen] = {}
        self.cmds = commands("127.0.0.1", self.port)
        self.url = f"http://127.0.0.1:{self.port}"

    def start(self, name: str, tag: str = "") -> subprocess.Popen:
        """`api`, a queue's worker (`translator.batch`), or a service's worker on all its queues
        (`translator`)."""
        cmd = self.cmds.get(name) or worker_command(name, contracts.services()[name], f"{name}{tag}")
        log = open(self.log_dir / f"{name}{tag}.log", "wb")  # noqa: SIM115
        proc = subprocess.Popen(cmd, env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        self.procs[name + tag] = proc
        return proc

    def wait_healthy(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"API did not start; log:\n{self.logs()}")

    def wait_ready(self, name: str, timeout: float = 90) -> None:
        """Until the worker's log says Celery is consuming."""
        log = self.log_dir / f"{name}.log"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if log.exists() and b" ready." in log.read_bytes():
                return
            time.sleep(0.2)
        raise AssertionError(f"worker {name} did not start; log:\n{self.logs()}")

    def logs(self) -> str:
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in self.log_dir.glob("*.log")
        )

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()


def wait_job(url: str, job_id: str, timeout: float = 90, until=("succeeded", "failed", "cancelled")) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = httpx.get(f"{url}/v1/jobs/{job_id}", timeout=5).json()
        if job["status"] in until:
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} still {job['status']} after {timeout}s")


def check_fog(rgb: np.ndarray, depth_cm: np.ndarray, png: bytes) -> None:
    out = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
    assert out.shape == rgb.shape
    assert rms_contrast(out) < rms_contrast(rgb)
    change = np.abs(out.astype(np.float32) - rgb.astype(np.float32)).mean(axis=2)
    ground = depth_cm < 65535
    far = ground & (depth_cm > np.percentile(depth_cm[ground], 80))
    near = ground & (depth_cm < np.percentile(depth_cm[ground], 20))
    assert change[far].mean() > change[near].mean() + 5


@pytest.fixture
def server_stack(tmp_path, pg_url, redis_prefix, s3_server) -> Iterator[Stack]:
    env = {
        "SIM2REAL_HOME": str(tmp_path / "home"),
        "SIM2REAL_DATABASE_URL": pg_url,
        "SIM2REAL_BROKER_URL": REDIS_URL,
        "SIM2REAL_BROKER_KEY_PREFIX": redis_prefix,
        "SIM2REAL_STORE_ENDPOINT": s3_server.endpoint,
        "SIM2REAL_STORE_ACCESS_KEY": s3_server.access_key,
        "SIM2REAL_STORE_SECRET_KEY": s3_server.secret_key,
        "SIM2REAL_STORE_BUCKET": f"e2e-{uuid.uuid4().hex[:8]}",
        "SIM2REAL_HEARTBEAT_INTERVAL_S": "0.5",
        "SIM2REAL_HEARTBEAT_TIMEOUT_S": "3",
        "SIM2REAL_DATA_ROOTS": str(tmp_path / "data"),
    }
    stack = Stack(env, tmp_path)
    stack.start("api")
    stack.wait_healthy()
    try:
        yield stack
    finally:
        stack.stop()


def _submit_fog(url: str, rgb: np.ndarray, depth_cm: np.ndarray) -> dict:
    r = httpx.post(
        f"{url}/v1/translations",
        timeout=60,
        data={"weather": "fog", "method": "physics", "params": '{"visibility_m": 120, "seed": 3}'},
        files={
            "image": ("f.png", png_bytes(rgb), "image/png"),
            "depth": ("d.png", png_bytes(depth_cm), "image/png"),
        },
    )
    assert r.status_code == 202, r.text
    return r.json()


def test_fog_with_depth_through_redis_postgres_and_s3(server_stack: Stack) -> None:
    server_stack.start("translator")
    assert httpx.get(server_stack.url + "/readyz", timeout=10).status_code == 200
    rgb, depth_cm = road_scene(1242, 375)
    job = _submit_fog(server_stack.url, rgb, depth_cm)
    done = wait_job(server_stack.url, job["id"])
    assert done["status"] == "succeeded", (done, server_stack.logs())
    png = httpx.get(f"{server_stack.url}/v1/translations/{job['id']}/image", timeout=30)
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    check_fog(rgb, depth_cm, png.content)
    # Or straight from the object store, through a short-lived presigned URL.
    r = httpx.get(f"{server_stack.url}/v1/translations/{job['id']}/image", params={"redirect": "true"})
    assert r.status_code == 307 and "X-Amz-Signature" in r.headers["location"]
    assert httpx.get(r.headers["location"], timeout=30).content == png.content


def test_worker_killed_mid_job_is_recovered_and_runs_once(server_stack: Stack, s3_server) -> None:
    from services.common.core.settings import Settings
    from services.common.core.storage import make_store

    worker = server_stack.start("translator", "-1")
    # Large enough that decoding, fog and encoding take seconds: the kill lands mid-job.
    rgb, depth_cm = road_scene(6000, 3000)
    job = _submit_fog(server_stack.url, rgb, depth_cm)
    running = wait_job(server_stack.url, job["id"], until=("running", "succeeded", "failed"))
    assert running["status"] == "running", running
    worker.send_signal(signal.SIGKILL)
    worker.wait(10)
    assert httpx.get(f"{server_stack.url}/v1/jobs/{job['id']}").json()["status"] == "running"

    server_stack.start("translator", "-2")
    done = wait_job(server_stack.url, job["id"], timeout=120)
    assert done["status"] == "succeeded", (done, server_stack.logs())
    assert done["attempts"] == 2
    env = server_stack.env
    store = make_store(
        Settings(
            store_endpoint=env["SIM2REAL_STORE_ENDPOINT"],
            store_bucket=env["SIM2REAL_STORE_BUCKET"],
            store_access_key="testing",
            store_secret_key="testing",
        )
    )
    assert list(store.list(f"translations/{job['id']}/")) == [f"translations/{job['id']}/result.png"]
    # A late redelivery of the original message finds the job finished and does nothing.
    time.sleep(1)
    assert httpx.get(f"{server_stack.url}/v1/jobs/{job['id']}").json()["attempts"] == 2


def test_embedded_mode_serves_a_fog_translation(tmp_path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIM2REAL_")}
    env.update(SIM2REAL_HOME=str(tmp_path / "var"), SIM2REAL_PORT=str(port), PYTHONUNBUFFERED="1")
    log = open(tmp_path / "up.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "services.embedded"], env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        rgb, depth_cm = road_scene(640, 192, seed=5)
        job = _submit_fog(url, rgb, depth_cm)
        done = wait_job(url, job["id"])
        assert done["status"] == "succeeded", (done, (tmp_path / "up.log").read_text())
        check_fog(rgb, depth_cm, httpx.get(f"{url}/v1/translations/{job['id']}/image").content)
        assert (tmp_path / "var" / "sim2real.db").exists()
        assert (tmp_path / "var" / "objects" / "translations" / job["id"] / "result.png").exists()
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(30)
    assert code == 0, (tmp_path / "up.log").read_text()


def test_cyclegan_training_resumes_after_its_worker_is_killed(server_stack: Stack) -> None:
    from tests.api.test_translator_models import _archive

    url = server_stack.url
    sets = []
    for kind, seed in (("zip", 1), ("tgz", 2)):
        r = httpx.post(
            f"{url}/v1/image-sets", files={"archive": (f"a.{kind}", _archive(kind, 8, seed))}, timeout=30
        )
        assert r.status_code == 201, r.text
        sets.append(r.json()["prefix"])
    options = {
        "ngf": 8,
        "ndf": 8,
        "n_blocks": 2,
        "n_epochs": 3,
        "n_epochs_decay": 3,
        "load_size": 72,
        "crop_size": 64,
        "checkpoint_every_iters": 2,
        "sample_count": 1,
        "preprocess": "resize_and_crop",
    }
    worker = server_stack.start("translator", "-1")
    r = httpx.post(
        f"{url}/v1/translator-models",
        timeout=30,
        json={
            "name": "tiny",
            "weather": "fog",
            "domain_a": {"prefix": sets[0]},
            "domain_b": {"prefix": sets[1]},
            "options": options,
        },
    )
    assert r.status_code == 202, r.text
    job_id = r.json()["id"]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        job = httpx.get(f"{url}/v1/jobs/{job_id}").json()
        if job["status"] != "queued" and "epoch 3/" in job["message"]:
            break
        assert job["status"] in ("queued", "running"), job
        time.sleep(0.05)
    worker.send_signal(signal.SIGKILL)
    worker.wait(10)
    server_stack.start("translator", "-2")
    done = wait_job(url, job_id, timeout=180)
    assert done["status"] == "succeeded", (done, server_stack.logs())
    assert done["attempts"] == 2 and done["result"]["resumed_from_step"] >= 8
    model = httpx.get(f"{url}/v1/translator-models/{job_id}").json()
    assert [e["epoch"] for e in model["metrics"]["epochs"]] == [1, 2, 3, 4, 5, 6]
    rgb, _ = road_scene(130, 70)
    r = httpx.post(
        f"{url}/v1/translations",
        data={"method": "cyclegan", "model_id": job_id},
        files={"image": ("f.png", png_bytes(rgb))},
        timeout=30,
    )
    out = wait_job(url, r.json()["id"])
    assert out["status"] == "succeeded" and (out["result"]["width"], out["result"]["height"]) == (130, 70)


def test_detector_study_through_the_queues(server_stack: Stack, tmp_path) -> None:
    """Ingest (evaluator queue), train YOLOv5 (detector queue), detect, evaluate (evaluator, whose
    detections run as a child job on the detector queue) — every step a real worker process."""
    from tests.api.detection_fixtures import make_bdd_eval, make_yolo_train

    url = server_stack.url
    make_yolo_train(tmp_path / "data" / "train")
    make_bdd_eval(tmp_path / "data" / "bdd")
    server_stack.start("evaluator")
    server_stack.start("detector")

    def run(path: str, body: dict, timeout: float = 240) -> dict:
        r = httpx.post(f"{url}{path}", json=body, timeout=30)
        assert r.status_code == 202, r.text
        done = wait_job(url, r.json()["id"], timeout=timeout)
        assert done["status"] == "succeeded", (done, server_stack.logs())
        return done

    train = run("/v1/datasets", {"name": "train", "format": "yolo", "uri": f"file://{tmp_path}/data/train"})
    bdd = run(
        "/v1/datasets",
        {
            "name": "bdd",
            "format": "bdd100k",
            "uri": f"file://{tmp_path}/data/bdd",
            "options": {"reader": {"split": "val"}},
        },
    )
    model = run(
        "/v1/detector-trainings",
        {
            "dataset_id": train["result"]["dataset_id"],
            "model": "yolov5n",
            "imgsz": 160,
            "epochs": 1,
            "batch": 4,
        },
    )
    info = httpx.get(f"{url}/v1/detector-models/{model['id']}").json()
    assert [e["epoch"] for e in info["metrics"]["epochs"]] == [1]
    rgb, _ = road_scene(160, 96)
    r = httpx.post(
        f"{url}/v1/detections",
        data={"model_id": model["id"], "conf": "0.0", "wait": "30"},
        files={"image": ("f.png", png_bytes(rgb))},
        timeout=60,
    )
    assert r.status_code == 200 and r.json()["status"] == "succeeded", r.text
    ev = run(
        "/v1/evaluations",
        {
            "dataset_id": bdd["result"]["dataset_id"],
            "detector_model_id": model["id"],
            "classes": ["car", "truck"],
            "n_boot": 20,
        },
    )
    rows = httpx.get(f"{url}/v1/evaluations/{ev['id']}").json()["rows"]
    assert {r["slice"] for r in rows} == {"occluded<=5", "occluded<=10", "all"}
    # A two-arm experiment: it parks while its trainings and evaluations run and is woken by them.
    train_id, bdd_id = train["result"]["dataset_id"], bdd["result"]["dataset_id"]
    exp = run(
        "/v1/experiments",
        {
            "name": "e2e",
            "eval_dataset_id": bdd_id,
            "seeds": [0],
            "n_boot": 10,
            "classes": ["car", "truck"],
            "arms": [
                {"name": "a", "train_dataset_id": train_id},
                {"name": "b", "train_dataset_id": train_id},
            ],
            "model": {"model": "yolov5n", "imgsz": 160, "epochs": 1, "batch": 4},
        },
        timeout=300,
    )
    table = httpx.get(f"{url}/v1/experiments/{exp['id']}").json()["table"]
    assert {(r["arm"], r["slice"]) for r in table["rows"]} == {
        (a, s) for a in ("a", "b") for s in ("occluded<=5", "occluded<=10", "all")
    }
