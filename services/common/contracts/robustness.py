"""`robustness`: mAP50 of one detector on one dataset rendered at several intensities of a weather (child
`translate_dataset` jobs, reused across curves) and evaluated at each (child `evaluate` jobs)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from services.common.contracts import JobKind, Payload, Result, register
from services.common.contracts.common import EvaluationSettings
from services.common.core.fields import Seed
from services.common.methods.translation import Translation

LEVELS_HELP = (
    "values of the weather's intensity parameter (GET /v1/weathers: fog visibility_m, rain and snow "
    "intensity_mm_h); null = the unmodified dataset. E.g. fog [null, 500, 200, 100, 50], rain [null, 5, 10, "
    "25, 50]"
)


class RobustnessLevels(BaseModel):
    """Which weather, at which intensities: what a curve varies (an experiment attaches it per arm)."""

    model_config = ConfigDict(extra="forbid")

    weather: str = Field(description="a weather with an intensity parameter: fog, rain, snow")
    levels: list[float | None] = Field(min_length=1, max_length=20, description=LEVELS_HELP)
    seed: Seed = Field(0, description="rendering and bootstrap seed; rendered sets are cached by it")


class RobustnessCreate(RobustnessLevels, EvaluationSettings):
    """The body of POST /v1/robustness."""

    detector_model_id: str
    dataset_id: str = Field(description="the evaluation dataset; rendered at every non-null level")


class RobustnessPayload(RobustnessCreate, Payload):
    # Fixed at submit: the intensity parameter and, per level, the translation (None for null).
    parameter: str
    renders: list[Translation | None]


class RobustnessResult(Result):
    robustness_id: str
    levels: int
    rendered: int  # datasets rendered by this job (the others came from the cache)


KIND = register(
    JobKind("robustness", "evaluator", "evaluator", RobustnessPayload, RobustnessResult, orchestrator=True)
)
