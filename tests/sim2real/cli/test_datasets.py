"""`sim2real datasets …` against the embedded stack, on the demo data."""

from __future__ import annotations

import zipfile


def test_ingest_the_demo_data_and_browse_it(service, cli) -> None:
    vk = service.demo.trees["vkitti2"]
    run = cli("datasets", "ingest", vk, "--format", "vkitti2", "--name", "demo vk", "--json")
    assert run.code == 0, run.stderr
    job = run.json()
    assert job["status"] == "succeeded" and job["kind"] == "ingest_dataset"
    dataset_id = job["result"]["dataset_id"]
    shown = cli("datasets", "show", dataset_id, "--json").json()
    assert shown["stats"]["images"] == service.demo.images["vkitti2"] == shown["stats"]["images_with_pixels"]
    assert set(shown["stats"]["weather"]) >= {"foggy", "rainy", "overcast"}
    assert dataset_id in [d["id"] for d in cli("datasets", "list", "--json").json()]
    foggy = cli(
        "datasets", "images", dataset_id, "--filter", "variation=fog", "--limit", "0", "--json"
    ).json()
    assert len(foggy) == service.demo.images["vkitti2"] // 6 and {i["variation"] for i in foggy} == {"fog"}


def test_bdd_reader_options_and_export(service, cli, tmp_path) -> None:
    bdd = service.demo.trees["bdd100k-val"]
    run = cli(
        "datasets", "ingest", bdd, "--format", "bdd100k", "--reader", "split=val",
        "--options", '{"split": {"val_fraction": 0}}', "--json",
    )  # fmt: skip
    assert run.code == 0, run.stderr
    dataset_id = run.json()["result"]["dataset_id"]
    assert (
        cli("datasets", "show", dataset_id, "--json").json()["stats"]["images"]
        == service.demo.images["bdd100k-val"]
    )
    run = cli("datasets", "export", dataset_id, "-o", tmp_path / "bdd.zip", "--json")
    assert run.code == 0, run.stderr
    names = zipfile.ZipFile(tmp_path / "bdd.zip").namelist()
    assert (
        "data.yaml" in names
        and sum(n.endswith(".jpg") or n.endswith(".png") for n in names) == service.demo.images["bdd100k-val"]
    )


def test_a_failed_ingest_exits_non_zero_with_the_jobs_error(service, cli) -> None:
    empty = service.demo.root / "empty"
    empty.mkdir(exist_ok=True)
    run = cli("datasets", "ingest", empty, "--format", "kitti", "--json")
    assert run.code == 1
    assert run.json()["status"] == "failed"  # the final job is still printed for programs
    assert "failed" in run.stderr and "label_2" in run.stderr


def test_a_refused_ingest_names_the_field(service, cli) -> None:
    run = cli("datasets", "ingest", "/definitely/not/under/the/roots", "--format", "kitti")
    assert (
        run.code == 1
        and "HTTP 403: uri:" in run.stderr
        and "outside the allowed dataset folders" in run.stderr
    )
