"""Pretrained YOLOv5 checkpoints as operator weights: uploaded and checked without executing them, versioned,
and what a `pretrained: true` training starts from (exactly the version recorded at submit); a training
from scratch says so. The checkpoints are random-weight YOLOv5n models the test builds and saves the way
ultralytics saves checkpoints (no pretrained file can be downloaded here)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from tests.api.conftest import run_one
from tests.api.test_detectors import TINY, datasets  # noqa: F401  (the fixture)


def yolo_checkpoint(home: Path, arch: str, seed: int, first_conv_value: float | None = None) -> bytes:
    """An ultralytics checkpoint of `arch` built from its packaged config with seeded random weights (its
    first convolution filled with `first_conv_value` if given)."""
    import torch

    from services.detector.offline import prepare_ultralytics

    prepare_ultralytics(home / "detector")  # what the detector worker does before importing ultralytics
    from ultralytics import YOLO

    torch.manual_seed(seed)
    path = home / f"{arch}-{seed}-{first_conv_value}.pt"
    model = YOLO(f"{arch}.yaml")
    if first_conv_value is not None:
        model.model.model[0].conv.weight.data.fill_(first_conv_value)
    model.save(path)
    return path.read_bytes()


def first_conv(data: bytes) -> Any:
    """The first layer's convolution weights of a checkpoint (the test trusts its own files)."""
    import torch

    ckpt = torch.load(io.BytesIO(data), map_location="cpu", weights_only=False)
    model = ckpt.get("ema") or ckpt["model"]
    return model.state_dict()["model.0.conv.weight"].float()


def _jobs(api) -> int:  # noqa: ANN001
    return api.get("/v1/jobs", params={"kind": "train_detector"}).json()["total"]


def _messages(monkeypatch) -> list[str]:  # noqa: ANN001
    from services.common.runtime.worker import JobContext

    seen: list[str] = []
    real = JobContext.progress

    def record(self, fraction, message, extra=None, **counts):  # noqa: ANN001, ANN003, ANN202
        seen.append(message)
        return real(self, fraction, message, extra, **counts)

    monkeypatch.setattr(JobContext, "progress", record)
    return seen


def test_pretrained_without_a_checkpoint_is_409_naming_how_to_supply_it(api, datasets) -> None:  # noqa: F811
    before = _jobs(api)
    experiments_before = api.get("/v1/experiments").json()["total"]
    r = api.post("/v1/detector-trainings", json={"dataset_id": datasets["a"], **TINY, "pretrained": True})
    detail = r.json()["detail"]
    assert r.status_code == 409, r.text
    assert detail.startswith("pretrained: no pretrained yolov5n checkpoint")
    assert "/v1/weights/yolov5n" in detail and "SIM2REAL_YOLOV5N_WEIGHTS" in detail
    assert "from scratch" in detail
    exp = api.post(
        "/v1/experiments",
        json={
            "name": "x",
            "arms": [{"name": "a", "train_dataset_id": datasets["a"]}],
            "eval_dataset_id": datasets["eval"],
            "model": {**TINY, "pretrained": True},
            "seeds": [0],
        },
    )
    assert exp.status_code == 409 and exp.json()["detail"].startswith("model.pretrained: "), exp.text
    assert api.get("/v1/experiments").json()["total"] == experiments_before
    assert _jobs(api) == before
    for body, words in [
        ({"pretrained_version": 1}, "pretrained_version: only with pretrained: true"),
        ({"pretrained": True, "weights_id": "x"}, "pretrained: give either weights_id"),
    ]:
        r = api.post("/v1/detector-trainings", json={"dataset_id": datasets["a"], **TINY, **body})
        assert r.status_code in (404, 422) and words in r.json()["detail"], r.text
    assert _jobs(api) == before


def test_checkpoint_uploads_are_checked_without_executing_them(api, settings, tmp_path) -> None:
    n = yolo_checkpoint(tmp_path, "yolov5n", 0)
    r = api.post("/v1/weights/yolov5s", files={"file": ("yolov5s.pt", n)})
    assert r.status_code == 422 and "holds a yolov5n model, not yolov5s" in r.json()["detail"], r.text
    import pickle

    r = api.post("/v1/weights/yolov5n", files={"file": ("x.pt", pickle.dumps({"model": 1}))})
    assert r.status_code == 422
    for value, words in (
        (float("nan"), "model.0.conv.weight holds 1728 NaN"),
        (0.0, "model.0.conv.weight is constant"),
    ):
        r = api.post(
            "/v1/weights/yolov5n", files={"file": ("x.pt", yolo_checkpoint(tmp_path, "yolov5n", 0, value))}
        )
        assert r.status_code == 422 and words in r.json()["detail"], r.text
    assert list(api.app.state.store.list("models/yolov5")) == []
    listed = {w["name"]: w for w in api.get("/v1/weights").json()["weights"]}
    assert {"yolov5n", "yolov5x", "yolov5n6", "yolov5x6"} <= set(listed)
    assert listed["yolov5n"]["available"] is False


