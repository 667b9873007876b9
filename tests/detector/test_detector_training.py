"""YOLOv5 training through ultralytics: per-epoch records, checkpoints, stop and resume, weights checks.

From scratch on a dozen tiny images mAP stays 0, so these check that training ran, wrote weights and
recorded metrics, not that it learned.
"""

from __future__ import annotations

import math
import pickle
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from services.detector.offline import prepare_ultralytics
from services.detector.yolo_dataset import write_yolo_dataset

CLASSES = ["red", "green"]
SIZE = 160


def synthetic_samples(n: int, seed: int) -> list[tuple[bytes, list[str]]]:
    """Grey PNGs with red (class 0) and green (class 1) rectangles and their YOLO labels."""
    rng = np.random.default_rng(seed)
    samples = []
    for _ in range(n):
        img = np.full((SIZE, SIZE, 3), 110, np.uint8)
        lines = []
        for _ in range(2):
            cls = int(rng.integers(0, 2))
            w, h = (int(v) for v in rng.integers(30, 70, 2))
            x, y = int(rng.integers(0, SIZE - w)), int(rng.integers(0, SIZE - h))
            cv2.rectangle(img, (x, y), (x + w - 1, y + h - 1), (0, 0, 255) if cls == 0 else (0, 255, 0), -1)
            lines.append(f"{cls} {(x + w / 2) / SIZE} {(y + h / 2) / SIZE} {w / SIZE} {h / SIZE}")
        ok, buf = cv2.imencode(".png", img)
        assert ok
        samples.append((buf.tobytes(), lines))
    return samples


