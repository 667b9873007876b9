"""Architectures, the YOLO dataset writer and training-config validation (no training here)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from services.common.detectors import ARCHITECTURES, OWN_TRAIN_ARGS, PASSTHROUGH_TRAIN_ARGS, get_architecture
from services.detector.offline import prepare_ultralytics
from services.detector.yolo_dataset import write_yolo_dataset


@pytest.fixture(scope="module", autouse=True)
def offline_ultralytics(tmp_path_factory: pytest.TempPathFactory) -> None:
    prepare_ultralytics(tmp_path_factory.mktemp("ultralytics_home"))


def _png(colour: tuple[int, int, int] = (0, 0, 255)) -> bytes:
    img = np.full((32, 48, 3), colour, np.uint8)
    ok, buf = cv2.imencode(".png", img)
    assert ok
    return buf.tobytes()


def test_every_yolov5_scale_has_a_p5_and_a_p6_architecture() -> None:
    assert set(ARCHITECTURES) == {f"yolov5{s}" for s in "nsmlx"} | {f"yolov5{s}6" for s in "nsmlx"}
    assert get_architecture("yolov5s").yaml == "yolov5s.yaml"
    assert get_architecture("YOLOv5m6").yaml == "yolov5m-p6.yaml"
    assert get_architecture("yolov5nu").name == "yolov5n"  # ultralytics' own name for the same model
    assert get_architecture("yolov5l6u.pt").name == "yolov5l6"


def test_unknown_architecture_is_refused_with_the_allowed_names() -> None:
    with pytest.raises(ValueError, match="yolov5n, yolov5s") as err:
        get_architecture("yolov8n")
    assert "yolov5x6" in str(err.value)


def test_the_frozen_training_arguments_are_ultralytics_train_arguments() -> None:
    """The API validates hyperparameters against lists frozen in common (no ultralytics there); the installed
    ultralytics must know every one of them, and a user-settable one is never one the service owns."""
    from ultralytics.cfg import DEFAULT_CFG_DICT

    assert not PASSTHROUGH_TRAIN_ARGS - set(DEFAULT_CFG_DICT), "ultralytics no longer knows these"
    assert not OWN_TRAIN_ARGS - set(DEFAULT_CFG_DICT), "ultralytics no longer knows these"
    assert not PASSTHROUGH_TRAIN_ARGS & OWN_TRAIN_ARGS


@pytest.mark.parametrize("name, stride", [("yolov5n", 32), ("yolov5n6", 64)])
def test_architecture_builds_from_the_packaged_config(name: str, stride: int) -> None:
    from ultralytics import YOLO

    arch = get_architecture(name)
    model = YOLO(arch.yaml)
    assert int(model.model.stride.max()) == stride == arch.max_stride
    assert model.model.yaml["scale"] == "n"


def test_dataset_layout_is_what_ultralytics_reads(tmp_path: Path) -> None:
    src = tmp_path / "src.jpg"
    cv2.imwrite(str(src), np.zeros((20, 30, 3), np.uint8))
    train = [(_png(), ["0 0.5 0.5 0.25 0.5"]), (src, "1 0.1 0.2 0.1 0.2\n\n0 0.9 0.9 0.1 0.1\n")]
    val = [(_png((0, 255, 0)), [])]  # an image without boxes is a background image
    data_yaml = write_yolo_dataset(tmp_path / "ds", ["car", "van"], train, val)

    spec = yaml.safe_load(data_yaml.read_text())
    assert spec["names"] == ["car", "van"] and spec["train"] == "images/train" and spec["val"] == "images/val"
    root = Path(spec["path"])
    train_images = sorted((root / "images" / "train").iterdir())
    assert [p.suffix for p in train_images] == [".png", ".jpg"]
    assert train_images[1].stem.endswith("_src")
    labels = [(root / "labels" / "train" / f"{p.stem}.txt").read_text() for p in train_images]
    assert labels[0] == "0 0.500000 0.500000 0.250000 0.500000\n"
    assert labels[1].splitlines() == [
        "1 0.100000 0.200000 0.100000 0.200000",
        "0 0.900000 0.900000 0.100000 0.100000",
    ]
    assert (root / "labels" / "val").joinpath(
        next((root / "images" / "val").iterdir()).stem + ".txt"
    ).read_text() == ""

    # Rewriting replaces the splits instead of mixing in files of the earlier write.
    write_yolo_dataset(tmp_path / "ds", ["car", "van"], train[:1], val)
    assert len(list((root / "images" / "train").iterdir())) == 1


@pytest.mark.parametrize(
    "line, message",
    [
        ("2 0.5 0.5 0.1 0.1", "class 2 outside 0..1"),
        ("0 0.5 0.5 1.5 0.1", "normalised"),
        ("0 0.5 0.5 0.1", "expected 'class cx cy w h'"),
        ("car 0.5 0.5 0.1 0.1", "not numbers"),
        ("0 0.5 0.5 0 0.1", "normalised"),
    ],
)
def test_bad_label_lines_are_refused(tmp_path: Path, line: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        write_yolo_dataset(tmp_path, ["car", "van"], [(_png(), [line])], [(_png(), [])])


def test_empty_splits_unknown_bytes_and_duplicate_names_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="validation split is empty"):
        write_yolo_dataset(tmp_path, ["car"], [(_png(), [])], [])
    with pytest.raises(ValueError, match="training split is empty"):
        write_yolo_dataset(tmp_path, ["car"], [], [(_png(), [])])
    with pytest.raises(ValueError, match="JPEG or PNG"):
        write_yolo_dataset(tmp_path, ["car"], [(b"GIF89a....", [])], [(_png(), [])])
    with pytest.raises(ValueError, match="unique"):
        write_yolo_dataset(tmp_path, ["car", "car"], [(_png(), [])], [(_png(), [])])
    with pytest.raises(ValueError, match="does not exist"):
        write_yolo_dataset(tmp_path, ["car"], [(tmp_path / "missing.png", [])], [(_png(), [])])


def test_training_config_refuses_unknown_model_and_hyperparameters() -> None:
    from services.detector.training import DetectorTrainConfig

    DetectorTrainConfig(
        model="yolov5n", hyperparameters={"mosaic": 0.5, "lrf": 0.1, "cos_lr": True}
    ).validate()
    with pytest.raises(ValueError, match="unknown detector architecture 'yolov9c'.*yolov5n"):
        DetectorTrainConfig(model="yolov9c").validate()
    with pytest.raises(
        ValueError, match=r"unknown or unsupported hyperparameter\(s\) 'mosiac'.*valid ones include"
    ):
        DetectorTrainConfig(hyperparameters={"mosiac": 1.0}).validate()
    with pytest.raises(ValueError, match="set epochs as a field of its own"):
        DetectorTrainConfig(hyperparameters={"epochs": 3}).validate()
    with pytest.raises(ValueError, match="hyperparameter.*'save_dir'"):
        DetectorTrainConfig(hyperparameters={"save_dir": "/etc"}).validate()
    with pytest.raises(ValueError, match="invalid hyperparameter value"):
        DetectorTrainConfig(hyperparameters={"mosaic": "lots"}).validate()
    with pytest.raises(ValueError, match="optimizer must be one of"):
        DetectorTrainConfig(optimizer="LBFGS").validate()
    with pytest.raises(ValueError, match="imgsz must be"):
        DetectorTrainConfig(imgsz=0).validate()
    with pytest.raises(ValueError, match="device must be auto, cpu"):
        DetectorTrainConfig(device="tpu").validate()


def test_the_hyperparameter_table_accepts_ultralytics_defaults_and_the_worker_uses_it() -> None:
    """The API's table must not refuse what ultralytics itself ships as a default, and the worker refuses
    what the API refuses (one definition)."""
    from ultralytics.cfg import DEFAULT_CFG_DICT

    from services.common.detectors import check_hyperparameters
    from services.detector.training import DetectorTrainConfig

    check_hyperparameters({k: DEFAULT_CFG_DICT[k] for k in PASSTHROUGH_TRAIN_ARGS})
    with pytest.raises(ValueError, match=r"hyperparameters\.time: invalid hyperparameter value -5"):
        DetectorTrainConfig(hyperparameters={"time": -5}).validate()
