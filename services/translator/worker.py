"""Celery entry point of the translator worker: `celery -A services.translator.worker worker -Q translator`."""

from services.common.worker import WorkerRuntime
from services.translator import tasks

runtime = WorkerRuntime("translator")
tasks.register(runtime)
app = runtime.celery
