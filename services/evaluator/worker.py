"""Celery entry point of the evaluator worker: `celery -A services.evaluator.worker worker -Q evaluator`."""

from __future__ import annotations

from services.common.core.settings import Settings
from services.common.runtime.worker import WorkerRuntime, celery_entry


def make_runtime(settings: Settings | None = None) -> WorkerRuntime:
    runtime = WorkerRuntime("evaluator", settings)
    runtime.register_jobs()
    return runtime


__getattr__ = celery_entry(globals(), make_runtime)
