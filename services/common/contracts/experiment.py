"""`experiment`: train every arm × seed (child `train_detector` jobs), evaluate each on one dataset with
identical settings (child `evaluate` jobs), and tabulate mean, spread and paired differences."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from services.common.contracts import JobKind, Payload, Result, register
from services.common.contracts.common import DetectorTrainingSettings, EvaluationSettings
from services.common.core.fields import Seed


class ExperimentArm(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    train_dataset_id: str


class ExperimentPayload(EvaluationSettings, Payload):
    """Also the body of POST /v1/experiments."""

    name: str = Field(min_length=1, max_length=255)
    arms: list[ExperimentArm] = Field(min_length=1)
    eval_dataset_id: str
    model: DetectorTrainingSettings = Field(default_factory=DetectorTrainingSettings)
    seeds: list[Seed] = Field([0, 1, 2], min_length=1)


class ExperimentResult(Result):
    experiment_id: str
    runs: int


KIND = register(
    JobKind("experiment", "evaluator", "evaluator", ExperimentPayload, ExperimentResult, orchestrator=True)
)
