"""`compare_evaluations`: mAP50(b) − mAP50(a) per slice of two evaluations of the same images with the same
settings, with a paired bootstrap interval; the comparison row appears with the job's success."""

from __future__ import annotations

from pydantic import Field

from services.common.contracts import JobKind, Payload, Result, register
from services.common.core.fields import Seed


class CompareEvaluationsPayload(Payload):
    """Also the body of POST /v1/evaluations/compare."""

    a: str = Field(description="evaluation id of the reference")
    b: str = Field(description="evaluation id compared with it")
    n_boot: int = Field(200, ge=1, le=10_000, description="paired bootstrap resamples over images")
    seed: Seed = 0


class CompareEvaluationsResult(Result):
    comparison_id: str
    dataset_id: str
    diff: dict[str, float]  # mAP50(b) − mAP50(a) per slice


KIND = register(
    JobKind(
        "compare_evaluations",
        "evaluator",
        "evaluator",
        CompareEvaluationsPayload,
        CompareEvaluationsResult,
    )
)
