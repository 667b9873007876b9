"""Adapts ingestion, evaluation and experiments to the queue."""

from __future__ import annotations

from services.common.worker import WorkerRuntime


def register(runtime: WorkerRuntime) -> None:
    """The evaluator's job kinds (ingest_dataset, evaluate, experiment) are registered here as built."""
