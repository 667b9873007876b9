"""The names users read are the names they send: image listings show `num_boxes` and filter by it, and every
refusal names the field by its full path in the request (e.g. `model.val_dataset_id`), leaving nothing behind."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from services.common import methods
from tests.api.conftest import ingest
from tests.api.detection_fixtures import make_bdd_eval, make_yolo_train
from tests.common.dataset_fixtures import make_vkitti2


def test_image_listings_show_and_filter_num_boxes(api, run_queued, settings, data_root) -> None:
    make_vkitti2(data_root / "vkitti")
    d = ingest(api, run_queued, settings, "vkitti2", f"file://{data_root}/vkitti")
    items = api.get(f"/v1/datasets/{d['id']}/images", params={"limit": 100}).json()["items"]
    assert items and all("boxes" not in i for i in items)
    assert sum(i["num_boxes"] for i in items) == sum(d["stats"]["boxes_per_class"].values())
    for n in sorted({i["num_boxes"] for i in items}):
        page = api.get(f"/v1/datasets/{d['id']}/images", params={"filter": f"num_boxes>={n}"}).json()
        assert page["total"] == sum(1 for i in items if i["num_boxes"] >= n)
    old = api.get(f"/v1/datasets/{d['id']}/images", params={"filter": "boxes>=1"})
    assert old.status_code == 422 and "'num_boxes'" in old.json()["detail"], old.text


@pytest.fixture
def sets(api, run_queued, settings, data_root) -> dict[str, str]:  # noqa: ANN001
    make_yolo_train(data_root / "train", seed=0)
    make_bdd_eval(data_root / "bdd")
    make_bdd_eval(data_root / "bdd2", seed=2)

    def bdd(folder: str) -> str:
        uri = f"file://{data_root}/{folder}"
        return ingest(
            api,
            run_queued,
            settings,
            "bdd100k",
            uri,
            name=folder,
            reader={"split": "val"},
            split={"val_fraction": 0},
        )["id"]

    return {
        "train": ingest(api, run_queued, settings, "yolo", f"file://{data_root}/train")["id"],
        "eval": bdd("bdd"),
        "noval": bdd("bdd2"),
    }


def _experiment(sets: dict[str, str], train: str, **model) -> dict:  # noqa: ANN003
    return {
        "name": "x",
        "arms": [{"name": "a", "train_dataset_id": sets["train"]}, {"name": "b", "train_dataset_id": train}],
        "eval_dataset_id": sets["eval"],
        "model": {"model": "yolov5n", "epochs": 1, **model},
        "seeds": [0],
    }


def test_experiment_and_training_refusals_name_full_paths(api, sets) -> None:
    jobs_before = api.get("/v1/jobs").json()["total"]
    experiments_before = api.get("/v1/experiments").json()["total"]
    cases = [
        # The case: the arm's dataset has no validation split.
        (_experiment(sets, sets["noval"]), "arms[1].train_dataset_id: ", "pass model.val_dataset_id"),
        (
            _experiment(sets, sets["eval"]),
            "arms[1].train_dataset_id: ",
            "evaluation dataset (eval_dataset_id)",
        ),
        (
            _experiment(sets, sets["train"], val_dataset_id=sets["eval"]),
            "model.val_dataset_id: ",
            "evaluation",
        ),
        (_experiment(sets, "nope"), "arms[1].train_dataset_id: ", "no dataset"),
        (_experiment(sets, sets["train"], weights_id="nope"), "model.weights_id: ", "no detector weights"),
        (_experiment(sets, sets["train"], hyperparameters={"lr9": 1}), "model.hyperparameters: ", "lr9"),
        (
            _experiment(sets, sets["train"], hyperparameters={"epochs": 3}),
            "model.hyperparameters.epochs: ",
            "set model.epochs as a field of its own",
        ),
    ]
    for body, prefix, words in cases:
        r = api.post("/v1/experiments", json=body)
        detail = r.json()["detail"]
        assert r.status_code in (404, 422) and detail.startswith(prefix) and words in detail, (body, detail)
    r = api.post("/v1/detector-trainings", json={"dataset_id": sets["noval"], "model": "yolov5n"})
    assert r.json()["detail"].startswith("dataset_id: ") and r.json()["detail"].endswith(
        "pass val_dataset_id"
    )
    r = api.post(
        "/v1/detector-trainings",
        json={"dataset_id": sets["train"], "model": "yolov5n", "val_dataset_id": sets["eval"]},
    )  # same classes here; a class mismatch would name model.val_dataset_id too
    assert r.status_code == 202
    api.delete(f"/v1/jobs/{r.json()['id']}")
    assert api.get("/v1/jobs").json()["total"] == jobs_before + 1
    assert api.get("/v1/experiments").json()["total"] == experiments_before


def test_the_training_job_names_the_experiment_field(api, settings, sets, tmp_path) -> None:
    """The same refusal from the worker (the dataset lost its split after submit) names the field the
    request had: val_dataset_id for a training, model.val_dataset_id for an experiment's."""
    from services.common.contracts.train_detector import TrainDetectorPayload
    from services.common.runtime.lifecycle import JobError
    from services.detector.jobs.train_detector import prepare_training_data

    payload = TrainDetectorPayload(dataset_id=sets["noval"], model="yolov5n")
    for parent, field in ((None, "pass val_dataset_id"), ("exp", "pass model.val_dataset_id")):
        ctx = SimpleNamespace(
            db_url=settings.resolved_database_url, store=api.app.state.store, parent_id=parent
        )
        with pytest.raises(JobError) as err:
            prepare_training_data(ctx, payload, tmp_path)
        assert str(err.value).endswith(field)


