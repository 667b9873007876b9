"""What every worker shares: the Celery app for one queue, job claiming, heartbeats and recovery.

A task body is a plain function of a `JobContext`; this module turns it into a Celery task that claims
the job, keeps it alive, records its outcome and cleans up what a cancelled or failed run wrote.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from celery import Celery
from celery.signals import worker_ready, worker_shutdown
from sqlalchemy.orm import Session

from services.common import jobs
from services.common.db.migrate import upgrade
from services.common.db.models import Base, Job
from services.common.db.session import session_scope
from services.common.queue import TASKS, make_celery, send_job
from services.common.settings import Settings, get_settings
from services.common.storage import ObjectStore, make_store

log = logging.getLogger("sim2real.worker")
# Longer than any orchestrator's park delay: a parked job untouched for this long lost its wake-up.
PARK_TIMEOUT_S = 300


@dataclass
class JobOutcome:
    """A result plus rows that must become visible together with the job's success."""

    result: dict[str, Any]
    rows: list[Base] = field(default_factory=list)
    # Runs in the transaction that marks the job succeeded (bulk inserts, updates of other rows).
    write: Callable[[Session], None] | None = None


class JobContext:
    def __init__(
        self, job: Job, settings: Settings, store: ObjectStore, worker_id: str, celery: Celery | None = None
    ) -> None:
        self.job_id = job.id
        self.kind = job.kind
        self.params: dict[str, Any] = dict(job.params or {})
        self.attempt = job.attempts
        self.parent_id = job.parent_id
        self.settings = settings
        self.store = store
        self.worker_id = worker_id
        self.cancelled = threading.Event()
        # Object-store prefixes this run writes; removed when the run does not succeed.
        self.output_prefixes: list[str] = []
        self.celery = celery

    def submit_child(self, kind: str, params: dict[str, Any], job_id: str) -> Job:
        """Create (once: the id is derived by the caller) and queue a child job of this one."""
        with session_scope(self.db_url) as s:
            job = s.get(Job, job_id)
            if job is None:
                job = jobs.create_job(
                    s,
                    kind,
                    params,
                    max_attempts=self.settings.max_attempts,
                    parent_id=self.job_id,
                    job_id=job_id,
                )
                s.commit()
                assert self.celery is not None
                try:
                    send_job(self.celery, kind, job_id)
                except Exception as exc:
                    # No message, no row: the next step of the parent creates and sends it again.
                    s.delete(job)
                    s.commit()
                    raise jobs.JobWaiting(
                        f"the queue is unreachable ({type(exc).__name__}); retrying", 0.0, delay_s=60
                    ) from exc
            s.expunge(job)
            return job

    @property
    def db_url(self) -> str:
        return self.settings.resolved_database_url

    def outputs(self, prefix: str) -> str:
        self.output_prefixes.append(prefix)
        return prefix

    def progress(self, fraction: float, message: str, extra: dict[str, Any] | None = None) -> None:
        """Record progress; raises JobCancelled when the job was cancelled meanwhile."""
        if self.cancelled.is_set():
            raise jobs.JobCancelled(self.job_id)
        with session_scope(self.db_url) as s:
            if not jobs.set_progress(s, self.job_id, self.worker_id, fraction, message, extra):
                self.cancelled.set()
                raise jobs.JobCancelled(self.job_id)

    def check_cancelled(self) -> None:
        if self.cancelled.is_set():
            raise jobs.JobCancelled(self.job_id)


