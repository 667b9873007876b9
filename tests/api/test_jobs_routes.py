"""Job routes: listing, cancel, events, auth and health."""

from __future__ import annotations

import json

from services.common.core.db.session import session_scope
from services.common.runtime import lifecycle as jobs
from tests.scenes import png_bytes, road_scene


def _submit(client) -> dict:  # noqa: ANN001
    rgb, _ = road_scene(64, 32)
    r = client.post("/v1/translations", data={"weather": "fog"}, files={"image": ("f.png", png_bytes(rgb))})
    assert r.status_code == 202, r.text
    return r.json()


def test_list_filters_and_paginates(client) -> None:
    ids = [_submit(client)["id"] for _ in range(3)]
    page = client.get("/v1/jobs", params={"kind": "translate", "status": "queued", "limit": 2}).json()
    assert page["total"] >= 3 and len(page["items"]) == 2
    rest = client.get("/v1/jobs", params={"kind": "translate", "limit": 2, "offset": 2}).json()
    seen = {j["id"] for j in page["items"]} | {j["id"] for j in rest["items"]}
    assert set(ids) <= seen or page["total"] > 4
    assert client.get("/v1/jobs", params={"status": "bogus"}).status_code == 422
    assert client.get("/v1/jobs", params={"kind": "bogus"}).status_code == 422


def test_cancel_queued_job_then_events_end(client) -> None:
    job = _submit(client)
    r = client.delete(f"/v1/jobs/{job['id']}")
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert client.delete(f"/v1/jobs/{job['id']}").status_code == 409
    with client.stream("GET", f"/v1/jobs/{job['id']}/events") as resp:
        assert resp.headers["content-type"].startswith("text/event-stream")
        body = "".join(resp.iter_text())
    assert "event: progress" in body and "event: end" in body and '"cancelled"' in body
    r = client.get(f"/v1/translations/{job['id']}/image")
    assert r.status_code == 409 and "cancelled" in r.json()["detail"]


def test_events_stream_progress_changes(client, server_settings) -> None:
    import threading
    import time

    job = _submit(client)
    url = server_settings.resolved_database_url

    def work() -> None:
        with session_scope(url) as s:
            assert jobs.claim(s, job["id"], "w:1", jobs.stale_cutoff(60))
        # Each state lasts longer than the stream's 0.5 s poll, so each must be seen.
        for p in (0.25, 0.75):
            time.sleep(1.2)
            with session_scope(url) as s:
                jobs.set_progress(s, job["id"], "w:1", p, f"at {p}", eta_s=round(40 * (1 - p), 1))
            if p == 0.75:
                assert client.get(f"/v1/jobs/{job['id']}").json()["eta_s"] == 10.0
        time.sleep(1.2)
        with session_scope(url) as s:
            jobs.finish(s, job["id"], "w:1", {"image_key": "x"})

    t = threading.Thread(target=work)
    t.start()
    with client.stream("GET", f"/v1/jobs/{job['id']}/events") as resp:
        body = "".join(resp.iter_text())
    t.join()
    assert '"at 0.25"' in body and '"at 0.75"' in body and '"succeeded"' in body
    events = [json.loads(line[6:]) for line in body.splitlines() if line.startswith("data: ")]
    assert [e["eta_s"] for e in events if e["message"].startswith("at ")] == [30.0, 10.0]
    assert events[-1]["status"] == "succeeded" and events[-1]["eta_s"] is None


def test_unknown_job_is_404(client) -> None:
    assert client.get("/v1/jobs/nope").status_code == 404
    assert client.delete("/v1/jobs/nope").status_code == 404
    assert client.get("/v1/jobs/nope/events").status_code == 404


