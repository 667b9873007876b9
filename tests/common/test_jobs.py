"""Job lifecycle on real Postgres: claims are conditional, cancels stick, dead workers are recovered."""

from __future__ import annotations

import base64
import json
import threading
import time

import pytest
import redis
from pydantic import BaseModel, ConfigDict

from services.common import contracts
from services.common.core.db.migrate import upgrade
from services.common.core.db.models import Job
from services.common.core.db.session import session_scope
from services.common.runtime import lifecycle as jobs
from services.common.runtime.worker import JobOutcome, WorkerRuntime


class AnyPayload(contracts.Payload):
    model_config = ConfigDict(extra="allow")


class AnyResult(BaseModel):
    model_config = ConfigDict(extra="allow")


@pytest.fixture(autouse=True)
def runtime_test_kinds():  # noqa: ANN201
    """Job kinds of these tests alone: the runtime is exercised with handlers written here."""
    contracts.register(contracts.JobKind("test_job", "translator", "test_jobs", AnyPayload, AnyResult))
    contracts.register(
        contracts.JobKind("test_parent", "translator", "test_jobs", AnyPayload, AnyResult, orchestrator=True)
    )
    yield
    contracts.unregister("test_job")
    contracts.unregister("test_parent")


@pytest.fixture
def runtime(server_settings) -> WorkerRuntime:
    upgrade(server_settings.resolved_database_url)
    return WorkerRuntime("translator", server_settings)


def _new_job(url: str, max_attempts: int = 3) -> str:
    with session_scope(url) as s:
        return jobs.create_job(s, "test_job", {"x": 1}, max_attempts=max_attempts).id


def _job(url: str, job_id: str) -> Job:
    with session_scope(url) as s:
        job = s.get(Job, job_id)
        s.expunge(job)
        return job


def test_job_runs_once_even_when_its_message_is_delivered_twice(runtime: WorkerRuntime) -> None:
    url = runtime.settings.resolved_database_url
    job_id = _new_job(url)
    calls = []

    def handler(ctx, payload):  # noqa: ANN001, ANN202
        calls.append(ctx.job_id)
        ctx.progress(0.5, "half way")
        return {"answer": 42}

    assert runtime.run_job(job_id, handler) == "succeeded"
    assert runtime.run_job(job_id, handler) == "skipped"
    job = _job(url, job_id)
    assert calls == [job_id]
    assert (job.status, job.result, job.progress, job.attempts) == ("succeeded", {"answer": 42}, 1.0, 1)


def test_user_error_fails_the_job_with_its_message_and_removes_outputs(runtime: WorkerRuntime) -> None:
    url = runtime.settings.resolved_database_url
    job_id = _new_job(url)

    def handler(ctx, payload):  # noqa: ANN001, ANN202
        prefix = ctx.outputs(f"translations/{ctx.job_id}/")
        ctx.store.put_bytes(prefix + "partial.png", b"x")
        raise ValueError("visibility_m must be positive")

    assert runtime.run_job(job_id, handler) == "failed"
    job = _job(url, job_id)
    assert job.status == "failed" and job.error == "visibility_m must be positive"
    assert list(runtime.store.list(f"translations/{job_id}/")) == []


def test_crash_is_reported_as_internal_error(runtime: WorkerRuntime) -> None:
    url = runtime.settings.resolved_database_url
    job_id = _new_job(url)

    def handler(ctx, payload):  # noqa: ANN001, ANN202
        return {}["missing"]

    assert runtime.run_job(job_id, handler) == "failed"
    assert _job(url, job_id).error.startswith("internal error: KeyError")


def test_cancel_while_running_stops_the_job_and_keeps_it_cancelled(runtime: WorkerRuntime) -> None:
    url = runtime.settings.resolved_database_url
    job_id = _new_job(url)
    started = threading.Event()

    def handler(ctx, payload):  # noqa: ANN001, ANN202
        ctx.store.put_bytes(ctx.outputs(f"translations/{ctx.job_id}/") + "a.png", b"x")
        started.set()
        for i in range(200):
            ctx.progress(i / 200, f"step {i}")
            time.sleep(0.02)
        return {"done": True}

    outcome: list[str] = []
    t = threading.Thread(target=lambda: outcome.append(runtime.run_job(job_id, handler)))
    t.start()
    assert started.wait(10)
    with session_scope(url) as s:
        assert jobs.cancel(s, job_id)
    t.join(20)
    assert outcome == ["cancelled"]
    assert _job(url, job_id).status == "cancelled"
    assert list(runtime.store.list(f"translations/{job_id}/")) == []


