"""`sim2real jobs`, `weathers`, `demo data` and `up`."""

from __future__ import annotations

import importlib.util

from typer.testing import CliRunner

from sim2real.cli import app
from sim2real.demo.data import write_demo_data
from tests.scenes import road_scene


def test_jobs_watch_follows_a_job_to_completion(service, cli) -> None:
    rgb, _ = road_scene(640, 192, seed=4)
    with service.client() as c:
        submitted = c.translate(rgb, weather="fog").state.model_dump()  # queued: not waited for
    run = cli("jobs", "watch", submitted["id"], "--json")
    assert run.code == 0, run.stderr
    job = run.json()
    assert job["id"] == submitted["id"] and job["status"] == "succeeded" and job["progress"] == 1.0
    assert "eta_s" in job
    assert cli("jobs", "show", job["id"], "--json").json()["result"] == job["result"]
    # Cancelling a finished job is refused with the server's message.
    run = cli("jobs", "cancel", job["id"])
    assert run.code == 1 and "already succeeded" in run.stderr


def test_watching_an_unknown_job_exits_non_zero(cli) -> None:
    run = cli("jobs", "watch", "nope")
    assert run.code == 1 and "no job with id 'nope'" in run.stderr


def test_weathers_lists_the_physics_weathers(cli) -> None:
    rows = cli("weathers", "--json").json()
    assert {"fog", "rain", "snow"} <= {
        r["weather"] for r in rows if r["method"] == "physics" and r["available"]
    }


def test_an_unreachable_service_is_named(cli) -> None:
    run = cli("--url", "http://127.0.0.1:9", "weathers")
    assert run.code == 1 and "cannot reach the sim2real service at http://127.0.0.1:9" in run.stderr


def test_demo_data_command_writes_the_trees(tmp_path) -> None:
    result = CliRunner().invoke(app, ["demo", "data", str(tmp_path), "--frames", "2", "--json"])
    assert result.exit_code == 0, result.output
    import json

    out = json.loads(result.stdout)
    assert out["images"] == write_demo_data(tmp_path / "again", frames=2).images
    assert {d["format"] for d in out["datasets"]} == {"kitti", "kitti_tracking", "vkitti2", "bdd100k"}


def test_up_without_the_worker_extra_names_the_install(monkeypatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "torch" else real(name, *a)
    )
    result = CliRunner().invoke(app, ["up"])
    assert result.exit_code == 1
    assert "pip install 'sim2real[worker]'" in result.stderr and "torch" in result.stderr
