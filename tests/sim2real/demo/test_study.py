"""`sim2real demo study` in miniature, as its own process: with no service at SIM2REAL_URL it starts the
embedded one, runs every job (ingest, physics translation, the experiment's trainings and evaluations),
writes the report and stops the service. Checks that the table is complete, not which arm won."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx

from sim2real.demo.embedded import free_port
from sim2real.demo.study import CPU_DEFAULT, GPU_DEFAULT, StudySettings
from tests.web.stack import ROOT

ARMS = {"source", "translated", "oracle"}


def test_demo_study_miniature(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    nobody = f"http://127.0.0.1:{free_port()}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIM2REAL_")}
    env.update(SIM2REAL_URL=nobody, SIM2REAL_CONFIG=str(ROOT / "no-such-config.toml"))
    args = ["--images", "10", "--epochs", "1", "--seeds", "1", "--imgsz", "64", "--no-cyclegan"]
    p = subprocess.run(
        [sys.executable, "-m", "sim2real", "demo", "study", *args, "--out", str(out), "--json"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=170,
    )
    assert p.returncode == 0, p.stderr[-3000:]
    assert "starting the embedded one" in p.stderr
    assert "independent" in p.stderr or "share no code" in p.stderr  # which model made the target, and why
    answer = json.loads(p.stdout)
    outcome = answer["outcome"]
    table = outcome["experiment"]["table"]

    assert set(table["arms"]) == ARMS
    assert (table["baseline_arm"], table["oracle_arm"]) == ("source", "oracle")
    slices = table["slices"]
    assert {"occluded<=5", "occluded<=10", "all"} <= set(slices)
    visibility = [s for s in slices if s.startswith("visibility=")]
    assert visibility and all(s != "visibility=unknown" for s in visibility)
    rows = {(r["arm"], r["slice"]) for r in table["rows"]}
    assert rows == {(a, s) for a in ARMS for s in slices}
    for r in table["rows"]:
        assert r["ci_low"] is not None and r["ci_high"] is not None  # image-bootstrap intervals
    gaps = {(g["arm"], g["slice"]) for g in table["gap_closure"]}
    assert gaps == {("translated", s) for s in slices}
    assert {(p["arm"], p["slice"]) for p in table["power"]} == {
        (a, s) for a in ARMS - {"source"} for s in slices
    }

    files = {k: Path(v) for k, v in answer["files"].items()}
    for name in ("markdown", "html", "plot", "samples", "outcome"):
        assert files[name].is_file() and files[name].stat().st_size > 0, name
    report = files["markdown"].read_text()
    for heading in ("mAP50 on the held-out target images", "Gap closure", "Power", "Samples"):
        assert heading in report
    assert "target_fog" in report and "total" in report and " min" in report  # the measured time
    assert "<table>" in files["html"].read_text()
    assert outcome["timings"]["total"] > 0
    # The embedded service it started is gone.
    try:
        httpx.get(outcome["url"] + "/healthz", timeout=2)
        raise AssertionError("the embedded service still answers")
    except httpx.HTTPError:
        pass


def test_budget_scales_images_and_epochs() -> None:
    default = StudySettings.scaled()
    assert (default.images, default.epochs, default.imgsz) == (
        CPU_DEFAULT["images"],
        CPU_DEFAULT["epochs"],
        CPU_DEFAULT["imgsz"],
    )
    four_times = StudySettings.scaled(120)
    assert four_times.images == 2 * default.images and four_times.epochs == 2 * default.epochs
    assert StudySettings.scaled(7.5).images == default.images // 2
    explicit = StudySettings.scaled(120, images=12, epochs=1)
    assert (explicit.images, explicit.eval_images, explicit.epochs) == (12, 6, 1)
    gpu = StudySettings.scaled(gpu=True)
    assert gpu.cyclegan and gpu.images == GPU_DEFAULT["images"]
    assert not StudySettings.scaled(gpu=True, cyclegan=False).cyclegan
