"""Evaluations through the API: prediction files and detectors, slices, bootstrap, comparisons, bad input."""

from __future__ import annotations

import pytest

from tests.api.conftest import run_one
from tests.api.detection_fixtures import OCCLUDED, make_bdd_eval, write_predictions


@pytest.fixture
def bdd(api, run_queued, settings, data_root) -> tuple[str, list[dict]]:
    frames = make_bdd_eval(data_root / "bdd")
    r = api.post(
        "/v1/datasets",
        json={
            "name": "bdd val",
            "format": "bdd100k",
            "uri": f"file://{data_root}/bdd",
            "options": {"reader": {"split": "val"}},
        },
    )
    job = run_one(run_queued, settings, "ingest_dataset", r.json()["id"])
    assert job.status == "succeeded", job.error
    return job.result["dataset_id"], frames


def evaluate(api, run_queued, settings, **body) -> dict:  # noqa: ANN001
    r = api.post("/v1/evaluations", json=body)
    assert r.status_code == 202, r.text
    job = run_one(run_queued, settings, "evaluate", r.json()["id"])
    assert job.status == "succeeded", job.error
    return api.get(f"/v1/evaluations/{job.id}").json()


def compare(api, run_queued, settings, **body):  # noqa: ANN001, ANN201
    """POST a comparison, run its job, GET the stored comparison."""
    r = api.post("/v1/evaluations/compare", json=body)
    assert r.status_code == 202, r.text
    job = run_one(run_queued, settings, "compare_evaluations", r.json()["id"])
    assert job.status == "succeeded", job.error
    return api.get(f"/v1/evaluations/comparisons/{job.id}")


def test_perfect_prediction_files_score_ultralytics_maximum(
    api, run_queued, settings, data_root, bdd
) -> None:
    dataset_id, frames = bdd
    write_predictions(data_root / "pred", frames, 320, 192)
    ev = evaluate(
        api,
        run_queued,
        settings,
        dataset_id=dataset_id,
        predictions_uri=f"file://{data_root}/pred",
        slice_by=["occlusion", "weather"],
        n_boot=50,
    )
    rows = {(r["slice"], r["class"]): r for r in ev["rows"]}
    # ultralytics' 101-point interpolated AP: a perfect detector scores 0.995.
    assert rows[("all", "all")]["ap50"] == pytest.approx(0.995)
    assert rows[("all", "car")]["ap50"] == pytest.approx(0.995)
    assert ("all", "van") not in rows  # no ground truth, no row (as ultralytics)
    # Bucket membership by occluded vehicles per image: 0, 5, 6, 10, 11.
    images = {s: rows[(s, "all")]["images"] for s in ("occluded<=5", "occluded<=10", "all")}
    assert images == {"occluded<=5": 2, "occluded<=10": 4, "all": 5}
    assert rows[("occluded<=5", "car")]["instances"] == 0 + 5
    assert rows[("occluded<=10", "car")]["instances"] == 0 + 5 + 6 + 10
    assert rows[("occluded<=10", "truck")]["instances"] == 4
    assert rows[("weather=foggy", "all")]["images"] == 2 and rows[("weather=clear", "all")]["images"] == 3
    r = rows[("all", "all")]
    assert r["ap50_low"] <= r["ap50"] <= r["ap50_high"] + 1e-9
    assert api.get(ev["plot"]).headers["content-type"] == "image/png"