def test_rows_appear_only_with_success(runtime: WorkerRuntime) -> None:
    from services.common.core.db.models import Style

    url = runtime.settings.resolved_database_url
    job_id = _new_job(url)

    def handler(ctx, payload):  # noqa: ANN001, ANN202
        return JobOutcome({"ok": 1}, rows=[Style(id=ctx.job_id, name="s", weather="fog", image_keys=[])])

    assert runtime.run_job(job_id, handler) == "succeeded"
    with session_scope(url) as s:
        assert s.get(Style, job_id) is not None


def test_dead_worker_job_is_requeued_then_failed_after_max_attempts(
    runtime: WorkerRuntime, monkeypatch
) -> None:
    url = runtime.settings.resolved_database_url
    job_id = _new_job(url, max_attempts=2)
    sent: list[str] = []
    monkeypatch.setattr("services.common.runtime.worker.send_job", lambda app, kind, jid: sent.append(jid))

    def die(worker: str) -> None:
        # What a SIGKILL leaves behind: a running job whose heartbeat stops.
        with session_scope(url) as s:
            assert jobs.claim(s, job_id, worker, jobs.stale_cutoff(3.0))
            job = s.get(Job, job_id)
            job.heartbeat_at = jobs.stale_cutoff(60)

    die("host:1")
    assert runtime.recover() == 1 and sent == [job_id]
    job = _job(url, job_id)
    assert (job.status, job.attempts) == ("queued", 1)
    die("host:2")
    assert runtime.recover() == 0
    job = _job(url, job_id)
    assert job.status == "failed"
    assert "stopped its worker 2 times" in job.error and "host:2" in job.error


def test_warnings_show_while_running_and_in_the_result_and_strict_fails(runtime: WorkerRuntime) -> None:
    url = runtime.settings.resolved_database_url
    seen: list[list[str] | None] = []

    def handler(ctx, payload):  # noqa: ANN001, ANN202
        ctx.warn("a.png: cannot decode; skipped")
        ctx.warn("a.png: cannot decode; skipped")
        seen.append(_job(url, ctx.job_id).warnings)
        ctx.warn("split val is empty")
        return {"images": 1}

    job_id = _new_job(url)
    assert runtime.run_job(job_id, handler) == "succeeded"
    job = _job(url, job_id)
    assert seen == [["a.png: cannot decode; skipped"]]
    assert job.warnings == ["a.png: cannot decode; skipped", "split val is empty"]
    assert job.result == {"images": 1, "warnings": job.warnings}
    with session_scope(url) as s:
        strict_id = jobs.create_job(s, "test_job", {"strict": True}).id
    assert runtime.run_job(strict_id, handler) == "failed"
    failed = _job(url, strict_id)
    assert "a.png: cannot decode; skipped (strict" in failed.error and not failed.warnings


def test_a_dead_job_of_a_kind_no_longer_run_is_failed_not_left_running(runtime: WorkerRuntime) -> None:
    url = runtime.settings.resolved_database_url
    job_id = _new_job(url)
    with session_scope(url) as s:
        assert jobs.claim(s, job_id, "host:1", jobs.stale_cutoff(3.0))
        s.get(Job, job_id).heartbeat_at = jobs.stale_cutoff(60)
    contracts.unregister("test_job")
    assert runtime.recover() == 0
    job = _job(url, job_id)
    assert job.status == "failed" and "'test_job' is not run by this deployment" in job.error


def test_claim_takes_over_a_running_job_only_when_its_heartbeat_is_stale(runtime: WorkerRuntime) -> None:
    url = runtime.settings.resolved_database_url
    job_id = _new_job(url)
    with session_scope(url) as s:
        assert jobs.claim(s, job_id, "a:1", jobs.stale_cutoff(3))
        assert not jobs.claim(s, job_id, "b:2", jobs.stale_cutoff(3))
        s.get(Job, job_id).heartbeat_at = jobs.stale_cutoff(10)
        s.commit()
        assert jobs.claim(s, job_id, "b:2", jobs.stale_cutoff(3))
        # The first worker lost the job: its progress and success are refused.
        assert not jobs.set_progress(s, job_id, "a:1", 0.5, "late")
        assert not jobs.finish(s, job_id, "a:1", {})
        assert s.get(Job, job_id).worker_id == "b:2"


