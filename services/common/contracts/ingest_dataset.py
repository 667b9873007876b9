"""`ingest_dataset`: interim contract (payload fields still read as a dict by its body)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from services.common.contracts import JobKind, Payload, register


class IngestDatasetPayload(Payload):
    model_config = ConfigDict(extra="allow")

    strict: bool = False  # a data problem (a skipped file, an empty split) fails the job


class IngestDatasetResult(BaseModel):
    model_config = ConfigDict(extra="allow")


KIND = register(
    JobKind("ingest_dataset", "evaluator", "evaluator", IngestDatasetPayload, IngestDatasetResult)
)
