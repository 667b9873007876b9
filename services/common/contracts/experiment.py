"""`experiment`: train every arm × seed (child `train_detector` jobs), evaluate each on one dataset with
identical settings (child `evaluate` jobs), and tabulate mean, spread and paired differences."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from services.common.contracts import JobKind, Payload, Result, register
from services.common.contracts.common import DetectorTrainingSettings, EvaluationSettings
from services.common.contracts.robustness import RobustnessLevels
from services.common.core.fields import Seed
from services.common.methods.translation import Translation
from services.common.power import DEFAULT_TARGET


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
    baseline_arm: str | None = Field(
        None,
        description="the arm paired differences, gap closure and power are measured from; default: the first",
    )
    oracle_arm: str | None = Field(
        None,
        description="an arm trained on real target-domain images: the table then gives each other arm's "
        "fraction of the baseline→oracle gap closed, (arm − baseline) / (oracle − baseline), per slice",
    )
    target_difference: float = Field(
        DEFAULT_TARGET,
        gt=0,
        le=1,
        description="the mAP50 difference the power analysis sizes the number of seeds for",
    )
    bootstrap_seed: Seed = Field(0, description="seed of the bootstrap over images and seeds")
    robustness: RobustnessLevels | None = Field(
        None,
        description="attach a robustness curve per arm (its first seed's detector on the evaluation set), "
        "with the experiment's evaluation settings",
    )


class ExperimentJobPayload(ExperimentPayload):
    """What the experiment job runs: the request plus what the route resolved."""

    robustness_parameter: str | None = None
    robustness_renders: list[Translation | None] | None = None


class ExperimentResult(Result):
    experiment_id: str
    runs: int


KIND = register(
    JobKind("experiment", "evaluator", "evaluator", ExperimentJobPayload, ExperimentResult, orchestrator=True)
)
