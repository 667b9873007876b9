"""Celery entry point of the evaluator worker: `celery -A services.evaluator.worker worker -Q evaluator`."""

from services.common.worker import WorkerRuntime
from services.evaluator import tasks

runtime = WorkerRuntime("evaluator")
tasks.register(runtime)
app = runtime.celery
