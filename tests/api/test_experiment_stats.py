"""Experiments' gap closure, power analysis and robustness option: the table built from real evaluations
of prediction files, POST /v1/experiments/plan, and the requests refused."""

from __future__ import annotations

import statistics
from types import SimpleNamespace

import numpy as np
import pytest

from services.common import power
from tests.api.conftest import ingest, run_one
from tests.api.detection_fixtures import make_bdd_eval, make_yolo_train

CLASSES = {"car": 0, "van": 1, "truck": 2}
KEEP = {"baseline": 0.5, "translated": 0.75, "oracle": 1.0}  # share of ground-truth boxes each arm finds


def write_arm_predictions(folder, frames, arm: str, seed: int, width: int = 320, height: int = 192) -> None:  # noqa: ANN001
    """Each kept box at a seeded confidence, plus one false positive per image: arms differ in recall."""
    rng = np.random.default_rng([list(KEEP).index(arm), seed])
    folder.mkdir(parents=True, exist_ok=True)
    for f in frames:
        lines = []
        for lab in f["labels"]:
            if "box2d" not in lab or rng.random() > KEEP[arm]:
                continue
            b = lab["box2d"]
            cx, cy = (b["x1"] + b["x2"]) / 2 / width, (b["y1"] + b["y2"]) / 2 / height
            w, h = (b["x2"] - b["x1"]) / width, (b["y2"] - b["y1"]) / height
            lines.append(
                f"{CLASSES[lab['category']]} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f} {rng.uniform(0.3, 1):.3f}"
            )
        lines.append(f"0 0.9 0.9 0.05 0.05 {rng.uniform(0.2, 0.9):.3f}")
        (folder / f"{f['name'].rsplit('.', 1)[0]}.txt").write_text("\n".join(lines) + "\n")


@pytest.fixture
def eval_dataset(api, run_queued, settings, data_root) -> tuple[str, list[dict]]:
    frames = make_bdd_eval(data_root / "bdd")
    ds = ingest(
        api, run_queued, settings, "bdd100k", f"file://{data_root}/bdd", reader={"split": "val"},
        split={"val_fraction": 0},
    )  # fmt: skip
    return ds["id"], frames


def test_table_gap_closure_and_power_from_real_evaluations(
    api, run_queued, settings, data_root, eval_dataset
) -> None:
    from services.common.contracts.experiment import ExperimentJobPayload
    from services.common.core.db.models import Experiment
    from services.common.core.db.session import session_scope
    from services.evaluator.jobs.experiment import build_table

    dataset_id, frames = eval_dataset
    seeds = [0, 1, 2]
    runs = []
    for arm in KEEP:
        for seed in seeds:
            folder = data_root / f"pred_{arm}_{seed}"
            write_arm_predictions(folder, frames, arm, seed)
            r = api.post(
                "/v1/evaluations",
                json={
                    "dataset_id": dataset_id,
                    "predictions_uri": f"file://{folder}",
                    "n_boot": 40,
                    "classes": ["car", "truck"],
                },
            )
            ev = run_one(run_queued, settings, "evaluate", r.json()["id"])
            assert ev.status == "succeeded", ev.error
            runs.append({"arm": arm, "seed": seed, "evaluation_id": ev.id})
    payload = ExperimentJobPayload(
        name="gap", arms=[{"name": a, "train_dataset_id": "unused"} for a in ("oracle", "translated", "baseline")],
        eval_dataset_id=dataset_id, seeds=seeds, n_boot=40, classes=["car", "truck"], baseline_arm="baseline",
        oracle_arm="oracle", target_difference=0.05,
    )  # fmt: skip
    ctx = SimpleNamespace(db_url=settings.resolved_database_url, store=api.app.state.store, job_id="t")
    table = build_table(ctx, payload, runs)
    assert table["baseline_arm"] == "baseline" and table["oracle_arm"] == "oracle"
    cells = {(r["arm"], r["slice"]): r for r in table["rows"]}
    assert ("diff" in cells[("baseline", "all")]) is False and "diff" in cells[("oracle", "all")]
    gaps = {(g["arm"], g["slice"]): g for g in table["gap_closure"]}
    assert set(gaps) == {("translated", s) for s in table["slices"]}
    for sl in table["slices"]:
        b, t, o = (cells[(a, sl)]["mean"] for a in ("baseline", "translated", "oracle"))
        g = gaps[("translated", sl)]
        assert g["denominator"] == pytest.approx(o - b)
        if g["denominator_low"] <= 0 <= g["denominator_high"]:
            assert g["gap"] is None and "includes 0" in g["note"]
        else:
            assert g["gap"] == pytest.approx((t - b) / (o - b))
            assert g["gap_low"] <= g["gap"] <= g["gap_high"]
    assert gaps[("translated", "all")]["gap"] is not None  # recall 0.5 -> 0.75 -> 1: a clear gap
    # Power: the seed variance is the variance of the per-seed differences shown in the table.
    powers = {(p["arm"], p["slice"]): p for p in table["power"]}
    assert set(powers) == {(a, s) for a in ("oracle", "translated") for s in table["slices"]}
    p = powers[("translated", "all")]
    diffs = list(cells[("translated", "all")]["diff_values"].values())
    assert p["seed_variance"] == pytest.approx(statistics.variance(diffs))
    assert p["image_variance"] > 0 and p["seeds"] == 3 and p["target_difference"] == 0.05
    assert p["detectable_difference"] == pytest.approx(
        power.detectable_difference(p["seed_variance"], p["image_variance"], 3)
    )
    assert p["seeds_needed"] == power.seeds_needed(p["seed_variance"], p["image_variance"], 0.05)

    # Without a bootstrap: ratios without intervals, and no image variance to plan with.
    plain = build_table(ctx, payload.model_copy(update={"n_boot": 0}), runs)
    g0 = next(g for g in plain["gap_closure"] if g["slice"] == "all")
    assert g0["gap"] == pytest.approx(gaps[("translated", "all")]["gap"]) and g0["gap_low"] is None
    assert all(p0["image_variance"] is None and "n_boot" in p0["note"] for p0 in plain["power"])

    # The same table planned from: POST /v1/experiments/plan reads a pilot's variances.
    with session_scope(settings.resolved_database_url) as s:
        s.add(
            Experiment(
                id="pilot0000000000000000000000000000"[:32],
                name="pilot",
                eval_dataset_id=dataset_id,
                table=table,
            )
        )
        s.commit()
    r = api.post(
        "/v1/experiments/plan",
        json={"experiment_id": "pilot0000000000000000000000000000"[:32], "arm": "translated", "slice": "all",
              "target_differences": [0.05, 0.2], "seeds": [3, 8]},
    )  # fmt: skip
    assert r.status_code == 200, r.text
    (row,) = r.json()["rows"]
    expected = power.plan(p["seed_variance"], p["image_variance"], [0.05, 0.2], [3, 8])
    assert row["needed"] == expected["needed"] and row["detectable"] == expected["detectable"]
    assert row["detectable"][0]["difference"] == pytest.approx(p["detectable_difference"])
    bad = api.post(
        "/v1/experiments/plan", json={"experiment_id": "pilot0000000000000000000000000000"[:32], "arm": "x"}
    )
    assert bad.status_code == 422 and bad.json()["detail"].startswith("arm: ") and "translated" in bad.text


