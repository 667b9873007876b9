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


class TrainDetectorResult(Result):
    model_id: str
    resumed_from_epoch: int
    final: dict[str, Any]


KIND = register(
    JobKind("train_detector", "detector", "detector.training", TrainDetectorPayload, TrainDetectorResult)
)
