"""Adapts ingestion, evaluation and experiments to the queue."""

from __future__ import annotations

from services.common.ingest import ingest
from services.common.worker import WorkerRuntime
from services.evaluator.experiment import step
from services.evaluator.run_evaluation import evaluate_job


def register(runtime: WorkerRuntime) -> None:
    runtime.task("ingest_dataset")(ingest)
    runtime.task("evaluate")(evaluate_job)
    runtime.task("experiment")(step)
