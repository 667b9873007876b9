"""Robustness curves through the job runner: render (translate_dataset), evaluate, detect, record."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from tests.api.conftest import ingest
from tests.api.robustness_fixtures import ChromaDetector, write_vkitti2_scene

KINDS = ("robustness", "translate_dataset", "translate_shard", "evaluate", "detect_shard")


@pytest.fixture
def scene(api, run_queued, settings, data_root, monkeypatch) -> dict[str, str]:
    """The dataset (with depth) and a detector model whose weights load as the colour detector."""
    from services.common.core.db.models import DetectorModel
    from services.common.core.db.session import session_scope

    write_vkitti2_scene(data_root / "vk")
    dataset = ingest(api, run_queued, settings, "vkitti2", f"file://{data_root}/vk")
    assert dataset["stats"]["images"] == 3
    names = list(dataset["class_names"])
    with session_scope(settings.resolved_database_url) as s:
        model = DetectorModel(
            name="colour detector", origin="uploaded", architecture="yolov5n", imgsz=192,
            class_names=names, weights_key="models/detector/colour/weights.pt",
        )  # fmt: skip
        s.add(model)
        s.commit()
        model_id = model.id
    for job in ("detect", "detect_shard"):  # one image, and an evaluation's shards
        monkeypatch.setattr(
            f"services.detector.jobs.{job}.load_detector", lambda store, settings, key: ChromaDetector(names)
        )
    return {"dataset": dataset["id"], "model": model_id}


def run_until_done(api, run_queued, settings, job_id: str, rounds: int = 12) -> dict:  # noqa: ANN001
    for _ in range(rounds):
        for kind in KINDS:
            run_queued(settings, kind)
        job = api.get(f"/v1/jobs/{job_id}").json()
        if job["status"] in ("succeeded", "failed", "cancelled"):
            return job
    raise AssertionError(f"robustness job still {job['status']}: {job.get('message')}")


def curve(api, run_queued, settings, scene, **extra) -> tuple[dict, dict]:  # noqa: ANN001
    body = {
        "detector_model_id": scene["model"],
        "dataset_id": scene["dataset"],
        "weather": "fog",
        "levels": [None, 500, 200, 100, 50],
        "n_boot": 20,
        **extra,
    }
    r = api.post("/v1/robustness", json=body)
    assert r.status_code == 202, r.text
    job = run_until_done(api, run_queued, settings, r.json()["id"])
    assert job["status"] == "succeeded", job
    got = api.get(f"/v1/robustness/{job['result']['robustness_id']}")
    assert got.status_code == 200, got.text
    return job, got.json()


def test_fog_curve_falls_with_visibility_and_reuses_rendered_sets(api, run_queued, settings, scene) -> None:
    job, c = curve(api, run_queued, settings, scene)
    assert job["result"] == {"robustness_id": job["id"], "levels": 5, "rendered": 4}
    assert c["parameter"] == "visibility_m" and c["levels"] == [None, 500, 200, 100, 50]
    overall = {r["level"]: r for r in c["rows"] if r["slice"] == "all" and r["class"] == "all"}
    maps = [overall[level]["ap50"] for level in c["levels"]]
    # The detector finds every car in clear air; fog washes out the far ones first.
    assert maps[0] > 0.99, maps  # ultralytics scores a perfect detector 0.995
    assert all(later <= earlier + 1e-9 for earlier, later in zip(maps, maps[1:], strict=False)), maps
    assert maps[-1] < maps[0] - 0.3, maps
    for r in c["rows"]:
        assert {"level", "slice", "class", "ap50", "ap50_low", "ap50_high"} <= set(r)
        assert r["ap50_low"] <= r["ap50"] + 1e-9 and r["ap50"] <= r["ap50_high"] + 1e-9
    # Each level's rendered dataset keeps the labels and records the translation; depth was used.
    renders = [p for p in c["points"] if p["level"] is not None]
    assert all(not p["cached"] and p["dataset_id"] for p in renders)
    rendered = api.get(f"/v1/datasets/{renders[-1]['dataset_id']}").json()
    assert rendered["lineage"]["params"]["visibility_m"] == 50 and rendered["lineage"]["weather"] == "fog"
    png = api.get(c["plot"])
    assert png.headers["content-type"] == "image/png" and Image.open(io.BytesIO(png.content)).size[0] > 0

    # A second curve over some of the same levels renders nothing new: it evaluates the cached sets.
    job2, c2 = curve(api, run_queued, settings, scene, levels=[None, 200, 50])
    assert job2["result"]["rendered"] == 0
    assert [p["dataset_id"] for p in c2["points"][1:]] == [renders[1]["dataset_id"], renders[3]["dataset_id"]]
    assert all(p["cached"] for p in c2["points"][1:])
    overall2 = {r["level"]: r["ap50"] for r in c2["rows"] if r["slice"] == "all" and r["class"] == "all"}
    assert overall2 == {level: overall[level]["ap50"] for level in (None, 200, 50)}
    listed = api.get("/v1/robustness", params={"dataset_id": scene["dataset"]}).json()
    assert listed["total"] == 2
    assert api.delete(f"/v1/robustness/{c2['id']}").status_code == 204
    gone = api.get(f"/v1/robustness/{c2['id']}")
    assert gone.status_code == 409 and "deleted since" in gone.text
    assert api.get(c["plot"]).status_code == 200
    kept = api.delete(f"/v1/datasets/{scene['dataset']}")
    assert kept.status_code == 409 and f"robustness curve {c['id']}" in kept.text


def _jobs(api) -> int:  # noqa: ANN001
    return api.get("/v1/jobs").json()["total"]


def test_bad_robustness_requests(api, scene) -> None:
    base = {
        "detector_model_id": scene["model"],
        "dataset_id": scene["dataset"],
        "weather": "fog",
        "levels": [None, 100],
    }
    before = _jobs(api)
    cases = [
        ({**base, "weather": "overcast"}, 422, "weather: 'overcast' has no intensity parameter"),
        ({**base, "weather": "sunshine"}, 422, "fog, rain, snow"),
        ({**base, "levels": [None, 0.5]}, 422, "levels[1]: 0.5 is not a valid fog visibility_m"),
        (
            {**base, "weather": "rain", "levels": [5, 500]},
            422,
            "levels[1]: 500 is not a valid rain intensity_mm_h",
        ),
        ({**base, "levels": [100, 100]}, 422, "levels: [100.0] appear more than once"),
        ({**base, "levels": []}, 422, "levels"),
        ({**base, "detector_model_id": "nope"}, 404, "detector_model_id: no detector model"),
        ({**base, "dataset_id": "nope"}, 404, "dataset_id: no dataset"),
        ({**base, "classes": ["tram"]}, 422, "classes"),
    ]
    for body, code, words in cases:
        r = api.post("/v1/robustness", json=body)
        assert r.status_code == code and words in r.text, (body, r.text)
    assert _jobs(api) == before
    missing = api.get("/v1/robustness/nope")
    assert missing.status_code == 404 and "POST /v1/robustness" in missing.text
    r = api.post("/v1/robustness", json=base)
    assert r.status_code == 202
    waiting = api.get(f"/v1/robustness/{r.json()['id']}")
    assert waiting.status_code == 409 and "queued" in waiting.text
    assert api.delete(f"/v1/jobs/{r.json()['id']}").status_code == 200
    cancelled = api.get(f"/v1/robustness/{r.json()['id']}")
    assert cancelled.status_code == 409 and "cancelled" in cancelled.text


def test_intensity_parameters_are_declared_once_in_the_method_registry(api) -> None:
    from pydantic import BaseModel

    from services.common import methods

    rows = {(r["method"], r["weather"]): r for r in api.get("/v1/weathers").json() if "model_id" not in r}
    declared = {w: r["intensity"] for (_, w), r in rows.items() if r["intensity"]}
    assert declared == {"fog": "visibility_m", "rain": "intensity_mm_h", "snow": "intensity_mm_h"}
    assert methods.intensity_weathers() == ["fog", "rain", "snow"]
    for weather, param in declared.items():
        assert (
            param in rows[(methods.with_intensity(weather)[0].name, weather)]["params_schema"]["properties"]
        )

    class Params(BaseModel):
        strength: float = 1.0

    with pytest.raises(ValueError, match="intensity 'density' is not a field of weather 'haze'"):
        methods.register(
            methods.MethodSpec(
                name="toyhaze", description="", weather_params={"haze": Params}, intensity={"haze": "density"}
            )
        )
    assert "toyhaze" not in methods.registry()
