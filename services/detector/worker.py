"""Celery entry point of the detector worker: `celery -A services.detector.worker worker -Q detector`."""

from services.common.worker import WorkerRuntime
from services.detector import tasks

runtime = WorkerRuntime("detector")
tasks.register(runtime)
app = runtime.celery
