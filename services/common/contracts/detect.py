"""`detect`: interim contract (payload fields still read as a dict by its body)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from services.common.contracts import JobKind, Payload, register


class DetectPayload(Payload):
    model_config = ConfigDict(extra="allow")


class DetectResult(BaseModel):
    model_config = ConfigDict(extra="allow")


KIND = register(JobKind("detect", "detector", "detector", DetectPayload, DetectResult))