def test_pretrained_training_loads_exactly_the_recorded_version(
    api,
    run_queued,
    settings,
    datasets,  # noqa: F811
    tmp_path,
    monkeypatch,
) -> None:
    v1 = yolo_checkpoint(tmp_path, "yolov5n", 1)
    r = api.post("/v1/weights/yolov5n", files={"file": ("yolov5nu.pt", v1)})
    assert r.status_code == 201 and r.json()["version"] == 1, r.text
    # The first layer stays frozen, so the trained model still holds the weights it started from.
    body = {"dataset_id": datasets["a"], **TINY, "pretrained": True, "hyperparameters": {"freeze": 1}}
    r = api.post("/v1/detector-trainings", json=body)
    assert r.status_code == 202, r.text
    assert r.json()["params"]["pretrained"] is True and r.json()["params"]["pretrained_version"] == 1
    # A newer version arriving meanwhile does not change what the queued job loads.
    v2 = yolo_checkpoint(tmp_path, "yolov5n", 2)
    assert api.post("/v1/weights/yolov5n", files={"file": ("n.pt", v2)}).json()["version"] == 2
    assert not first_conv(v1).equal(first_conv(v2))

    messages = _messages(monkeypatch)
    job = run_one(run_queued, settings, "train_detector", r.json()["id"])
    assert job.status == "succeeded", job.error
    assert job.result["initial_weights"] == "pretrained yolov5n v1 (operator weights)"
    assert all("pretrained yolov5n v1" in m for m in messages), messages
    model = api.get(f"/v1/detector-models/{job.id}").json()
    assert model["options"]["initial_weights"] == job.result["initial_weights"]
    trained = api.get(f"/v1/detector-models/{job.id}/weights").content
    assert first_conv(trained).equal(first_conv(v1))

    # Pinning a version, and a version that does not exist.
    r = api.post("/v1/detector-trainings", json={**body, "pretrained_version": 3})
    assert r.status_code == 409 and "versions 1, 2, not 3" in r.json()["detail"], r.text
    r = api.post("/v1/detector-trainings", json={**body, "pretrained_version": 2})
    assert r.status_code == 202 and r.json()["params"]["pretrained_version"] == 2
    assert api.delete(f"/v1/jobs/{r.json()['id']}").status_code in (200, 202)

    # An experiment's arms all start from the version resolved at submit.
    exp = api.post(
        "/v1/experiments",
        json={
            "name": "pretrained",
            "arms": [{"name": "a", "train_dataset_id": datasets["a"]}],
            "eval_dataset_id": datasets["eval"],
            "model": {**TINY, "pretrained": True},
            "seeds": [0],
        },
    )
    assert exp.status_code == 202 and exp.json()["params"]["model"]["pretrained_version"] == 2, exp.text
    assert api.delete(f"/v1/jobs/{exp.json()['id']}").status_code in (200, 202)


def test_a_training_from_scratch_says_so(api, run_queued, settings, datasets, tmp_path, monkeypatch) -> None:  # noqa: F811
    messages = _messages(monkeypatch)
    r = api.post("/v1/detector-trainings", json={"dataset_id": datasets["a"], **TINY})
    job = run_one(run_queued, settings, "train_detector", r.json()["id"])
    assert job.status == "succeeded", job.error
    assert job.result["initial_weights"] == "random (from scratch)"
    assert messages and all("from random (from scratch)" in m for m in messages), messages
    model = api.get(f"/v1/detector-models/{job.id}").json()
    assert model["options"]["initial_weights"] == "random (from scratch)"


@pytest.mark.parametrize("arch", ["yolov5n6"])
def test_p6_checkpoints_are_their_own_weights(api, tmp_path, arch: str) -> None:
    data = yolo_checkpoint(tmp_path, arch, 0)
    assert api.post("/v1/weights/yolov5n", files={"file": ("x.pt", data)}).status_code == 422
    r = api.post(f"/v1/weights/{arch}", files={"file": ("x.pt", data)})
    assert r.status_code == 201 and r.json()["key"] == f"models/{arch}/v1/{arch}.pt", r.text


def test_a_checkpoint_named_by_its_setting_is_published_at_start_up(client_for, settings, tmp_path) -> None:
    from services.detector.worker import make_runtime

    path = tmp_path / "yolov5nu.pt"
    path.write_bytes(yolo_checkpoint(tmp_path, "yolov5n", 0))
    configured = settings.model_copy(update={"yolov5n_weights": path})
    from services.common.core import weights
    from services.common.core.db.session import session_scope

    make_runtime(configured)  # the detector worker publishes it (so does the API and every other worker)
    with session_scope(settings.resolved_database_url) as s:
        assert [v.version for v in weights.versions(s, "yolov5n")] == [1]
    api = client_for(configured)
    (listed,) = [w for w in api.get("/v1/weights").json()["weights"] if w["name"] == "yolov5n"]
    assert [(v["version"], v["source"]) for v in listed["versions"]] == [(1, "path")]
    assert listed["available"] is True
