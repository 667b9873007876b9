"""The Celery app and sending jobs to it. The API sends tasks by name and imports no worker code.

Queues and task names come from the job contracts (services.common.contracts).
"""

from __future__ import annotations

from celery import Celery
from kombu import Queue
from kombu.transport import TRANSPORT_ALIASES

from services.common import contracts
from services.common.core.settings import Settings

FILE_BROKER = "sim2real-files"
TRANSPORT_ALIASES[FILE_BROKER] = "services.common.core.file_broker:Transport"


def broker_options(settings: Settings) -> tuple[str, dict]:
    """Broker URL and transport options; embedded mode spools messages to files under `home`."""
    if settings.broker_url:
        # Unacknowledged messages come back after this long; it must outlast the longest job.
        options: dict = {"visibility_timeout": settings.visibility_timeout_s}
        if settings.broker_key_prefix:
            options["global_keyprefix"] = settings.broker_key_prefix
        return settings.broker_url, options
    folder = settings.broker_folder
    for sub in ("out", "processed", "control"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    # kombu's filesystem transport, writing each message atomically (see file_broker).
    return f"{FILE_BROKER}://", {
        "data_folder_in": str(folder / "out"),
        "data_folder_out": str(folder / "out"),
        "processed_folder": str(folder / "processed"),
        "store_processed": False,
        # The file broker polls; kombu's 1 s default would dominate a short job's latency.
        "polling_interval": 0.05,
        # Exchange bindings; kombu's default is a "control" folder in the working directory.
        "control_folder": str(folder / "control"),
    }


def make_celery(settings: Settings, name: str = "sim2real") -> Celery:
    url, transport_options = broker_options(settings)
    app = Celery(name, broker=url)
    app.conf.update(
        task_queues=[Queue(q, routing_key=q) for q in contracts.queues()],
        task_routes={
            k.task_name: {"queue": k.queue, "routing_key": k.queue} for k in contracts.kinds().values()
        },
        task_default_queue=contracts.queues()[0],
        broker_transport_options=transport_options,
        broker_connection_retry_on_startup=True,
        # Long GPU jobs: acknowledge after the work, one message at a time, re-queue on worker loss.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        worker_hijack_root_logger=False,
        # The filesystem transport has no fanout for remote control.
        worker_enable_remote_control=bool(settings.broker_url),
        worker_send_task_events=False,
    )
    return app


def send_job(app: Celery, kind: str, job_id: str, countdown: float | None = None) -> None:
    """Queue a job by task name; the message carries only the job id."""
    spec = contracts.get(kind)
    app.send_task(
        spec.task_name, args=[job_id], queue=spec.queue, routing_key=spec.queue, countdown=countdown
    )