def test_plan_from_variances_and_bad_plans(api, eval_dataset) -> None:
    from services.common.core.db.models import Experiment
    from services.common.core.db.session import session_scope

    r = api.post("/v1/experiments/plan", json={"seed_variance": 4e-4, "image_variance": 1e-5})
    assert r.status_code == 200, r.text
    (row,) = r.json()["rows"]
    assert row["needed"] == [
        {"target": 0.02, "seeds": 13, "note": None}
    ]  # worked by hand in tests/common/test_power.py
    assert [d["seeds"] for d in row["detectable"]] == [2, 3, 5, 10, 20]
    assert row["detectable"][1]["difference"] == pytest.approx(0.064211, abs=2e-6)
    far = api.post(
        "/v1/experiments/plan",
        json={"seed_variance": 0, "image_variance": 1e-4, "target_differences": [0.02]},
    )
    assert far.json()["rows"][0]["needed"][0]["seeds"] is None and "more images" in far.text
    app_settings = api.app.state.settings
    with session_scope(app_settings.resolved_database_url) as s:
        s.add(Experiment(id="e" * 32, name="unfinished", eval_dataset_id=eval_dataset[0]))
        s.commit()
    for body, code, words in [
        ({}, 422, "either experiment_id"),
        (
            {"seed_variance": 1e-4, "image_variance": 1e-5, "experiment_id": "e" * 32},
            422,
            "either experiment_id",
        ),
        ({"seed_variance": 1e-4}, 422, "image_variance: required"),
        ({"experiment_id": "nope"}, 404, "experiment_id: no experiment"),
        ({"experiment_id": "e" * 32}, 409, "no power analysis yet"),
        (
            {"seed_variance": 1e-4, "image_variance": 1e-5, "target_differences": [0]},
            422,
            "target_differences",
        ),
        ({"seed_variance": 1e-4, "image_variance": 1e-5, "seeds": [1]}, 422, "seeds"),
        ({"seed_variance": -1, "image_variance": 1e-5}, 422, "seed_variance"),
    ]:
        r = api.post("/v1/experiments/plan", json=body)
        assert r.status_code == code and words in r.text, (body, r.text)


def _jobs(api) -> int:  # noqa: ANN001
    return api.get("/v1/jobs").json()["total"]


