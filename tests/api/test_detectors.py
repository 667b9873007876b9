"""Detector training, detections and experiments through the job runner, on generated images."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from tests.api.conftest import ingest, run_one
from tests.api.detection_fixtures import make_bdd_eval, make_yolo_train
from tests.scenes import png_bytes, road_scene

TINY = {"model": "yolov5n", "imgsz": 160, "epochs": 1, "batch": 4}


@pytest.fixture
def datasets(api, run_queued, settings, data_root) -> dict[str, str]:
    make_yolo_train(data_root / "train_a", seed=0)
    make_yolo_train(data_root / "train_b", seed=1)
    make_bdd_eval(data_root / "bdd")
    return {
        "a": ingest(api, run_queued, settings, "yolo", f"file://{data_root}/train_a")["id"],
        "b": ingest(api, run_queued, settings, "yolo", f"file://{data_root}/train_b")["id"],
        "eval": ingest(
            api,
            run_queued,
            settings,
            "bdd100k",
            f"file://{data_root}/bdd",
            reader={"split": "val"},
            split={"val_fraction": 0},
        )["id"],
    }


def test_training_detection_and_evaluation(api, run_queued, settings, datasets) -> None:
    r = api.post("/v1/detector-trainings", json={"dataset_id": datasets["a"], **TINY, "seed": 3})
    assert r.status_code == 202, r.text
    job = run_one(run_queued, settings, "train_detector", r.json()["id"])
    assert job.status == "succeeded", job.error
    model = api.get(f"/v1/detector-models/{job.id}").json()
    assert model["architecture"] == "yolov5n" and model["class_names"] == ["car", "van", "truck"]
    (epoch,) = model["metrics"]["epochs"]
    assert epoch["epoch"] == 1 and set(epoch["losses"]) == {"box_loss", "cls_loss", "dfl_loss"}
    store = api.app.state.store
    assert store.exists(f"models/detector/{job.id}/best.pt") and store.exists(
        f"models/detector/{job.id}/last.pt"
    )
    best = api.get(f"/v1/detector-models/{job.id}/weights")
    assert best.status_code == 200 and best.content == store.get_bytes(f"models/detector/{job.id}/best.pt")
    assert api.get(f"/v1/detector-models/{job.id}/weights", params={"which": "last"}).status_code == 200

    rgb, _ = road_scene(200, 120)
    r = api.post(
        "/v1/detections",
        data={"model_id": job.id, "conf": "0.0", "annotate": "true"},
        files={"image": ("f.png", png_bytes(rgb))},
    )
    assert r.status_code == 202, r.text
    det = run_one(run_queued, settings, "detect", r.json()["id"])
    assert det.status == "succeeded", det.error
    got = api.get(f"/v1/detections/{det.id}").json()["result"]
    for d in got["detections"]:
        assert d["name"] in ("car", "van", "truck") and 0 <= d["conf"] <= 1
        assert 0 <= d["x1"] <= d["x2"] <= 200 and 0 <= d["y1"] <= d["y2"] <= 120
    png = api.get(f"/v1/detections/{det.id}/image")
    assert Image.open(io.BytesIO(png.content)).size == (200, 120)

    evaluation = {
        "dataset_id": datasets["eval"],
        "detector_model_id": job.id,
        "classes": ["car", "truck"],
        "n_boot": 20,
    }
    r = api.post("/v1/evaluations", json=evaluation)
    # The evaluation waits for its detections, which run as shards on the detector (GPU) batch queue.
    ev = run_one(run_queued, settings, "evaluate", r.json()["id"])
    assert ev.status == "queued" and "shards: 0/1 done" in ev.message
    (det,) = [j for j in run_queued(settings, "detect_shard") if j.parent_id == ev.id]
    assert det.status == "succeeded" and det.result["images"] == 5, det.error
    ev = run_one(run_queued, settings, "evaluate", ev.id)
    assert ev.status == "succeeded", ev.error
    rows = api.get(f"/v1/evaluations/{ev.id}").json()["rows"]
    slices = {row["slice"] for row in rows}
    assert slices == {"occluded<=5", "occluded<=10", "all"}
    assert {row["class"] for row in rows} <= {"all", "car", "truck"}
    assert all(0 <= row["ap50"] <= 1 for row in rows)

    # The same evaluation with its detection split into shards of 2 images (3 shards, run by the batch
    # queue's workers): the same rows.
    sharded = settings.model_copy(update={"shard_images": 2})
    r = api.post("/v1/evaluations", json=evaluation)
    ev2 = run_one(run_queued, sharded, "evaluate", r.json()["id"])
    assert ev2.status == "queued" and "shards: 0/3 done" in ev2.message
    parts = [j for j in run_queued(sharded, "detect_shard") if j.parent_id == ev2.id]
    assert [j.result["images"] for j in parts] == [2, 2, 1] and all(j.result["worker"] for j in parts)
    ev2 = run_one(run_queued, sharded, "evaluate", ev2.id)
    assert ev2.status == "succeeded", ev2.error
    assert api.get(f"/v1/evaluations/{ev2.id}").json()["rows"] == rows

    # Deleting the model: refused while a detection waits for it; afterwards the evaluation keeps its rows.
    r = api.post("/v1/detections", data={"model_id": job.id}, files={"image": ("f.png", png_bytes(rgb))})
    refused = api.delete(f"/v1/detector-models/{job.id}")
    assert refused.status_code == 409 and f"detect job {r.json()['id']}" in refused.json()["detail"]
    run_one(run_queued, settings, "detect", r.json()["id"])
    assert api.delete(f"/v1/detector-models/{job.id}").status_code == 204
    assert list(store.list(f"models/detector/{job.id}/")) == []
    assert api.get(f"/v1/detector-models/{job.id}").status_code == 404
    assert api.get(f"/v1/evaluations/{ev.id}").json()["rows"] == rows


def test_bad_training_requests(api, datasets) -> None:
    cases = [
        ({"dataset_id": "nope"}, 404, "no dataset"),
        ({"dataset_id": datasets["a"], "model": "yolov9"}, 422, "yolov5n"),
        ({"dataset_id": datasets["a"], "hyperparameters": {"lr9": 1}}, 422, "lr9"),
        (
            {"dataset_id": datasets["a"], "hyperparameters": {"epochs": 3}},
            422,
            "set epochs as a field of its own",
        ),
        ({"dataset_id": datasets["a"], "weights_id": "nope"}, 404, "weights"),
        ({"dataset_id": datasets["eval"]}, 422, "validation split"),
    ]
    for body, code, words in cases:
        r = api.post("/v1/detector-trainings", json=body)
        assert r.status_code == code and words in r.text, (body, r.text)
    r = api.post("/v1/detector-weights", data={"name": "x"}, files={"file": ("w.pt", b"not a checkpoint")})
    assert r.status_code == 422
    rgb, _ = road_scene(32, 32)
    r = api.post("/v1/detections", data={"model_id": "nope"}, files={"image": ("f.png", png_bytes(rgb))})
    assert r.status_code == 404


def test_two_arm_two_seed_experiment(api, run_queued, settings, datasets) -> None:
    body = {
        "name": "tiny study",
        "arms": [
            {"name": "baseline", "train_dataset_id": datasets["a"]},
            {"name": "translated", "train_dataset_id": datasets["b"]},
        ],
        "eval_dataset_id": datasets["eval"],
        "model": TINY,
        "seeds": [0, 1],
        "classes": ["car", "truck"],
        "n_boot": 20,
    }
    bad = api.post(
        "/v1/experiments", json={**body, "arms": [{"name": "x", "train_dataset_id": datasets["eval"]}]}
    )
    assert bad.status_code == 422 and "evaluation dataset" in bad.text
    r = api.post("/v1/experiments", json=body)
    assert r.status_code == 202, r.text
    exp_id = r.json()["id"]
    for kind in (
        "experiment",
        "train_detector",
        "experiment",
        "evaluate",
        "detect_shard",
        "evaluate",
        "experiment",
    ):
        for job in run_queued(settings, kind):
            assert job.status in ("succeeded", "queued"), (kind, job.error)
    exp = api.get(f"/v1/experiments/{exp_id}").json()
    assert exp["status"] == "succeeded", exp
    assert {(r["arm"], r["seed"]) for r in exp["runs"]} == {
        (a, s) for a in ("baseline", "translated") for s in (0, 1)
    }
    table = exp["table"]
    assert table["slices"] == ["occluded<=5", "occluded<=10", "all"]
    cells = {(r["arm"], r["slice"]): r for r in table["rows"]}
    assert len(cells) == 6
    for (arm, _), row in cells.items():
        assert set(row["values"]) == {"0", "1"}
        assert row["seed_ci_low"] <= row["mean"] <= row["seed_ci_high"]
        assert ("diff" in row) == (arm == "translated")
        if arm == "translated":
            assert set(row["diff_values"]) == {"0", "1"}
            assert row["diff"] == pytest.approx(sum(row["diff_values"].values()) / 2)
    assert api.get(exp["plot"]).headers["content-type"] == "image/png"
    # Children appear as ordinary jobs, linked to the experiment.
    children = api.get("/v1/jobs", params={"parent_id": exp_id, "limit": 100}).json()["items"]
    assert sorted(j["kind"] for j in children) == ["evaluate"] * 4 + ["train_detector"] * 4


def test_training_whose_worker_died_resumes_from_last(
    api, run_queued, settings, datasets, monkeypatch
) -> None:
    from services.common.core.db.models import Job
    from services.common.core.db.session import session_scope
    from services.common.runtime import lifecycle as jobs
    from services.common.runtime.worker import JobContext

    r = api.post("/v1/detector-trainings", json={"dataset_id": datasets["a"], **TINY, "epochs": 2})
    job_id = r.json()["id"]
    real_progress = JobContext.progress

    def die_after_first_epoch(self, fraction, message, extra=None, **counts):  # noqa: ANN001, ANN202
        real_progress(self, fraction, message, extra, **counts)
        if message.startswith("epoch 1/2"):
            raise SystemExit("worker killed")  # not an Exception: nothing in the job runner catches it

    monkeypatch.setattr(JobContext, "progress", die_after_first_epoch)
    with pytest.raises(SystemExit):
        run_queued(settings, "train_detector")
    monkeypatch.setattr(JobContext, "progress", real_progress)
    with session_scope(settings.resolved_database_url) as s:
        job = s.get(Job, job_id)
        assert job.status == "running"
        job.heartbeat_at = jobs.stale_cutoff(3600)  # what a SIGKILL leaves: a silent heartbeat
    assert api.app.state.store.exists(f"models/detector/{job_id}/last.pt")
    from services.common.runtime.worker import WorkerRuntime

    monkeypatch.setattr("services.common.runtime.worker.send_job", lambda *a, **k: None)
    assert WorkerRuntime("detector", settings).recover() == 1
    job = run_one(run_queued, settings, "train_detector", job_id)
    assert job.status == "succeeded", job.error
    assert job.result["resumed_from_epoch"] == 1 and job.attempts == 2
    epochs = api.get(f"/v1/detector-models/{job_id}").json()["metrics"]["epochs"]
    assert [e["epoch"] for e in epochs] == [1, 2]


def test_a_failed_child_fails_the_experiment_and_cancels_the_rest(
    api, run_queued, settings, datasets
) -> None:
    from services.common.core.db.models import Job
    from services.common.core.db.session import session_scope

    body = {
        "name": "doomed",
        "arms": [
            {"name": "a", "train_dataset_id": datasets["a"]},
            {"name": "b", "train_dataset_id": datasets["b"]},
        ],
        "eval_dataset_id": datasets["eval"],
        "model": TINY,
        "seeds": [0],
    }
    exp_id = api.post("/v1/experiments", json=body).json()["id"]
    run_queued(settings, "experiment")  # creates both trainings, then parks
    with session_scope(settings.resolved_database_url) as s:
        kids = s.query(Job).filter(Job.parent_id == exp_id).order_by(Job.created_at).all()
        assert len(kids) == 2
        kids[0].status, kids[0].error = "failed", "CUDA out of memory"
    run_queued(settings, "experiment")
    exp = api.get(f"/v1/experiments/{exp_id}").json()
    assert exp["status"] == "failed" and "CUDA out of memory" in exp["error"] and "arm 'a'" in exp["error"]
    assert api.get(f"/v1/jobs/{kids[1].id}").json()["status"] == "cancelled"


def _job_count(api) -> int:  # noqa: ANN001
    return api.get("/v1/jobs").json()["total"]


def test_hyperparameter_values_are_checked_at_submit(api, datasets) -> None:
    """Only the worker checked value types before: a typo cost a GPU slot and a failed job."""
    before = _job_count(api)
    for hp, where, words in [
        ({"mosaic": "lots"}, "hyperparameters.mosaic", "number from 0 to 1"),
        ({"time": -5}, "hyperparameters.time", "number from 0.001 to 8760"),
        ({"time": 1e308}, "hyperparameters.time", "8760"),
        ({"cos_lr": 1}, "hyperparameters.cos_lr", "true or false"),
        ({"cache": "ssd"}, "hyperparameters.cache", '"ram", "disk"'),
        ({"close_mosaic": 2.5}, "hyperparameters.close_mosaic", "integer"),
    ]:
        r = api.post("/v1/detector-trainings", json={"dataset_id": datasets["a"], "hyperparameters": hp})
        assert (
            r.status_code == 422 and r.json()["detail"].startswith(where) and words in r.json()["detail"]
        ), r.text
    assert _job_count(api) == before
    ok = {
        "mosaic": 0.5,
        "time": 0.25,
        "scale": [0.5, 1.5],
        "cache": "ram",
        "freeze": 10,
        "channels_last": None,
    }
    r = api.post("/v1/detector-trainings", json={"dataset_id": datasets["a"], "hyperparameters": ok})
    assert r.status_code == 202, r.text


def test_seeds_out_of_range_are_refused_at_submit(api, datasets) -> None:
    before = _job_count(api)
    experiment = {
        "name": "e",
        "arms": [{"name": "a", "train_dataset_id": datasets["a"]}],
        "eval_dataset_id": datasets["eval"],
    }
    for path, body, loc in [
        ("/v1/detector-trainings", {"dataset_id": datasets["a"], "seed": -1}, ["body", "seed"]),
        ("/v1/detector-trainings", {"dataset_id": datasets["a"], "seed": 2**32}, ["body", "seed"]),
        ("/v1/experiments", {**experiment, "seeds": [0, -3]}, ["body", "seeds", 1]),
        ("/v1/experiments", {**experiment, "seeds": [10**30]}, ["body", "seeds", 0]),
        ("/v1/evaluations/compare", {"a": "x", "b": "y", "seed": -1}, ["body", "seed"]),
    ]:
        r = api.post(path, json=body)
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == loc, r.text
    assert _job_count(api) == before
    r = api.post("/v1/detector-trainings", json={"dataset_id": datasets["a"], "seed": 2**32 - 1})
    assert r.status_code == 202, r.text


def test_experiments_over_the_run_limit_are_refused(client_for, settings, datasets) -> None:
    api = client_for(settings.model_copy(update={"max_experiment_runs": 3}))
    before = _job_count(api)
    body = {
        "name": "too big",
        "arms": [
            {"name": "baseline", "train_dataset_id": datasets["a"]},
            {"name": "translated", "train_dataset_id": datasets["b"]},
        ],
        "eval_dataset_id": datasets["eval"],
        "model": TINY,
        "seeds": [0, 1],
    }
    r = api.post("/v1/experiments", json=body)
    detail = r.json()["detail"]
    assert r.status_code == 422 and detail.startswith("arms × seeds: 2 arms × 2 seeds = 4"), r.text
    assert "SIM2REAL_MAX_EXPERIMENT_RUNS" in detail and "limit of 3" in detail
    assert _job_count(api) == before
    r = api.post("/v1/experiments", json={**body, "seeds": [0]})
    assert r.status_code == 202, r.text


def test_gpu_device_lists_are_checked_at_submit_and_on_the_worker(
    api, run_queued, settings, datasets
) -> None:
    before = _job_count(api)
    experiment = {
        "name": "e",
        "arms": [{"name": "a", "train_dataset_id": datasets["a"]}],
        "eval_dataset_id": datasets["eval"],
    }
    for path, body, loc, words in [
        ("/v1/detector-trainings", {"dataset_id": datasets["a"], "devices": [0, 0]}, ["body", "devices"], "each GPU once"),
        ("/v1/detector-trainings", {"dataset_id": datasets["a"], "devices": [-1]}, ["body", "devices"], "0 or more"),
        ("/v1/detector-trainings", {"dataset_id": datasets["a"], "devices": []}, ["body", "devices"], "at least 1"),
        ("/v1/detector-trainings", {"dataset_id": datasets["a"], "batch": 6, "devices": [0, 1, 2, 3]}, ["body"], "batch (6)"),
        ("/v1/experiments", {**experiment, "model": {"batch": 6, "devices": [0, 1, 2, 3]}}, ["body", "model"], "batch (6)"),
    ]:  # fmt: skip
        r = api.post(path, json=body)
        assert r.status_code == 422, r.text
        (error,) = r.json()["detail"]
        assert error["loc"] == loc and words in error["msg"], error
    assert _job_count(api) == before
    # This worker has no GPU: the job fails at once, saying so, instead of hanging in a DDP launch.
    r = api.post("/v1/detector-trainings", json={"dataset_id": datasets["a"], **TINY, "devices": [0, 1]})
    assert r.status_code == 202, r.text
    job = run_one(run_queued, settings, "train_detector", r.json()["id"])
    assert job.status == "failed" and "devices [0, 1] names GPU 0, 1 but this worker sees 0 GPUs" in job.error
    assert job.attempts == 1
