"""`train_detector`: interim contract (payload fields still read as a dict by its body)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from services.common.contracts import JobKind, Payload, register


class TrainDetectorPayload(Payload):
    model_config = ConfigDict(extra="allow")


class TrainDetectorResult(BaseModel):
    model_config = ConfigDict(extra="allow")


KIND = register(JobKind("train_detector", "detector", "detector", TrainDetectorPayload, TrainDetectorResult))
