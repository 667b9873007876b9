"""The study through the CLI: the demo data's baseline composition, a tiny detector training, a detection
and an evaluation (about 30 s on two CPU cores)."""

from __future__ import annotations

from PIL import Image


def test_train_detect_and_evaluate(service, datasets, cli, tmp_path) -> None:
    run = cli(
        "datasets", "recipe", "baseline", "--kitti", datasets["kitti_tracking"],
        "--vkitti", datasets["vkitti2"], "--json",
    )  # fmt: skip
    assert run.code == 0, run.stderr
    composed = run.json()["result"]
    assert composed["images"] == 14 and set(composed["origins"]) == {
        "kitti",
        *(f"vkitti2:{v}" for v in ("clone", "fog", "morning", "overcast", "rain", "sunset")),
    }
    run = cli(
        "detectors", "train", composed["dataset_id"], "--model", "yolov5n", "--imgsz", "96",
        "--epochs", "1", "--batch", "8", "--name", "tiny", "--json",
    )  # fmt: skip
    assert run.code == 0, run.stderr
    model_id = run.json()["result"]["model_id"]
    shown = cli("detectors", "show", model_id, "--json").json()
    assert shown["name"] == "tiny" and [e["epoch"] for e in shown["metrics"]["epochs"]] == [1]
    assert model_id in [m["id"] for m in cli("detectors", "list", "--json").json()]

    image = service.demo.trees["bdd100k-val"] / "bdd100k" / "images" / "100k" / "val" / "val-0002.jpg"
    run = cli(
        "detectors",
        "detect",
        image,
        "--model-id",
        model_id,
        "--conf",
        "0",
        "-o",
        tmp_path / "boxes.png",
        "--json",
    )
    assert run.code == 0, run.stderr
    detections = run.json()["detections"]
    assert detections and {d["name"] for d in detections} <= {"car", "van", "truck"}
    assert Image.open(tmp_path / "boxes.png").size == Image.open(image).size

    run = cli(
        "eval", "run", "--dataset-id", datasets["bdd100k-val"], "--detector-model-id", model_id,
        "--class", "car", "--slice-by", "occlusion", "--slice-by", "weather", "--n-boot", "10", "--json",
    )  # fmt: skip
    assert run.code == 0, run.stderr
    evaluation_id = run.json()["result"]["evaluation_id"]
    rows = cli("eval", "show", evaluation_id, "--json").json()["rows"]
    slices = {r["slice"] for r in rows}
    assert {"all", "occluded<=5", "weather=foggy", "weather=rainy"} <= slices
    assert {r["class"] for r in rows} == {"all", "car"}
    assert (
        next(r for r in rows if r["slice"] == "all" and r["class"] == "car")["images"]
        == service.demo.images["bdd100k-val"]
    )
    listed = cli("eval", "list", "--json").json()
    assert evaluation_id in [e["id"] for e in listed]
    # Human output: the table names the slices.
    run = cli("eval", "show", evaluation_id)
    assert run.code == 0 and "weather=foggy" in run.stdout
