"""How `Job.wait` reads the server-sent events, on a scripted server (httpx.MockTransport): progress, the
ETA when the server sends `eta_s`, the final state, and cancelled jobs."""

from __future__ import annotations

import json

import httpx
import pytest

from sim2real.client import Client, JobFailed, format_eta


def job_json(status: str, progress: float, **extra: object) -> dict:
    stamp = "2026-01-01T00:00:00"
    return {
        "id": "j1", "kind": "translate_dataset", "status": status, "progress": progress, "message": "",
        "error": extra.pop("error", None), "result": extra.pop("result", None), "warnings": [], "params": {},
        "attempts": 1, "max_attempts": 3, "parent_id": None, "created_at": stamp, "started_at": stamp,
        "finished_at": None, "updated_at": stamp, **extra,
    }  # fmt: skip


def scripted(final: dict, events: list[tuple[str, dict]]) -> Client:
    body = "".join(f"event: {name}\ndata: {json.dumps(data)}\n\n" for name, data in events)
    body = ": keep-alive\n\n" + body

    gets = []

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/jobs/j1/events":
            return httpx.Response(200, text=body, headers={"content-type": "text/event-stream"})
        if request.url.path == "/v1/jobs/j1":
            # Running when first asked; finished once its events have been followed.
            gets.append(request)
            return httpx.Response(200, json=job_json("running", 0.0) if len(gets) == 1 else final)
        return httpx.Response(404, json={"detail": f"no route {request.url.path}"})

    return Client("http://sim2real.test", transport=httpx.MockTransport(handle))


def test_wait_reports_each_event_with_its_eta_and_returns_the_finished_job() -> None:
    events = [
        ("progress", {"id": "j1", "status": "running", "progress": 0.25, "message": "4/16", "eta_s": 42.0}),
        ("progress", {"id": "j1", "status": "running", "progress": 0.5, "message": "8/16", "eta_s": 3700}),
        ("end", {"id": "j1", "status": "succeeded", "progress": 1.0, "message": "done"}),
    ]
    c = scripted(job_json("succeeded", 1.0, result={"dataset_id": "d1"}), events)
    seen = []
    job = c.job("j1")
    assert job.wait(progress=seen.append) is job
    assert [(e.progress, e.eta_s) for e in seen] == [(0.25, 42.0), (0.5, 3700), (1.0, None)]
    assert job.status == "succeeded" and job.result == {"dataset_id": "d1"}
    assert [format_eta(e.eta_s) for e in seen] == ["42s", "1h01m", ""]


def test_the_text_bar_shows_the_eta(capsys) -> None:
    events = [
        ("progress", {"id": "j1", "status": "running", "progress": 0.5, "message": "half", "eta_s": 75}),
        ("end", {"id": "j1", "status": "succeeded", "progress": 1.0}),
    ]
    scripted(job_json("succeeded", 1.0), events).job("j1").wait(progress=True)
    assert "eta=1m15s" in capsys.readouterr().err


def test_a_cancelled_job_raises_with_its_state() -> None:
    events = [("end", {"id": "j1", "status": "cancelled", "progress": 0.3})]
    c = scripted(job_json("cancelled", 0.3, error="cancelled by request"), events)
    with pytest.raises(JobFailed, match="cancelled: cancelled by request") as failed:
        c.job("j1").wait()
    assert failed.value.job.status == "cancelled"
    assert c.job("j1").wait(raise_on_failure=False).status == "cancelled"  # already finished: no events