@pytest.fixture(scope="module")
def data_yaml(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch

    torch.set_num_threads(2)
    prepare_ultralytics(tmp_path_factory.mktemp("ultralytics_home"))
    root = tmp_path_factory.mktemp("yolo_ds")
    return write_yolo_dataset(root, CLASSES, synthetic_samples(8, 0), synthetic_samples(4, 1))


def _cfg(epochs: int = 2, **kw: object):
    from services.detector.training import DetectorTrainConfig

    values: dict = {"model": "yolov5n", "imgsz": SIZE, "epochs": epochs, "batch": 8, "device": "cpu", **kw}
    return DetectorTrainConfig(**values)


@pytest.fixture(scope="module")
def trained(data_yaml: Path, tmp_path_factory: pytest.TempPathFactory):
    from services.detector.training import train_detector

    seen, checkpoints = [], []
    result = train_detector(
        _cfg(2),
        data_yaml,
        tmp_path_factory.mktemp("run"),
        on_epoch_end=seen.append,
        on_checkpoint=checkpoints.append,
    )
    return result, seen, checkpoints


def test_training_writes_weights_and_records_every_epoch(trained) -> None:
    from services.detector.weights import inspect_weights

    result, seen, checkpoints = trained
    assert result.best.is_file() and result.last.is_file()
    assert [r.epoch for r in result.epochs] == [1, 2] and seen == result.epochs and result.start_epoch == 1
    for record in result.epochs:
        assert record.epochs == 2
        assert set(record.losses) == {"box_loss", "cls_loss", "dfl_loss"}
        assert all(math.isfinite(v) and v > 0 for v in record.losses.values())
        for metric in (record.precision, record.recall, record.map50, record.map50_95):
            assert 0.0 <= metric <= 1.0
        assert record.lr and record.seconds > 0
        assert set(record.to_dict()) >= {"epoch", "losses", "map50", "map50_95", "precision", "recall"}
    assert set(result.final_metrics) == {"precision", "recall", "map50", "map50_95", "ap50_per_class"}
    assert set(result.final_metrics["ap50_per_class"]) <= set(CLASSES)
    assert result.architecture == "yolov5n" and result.class_names == CLASSES
    # last.pt is offered after each epoch (best.pt too when it improved).
    assert [p.name for p in checkpoints].count("last.pt") == 2

    info = inspect_weights(result.best)
    assert info["architecture"] == "yolov5n" and info["class_names"] == CLASSES and info["imgsz"] == SIZE
    assert info["resumable"] is False  # a finished training's weights carry no optimizer state


def test_stopped_training_resumes_at_the_next_epoch(data_yaml: Path, tmp_path: Path) -> None:
    from services.detector.training import TrainingStopped, train_detector
    from services.detector.weights import inspect_weights

    first: list = []
    with pytest.raises(TrainingStopped) as stopped:
        train_detector(
            _cfg(2), data_yaml, tmp_path / "a", on_epoch_end=first.append, should_stop=lambda: bool(first)
        )
    assert [r.epoch for r in first] == [1] == [r.epoch for r in stopped.value.epochs]
    info = inspect_weights(stopped.value.last)
    assert info["resumable"] and info["epoch"] == 0 and info["epochs"] == 2

    # A new worker gets last.pt back from the object store into a fresh folder and continues.
    restored = tmp_path / "restored"
    restored.mkdir()
    shutil.copyfile(stopped.value.last, restored / "last.pt")
    second: list = []
    result = train_detector(
        _cfg(5), data_yaml, tmp_path / "b", resume_from=restored / "last.pt", on_epoch_end=second.append
    )
    assert [r.epoch for r in second] == [2] and result.start_epoch == 2  # epochs come from the checkpoint
    assert [r.epoch for r in first + second] == [1, 2]
    assert result.last.is_file() and result.best.is_file()
    assert not inspect_weights(result.last)["resumable"]


def test_resuming_a_finished_training_returns_it(trained, data_yaml: Path, tmp_path: Path) -> None:
    from services.detector.training import train_detector
    from services.detector.weights import WeightsError

    result, _, _ = trained
    # The worker died after the end but before the job was recorded: nothing is trained again.
    again = train_detector(_cfg(2), data_yaml, tmp_path / "again", resume_from=result.last)
    assert again.epochs == [] and again.best.is_file() and again.last.is_file()
    # Without its best.pt, a stripped last.pt cannot stand for a finished training: refused.
    lone = tmp_path / "lone"
    lone.mkdir()
    shutil.copyfile(result.last, lone / "last.pt")
    with pytest.raises(WeightsError, match="no optimizer state"):
        train_detector(_cfg(2), data_yaml, tmp_path / "b", resume_from=lone / "last.pt")


def test_cancel_stops_within_an_epoch(data_yaml: Path, tmp_path: Path) -> None:
    from services.detector.training import TrainingStopped, train_detector

    calls = []

    def should_stop() -> bool:
        calls.append(1)
        return len(calls) >= 2  # the second batch of the first epoch

    records: list = []
    with pytest.raises(TrainingStopped):
        train_detector(
            _cfg(2, batch=2), data_yaml, tmp_path, on_epoch_end=records.append, should_stop=should_stop
        )
    assert records == []  # stopped before the first epoch ended


def test_training_starts_from_user_weights_of_the_same_architecture(
    trained, data_yaml: Path, tmp_path: Path
) -> None:
    from services.detector.training import train_detector
    from services.detector.weights import WeightsError

    result, _, _ = trained
    with pytest.raises(WeightsError, match="holds a yolov5n model but the training asks for yolov5s"):
        train_detector(_cfg(1, model="yolov5s"), data_yaml, tmp_path / "s", weights=result.best)
    tuned = train_detector(_cfg(1), data_yaml, tmp_path / "n", weights=result.best)
    assert [r.epoch for r in tuned.epochs] == [1] and tuned.best.is_file()


class _Payload:
    """Unpickling this would create a file: proof that the loader executed code from the upload."""

    def __init__(self, target: str) -> None:
        self.target = target

    def __reduce__(self):
        return (Path.touch, (Path(self.target),))


def test_files_that_are_not_ultralytics_checkpoints_are_refused(data_yaml: Path, tmp_path: Path) -> None:
    import torch

    from services.detector.weights import WeightsError, inspect_weights

    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"definitely not a checkpoint" * 10)
    with pytest.raises(WeightsError, match="not a loadable ultralytics checkpoint"):
        inspect_weights(junk)

    tensors = tmp_path / "tensors.pt"
    torch.save({"weight": torch.zeros(3)}, tensors)
    with pytest.raises(WeightsError, match="without an ultralytics model"):
        inspect_weights(tensors)

    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pt"
    torch.save({"model": _Payload(str(marker))}, evil, pickle_protocol=pickle.DEFAULT_PROTOCOL)
    with pytest.raises(WeightsError):
        inspect_weights(evil)
    assert not marker.exists(), "the checkpoint loader executed code from the file"

    with pytest.raises(WeightsError, match="must be an ultralytics .pt"):
        inspect_weights(tmp_path / "weights.onnx")
    with pytest.raises(WeightsError, match="missing or empty"):
        inspect_weights(tmp_path / "absent.pt")


def _fake_gpus(monkeypatch: pytest.MonkeyPatch, count: int) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: count > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: count)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)