def test_bad_roles_and_robustness_options_are_refused(
    api, run_queued, settings, data_root, eval_dataset
) -> None:
    for k in range(3):
        make_yolo_train(data_root / f"train{k}", seed=k)
    train = [
        ingest(api, run_queued, settings, "yolo", f"file://{data_root}/train{k}")["id"] for k in range(3)
    ]
    base = {
        "name": "roles",
        "arms": [
            {"name": n, "train_dataset_id": t}
            for n, t in zip(("synthetic", "translated", "real"), train, strict=True)
        ],
        "eval_dataset_id": eval_dataset[0],
        "seeds": [0],
    }
    before = _jobs(api)
    arms = "'synthetic', 'translated', 'real'"
    cases = [
        ({**base, "oracle_arm": "nope"}, f"oracle_arm: no arm named 'nope'; the arms are {arms}"),
        ({**base, "baseline_arm": "nope"}, f"baseline_arm: no arm named 'nope'; the arms are {arms}"),
        ({**base, "oracle_arm": "synthetic"}, "oracle_arm: 'synthetic' is the baseline arm"),
        ({**base, "oracle_arm": "real", "baseline_arm": "real"}, "oracle_arm: 'real' is the baseline arm"),
        (
            {**base, "arms": base["arms"][::2], "oracle_arm": "real"},
            "oracle_arm: gap closure needs an arm besides",
        ),
        (
            {**base, "robustness": {"weather": "night", "levels": [None]}},
            "robustness.weather: 'night' has no intensity",
        ),
        (
            {**base, "robustness": {"weather": "fog", "levels": [None, 20000]}},
            "robustness.levels[1]: 20000 is not a valid fog visibility_m",
        ),
    ]
    for body, words in cases:
        r = api.post("/v1/experiments", json=body)
        assert r.status_code == 422 and r.json()["detail"].startswith(words), (body, r.text)
    r = api.post("/v1/experiments", json={**base, "target_difference": 0})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "target_difference"]
    assert _jobs(api) == before
    ok = api.post(
        "/v1/experiments",
        json={**base, "oracle_arm": "real", "robustness": {"weather": "fog", "levels": [None, 100]}},
    )
    assert ok.status_code == 202, ok.text
    exp = api.get(f"/v1/experiments/{ok.json()['id']}").json()
    assert exp["settings"]["oracle_arm"] == "real" and exp["settings"]["robustness"]["levels"] == [None, 100]
    # Not run here: cancelled, so no later test's run of queued experiments picks it up.
    assert api.delete(f"/v1/jobs/{ok.json()['id']}").status_code == 200


@pytest.mark.slow
def test_experiment_with_an_oracle_and_robustness_curves_runs_through_the_queue(
    api, run_queued, settings, data_root, eval_dataset
) -> None:
    """Three tiny trainings, then one curve per arm: the first renders, the others reuse its rendered set."""
    for k in range(3):
        make_yolo_train(data_root / f"train{k}", seed=k)
    train = [
        ingest(api, run_queued, settings, "yolo", f"file://{data_root}/train{k}")["id"] for k in range(3)
    ]
    body = {
        "name": "gap and robustness",
        "arms": [
            {"name": n, "train_dataset_id": t}
            for n, t in zip(("synthetic", "translated", "real"), train, strict=True)
        ],
        "eval_dataset_id": eval_dataset[0],
        "model": {"model": "yolov5n", "imgsz": 160, "epochs": 1, "batch": 4},
        "seeds": [0],
        "classes": ["car", "truck"],
        "n_boot": 10,
        "oracle_arm": "real",
        "robustness": {"weather": "fog", "levels": [None, 100]},
    }
    r = api.post("/v1/experiments", json=body)
    assert r.status_code == 202, r.text
    exp_id = r.json()["id"]
    for _ in range(15):
        for kind in (
            "experiment",
            "train_detector",
            "robustness",
            "translate_dataset",
            "translate_shard",
            "evaluate",
            "detect_shard",
        ):
            for job in run_queued(settings, kind):
                assert job.status in ("succeeded", "queued"), (kind, job.error)
        exp = api.get(f"/v1/experiments/{exp_id}").json()
        if exp["status"] == "succeeded":
            break
    assert exp["status"] == "succeeded", exp
    table = exp["table"]
    assert {g["arm"] for g in table["gap_closure"]} == {"translated"}
    assert all(p["note"].startswith("needs 2+ seeds") for p in table["power"])
    curves = table["robustness"]
    assert set(curves) == {"synthetic", "translated", "real"}
    rendered = []
    for arm, curve_id in curves.items():
        c = api.get(f"/v1/robustness/{curve_id}").json()
        assert c["levels"] == [None, 100] and {r["level"] for r in c["rows"]} == {None, 100}
        job = api.get(f"/v1/jobs/{curve_id}").json()
        rendered.append((arm, job["result"]["rendered"], c["points"][1]["dataset_id"]))
    assert [n for _, n, _ in rendered] == [1, 0, 0] and len({d for _, _, d in rendered}) == 1
