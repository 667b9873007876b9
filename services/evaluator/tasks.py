"""Adapts ingestion, evaluation and experiments to the queue."""

from __future__ import annotations

from services.common.ingest import ingest
from services.common.worker import WorkerRuntime


def register(runtime: WorkerRuntime) -> None:
    runtime.task("ingest_dataset")(ingest)