Handler = Callable[[JobContext], "JobOutcome | dict[str, Any]"]


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class WorkerRuntime:
    """One per worker process: settings, store, and the recovery sweeper for its queue."""

    def __init__(self, queue: str, settings: Settings | None = None) -> None:
        self.queue = queue
        self.settings = settings or get_settings()
        self.celery: Celery = make_celery(self.settings, name=f"sim2real-{queue}")
        self._stop = threading.Event()
        self._sweeper: threading.Thread | None = None
        self.handlers: dict[str, Handler] = {}
        worker_ready.connect(self._on_ready, weak=False)
        worker_shutdown.connect(lambda **_: self._stop.set(), weak=False)

    @cached_property
    def store(self) -> ObjectStore:
        return make_store(self.settings)

    def _on_ready(self, **_: Any) -> None:
        upgrade(self.settings.resolved_database_url)
        self._sweeper = threading.Thread(target=self._sweep_forever, name="sim2real-sweeper", daemon=True)
        self._sweeper.start()

    def _sweep_forever(self) -> None:
        while not self._stop.is_set():
            try:
                self.recover()
            except Exception:  # a database blip must not kill the sweeper
                log.exception("recovery sweep failed")
            self._stop.wait(self.settings.heartbeat_interval_s)

    def recover(self) -> int:
        """Re-queue jobs of this queue whose worker stopped heart-beating (killed, OOM, node lost)."""
        cutoff = jobs.stale_cutoff(self.settings.heartbeat_timeout_s)
        requeued = 0
        with session_scope(self.settings.resolved_database_url) as s:
            for job in jobs.stale_running(s, self.queue, cutoff):
                if job.attempts < job.max_attempts:
                    # Message first: a claim accepts a running job with a stale heartbeat, so if the
                    # state change below fails, the message still finds the job.
                    send_job(self.celery, job.kind, job.id)
                if jobs.requeue(s, job, cutoff) == "requeued":
                    requeued += 1
                    log.warning(
                        "re-queued job %s (attempt %d): worker %s died", job.id, job.attempts, job.worker_id
                    )
            # A parked orchestrator whose wake-up message was lost (with its worker, say) is woken again.
            for job in jobs.stale_waiting(s, self.queue, jobs.stale_cutoff(PARK_TIMEOUT_S)):
                send_job(self.celery, job.kind, job.id)
                jobs.touch(s, job.id)
        return requeued

    def task(self, kind: str) -> Callable[[Handler], Handler]:
        spec = TASKS[kind]
        if spec.queue != self.queue:
            raise ValueError(f"job kind {kind!r} belongs to queue {spec.queue!r}, not {self.queue!r}")

        def register(handler: Handler) -> Handler:
            self.handlers[kind] = handler

            def run(job_id: str) -> None:
                self.run_job(job_id, handler)

            self.celery.task(name=spec.name, acks_late=True, reject_on_worker_lost=True)(run)
            return handler

        return register

    def run_job(self, job_id: str, handler: Handler) -> str:
        """Claim and run one job; returns the state it ended in (or 'skipped')."""
        settings = self.settings
        wid = worker_id()
        url = settings.resolved_database_url
        with session_scope(url) as s:
            if not jobs.claim(s, job_id, wid, jobs.stale_cutoff(settings.heartbeat_timeout_s)):
                log.info("job %s not claimable (finished, cancelled, or running elsewhere)", job_id)
                return "skipped"
            job = s.get(Job, job_id)
            assert job is not None
            ctx = JobContext(job, settings, self.store, wid, self.celery)

        beat_stop = threading.Event()
        beat = threading.Thread(target=self._beat, args=(ctx, beat_stop), daemon=True)
        beat.start()
        try:
            outcome = handler(ctx)
            if isinstance(outcome, dict):
                outcome = JobOutcome(outcome)
            with session_scope(url) as s:
                if jobs.finish(s, job_id, wid, outcome.result):
                    s.add_all(outcome.rows)
                    if outcome.write is not None:
                        outcome.write(s)
                    return "succeeded"
                s.rollback()
            self._cleanup(ctx)
            return "cancelled"
        except jobs.JobWaiting as wait:
            with session_scope(url) as s:
                if jobs.park(s, job_id, wid, wait.message, wait.progress):
                    send_job(self.celery, ctx.kind, job_id, countdown=wait.delay_s)
                    return "waiting"
            return "cancelled"
        except jobs.JobCancelled:
            self._cleanup(ctx)
            return "cancelled"
        except (jobs.JobError, ValueError) as exc:
            # Domain code raises ValueError for what the user can fix; the traceback stays in the log.
            log.warning("job %s failed: %s", job_id, exc, exc_info=not isinstance(exc, jobs.JobError))
            self._cleanup(ctx)
            with session_scope(url) as s:
                jobs.fail(s, job_id, wid, str(exc))
            return "failed"
        except Exception as exc:
            log.exception("job %s crashed", job_id)
            self._cleanup(ctx)
            last = traceback.extract_tb(exc.__traceback__)[-1]
            with session_scope(url) as s:
                jobs.fail(
                    s,
                    job_id,
                    wid,
                    f"internal error: {type(exc).__name__}: {exc} "
                    f"(at {os.path.basename(last.filename)}:{last.lineno})",
                )
            return "failed"
        finally:
            beat_stop.set()
            self._wake_parent(ctx)

    def _wake_parent(self, ctx: JobContext) -> None:
        """A finished child wakes its orchestrating parent instead of letting it poll."""
        if not ctx.parent_id:
            return
        try:
            with session_scope(ctx.db_url) as s:
                parent = s.get(Job, ctx.parent_id)
                if parent is not None and parent.status == "queued":
                    send_job(self.celery, parent.kind, parent.id)
        except Exception:  # the parent's own timer or the sweeper wakes it later
            log.exception("could not wake parent job %s", ctx.parent_id)

    def _beat(self, ctx: JobContext, stop: threading.Event) -> None:
        while not stop.wait(self.settings.heartbeat_interval_s):
            try:
                with session_scope(ctx.db_url) as s:
                    if not jobs.heartbeat(s, ctx.job_id, ctx.worker_id):
                        ctx.cancelled.set()
                        return
            except Exception:
                log.exception("heartbeat for job %s failed", ctx.job_id)

    def _cleanup(self, ctx: JobContext) -> None:
        """Remove what this run wrote, unless another worker has since taken the job over."""
        with session_scope(ctx.db_url) as s:
            job = s.get(Job, ctx.job_id)
            if job is not None and job.status in ("running", "succeeded") and job.worker_id != ctx.worker_id:
                return
        for prefix in ctx.output_prefixes:
            try:
                ctx.store.delete_prefix(prefix)
            except Exception:
                log.exception("could not remove %s", prefix)
