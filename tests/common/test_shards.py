"""Shards on the job engine (real Postgres and Redis): a parent plans them once, parks, retries a shard
that crashed up to the attempt limit, fails with a shard's message, and gets progress and an ETA rolled up
from its shards; and the ETA arithmetic itself."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ConfigDict, Field

from services.common import contracts
from services.common.core.db.migrate import upgrade
from services.common.core.db.models import Job
from services.common.core.db.session import session_scope
from services.common.runtime import lifecycle as jobs
from services.common.runtime import shards
from services.common.runtime.progress import RateTracker, eta_seconds
from services.common.runtime.worker import WorkerRuntime


class ParentPayload(contracts.Payload):
    items: list[int]


class ShardPayload(contracts.Payload):
    items: list[int] = Field(min_length=1)
    shard: int
    shards: int


class AnyResult(BaseModel):
    model_config = ConfigDict(extra="allow")


@pytest.fixture(autouse=True)
def kinds():  # noqa: ANN201
    contracts.register(
        contracts.JobKind(
            "test_sharded", "translator", "test_shards", ParentPayload, AnyResult, orchestrator=True
        )
    )
    contracts.register(
        contracts.JobKind("test_shard", "translator", "test_shards", ShardPayload, AnyResult, shard=True)
    )
    yield
    contracts.unregister("test_sharded")
    contracts.unregister("test_shard")


@pytest.fixture
def runtime(server_settings) -> WorkerRuntime:
    upgrade(server_settings.resolved_database_url)
    return WorkerRuntime("translator", server_settings.model_copy(update={"max_attempts": 3}))


def parent(ctx, p: ParentPayload):  # noqa: ANN001, ANN201
    def plan() -> list[ShardPayload]:
        chunks = shards.split(p.items, 2)
        return [ShardPayload(items=c, shard=n, shards=len(chunks)) for n, c in enumerate(chunks)]

    done = shards.run_shards(ctx, "test_shard", plan, "sum")
    return {"total": sum(j.result["sum"] for j in done), "shards": [j.params["shard"] for j in done]}


def _submit(url: str, items: list[int]) -> str:
    with session_scope(url) as s:
        job = jobs.create_job(s, "test_sharded", {"items": items})
        s.commit()
        return job.id


def _children(url: str, parent_id: str) -> list[Job]:
    with session_scope(url) as s:
        out = jobs.children(s, parent_id)
        for j in out:
            s.expunge(j)
        return sorted(out, key=lambda j: j.params["shard"])


def _job(url: str, job_id: str) -> Job:
    with session_scope(url) as s:
        job = s.get(Job, job_id)
        s.expunge(job)
        return job


def test_split() -> None:
    assert shards.split(list(range(5)), 2) == [[0, 1], [2, 3], [4]]
    assert shards.split([], 3) == []
    assert shards.shard_id("a", 0) == shards.shard_id("a", 0) != shards.shard_id("a", 1)


def test_parent_plans_once_parks_rolls_up_and_merges_in_order(runtime: WorkerRuntime) -> None:
    url = runtime.settings.resolved_database_url
    job_id = _submit(url, [1, 2, 3, 4, 5])
    assert runtime.run_job(job_id, parent) == "waiting"
    kids = _children(url, job_id)
    assert [j.params["items"] for j in kids] == [[1, 2], [3, 4], [5]]
    assert [j.id for j in kids] == [shards.shard_id(job_id, n) for n in range(3)]
    waiting = _job(url, job_id)
    assert waiting.status == "queued" and waiting.message.startswith("shards: 0/3 done")
    # A second wake-up before any shard ran plans nothing new.
    assert runtime.run_job(job_id, parent) == "waiting"
    assert len(_children(url, job_id)) == 3

    def shard(ctx, p: ShardPayload):  # noqa: ANN001, ANN202
        ctx.progress(None, "summing", done=len(p.items), total=len(p.items))
        return {"sum": sum(p.items)}

    # The last shard first: the merge follows shard order, not finishing order.
    assert runtime.run_job(kids[2].id, shard) == "succeeded"
    rolled = _job(url, job_id)
    assert rolled.message.startswith("shards: 1/3 done") and rolled.progress == pytest.approx(1 / 3)
    assert rolled.eta_s is not None and rolled.eta_s > 0
    for kid in kids[:2]:
        assert runtime.run_job(kid.id, shard) == "succeeded"
    assert runtime.run_job(job_id, parent) == "succeeded"
    done = _job(url, job_id)
    assert done.result == {"total": 15, "shards": [0, 1, 2]} and done.eta_s is None


def test_a_crashed_shard_is_retried_then_fails_the_parent_with_its_message(runtime: WorkerRuntime) -> None:
    url = runtime.settings.resolved_database_url
    job_id = _submit(url, [1, 2, 3])
    runtime.run_job(job_id, parent)
    first, second = _children(url, job_id)
    crashes = []

    def crashing(ctx, p):  # noqa: ANN001, ANN202
        crashes.append(ctx.attempt)
        raise OSError("the store went away")

    for _ in range(3):
        assert runtime.run_job(first.id, crashing) == "failed"
        if len(crashes) < 3:
            assert runtime.run_job(job_id, parent) == "waiting"  # retried: queued again
            assert _job(url, first.id).status == "queued"
    assert crashes == [1, 2, 3]
    assert runtime.run_job(job_id, parent) == "failed"
    failed = _job(url, job_id)
    assert failed.error.startswith("internal error: OSError: the store went away")
    assert "sum shard 1/2, after 3 attempts" in failed.error
    assert _job(url, second.id).status == "cancelled"  # the rest stop with it


def test_a_shard_failing_on_the_input_fails_the_parent_at_once(runtime: WorkerRuntime) -> None:
    url = runtime.settings.resolved_database_url
    job_id = _submit(url, [1, 2, 3])
    runtime.run_job(job_id, parent)
    first, _ = _children(url, job_id)

    def bad_input(ctx, p):  # noqa: ANN001, ANN202
        raise jobs.JobError("image 7 is not an image: upload it again")

    assert runtime.run_job(first.id, bad_input) == "failed"
    assert runtime.run_job(job_id, parent) == "failed"
    assert _job(url, job_id).error == "image 7 is not an image: upload it again (sum shard 1/2)"


def test_cancelling_the_parent_cancels_its_shards(runtime: WorkerRuntime) -> None:
    url = runtime.settings.resolved_database_url
    job_id = _submit(url, [1, 2, 3, 4])
    runtime.run_job(job_id, parent)
    with session_scope(url) as s:
        assert jobs.cancel(s, job_id)
        assert jobs.cascade_cancels(s) == 2
    assert {j.status for j in _children(url, job_id)} == {"cancelled"}


def test_eta_from_the_rate_so_far() -> None:
    assert eta_seconds(0, 10, 5.0) is None
    assert eta_seconds(5, 10, 5.0) == 5.0
    assert eta_seconds(10, 10, 5.0) == 0.0
    now = [100.0]
    fresh = RateTracker(clock=lambda: now[0])
    now[0] = 102.0
    assert fresh.eta(1, 5) == 8.0  # 2 s per item since the run began
    resumed = RateTracker(resumed=True, clock=lambda: now[0])
    now[0] = 103.0
    assert resumed.eta(3, 5) is None  # what the earlier attempt did is no rate
    now[0] = 104.0
    assert resumed.eta(4, 5) == 1.0


def test_a_shard_ending_while_its_parent_runs_wakes_it_when_it_parks(
    runtime: WorkerRuntime, monkeypatch
) -> None:
    """The shard's own wake-up finds the parent running and is not sent; the parent, parking, sees that a
    shard it waited for has ended and re-queues itself at once instead of after its timer."""
    url = runtime.settings.resolved_database_url
    job_id = _submit(url, [1, 2, 3])
    runtime.run_job(job_id, parent)
    first, _ = _children(url, job_id)
    sent: list[tuple[str, float | None]] = []
    monkeypatch.setattr(
        "services.common.runtime.worker.send_job",
        lambda app, kind, jid, countdown=None: sent.append((jid, countdown)),
    )

    def racing_parent(ctx, p):  # noqa: ANN001, ANN202
        try:
            return parent(ctx, p)
        except jobs.JobWaiting:
            # Between the parent's look at its shards and its parking, the first shard ends.
            assert runtime.run_job(first.id, lambda c, q: {"sum": sum(q.items)}) == "succeeded"
            assert sent == []  # the shard found its parent running: no wake-up
            raise

    assert runtime.run_job(job_id, racing_parent) == "waiting"
    assert sent == [(job_id, None)]  # now, not after WAKE_EVERY_S