def test_api_key_guards_everything_but_health_and_the_web_shells(client_for, server_settings) -> None:
    settings = server_settings.model_copy(update={"api_key": __import__("pydantic").SecretStr("k3y")})
    client = client_for(settings)
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200
    r = client.get("/v1/jobs")
    assert r.status_code == 401 and "Bearer" in r.json()["detail"]
    assert client.get("/v1/jobs", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/v1/jobs", headers={"Authorization": "Bearer k3y"}).status_code == 200
    assert client.post("/v1/translations", data={"weather": "fog"}).status_code == 401
    # The schema is data; the app's page, the docs shells and their assets are not (they send the key).
    assert client.get("/openapi.json").status_code == 401
    for public in ("/", "/docs", "/redoc", "/static/app.js", "/static/docs/swagger-ui-bundle.js"):
        assert client.get(public).status_code == 200, public
    # No way around the key through the public prefix.
    assert client.get("/static/../v1/jobs").status_code in (401, 404)
    assert client.get("/static/docs/../../v1/jobs").status_code in (401, 404)
    assert client.get("/docs/x").status_code == 401
    auth = {"Authorization": "Bearer k3y"}
    assert "/v1/translations" in client.get("/openapi.json", headers=auth).json()["paths"]


def test_readyz_names_what_is_unreachable(client_for, make_settings, pg_url) -> None:
    client = client_for(make_settings(database_url=pg_url, broker_url="redis://127.0.0.1:1/0"))
    r = client.get("/readyz")
    assert r.status_code == 503
    body = r.json()
    assert "broker" in body["detail"] and body["checks"]["database"] == "ok"
    assert body["checks"]["object_store"] == "ok"


def test_openapi_docs_are_served(client) -> None:
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/v1/translations", "/v1/jobs/{job_id}/events", "/healthz", "/readyz"} <= set(paths)


def test_api_key_from_a_secret_file_is_stripped_and_empty_means_none(monkeypatch) -> None:
    from services.common.core.settings import Settings

    monkeypatch.setenv("SIM2REAL_API_KEY", "s3cret\n")
    assert Settings().api_key.get_secret_value() == "s3cret"
    monkeypatch.setenv("SIM2REAL_API_KEY", "")
    assert Settings().api_key is None


def test_readyz_does_not_reveal_hosts(client_for, make_settings, pg_url) -> None:
    client = client_for(make_settings(database_url=pg_url, broker_url="redis://secret-host.internal:1/0"))
    body = client.get("/readyz").json()
    assert "secret-host" not in str(body) and body["checks"]["broker"].startswith("unreachable (")


def test_oversized_request_is_refused_before_it_is_read(client_for, server_settings) -> None:
    client = client_for(server_settings.model_copy(update={"max_upload_bytes": 1000}))
    r = client.post("/v1/translations", data={"weather": "fog"}, files={"image": ("f.png", b"x" * 5_000_000)})
    assert r.status_code == 413 and "SIM2REAL_MAX_UPLOAD_BYTES" in r.json()["detail"]


def test_a_result_missing_from_the_store_is_404_not_500(client, server_settings) -> None:
    job = _submit(client)
    url = server_settings.resolved_database_url
    with session_scope(url) as s:
        assert jobs.claim(s, job["id"], "w:1", jobs.stale_cutoff(60))
        assert jobs.finish(s, job["id"], "w:1", {"image_key": f"translations/{job['id']}/result.png"})
    r = client.get(f"/v1/translations/{job['id']}/image")
    assert r.status_code == 404 and "object store" in r.json()["detail"]


def test_cancelling_a_parent_of_thousands_returns_at_once_and_the_sweep_cancels_the_children(
    client, server_settings
) -> None:
    """DELETE is one UPDATE whatever the tree's size; one sweep then cancels every unfinished child in
    bulk and leaves finished ones as they were."""
    import time
    from datetime import timedelta

    from sqlalchemy import event, func, insert, select

    from services.common.core.db.models import Job, new_id
    from services.common.core.db.session import get_engine
    from services.common.runtime.worker import WorkerRuntime

    url = server_settings.resolved_database_url
    long_ago = jobs.utcnow() - timedelta(days=1)
    parent = new_id()
    base = {"queue": "evaluator", "task_name": "x", "params": {}, "message": "", "progress": 0.0}
    rows = [
        {**base, "id": new_id(), "kind": "train_detector", "status": status, "parent_id": parent}
        for status in ["queued"] * 1500 + ["running"] * 300 + ["succeeded"] * 150 + ["failed"] * 50
    ]
    for row in rows:
        if row["status"] in jobs.TERMINAL:
            row["finished_at"] = long_ago
    with session_scope(url) as s:
        s.execute(insert(Job), [{**base, "id": parent, "kind": "experiment", "status": "queued"}])
        s.execute(insert(Job), rows)

    statements: list[str] = []

    def count(conn, cursor, statement, *args) -> None:  # noqa: ANN001
        statements.append(statement)

    event.listen(get_engine(url), "before_cursor_execute", count)
    try:
        started = time.perf_counter()
        r = client.delete(f"/v1/jobs/{parent}")
        elapsed = time.perf_counter() - started
    finally:
        event.remove(get_engine(url), "before_cursor_execute", count)
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert elapsed < 1.0
    assert sum(s.lstrip().upper().startswith("UPDATE") for s in statements) == 1

    def by_status() -> dict[str, int]:
        with session_scope(url) as s:
            query = select(Job.status, func.count()).where(Job.parent_id == parent).group_by(Job.status)
            return dict(s.execute(query).all())

    assert by_status() == {"queued": 1500, "running": 300, "succeeded": 150, "failed": 50}
    WorkerRuntime("evaluator", server_settings).recover()
    assert by_status() == {"cancelled": 1800, "succeeded": 150, "failed": 50}
    with session_scope(url) as s:
        finished = s.scalars(
            select(Job.finished_at).where(Job.parent_id == parent, Job.status.in_(("succeeded", "failed")))
        ).all()
    assert set(finished) == {long_ago}
