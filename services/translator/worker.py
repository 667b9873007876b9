"""Celery entry point of the translator worker: `celery -A services.translator.worker worker -Q translator`."""

from __future__ import annotations

from services.common.core.settings import Settings
from services.common.core.weights import publish_configured
from services.common.runtime.worker import WorkerRuntime, celery_entry


def make_runtime(settings: Settings | None = None) -> WorkerRuntime:
    runtime = WorkerRuntime("translator", settings)
    publish_configured(runtime.settings, runtime.store)
    runtime.register_jobs()
    return runtime


__getattr__ = celery_entry(globals(), make_runtime)
