"""`audit_dataset`: the label-safety audit of an existing translated dataset against its source."""

from __future__ import annotations

from typing import Any

from services.common.contracts import JobKind, Payload, Result, register


class AuditDatasetPayload(Payload):
    dataset_id: str
    source_dataset_id: str


class AuditDatasetResult(Result):
    dataset_id: str
    images: int  # audited (both images present)
    summary: dict[str, Any]  # as the dataset's stats.label_audit


KIND = register(
    JobKind("audit_dataset", "translator", "translator.batch", AuditDatasetPayload, AuditDatasetResult)
)
