"""Job lifecycle on the database: create, claim, progress, finish, fail, cancel, recover.

Every transition is a conditional UPDATE, so a redelivered message, a cancelled job or a worker that
was presumed dead can never overwrite a state another process has already moved on from.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, or_, select, update
from sqlalchemy.orm import Session, aliased

from services.common import contracts
from services.common.core.db.models import Job, utcnow
from services.common.runtime.progress import eta_seconds

TERMINAL = ("succeeded", "failed", "cancelled")
STATES = ("queued", "running", *TERMINAL)


class JobCancelled(Exception):
    """Raised inside a worker when its job was cancelled or taken over."""


class JobError(Exception):
    """A failure whose message the user can act on (bad input discovered by the worker)."""


# How a job's error begins when its code crashed (rather than failing on the user's input): such a
# failure may not happen again (a store outage, a lost GPU), so a parent retries a shard that failed so.
INTERNAL_ERROR = "internal error: "


def retryable(error: str | None) -> bool:
    return (error or "").startswith(INTERNAL_ERROR)


def create_job(
    session: Session,
    kind: str,
    payload: contracts.Payload | dict[str, Any],
    *,
    max_attempts: int = 3,
    parent_id: str | None = None,
    job_id: str | None = None,
) -> Job:
    spec = contracts.get(kind)
    if not isinstance(payload, spec.payload):
        payload = spec.parse(payload)  # a dict from a caller: validated here, never stored unchecked
    job = Job(
        kind=kind,
        queue=spec.queue,
        task_name=spec.task_name,
        params=payload.model_dump(mode="json"),
        status="queued",
        max_attempts=max_attempts,
        parent_id=parent_id,
    )
    if job_id:
        job.id = job_id
    session.add(job)
    session.flush()
    return job


def _running_by(job_id: str, worker_id: str):  # noqa: ANN202
    return and_(Job.id == job_id, Job.status == "running", Job.worker_id == worker_id)


def claim(session: Session, job_id: str, worker_id: str, stale_before: datetime) -> bool:
    """Take a job: only from `queued`, or from `running` when its worker stopped heart-beating; never the
    child of a cancelled parent (that child is cancelled here, without waiting for the sweeper's cascade:
    a cancelled dataset translation starts no more shards)."""
    now = utcnow()
    parent = aliased(Job)
    res = session.execute(
        update(Job)
        .where(
            Job.id == job_id,
            or_(Job.status == "queued", and_(Job.status == "running", Job.heartbeat_at < stale_before)),
            Job.attempts < Job.max_attempts,
            ~exists().where(parent.id == Job.parent_id, parent.status == "cancelled"),
        )
        .values(
            status="running",
            worker_id=worker_id,
            attempts=Job.attempts + 1,
            started_at=now,
            heartbeat_at=now,
            updated_at=now,
            error=None,
        )
        .execution_options(synchronize_session=False)
    )
    session.commit()
    if res.rowcount == 1:
        return True
    cancelled = session.execute(
        update(Job)
        .where(
            Job.id == job_id,
            Job.status.in_(("queued", "running")),
            exists().where(parent.id == Job.parent_id, parent.status == "cancelled"),
        )
        .values(**_CANCELLED_WITH_PARENT, finished_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    if cancelled.rowcount:
        return False
    _fail_if_exhausted(session, job_id, stale_before)
    return False


def _exhausted_message(job: Job) -> str:
    return (
        f"the job stopped its worker {job.attempts} times (last worker: {job.worker_id}); it was not retried "
        "again. The usual cause is running out of memory: try smaller images, batch size or model."
    )


def _fail_if_exhausted(session: Session, job_id: str, stale_before: datetime) -> bool:
    job = session.get(Job, job_id)
    if job is None or job.attempts < job.max_attempts:
        return False
    dead = job.status == "queued" or (
        job.status == "running" and job.heartbeat_at and job.heartbeat_at < stale_before
    )
    if not dead:
        return False
    now = utcnow()
    still_dead = Job.status == "queued" if job.status == "queued" else Job.heartbeat_at < stale_before
    res = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status == job.status, Job.attempts == job.attempts, still_dead)
        .values(status="failed", error=_exhausted_message(job), finished_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return res.rowcount == 1


def heartbeat(session: Session, job_id: str, worker_id: str) -> bool:
    """Refresh liveness; False when the job is no longer ours (cancelled or taken over)."""
    now = utcnow()
    res = session.execute(
        update(Job)
        .where(_running_by(job_id, worker_id))
        .values(heartbeat_at=now)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return res.rowcount == 1


def set_progress(
    session: Session,
    job_id: str,
    worker_id: str,
    progress: float,
    message: str,
    extra: dict[str, Any] | None = None,
    eta_s: float | None = None,
) -> bool:
    now = utcnow()
    values: dict[str, Any] = {
        "progress": max(0.0, min(1.0, float(progress))),
        "eta_s": eta_s,
        "message": message[:2000],
        "heartbeat_at": now,
        "updated_at": now,
    }
    if extra is not None:
        values["result"] = extra
    res = session.execute(
        update(Job)
        .where(_running_by(job_id, worker_id))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return res.rowcount == 1


def add_warnings(session: Session, job_id: str, worker_id: str, warnings: list[str]) -> bool:
    """Record the job's warnings so far (the whole list: a retry starts its own)."""
    res = session.execute(
        update(Job)
        .where(_running_by(job_id, worker_id))
        .values(warnings=[w[:1000] for w in warnings[-200:]], updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return res.rowcount == 1


def finish(session: Session, job_id: str, worker_id: str, result: dict[str, Any]) -> bool:
    """Mark success in the caller's transaction, so rows the job made appear with it or not at all."""
    now = utcnow()
    res = session.execute(
        update(Job)
        .where(_running_by(job_id, worker_id))
        .values(
            status="succeeded",
            progress=1.0,
            eta_s=None,
            result=result,
            finished_at=now,
            updated_at=now,
            message="done",
        )
        .execution_options(synchronize_session=False)
    )
    return res.rowcount == 1


def fail(session: Session, job_id: str, worker_id: str, error: str) -> bool:
    now = utcnow()
    res = session.execute(
        update(Job)
        .where(_running_by(job_id, worker_id))
        .values(status="failed", error=error[:4000], eta_s=None, finished_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return res.rowcount == 1


def abandon(session: Session, job_id: str, error: str) -> bool:
    """Fail an unfinished job no worker can run (e.g. its kind was removed), whoever holds it."""
    now = utcnow()
    res = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status.in_(("queued", "running")))
        .values(status="failed", error=error[:4000], eta_s=None, finished_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return res.rowcount == 1


def cancel(session: Session, job_id: str) -> bool:
    """Cancel a queued or running job: one UPDATE, whatever its size. A running worker notices at its next
    heartbeat or progress report; a queued message is skipped by the claim; its unfinished children are
    cancelled by the sweeper (`cascade_cancels`), outside the request."""
    now = utcnow()
    res = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status.in_(("queued", "running")))
        .values(status="cancelled", eta_s=None, finished_at=now, updated_at=now, message="cancelled")
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return res.rowcount == 1


_CANCELLED_WITH_PARENT = {"status": "cancelled", "eta_s": None, "message": "cancelled with its parent"}


def cancel_children(session: Session, parent_id: str) -> int:
    """Cancel every unfinished child of one job in one UPDATE (their own children follow at the next
    sweep); returns how many."""
    now = utcnow()
    res = session.execute(
        update(Job)
        .where(Job.parent_id == parent_id, Job.status.in_(("queued", "running")))
        .values(**_CANCELLED_WITH_PARENT, finished_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return res.rowcount


def cascade_cancels(session: Session, max_depth: int = 8) -> int:
    """Cancel the unfinished children of cancelled jobs, one UPDATE per level of the tree (an experiment,
    its trainings and evaluations, their detections); returns how many were cancelled."""
    parent = aliased(Job)
    total = 0
    for _ in range(max_depth):
        now = utcnow()
        res = session.execute(
            update(Job)
            .where(
                Job.status.in_(("queued", "running")),
                Job.parent_id.is_not(None),
                exists().where(parent.id == Job.parent_id, parent.status == "cancelled"),
            )
            .values(**_CANCELLED_WITH_PARENT, finished_at=now, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        session.commit()
        if not res.rowcount:
            break
        total += res.rowcount
    return total


def stale_running(session: Session, queue: str, stale_before: datetime) -> list[Job]:
    return list(
        session.scalars(
            select(Job).where(Job.queue == queue, Job.status == "running", Job.heartbeat_at < stale_before)
        )
    )


def requeue(session: Session, job: Job, stale_before: datetime) -> str:
    """Return a job whose worker died to the queue, or fail it when its attempts are spent.

    Answers 'requeued', 'failed', or 'skipped' when another process moved the job first."""
    if job.attempts >= job.max_attempts:
        return "failed" if _fail_if_exhausted(session, job.id, stale_before) else "skipped"
    res = session.execute(
        update(Job)
        .where(
            Job.id == job.id,
            Job.status == "running",
            Job.heartbeat_at < stale_before,
            Job.attempts == job.attempts,
        )
        .values(
            status="queued",
            worker_id=None,
            updated_at=utcnow(),
            message=f"re-queued: worker {job.worker_id} stopped responding",
        )
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return "requeued" if res.rowcount == 1 else "skipped"


def stale_cutoff(timeout_s: float) -> datetime:
    return utcnow() - timedelta(seconds=timeout_s)


class JobWaiting(Exception):  # noqa: N818 - a control-flow signal, not an error
    """Raised by an orchestrating job (an experiment) that waits for its child jobs: it goes back to the
    queue without spending an attempt and is woken when a child finishes or after `delay_s`."""

    def __init__(
        self,
        message: str,
        progress: float,
        delay_s: float = 60.0,
        eta_s: float | None = None,
        waiting_on: list[str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.progress = progress
        self.delay_s = delay_s
        self.eta_s = eta_s
        # The children it saw unfinished: if one ends before the job is parked, it is woken at once.
        self.waiting_on = waiting_on or []


def park(
    session: Session, job_id: str, worker_id: str, message: str, progress: float, eta_s: float | None = None
) -> bool:
    res = session.execute(
        update(Job)
        .where(_running_by(job_id, worker_id))
        .values(
            status="queued",
            worker_id=None,
            attempts=Job.attempts - 1,
            message=message[:2000],
            progress=max(0.0, min(1.0, progress)),
            eta_s=eta_s,
            updated_at=utcnow(),
        )
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return res.rowcount == 1


def retry_failed(session: Session, job: Job) -> bool:
    """Queue a failed job again while it has attempts left (a parent retrying its failed shard); the
    error it failed with stays in its message until it runs."""
    res = session.execute(
        update(Job)
        .where(Job.id == job.id, Job.status == "failed", Job.attempts < Job.max_attempts)
        .values(
            status="queued",
            worker_id=None,
            finished_at=None,
            updated_at=utcnow(),
            message=f"retrying after attempt {job.attempts} failed: {job.error or ''}"[:2000],
        )
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return res.rowcount == 1


def roll_up(session: Session, parent_id: str, share: float = 1.0) -> bool:
    """Progress of a parked parent from its shards (the mean of theirs, times the `share` of the parent's
    work they do) and its ETA from the time since it was created; only while it is parked: a running
    parent reports its own."""
    parent = session.get(Job, parent_id)
    if parent is None or parent.status != "queued":
        return False
    rows = session.execute(select(Job.status, Job.progress).where(Job.parent_id == parent_id)).all()
    if not rows:
        return False
    fraction = sum(1.0 if s == "succeeded" else p for s, p in rows) / len(rows)
    done = sum(1 for s, _ in rows if s == "succeeded")
    running = sum(1 for s, _ in rows if s == "running")
    elapsed = (utcnow() - parent.created_at).total_seconds()
    res = session.execute(
        update(Job)
        .where(Job.id == parent_id, Job.status == "queued")
        .values(
            progress=max(0.0, min(1.0, share * fraction)),
            eta_s=eta_seconds(fraction, 1.0, elapsed),
            message=f"shards: {done}/{len(rows)} done, {running} running ({fraction:.0%})",
        )
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return res.rowcount == 1


def any_finished(session: Session, job_ids: list[str]) -> bool:
    """Whether any of these jobs has finished. A child that ends while its parent runs finds the parent
    not parked and sends no wake-up; the parent, parking, asks this about the children it saw unfinished
    and wakes itself if one has ended since."""
    if not job_ids:
        return False
    found = session.scalar(select(Job.id).where(Job.id.in_(job_ids), Job.status.in_(TERMINAL)).limit(1))
    return found is not None


def children(session: Session, parent_id: str) -> list[Job]:
    return list(session.scalars(select(Job).where(Job.parent_id == parent_id).order_by(Job.created_at)))


def stale_queued(session: Session, queue: str, before: datetime, limit: int = 1000) -> list[Job]:
    """Queued jobs nothing touched since `before`: a message lost (API died between commit and send,
    broker data lost, a parked orchestrator's wake-up lost with its worker) or one still waiting its turn
    in a busy queue. Either way re-sending is safe: the claim is conditional."""
    return list(
        session.scalars(
            select(Job)
            .where(Job.queue == queue, Job.status == "queued", Job.updated_at < before)
            .order_by(Job.updated_at)
            .limit(limit)
        )
    )


def touch(session: Session, job_id: str, before: datetime) -> bool:
    """Mark a queued job as just re-sent, if nobody did since `before`: the sweeper that wins sends, so
    each job gets at most one extra message per period however many workers sweep."""
    res = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status == "queued", Job.updated_at < before)
        .values(updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return res.rowcount == 1