def test_paired_comparison(api, run_queued, settings, data_root, bdd) -> None:
    dataset_id, frames = bdd
    write_predictions(data_root / "good", frames, 320, 192)
    write_predictions(data_root / "worse", frames, 320, 192, drop_trucks=True)
    good = evaluate(
        api, run_queued, settings, dataset_id=dataset_id, predictions_uri=f"file://{data_root}/good", n_boot=0
    )
    worse = evaluate(
        api,
        run_queued,
        settings,
        dataset_id=dataset_id,
        predictions_uri=f"file://{data_root}/worse",
        n_boot=0,
    )
    r = compare(api, run_queued, settings, a=good["id"], b=worse["id"], n_boot=50)
    assert r.status_code == 200, r.text
    diff = {row["slice"]: row for row in r.json()["rows"]}
    # Missing every truck halves the mean over (car, truck): 0.995 -> 0.4975.
    assert diff["all"]["diff"] == pytest.approx(-0.4975)
    assert diff["all"]["diff_low"] <= diff["all"]["diff"] <= diff["all"]["diff_high"]
    same = compare(api, run_queued, settings, a=good["id"], b=good["id"], n_boot=20).json()
    assert all(row["diff"] == 0 and row["diff_low"] == 0 == row["diff_high"] for row in same["rows"])


def test_a_comparison_is_a_job_whose_result_is_stored(api, run_queued, settings, data_root, bdd) -> None:
    dataset_id, frames = bdd
    write_predictions(data_root / "good", frames, 320, 192)
    write_predictions(data_root / "worse", frames, 320, 192, drop_trucks=True)
    good, worse = (
        evaluate(api, run_queued, settings, dataset_id=dataset_id, predictions_uri=f"file://{data_root}/{n}")
        for n in ("good", "worse")
    )
    # Nothing stored yet: the old GET says how to make one.
    r = api.get("/v1/evaluations/compare", params={"a": good["id"], "b": worse["id"]})
    assert r.status_code == 404 and "POST /v1/evaluations/compare" in r.text, r.text
    r = api.post("/v1/evaluations/compare", json={"a": good["id"], "b": worse["id"], "n_boot": 30, "seed": 2})
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["kind"] == "compare_evaluations" and job["status"] == "queued"
    assert job["params"] == {"a": good["id"], "b": worse["id"], "n_boot": 30, "seed": 2}
    # Before the job ran: a 409 that says to poll the job.
    r = api.get(f"/v1/evaluations/comparisons/{job['id']}")
    assert r.status_code == 409 and "queued" in r.text and f"/v1/jobs/{job['id']}" in r.text, r.text
    done = run_one(run_queued, settings, "compare_evaluations", job["id"])
    assert done.status == "succeeded", done.error
    assert done.result["comparison_id"] == job["id"] and done.result["dataset_id"] == dataset_id
    assert done.result["diff"]["all"] == pytest.approx(-0.4975)
    stored = api.get(f"/v1/evaluations/comparisons/{job['id']}").json()
    assert (stored["a"], stored["b"], stored["dataset_id"], stored["n_boot"]) == (
        good["id"],
        worse["id"],
        dataset_id,
        30,
    )
    assert {row["slice"] for row in stored["rows"]} == set(done.result["diff"])
    # The old GET now answers with the newest stored comparison of that pair (and only of that order).
    latest = api.get("/v1/evaluations/compare", params={"a": good["id"], "b": worse["id"]}).json()
    assert latest == stored
    assert api.get("/v1/evaluations/compare", params={"a": worse["id"], "b": good["id"]}).status_code == 404
    assert api.get("/v1/evaluations/comparisons/nope").status_code == 404


def test_bad_comparison_requests(api, run_queued, settings, data_root, bdd) -> None:
    dataset_id, frames = bdd
    write_predictions(data_root / "pred", frames, 320, 192)
    uri = f"file://{data_root}/pred"
    ev = evaluate(api, run_queued, settings, dataset_id=dataset_id, predictions_uri=uri, n_boot=0)
    other = evaluate(api, run_queued, settings, dataset_id=dataset_id, predictions_uri=uri, buckets=[3, None])
    cases = [
        ({"a": "nope", "b": ev["id"]}, 404, "a: no evaluation"),
        ({"a": ev["id"], "b": "nope"}, 404, "b: no evaluation"),
        ({"a": ev["id"], "b": other["id"]}, 422, "buckets"),
        ({"a": ev["id"], "b": ev["id"], "n_boot": 0}, 422, "n_boot"),
    ]
    for body, code, words in cases:
        r = api.post("/v1/evaluations/compare", json=body)
        assert r.status_code == code and words in r.text, (body, r.text)


