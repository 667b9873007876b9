"""What every worker shares: the Celery app for one service's queues, job claiming, heartbeats and recovery.

A job body is a plain function `run(ctx, payload)` in `services/<service>/jobs/<kind>.py`; this module
turns it into a Celery task that claims the job, hands it the typed payload, keeps it alive, records its
outcome and cleans up what a cancelled or failed run wrote.
"""

from __future__ import annotations

import importlib
import logging
import os
import socket
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cached_property
from typing import Any

from celery import Celery
from celery.signals import worker_ready, worker_shutdown
from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session

from services.common import contracts
from services.common.core.db.migrate import upgrade
from services.common.core.db.models import Base, Job
from services.common.core.db.session import session_scope
from services.common.core.memory import keep_freed_memory
from services.common.core.queue import make_celery, send_job
from services.common.core.settings import Settings, get_settings
from services.common.core.storage import ObjectStore, make_store
from services.common.core.threads import apply_thread_cap
from services.common.runtime import lifecycle as jobs
from services.common.runtime import retention
from services.common.runtime.progress import RateTracker

log = logging.getLogger("sim2real.worker")
# Retention runs at most this often per worker, removing at most this many things of each sort per pass.
RETENTION_EVERY_S = 3600.0
RETENTION_BATCH = 500


@dataclass
class JobOutcome:
    """A result plus rows that must become visible together with the job's success."""

    result: dict[str, Any] | BaseModel
    rows: list[Base] = field(default_factory=list)
    # Runs in the transaction that marks the job succeeded (bulk inserts, updates of other rows).
    write: Callable[[Session], None] | None = None


class JobContext:
    def __init__(
        self, job: Job, settings: Settings, store: ObjectStore, worker_id: str, celery: Celery | None = None
    ) -> None:
        self.job_id = job.id
        self.kind = job.kind
        # The typed payload of the job's contract, validated when the job was submitted.
        self.payload: contracts.Payload = contracts.get(job.kind).parse(job.params)
        self.attempt = job.attempts
        self.parent_id = job.parent_id
        self.settings = settings
        self.store = store
        self.worker_id = worker_id
        self.cancelled = threading.Event()
        # Object-store prefixes this run writes; removed when the run does not succeed.
        self.output_prefixes: list[str] = []
        # Single objects this run owns among others' (a shard's images in its parent's dataset).
        self.output_objects: list[str] = []
        self.celery = celery
        # Data problems met so far; `strict` payloads turn the first one into a failure.
        self.warnings: list[str] = list(job.warnings or [])  # an earlier attempt's stay
        self.strict = bool(getattr(self.payload, "strict", False))
        # The rate of this run's countable work, for `eta_s`.
        self.rate = RateTracker(resumed=job.attempts > 1)
        # A shard's progress rolls up into its parked parent's, at most once per ROLL_UP_EVERY_S.
        self.roll_up_share = (
            contracts.get(job.kind).shard and job.parent_id is not None and _share_of(job.parent_id, self)
        )
        self._rolled_up_at = 0.0

    def submit_child(self, kind: str, params: contracts.Payload | dict[str, Any], job_id: str) -> Job:
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

    def output_object(self, key: str) -> str:
        """An object this run writes into a prefix it does not own: removed alone on failure."""
        self.output_objects.append(key)
        return key

    def progress(
        self,
        fraction: float | None,
        message: str,
        extra: dict[str, Any] | None = None,
        *,
        done: float | None = None,
        total: float | None = None,
    ) -> None:
        """Record progress; raises JobCancelled when the job was cancelled meanwhile. Countable work
        passes `done` of `total` (images, epochs, iterations): the fraction follows from them when not
        given, and the job's `eta_s` from the rate so far."""
        if self.cancelled.is_set():
            raise jobs.JobCancelled(self.job_id)
        eta = None
        if done is not None and total:
            eta = self.rate.eta(done, total)
            if fraction is None:
                fraction = done / total
        with session_scope(self.db_url) as s:
            if not jobs.set_progress(s, self.job_id, self.worker_id, fraction or 0.0, message, extra, eta):
                self.cancelled.set()
                raise jobs.JobCancelled(self.job_id)
            if self.roll_up_share and time.monotonic() - self._rolled_up_at >= ROLL_UP_EVERY_S:
                self._rolled_up_at = time.monotonic()
                assert self.parent_id is not None
                jobs.roll_up(s, self.parent_id, self.roll_up_share)

    def warn(self, message: str) -> None:
        """A data problem the job goes on past (it shows in the job, its events and its result); under
        `strict` it fails the job instead."""
        if self.strict:
            raise jobs.JobError(f"{message} (strict: warnings fail the job; leave strict out to go on)")
        if message in self.warnings:
            return
        self.warnings.append(message)
        with session_scope(self.db_url) as s:
            if not jobs.add_warnings(s, self.job_id, self.worker_id, self.warnings):
                self.cancelled.set()
                raise jobs.JobCancelled(self.job_id)

    def check_cancelled(self) -> None:
        if self.cancelled.is_set():
            raise jobs.JobCancelled(self.job_id)