def test_dataset_and_other_refusals_name_full_paths(api, sets) -> None:
    cases = [
        ("/v1/datasets", {"name": "x", "format": "kitti", "uri": "s3://b/k/"}, "uri: "),
        (
            "/v1/evaluations",
            {"dataset_id": sets["eval"]},
            "detector_model_id: give exactly one of detector_model_id or predictions_uri",
        ),
        (
            "/v1/datasets/compositions",
            {
                "name": "x",
                "composition": "baseline",
                "kitti_dataset_id": sets["train"],
                "vkitti_dataset_id": sets["train"],
            },
            "kitti_dataset_id: the composition needs a kitti_tracking dataset",
        ),
    ]
    for path, body, prefix in cases:
        r = api.post(path, json=body)
        assert r.status_code in (403, 422) and r.json()["detail"].startswith(prefix), (path, r.text)
    r = api.get("/v1/jobs", params={"status": "done"})
    assert r.status_code == 422 and r.json()["detail"].startswith("status: ")


@pytest.mark.parametrize(
    "taxonomy, path",
    [
        ({"colour": 1}, "options.taxonomy.colour: "),
        ({"min_box_height": -1}, "options.taxonomy.min_box_height: "),
        ({"classes": ["car"], "mapping": {"kitti": {"Van": "van"}}}, "options.taxonomy.mapping.kitti: "),
        ({"classes": ["car"], "shade": 1}, "options.taxonomy.shade: "),
        ({"classes": ["car", "car"]}, "options.taxonomy.classes: "),
    ],
)
def test_taxonomy_refusals_name_the_key_inside_the_request(api, data_root, taxonomy, path) -> None:  # noqa: ANN001
    (data_root / "d").mkdir()
    body = {"name": "x", "format": "yolo", "uri": f"file://{data_root}/d", "options": {"taxonomy": taxonomy}}
    r = api.post("/v1/datasets", json=body)
    assert r.status_code == 422 and r.json()["detail"].startswith(path), r.text


def test_cross_field_option_checks_name_the_field(api) -> None:  # noqa: ANN001
    """A check across fields (a model validator) names the field its message starts with."""
    trainable = {s.name: s for s in methods.registry().values() if s.training_options is not None}
    spec = trainable["cyclegan"]
    body = {
        "name": "x",
        "method": spec.name,
        "weather": "fog",
        "domain_a": {"dataset_id": "nope"},
        "domain_b": {"dataset_id": "nope"},
    }
    for options, path in [
        ({"crop_size": 14}, "options.crop_size"),
        ({"load_size": 100}, "options.load_size"),
    ]:
        r = api.post("/v1/translator-models", json={**body, "options": options})
        assert r.status_code == 422 and f"field '{path}': " in r.json()["detail"], r.text
