"""Real rows for the result pages, made through the public API on the embedded stack: a tiny YOLO set, a
yolov5n detector trained for one epoch, two evaluations of it and their comparison, a 1 x 1 experiment and a
CycleGAN trained for two tiny epochs. Slow (training on the CPU): only the slow browser test uses it."""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np

from tests.api.detection_fixtures import make_bdd_eval, make_yolo_train, write_predictions
from tests.scenes import png_bytes
from tests.web.conftest import wait_job

TINY = {"model": "yolov5n", "imgsz": 64, "epochs": 1, "batch": 4}


@dataclass
class ResultRows:
    train_id: str
    eval_dataset_id: str
    detector_id: str
    evaluation_ids: list[str]
    comparison_id: str
    experiment_id: str
    translator_id: str


def _ok(r: httpx.Response, code: int = 202) -> dict:
    assert r.status_code == code, r.text
    return r.json()


def _done(url: str, job_id: str, timeout: float) -> dict:
    job = wait_job(url, job_id, timeout)
    assert job["status"] == "succeeded", job
    return job


def _image_set(url: str, seed: int) -> str:
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for i in range(4):
            z.writestr(f"img_{i}.png", png_bytes(rng.integers(0, 255, (48, 80, 3), dtype=np.uint8)))
    return _ok(httpx.post(f"{url}/v1/image-sets", files={"archive": ("s.zip", buf.getvalue())}), 201)[
        "prefix"
    ]


def make_result_rows(url: str, data: Path) -> ResultRows:
    """Every job is submitted first and awaited after, so the stack's workers train side by side."""
    make_yolo_train(data / "yolo", n_train=8, n_val=4, size=96)
    frames = make_bdd_eval(data / "bdd")
    write_predictions(data / "predictions", frames, 320, 192, drop_trucks=True)
    post = lambda path, body: _ok(httpx.post(f"{url}{path}", json=body, timeout=30))  # noqa: E731
    train_job = post(
        "/v1/datasets", {"name": "yolo tiny", "format": "yolo", "uri": f"file://{data / 'yolo'}"}
    )
    eval_job = post(
        "/v1/datasets",
        {
            "name": "bdd tiny",
            "format": "bdd100k",
            "uri": f"file://{data / 'bdd'}",
            "options": {"reader": {"split": "val"}, "split": {"val_fraction": 0}},
        },
    )
    translator = post(
        "/v1/translator-models",
        {
            "name": "tiny cyclegan",
            "weather": "fog",
            "domain_a": {"prefix": _image_set(url, 10)},
            "domain_b": {"prefix": _image_set(url, 11)},
            "options": {
                "ngf": 8,
                "ndf": 8,
                "n_blocks": 2,
                "n_epochs": 1,
                "n_epochs_decay": 1,
                "load_size": 40,
                "crop_size": 32,
                "sample_count": 2,
                "preprocess": "resize_and_crop",
            },
        },
    )
    train_id = _done(url, train_job["id"], 60)["result"]["dataset_id"]
    eval_id = _done(url, eval_job["id"], 60)["result"]["dataset_id"]
    detector = post("/v1/detector-trainings", {"dataset_id": train_id, **TINY, "seed": 0})
    experiment = post(
        "/v1/experiments",
        {
            "name": "tiny study",
            "arms": [{"name": "baseline", "train_dataset_id": train_id}],
            "eval_dataset_id": eval_id,
            "model": TINY,
            "seeds": [0],
            "n_boot": 20,
        },
    )
    _done(url, detector["id"], 300)
    scoring = {"dataset_id": eval_id, "n_boot": 20, "slice_by": ["occlusion", "weather"]}
    evaluations = [
        post("/v1/evaluations", {**scoring, "detector_model_id": detector["id"]})["id"],
        post("/v1/evaluations", {**scoring, "predictions_uri": f"file://{data / 'predictions'}"})["id"],
    ]
    for e in evaluations:
        _done(url, e, 300)
    comparison = post("/v1/evaluations/compare", {"a": evaluations[0], "b": evaluations[1], "n_boot": 20})
    _done(url, comparison["id"], 120)
    _done(url, translator["id"], 300)
    _done(url, experiment["id"], 400)
    return ResultRows(
        train_id, eval_id, detector["id"], evaluations, comparison["id"], experiment["id"], translator["id"]
    )