def test_a_device_list_resolves_to_ultralytics_form_or_names_the_missing_gpus(monkeypatch) -> None:
    from services.detector.training import resolve_device

    _fake_gpus(monkeypatch, 2)
    assert resolve_device("auto", [0, 1]) == "0,1"
    assert resolve_device("cpu", [1]) == "1"  # the job's list wins over the worker's default
    with pytest.raises(ValueError, match=r"names GPU 2 but this worker sees 2 GPUs \(0-1\)"):
        resolve_device("auto", [0, 1, 2])
    _fake_gpus(monkeypatch, 0)
    with pytest.raises(ValueError, match="sees 0 GPUs"):
        resolve_device("auto", [0])
    with pytest.raises(ValueError, match="batch .6. must be a multiple of the 4 devices"):
        _fake_gpus(monkeypatch, 4)
        _cfg(batch=6, devices=[0, 1, 2, 3]).validate()


def test_several_gpus_reach_ultralytics_as_ddp_and_its_children_report_through_the_relay(
    trained, data_yaml: Path, tmp_path: Path, monkeypatch
) -> None:
    """Without CUDA: what reaches ultralytics' train for devices [0, 1], and the DDP children's callbacks
    (pickled with cloudpickle, as ultralytics ships them) delivering epochs and checkpoints to the job."""
    import os
    import subprocess
    import types

    import cloudpickle
    from ultralytics.engine.model import Model

    from services.detector import ddp_relay
    from services.detector.training import TrainingStopped, train_detector

    result, _, _ = trained
    _fake_gpus(monkeypatch, 2)
    monkeypatch.setenv("RANK", "0")
    captured: dict = {}

    def fake_train(self, **kwargs):  # noqa: ANN001, ANN202 - what the DDP children would do
        captured.update(kwargs)
        wdir = Path(kwargs["save_dir"]) / "weights"
        wdir.mkdir(parents=True, exist_ok=True)
        ours = {
            event: [cloudpickle.loads(cloudpickle.dumps(cb)) for cb in cbs if getattr(cb, "func", None)]
            for event, cbs in self.callbacks.items()
        }
        metrics = {"metrics/precision(B)": 0.5, "metrics/mAP50(B)": 0.25, "val/box_loss": 1.5}
        trainer = types.SimpleNamespace(
            epochs=2, tloss={"box_loss": 2.0}, metrics=metrics, fitness=0.3, best_fitness=0.3,
            best=wdir / "best.pt", last=wdir / "last.pt", lr={"lr/pg0": 0.01}, epoch_time=1.0,
        )  # fmt: skip
        try:
            for epoch in range(2):
                trainer.epoch = epoch
                for event in ("on_train_batch_end", "on_train_epoch_end"):
                    for cb in ours[event]:
                        cb(trainer)
                shutil.copyfile(result.best, trainer.best)
                shutil.copyfile(result.last, trainer.last)
                for event in ("on_model_save", "on_fit_epoch_end"):
                    for cb in ours[event]:
                        cb(trainer)
                if captured.get("pause"):
                    import time

                    time.sleep(1.5)  # the relay polls each second
        except ddp_relay.StopRequested as exc:
            raise subprocess.CalledProcessError(1, ["torch.distributed.run"]) from exc
        for cb in ours["on_fit_epoch_end"]:
            cb(trainer)  # the final validation of best.pt
        return None

    monkeypatch.setattr(Model, "train", fake_train)
    seen, checkpoints = [], []
    out = train_detector(
        _cfg(2, devices=[0, 1], batch=8),
        data_yaml,
        tmp_path / "run",
        on_epoch_end=seen.append,
        on_checkpoint=checkpoints.append,
    )
    assert captured["device"] == "0,1" and captured["batch"] == 8 and captured["amp"] == "bf16"
    assert captured["workers"] == min(8, os.cpu_count() or 1)
    assert [r.epoch for r in seen] == [1, 2] == [r.epoch for r in out.epochs]
    assert seen[0].precision == 0.5 and seen[0].map50 == 0.25 and seen[0].val_losses == {"box_loss": 1.5}
    assert [p.name for p in checkpoints] == ["best.pt", "last.pt"] * 2
    assert out.class_names == CLASSES and out.final_metrics["map50"] == 0.25

    # A cancel reaches the children through the stop file; the job sees TrainingStopped, not a crash.
    monkeypatch.setattr(Model, "train", lambda self, **kw: fake_train(self, **{**kw, "pause": True}))
    seen.clear()
    with pytest.raises(TrainingStopped):
        train_detector(
            _cfg(2, devices=[0, 1], batch=8),
            data_yaml,
            tmp_path / "run2",
            on_epoch_end=seen.append,
            should_stop=lambda: len(seen) >= 1,
        )
    assert [r.epoch for r in seen] == [1]