Handler = Callable[[JobContext, Any], "JobOutcome | BaseModel | dict[str, Any]"]

# How often a shard refreshes its parked parent's progress and ETA.
ROLL_UP_EVERY_S = 1.0


def _share_of(parent_id: str, ctx: JobContext) -> float:
    """The part of its parent's progress a shard's kind makes (the parent kind's `children_share`)."""
    with session_scope(ctx.db_url) as s:
        parent = s.get(Job, parent_id)
        kinds = contracts.kinds()
        if parent is None or parent.kind not in kinds:
            return 0.0
        return kinds[parent.kind].children_share


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class WorkerRuntime:
    """One per worker process of a service: settings, store, its job bodies, and the recovery sweeper for
    the queues it consumes."""

    def __init__(self, service: str, settings: Settings | None = None) -> None:
        self.service = service
        self.queues = contracts.services().get(service, ())
        self.settings = settings or get_settings()
        apply_thread_cap(self.settings)  # before the job bodies load torch / cv2
        keep_freed_memory(self.settings)  # frame-sized arrays reused, not faulted back in per image
        self.celery: Celery = make_celery(self.settings, name=f"sim2real-{service}")
        self._stop = threading.Event()
        self._sweeper: threading.Thread | None = None
        self._next_retention = 0.0  # time.monotonic() of the next retention pass
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
            self.sweep()
            self._stop.wait(self.settings.heartbeat_interval_s)

    def sweep(self) -> None:
        """One pass of the sweeper thread: recovery every time, retention at most once per hour."""
        try:
            self.recover()
        except Exception:  # a database blip must not kill the sweeper
            log.exception("recovery sweep failed")
        if time.monotonic() >= self._next_retention:
            self._next_retention = time.monotonic() + RETENTION_EVERY_S
            try:
                self.expire()
            except Exception:
                log.exception("retention pass failed")

    def recover(self) -> int:
        """One sweep: re-queue jobs of this service's queues whose worker stopped heart-beating (killed,
        OOM, node lost), re-send queued jobs whose message may be lost, and cancel the unfinished children
        of cancelled jobs. Returns how many dead workers' jobs were re-queued."""
        cutoff = jobs.stale_cutoff(self.settings.heartbeat_timeout_s)
        requeued = 0
        known = contracts.kinds()
        with session_scope(self.settings.resolved_database_url) as s:
            for job in (j for q in self.queues for j in jobs.stale_running(s, q, cutoff)):
                if job.kind not in known:
                    # A kind this deployment no longer runs: no worker would ever take it again.
                    jobs.abandon(s, job.id, f"job kind {job.kind!r} is not run by this deployment")
                    continue
                if job.attempts < job.max_attempts:
                    # Message first: a claim accepts a running job with a stale heartbeat, so if the
                    # state change below fails, the message still finds the job.
                    send_job(self.celery, job.kind, job.id)
                if jobs.requeue(s, job, cutoff) == "requeued":
                    requeued += 1
                    log.warning(
                        "re-queued job %s (attempt %d): worker %s died", job.id, job.attempts, job.worker_id
                    )
            self._resend_queued(s, known)
            cancelled = jobs.cascade_cancels(s)
            if cancelled:
                log.info("cancelled %d unfinished children of cancelled jobs", cancelled)
        return requeued

    def _resend_queued(self, s: Session, known: dict[str, contracts.JobKind]) -> None:
        """A queued job untouched for SIM2REAL_REQUEUE_AFTER_S may have lost its message (the API died
        between commit and send, the broker lost its data, a parked orchestrator's wake-up went with its
        worker): send it again. The touch makes it once per period however many workers sweep; a job that
        was only waiting its turn gets a duplicate the conditional claim skips."""
        before = jobs.stale_cutoff(self.settings.requeue_after_s)
        for job in (j for q in self.queues for j in jobs.stale_queued(s, q, before)):
            if job.kind not in known:
                jobs.abandon(s, job.id, f"job kind {job.kind!r} is not run by this deployment")
                continue
            if jobs.touch(s, job.id, before):
                send_job(self.celery, job.kind, job.id)
                log.info("re-sent queued job %s (%s): untouched since %s", job.id, job.kind, job.updated_at)

    def expire(self, limit: int = RETENTION_BATCH) -> retention.Removed:
        """Retention: remove the inputs of this service's failed and cancelled jobs and the image sets
        nothing names, SIM2REAL_RETENTION_DAYS after they finished or were uploaded (one bounded batch)."""
        before = jobs.utcnow() - timedelta(days=self.settings.retention_days)
        with session_scope(self.settings.resolved_database_url) as s:
            removed = retention.expire(s, self.store, self.queues, before, limit)
        if removed:
            log.info(
                "retention (older than %s): removed the inputs of %d jobs %s and %d image sets %s "
                "(%d objects)",
                before.isoformat(timespec="seconds"),
                len(removed.job_inputs),
                removed.job_inputs,
                len(removed.image_sets),
                removed.image_sets,
                removed.objects,
            )
        return removed

    def register_jobs(self) -> None:
        """Register the body of every job kind this service runs (`services/<service>/jobs/<kind>.py`)."""
        for kind in contracts.kinds().values():
            if kind.service == self.service:
                self.task(kind.name)(importlib.import_module(kind.body_module).run)

    def task(self, kind: str) -> Callable[[Handler], Handler]:
        spec = contracts.get(kind)
        if spec.service != self.service:
            raise ValueError(f"job kind {kind!r} runs on service {spec.service!r}, not {self.service!r}")

        def register(handler: Handler) -> Handler:
            self.handlers[kind] = handler

            def run(job_id: str) -> None:
                self.run_job(job_id, handler)

            self.celery.task(name=spec.task_name, acks_late=True, reject_on_worker_lost=True)(run)
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
            try:
                ctx = JobContext(job, settings, self.store, wid, self.celery)
            except ValidationError as exc:
                # Only a payload written by older code, or by hand, gets here: submit validates it.
                jobs.fail(s, job_id, wid, f"the job's parameters do not match its contract: {exc}")
                return "failed"

        beat_stop = threading.Event()
        beat = threading.Thread(target=self._beat, args=(ctx, beat_stop), daemon=True)
        beat.start()
        try:
            outcome = handler(ctx, ctx.payload)
            if not isinstance(outcome, JobOutcome):
                outcome = JobOutcome(outcome)
            result = contracts.get(ctx.kind).result.model_validate(
                outcome.result.model_dump(mode="json")
                if isinstance(outcome.result, BaseModel)
                else outcome.result
            )
            recorded = result.model_dump(mode="json")
            if ctx.warnings:
                recorded["warnings"] = list(ctx.warnings)
            with session_scope(url) as s:
                if jobs.finish(s, job_id, wid, recorded):
                    s.add_all(outcome.rows)
                    if outcome.write is not None:
                        outcome.write(s)
                    return "succeeded"
                s.rollback()
            self._cleanup(ctx)
            return "cancelled"
        except jobs.JobWaiting as wait:
            with session_scope(url) as s:
                if jobs.park(s, job_id, wid, wait.message, wait.progress, wait.eta_s):
                    # A child that ended during this run sent no wake-up (this job was running): now.
                    missed = jobs.any_finished(s, wait.waiting_on)
                    send_job(self.celery, ctx.kind, job_id, countdown=None if missed else wait.delay_s)
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
                    f"{jobs.INTERNAL_ERROR}{type(exc).__name__}: {exc} "
                    f"(at {os.path.basename(last.filename)}:{last.lineno})",
                )
            return "failed"
        finally:
            beat_stop.set()
            self._wake_parent(ctx)

    def _wake_parent(self, ctx: JobContext) -> None:
        """A finished child wakes its orchestrating parent instead of letting it poll (a shard first rolls
        its end up into the parent's progress)."""
        if not ctx.parent_id:
            return
        try:
            with session_scope(ctx.db_url) as s:
                if ctx.roll_up_share:
                    jobs.roll_up(s, ctx.parent_id, ctx.roll_up_share)
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
        for key in ctx.output_objects:
            try:
                ctx.store.delete(key)
            except Exception:
                log.exception("could not remove %s", key)


def celery_entry(module_globals: dict[str, Any], make_runtime: Callable[[], WorkerRuntime]):  # noqa: ANN201
    """A worker module's `__getattr__`: Celery reads `app` (`celery -A services.<service>.worker`), and the
    runtime is built then, not at import, so tests can build their own with other settings."""

    def __getattr__(name: str) -> Any:  # noqa: N807
        if name in ("runtime", "app"):
            runtime = module_globals["runtime"] = make_runtime()
            module_globals["app"] = runtime.celery
            return module_globals[name]
        raise AttributeError(name)

    return __getattr__
