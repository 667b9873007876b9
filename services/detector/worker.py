"""Celery entry point of the detector worker: `celery -A services.detector.worker worker -Q detector`."""

from __future__ import annotations

from services.common.core.settings import Settings
from services.common.core.weights import publish_configured
from services.common.runtime.worker import WorkerRuntime, celery_entry


def make_runtime(settings: Settings | None = None) -> WorkerRuntime:
    from services.detector.offline import prepare_ultralytics

    runtime = WorkerRuntime("detector", settings)
    # Before anything imports ultralytics: offline mode, fonts and settings under the service's home.
    prepare_ultralytics(runtime.settings.home / "detector")
    # Pretrained checkpoints given as SIM2REAL_YOLOV5*_WEIGHTS become versions trainings can start from.
    publish_configured(runtime.settings, runtime.store)
    runtime.register_jobs()
    return runtime


__getattr__ = celery_entry(globals(), make_runtime)