def test_cancel_reaches_the_children_of_an_orchestrator(runtime: WorkerRuntime) -> None:
    url = runtime.settings.resolved_database_url
    with session_scope(url) as s:
        parent = jobs.create_job(s, "test_parent", {}).id
        kids = [jobs.create_job(s, "test_job", {}, parent_id=parent).id for _ in range(2)]
        done = jobs.create_job(s, "test_job", {}, parent_id=parent)
        done.status = "succeeded"
    with session_scope(url) as s:
        assert jobs.cancel(s, parent)
    # The cancel is one UPDATE; the sweeper cancels the children, outside the request.
    assert [_job(url, k).status for k in kids] == ["queued", "queued"]
    runtime.recover()
    assert [_job(url, k).status for k in kids] == ["cancelled", "cancelled"]
    assert _job(url, done.id).status == "succeeded"


def test_a_child_of_a_cancelled_parent_is_never_claimed(runtime: WorkerRuntime) -> None:
    url = runtime.settings.resolved_database_url
    with session_scope(url) as s:
        parent = jobs.create_job(s, "test_parent", {}).id
        kid = jobs.create_job(s, "test_job", {}, parent_id=parent).id
        sibling = jobs.create_job(s, "test_job", {}, parent_id=parent).id
        assert jobs.claim(s, sibling, "a:1", jobs.stale_cutoff(3))
        assert jobs.cancel(s, parent)
        # Before any sweep: the queued child is refused and cancelled on the spot (no shard starts after
        # its translation was cancelled); the running one finds out at its next heartbeat.
        assert not jobs.claim(s, kid, "b:2", jobs.stale_cutoff(3))
    assert _job(url, kid).status == "cancelled" and _job(url, kid).started_at is None
    assert _job(url, sibling).status == "running"


def test_sweeper_wakes_a_parked_orchestrator_whose_message_was_lost(
    runtime: WorkerRuntime, monkeypatch
) -> None:
    from datetime import timedelta

    url = runtime.settings.resolved_database_url
    sent: list[str] = []
    monkeypatch.setattr(
        "services.common.runtime.worker.send_job", lambda app, kind, jid, **kw: sent.append(jid)
    )
    with session_scope(url) as s:
        job = jobs.create_job(s, "test_parent", {})
        job.updated_at = jobs.utcnow() - timedelta(hours=1)
        job.queue = runtime.queues[0]
        job_id = job.id
    runtime.recover()
    assert job_id in sent
    sent.clear()
    runtime.recover()  # just woken: not again at the next pass
    assert job_id not in sent


# --- Recovery of jobs whose message never reached the broker, through the real Redis broker ---


def _broker(runtime: WorkerRuntime) -> redis.Redis:
    return redis.Redis.from_url(runtime.settings.broker_url)


def _flush_broker(runtime: WorkerRuntime) -> int:
    """What a broker that lost its data leaves: nothing under this test's own key prefix."""
    client = _broker(runtime)
    found = list(client.scan_iter(f"{runtime.settings.broker_key_prefix}*"))
    return client.delete(*found) if found else 0


def _queued_messages(runtime: WorkerRuntime, job_id: str, queue: str = "test_jobs") -> int:
    """How many messages for this job wait in the Redis queue (other tests' jobs share the database)."""
    raw = _broker(runtime).lrange(f"{runtime.settings.broker_key_prefix}{queue}", 0, -1)
    bodies = [json.loads(base64.b64decode(json.loads(item)["body"])) for item in raw]
    return sum(1 for args, _kwargs, _embed in bodies if args == [job_id])


def _drain(runtime: WorkerRuntime, job_id: str, handler, queue: str = "test_jobs") -> list[str]:  # noqa: ANN001
    """Deliver every message waiting in the Redis queue to the runtime, as a worker would, and return the
    outcome for each message of this job (other tests' jobs are dropped)."""
    outcomes = []
    with runtime.celery.connection_for_read() as conn:
        channel = conn.default_channel
        while (message := channel.basic_get(queue, no_ack=True)) is not None:
            args, _kwargs, _embed = message.decode()
            if args == [job_id]:
                outcomes.append(runtime.run_job(job_id, handler))
    return outcomes


def _counting_handler(calls: list[str]):  # noqa: ANN202
    def handler(ctx, payload):  # noqa: ANN001, ANN202
        calls.append(ctx.job_id)
        return {"ok": True}

    return handler


@pytest.fixture
def quick_requeue(server_settings) -> WorkerRuntime:
    upgrade(server_settings.resolved_database_url)
    return WorkerRuntime("translator", server_settings.model_copy(update={"requeue_after_s": 0.3}))


