"""A parent job whose work is a list of independent items runs it as shard children, on the engine every
job uses (Celery messages, the job table, park and wake): each shard is claimed, heart-beaten, re-queued
after a dead worker and cancelled with its parent like any job. The parent plans the shards once (their
ids derive from its own, so a re-run plans the same ones), parks while they run, retries a failed shard
while it has attempts left, and gets their finished jobs back in shard order to merge."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import TypeVar

from services.common import contracts
from services.common.core.db.models import Job, utcnow
from services.common.core.db.session import session_scope
from services.common.core.queue import send_job
from services.common.runtime import lifecycle as jobs
from services.common.runtime.progress import eta_seconds
from services.common.runtime.worker import JobContext

T = TypeVar("T")
NAMESPACE = uuid.UUID("3a0f6c52-8d1e-4b7a-9c3f-71e2d5b8a604")
# A parked parent looks at its shards at least this often (each finished shard also wakes it).
WAKE_EVERY_S = 30.0


def split(items: Sequence[T], size: int) -> list[list[T]]:
    """Consecutive slices of at most `size` items (the last one shorter)."""
    return [list(items[i : i + size]) for i in range(0, len(items), max(1, size))]


def shard_id(parent_id: str, n: int) -> str:
    return uuid.uuid5(NAMESPACE, f"{parent_id}:shard:{n}").hex


def run_shards(
    ctx: JobContext,
    kind: str,
    plan: Callable[[], list[contracts.Payload]],
    what: str,
    share: float = 1.0,
) -> list[Job]:
    """The finished shards of this job, in order; parks (raises JobWaiting) until all have succeeded.

    `plan` builds the shards' payloads (each with `shard` and `shards`); it is called only while some
    planned shard does not exist yet (the first run, or a run that stopped mid-way through submitting).
    A shard whose code crashed is queued again while it has attempts left (one that failed on the user's
    input would fail the same way again); then the parent fails with the shard's message, and the other
    shards are cancelled."""
    with session_scope(ctx.db_url) as s:
        mine = [j for j in jobs.children(s, ctx.job_id) if j.kind == kind]
        planned = int(mine[0].params.get("shards", 0)) if mine else 0
        parent = s.get(Job, ctx.job_id)
        created = parent.created_at if parent is not None else utcnow()
        for j in mine:
            s.expunge(j)
    if not mine or len(mine) < planned:
        payloads = plan()
        have = {j.id for j in mine}
        for n, payload in enumerate(payloads):
            if shard_id(ctx.job_id, n) not in have:
                ctx.submit_child(kind, payload, shard_id(ctx.job_id, n))
        with session_scope(ctx.db_url) as s:
            mine = [j for j in jobs.children(s, ctx.job_id) if j.kind == kind]
            for j in mine:
                s.expunge(j)
    mine.sort(key=lambda j: int(j.params.get("shard", 0)))
    total = len(mine)
    for j in mine:
        label = f"{what} shard {int(j.params.get('shard', 0)) + 1}/{total}"
        if j.status == "failed":
            with session_scope(ctx.db_url) as s:
                if jobs.retryable(j.error) and jobs.retry_failed(s, j):
                    send_job(ctx.celery, kind, j.id)  # type: ignore[arg-type]
                    j.status = "queued"
                    continue
                jobs.cancel_children(s, ctx.job_id)
            # The shard's own message first: it names what to change, as the job's would unsharded.
            tried = f", after {j.attempts} attempts" if jobs.retryable(j.error) else ""
            raise jobs.JobError(f"{j.error or 'failed without a message'} ({label}{tried})")
        if j.status == "cancelled":
            with session_scope(ctx.db_url) as s:
                jobs.cancel_children(s, ctx.job_id)
            raise jobs.JobError(f"{label} was cancelled")
    fraction = sum(1.0 if j.status == "succeeded" else j.progress for j in mine) / max(1, total)
    done = sum(1 for j in mine if j.status == "succeeded")
    if done == total:
        return mine
    running = sum(1 for j in mine if j.status == "running")
    raise jobs.JobWaiting(
        f"shards: {done}/{total} done, {running} running ({fraction:.0%})",
        share * fraction,
        delay_s=WAKE_EVERY_S,
        eta_s=eta_seconds(fraction, 1.0, (utcnow() - created).total_seconds()),
        waiting_on=[j.id for j in mine if j.status != "succeeded"],
    )
