"""`train_detector`: YOLOv5 on a dataset's train split, checkpointed and resumable; the model row appears
with the job's success."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from services.common.contracts import JobKind, Payload, Result, register
from services.common.contracts.common import DetectorTrainingSettings
from services.common.core.fields import Seed


class TrainDetectorPayload(DetectorTrainingSettings, Payload):
    """Also the body of POST /v1/detector-trainings (the route stores the architecture's canonical name)."""

    dataset_id: str
    seed: Seed = 0
    name: str | None = Field(None, min_length=1, max_length=255)


def initial_weights(p: DetectorTrainingSettings) -> str:
    """What a training starts from, in words (its job message, result and model say it)."""
    if p.weights_id:
        return f"detector model {p.weights_id}"
    if p.pretrained:
        return f"pretrained {p.model} v{p.pretrained_version} (operator weights)"
    return "random (from scratch)"


class TrainDetectorResult(Result):
    model_id: str
    resumed_from_epoch: int
    final: dict[str, Any]
    # "random (from scratch)", "pretrained yolov5s v1 (operator weights)" or "detector model <id>"
    initial_weights: str = ""


KIND = register(
    JobKind("train_detector", "detector", "detector.training", TrainDetectorPayload, TrainDetectorResult)
)