def test_a_job_whose_broker_lost_its_message_is_re_sent_and_runs_once(quick_requeue: WorkerRuntime) -> None:
    from services.api.submit import submit

    runtime = quick_requeue
    url = runtime.settings.resolved_database_url
    with session_scope(url) as s:
        job_id = submit(s, runtime.celery, runtime.settings, "test_job", AnyPayload(x=1)).id
    assert _queued_messages(runtime, job_id) == 1
    assert _flush_broker(runtime) >= 1 and _queued_messages(runtime, job_id) == 0
    runtime.recover()  # not yet: the job was touched less than requeue_after_s ago
    assert _queued_messages(runtime, job_id) == 0
    time.sleep(0.4)
    runtime.recover()
    calls: list[str] = []
    assert _drain(runtime, job_id, _counting_handler(calls)) == ["succeeded"]
    assert calls == [job_id] and _job(url, job_id).attempts == 1
    time.sleep(0.4)
    runtime.recover()  # finished: never re-sent again
    assert _queued_messages(runtime, job_id) == 0


def test_a_row_committed_by_an_api_that_died_before_sending_is_recovered(
    quick_requeue: WorkerRuntime,
) -> None:
    runtime = quick_requeue
    url = runtime.settings.resolved_database_url
    with session_scope(url) as s:  # the API's commit, then nothing: it died before send_job
        job_id = jobs.create_job(s, "test_job", {"x": 1}).id
        s.commit()
    time.sleep(0.4)
    runtime.recover()
    runtime.recover()  # several sweeps (or workers) within one period send it once
    WorkerRuntime("translator", runtime.settings).recover()
    assert _queued_messages(runtime, job_id) == 1
    calls: list[str] = []
    assert _drain(runtime, job_id, _counting_handler(calls)) == ["succeeded"]
    assert calls == [job_id] and _job(url, job_id).status == "succeeded"


def test_a_job_waiting_its_turn_gets_one_duplicate_per_period_and_still_runs_once(
    quick_requeue: WorkerRuntime,
) -> None:
    from services.api.submit import submit

    runtime = quick_requeue
    url = runtime.settings.resolved_database_url
    with session_scope(url) as s:
        job_id = submit(s, runtime.celery, runtime.settings, "test_job", AnyPayload(x=1)).id
    for expected in (2, 3):  # a busy queue: the first message is still there, unread
        time.sleep(0.4)
        for _ in range(3):
            runtime.recover()
        assert _queued_messages(runtime, job_id) == expected
    calls: list[str] = []
    assert _drain(runtime, job_id, _counting_handler(calls)) == ["succeeded", "skipped", "skipped"]
    assert calls == [job_id] and _job(url, job_id).attempts == 1


def test_a_parked_orchestrator_is_not_re_sent_while_its_timer_runs(runtime: WorkerRuntime) -> None:
    url = runtime.settings.resolved_database_url
    with session_scope(url) as s:
        parent_id = jobs.create_job(s, "test_parent", {}).id

    def park(ctx, payload):  # noqa: ANN001, ANN202
        raise jobs.JobWaiting("waiting for children", 0.1, delay_s=60)

    assert runtime.run_job(parent_id, park) == "waiting"
    assert _queued_messages(runtime, parent_id) == 1  # its own countdown message
    for _ in range(3):
        runtime.recover()  # parked just now: well within SIM2REAL_REQUEUE_AFTER_S
    assert _queued_messages(runtime, parent_id) == 1


def test_a_cancelled_job_whose_message_is_still_queued_is_skipped(runtime: WorkerRuntime) -> None:
    from services.api.submit import submit

    url = runtime.settings.resolved_database_url
    with session_scope(url) as s:
        job_id = submit(s, runtime.celery, runtime.settings, "test_job", AnyPayload(x=1)).id
        assert jobs.cancel(s, job_id)
    calls: list[str] = []
    assert _drain(runtime, job_id, _counting_handler(calls)) == ["skipped"]
    job = _job(url, job_id)
    assert calls == [] and (job.status, job.attempts) == ("cancelled", 0)


def test_one_sweep_cancels_every_level_below_a_cancelled_job(runtime: WorkerRuntime) -> None:
    url = runtime.settings.resolved_database_url
    with session_scope(url) as s:
        top = jobs.create_job(s, "test_parent", {}).id
        middle = jobs.create_job(s, "test_parent", {}, parent_id=top).id
        leaves = [jobs.create_job(s, "test_job", {}, parent_id=middle).id for _ in range(3)]
        other = jobs.create_job(s, "test_job", {}).id
        s.commit()
        assert jobs.cancel(s, top)
    runtime.recover()
    assert [_job(url, j).status for j in (middle, *leaves)] == ["cancelled"] * 4
    assert _job(url, other).status == "queued"