def test_bad_evaluation_requests(api, run_queued, settings, data_root, bdd) -> None:
    dataset_id, frames = bdd
    base = {"dataset_id": dataset_id, "predictions_uri": f"file://{data_root}"}
    cases = [
        ({**base, "dataset_id": "nope"}, 404, "no dataset"),
        ({"dataset_id": dataset_id, "detector_model_id": "nope"}, 404, "no detector model"),
        ({**base, "detector_model_id": "x"}, 422, "exactly one"),
        ({**base, "buckets": [10, 5, None]}, 422, "increasing"),
        ({**base, "buckets": [5, None, 10]}, 422, "buckets"),
        ({**base, "classes": ["bus"]}, 422, "bus"),
        ({**base, "slice_by": ["colour"]}, 422, "slice_by"),
        ({**base, "predictions_uri": "file:///etc"}, 403, "outside"),
    ]
    for body, code, words in cases:
        r = api.post("/v1/evaluations", json=body)
        assert r.status_code == code and words in r.text, (body, r.text)
    write_predictions(data_root / "broken", frames, 320, 192)
    (data_root / "broken" / "frame-0002.txt").write_text("0 0.5 0.5 0.1 0.1 0.9\n0 0.5 0.5 0.1\n")
    r = api.post("/v1/evaluations", json={**base, "predictions_uri": f"file://{data_root}/broken"})
    job = run_one(run_queued, settings, "evaluate", r.json()["id"])
    assert job.status == "failed" and "frame-0002.txt" in job.error and "line 2" in job.error, job.error
    assert api.get(f"/v1/evaluations/{job.id}").status_code == 404
    assert list(api.app.state.store.list(f"evaluations/{job.id}/")) == []
    assert sum(OCCLUDED) == 32


def test_prediction_files_for_the_whole_dataset_evaluate_one_split(
    api, run_queued, settings, data_root, bdd
) -> None:
    dataset_id, frames = bdd
    write_predictions(data_root / "pred", frames, 320, 192)
    val = api.get(f"/v1/datasets/{dataset_id}/images", params={"split": "val"}).json()["total"]
    assert 0 < val < len(frames)
    ev = evaluate(
        api,
        run_queued,
        settings,
        dataset_id=dataset_id,
        predictions_uri=f"file://{data_root}/pred",
        split="val",
        n_boot=0,
    )
    rows = {(r["slice"], r["class"]): r for r in ev["rows"]}
    assert rows[("all", "all")]["images"] == val and rows[("all", "all")]["ap50"] == pytest.approx(0.995)


def test_an_evaluated_dataset_is_deleted_after_its_evaluations(
    api, run_queued, settings, data_root, bdd
) -> None:
    dataset_id, frames = bdd
    write_predictions(data_root / "pred", frames, 320, 192)
    ev = evaluate(
        api, run_queued, settings, dataset_id=dataset_id, predictions_uri=f"file://{data_root}/pred", n_boot=0
    )
    refused = api.delete(f"/v1/datasets/{dataset_id}")
    assert refused.status_code == 409 and f"evaluation {ev['id']}" in refused.json()["detail"]
    r = api.post("/v1/evaluations/compare", json={"a": ev["id"], "b": ev["id"], "n_boot": 10})
    assert r.status_code == 202, r.text
    busy = api.delete(f"/v1/evaluations/{ev['id']}")
    assert busy.status_code == 409 and "compare_evaluations job" in busy.json()["detail"]
    run_one(run_queued, settings, "compare_evaluations", r.json()["id"])
    assert api.delete(f"/v1/evaluations/{ev['id']}").status_code == 204
    assert list(api.app.state.store.list(f"evaluations/{ev['id']}/")) == []
    gone = api.get(f"/v1/evaluations/comparisons/{r.json()['id']}")
    assert gone.status_code == 409 and "deleted" in gone.json()["detail"]
    assert api.delete(f"/v1/datasets/{dataset_id}").status_code == 204
    assert api.delete("/v1/experiments/nope").status_code == 404
