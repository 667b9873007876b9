"""Detector inference: well-formed detections, RGB channel order, annotation and YOLO prediction text."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from services.detector.inference import Detection, annotate, read_predictions_txt, write_predictions_txt
from services.detector.offline import prepare_ultralytics

CLASSES = ["car", "van", "truck"]


@pytest.fixture(scope="module")
def detector(tmp_path_factory: pytest.TempPathFactory):
    """A yolov5n trained one epoch on a few generated images: untrained, but a real checkpoint."""
    import torch

    torch.set_num_threads(2)
    prepare_ultralytics(tmp_path_factory.mktemp("ultralytics_home"))
    from services.detector.inference import Detector
    from services.detector.training import DetectorTrainConfig, train_detector
    from services.detector.yolo_dataset import write_yolo_dataset

    def sample(cls: int) -> tuple[bytes, list[str]]:
        img = np.full((96, 96, 3), 120, np.uint8)
        cv2.rectangle(img, (20, 30), (59, 69), (40 * cls, 200, 255 - 60 * cls), -1)
        return cv2.imencode(".png", img)[1].tobytes(), [f"{cls} 0.417 0.521 0.417 0.417"]

    root = tmp_path_factory.mktemp("ds")
    data = write_yolo_dataset(root, CLASSES, [sample(c) for c in (0, 1, 2, 0)], [sample(1), sample(2)])
    cfg = DetectorTrainConfig(model="yolov5n", imgsz=96, epochs=1, batch=4, device="cpu")
    result = train_detector(cfg, data, tmp_path_factory.mktemp("run"))
    return Detector(result.best, device="cpu")


def test_predictions_are_well_formed(detector) -> None:
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (90, 130, 3), dtype=np.uint8), np.zeros((200, 64, 3), np.uint8)]
    per_image = detector.predict(images, conf=0.0, imgsz=96, max_det=50)
    assert len(per_image) == 2
    assert (
        detector.class_names == CLASSES and detector.architecture == "yolov5n" and detector.train_imgsz == 96
    )
    assert sum(len(d) for d in per_image) > 0  # at conf 0 even an untrained head proposes boxes
    for image, detections in zip(images, per_image, strict=True):
        h, w = image.shape[:2]
        assert len(detections) <= 50
        for d in detections:
            assert 0 <= d.cls < len(CLASSES) and d.name == CLASSES[d.cls]
            assert 0.0 <= d.conf <= 1.0
            assert 0 <= d.x1 <= d.x2 <= w and 0 <= d.y1 <= d.y2 <= h
    assert detector.predict([], conf=0.25) == []


def test_network_sees_the_rgb_image_in_rgb_order(detector) -> None:
    """ultralytics takes numpy input as BGR; a pure red RGB image must reach the network's red channel."""
    red = np.zeros((64, 64, 3), np.uint8)
    red[..., 0] = 255
    detector.predict([red])  # builds the predictor
    net = detector._model.predictor.model.model
    seen = []
    handle = net.register_forward_pre_hook(lambda _m, args: seen.append(args[0].float().mean(dim=(0, 2, 3))))
    try:
        detector.predict([red])
    finally:
        handle.remove()
    r, g, b = (float(v) for v in seen[-1])
    # Letterbox padding is grey (114) and adds the same to every channel, so compare channels, not values.
    assert r > 0.9 and g < 0.5 and b < 0.5 and abs(g - b) < 1e-6


def test_bad_inputs_are_refused(detector) -> None:
    with pytest.raises(ValueError, match="HxWx3 uint8 RGB"):
        detector.predict([np.zeros((32, 32), np.uint8)])
    with pytest.raises(ValueError, match="HxWx3 uint8 RGB"):
        detector.predict([np.zeros((32, 32, 3), np.float32)])
    with pytest.raises(ValueError, match="conf"):
        detector.predict([np.zeros((32, 32, 3), np.uint8)], conf=2.0)


def test_prediction_text_round_trips() -> None:
    dets = [
        Detection(0, "car", 0.9, 10.0, 20.0, 110.0, 70.0),
        Detection(2, "truck", 0.25, 0.0, 0.0, 200.0, 100.0),
    ]
    text = write_predictions_txt(dets, (200, 100))
    assert text.splitlines() == ["0 0.3 0.45 0.5 0.5 0.9", "2 0.5 0.5 1 1 0.25"]
    back = read_predictions_txt(text, (200, 100), CLASSES)
    assert [(d.cls, d.name) for d in back] == [(0, "car"), (2, "truck")]
    for a, b in zip(dets, back, strict=True):
        assert np.allclose([a.x1, a.y1, a.x2, a.y2, a.conf], [b.x1, b.y1, b.x2, b.y2, b.conf], atol=1e-4)
    # Boxes that spill over the image edge are clipped, as ultralytics' own boxes are.
    assert (
        write_predictions_txt([Detection(1, "van", 0.5, -10, -10, 50, 50)], (100, 100))
        == "1 0.25 0.25 0.5 0.5 0.5\n"
    )
    with pytest.raises(ValueError, match="expected 'cls cx cy w h conf'"):
        read_predictions_txt("0 0.5 0.5 0.1 0.1\n", (10, 10))


def test_annotate_draws_boxes_on_a_copy() -> None:
    image = np.zeros((120, 160, 3), np.uint8)
    out = annotate(image, [Detection(1, "van", 0.8, 30, 40, 100, 90)])
    assert out.shape == image.shape and out.dtype == np.uint8
    assert not image.any()  # the input is untouched
    assert out[65, 30].any() and out[40, 65].any()  # left and top edges are drawn
    assert not out[65, 65].any()  # the box inside stays clear
    assert out[:40, 30:100].any()  # the label sits above the box
