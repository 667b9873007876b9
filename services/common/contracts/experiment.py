"""`experiment`: interim contract (payload fields still read as a dict by its body)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from services.common.contracts import JobKind, Payload, register


class ExperimentPayload(Payload):
    model_config = ConfigDict(extra="allow")


class ExperimentResult(BaseModel):
    model_config = ConfigDict(extra="allow")


KIND = register(
    JobKind("experiment", "evaluator", "evaluator", ExperimentPayload, ExperimentResult, orchestrator=True)
)
