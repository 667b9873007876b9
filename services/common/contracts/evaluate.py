"""`evaluate`: mAP@0.5 by slice and class of a detector (run as a child `detect` job) or of prediction
files, against a dataset's ground truth."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from services.common.contracts import JobKind, Payload, Result, register
from services.common.contracts.common import EvaluationSettings
from services.common.core.fields import Seed
from services.common.evaluation import validate_buckets


class EvaluationCreate(EvaluationSettings):
    """The body of POST /v1/evaluations."""

    dataset_id: str
    detector_model_id: str | None = None
    predictions_uri: str | None = Field(None, description="folder of YOLO `class cx cy w h conf` .txt files")
    split: Literal["train", "val"] | None = Field(None, description="default: every image of the dataset")


class EvaluatePayload(EvaluationCreate, Payload):
    seed: Seed = Field(0, description="bootstrap seed")

    @model_validator(mode="after")
    def _one_source(self) -> EvaluatePayload:
        if bool(self.detector_model_id) == bool(self.predictions_uri):
            raise ValueError("give exactly one of detector_model_id or predictions_uri")
        validate_buckets(self.buckets)
        return self


class EvaluateResult(Result):
    evaluation_id: str
    images: int
    images_without_pixels: int
    predictions: int
    map50: dict[str, float]  # per slice, over all classes


KIND = register(
    JobKind(
        "evaluate",
        "evaluator",
        "evaluator",
        EvaluatePayload,
        EvaluateResult,
        orchestrator=True,
        children_share=0.8,  # its detections; matching and bootstrap make the rest
    )
)
