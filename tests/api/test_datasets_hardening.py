"""Issue 11: ingest reads nothing outside the data roots, and no data problem passes silently."""

from __future__ import annotations

import builtins
import io
import json
import os
import zipfile
from pathlib import Path

import pytest

from services.common.datasets.readers import READERS
from tests.api.conftest import ingest, post_and_run, run_one, run_sharded
from tests.common.dataset_fixtures import (
    kitti_line,
    make_bdd2018,
    make_kitti,
    make_kitti_tracking,
    make_vkitti2,
    make_yolo,
    write_image,
)
from tests.scenes import png_bytes, road_scene

SECRET = "secret-0xdeadbeef"


def make_outside(outside: Path) -> None:
    """Files a dataset's escapes point at: readable, unreadable and missing targets."""
    outside.mkdir(parents=True)
    (outside / "label.txt").write_text(kitti_line("Car", 0.0, 0, (1.0, 2.0, 300.0, 200.0)) + f"\n{SECRET}\n")
    (outside / "yolo.txt").write_text("0 0.5 0.5 0.5 0.5\n")
    (outside / "bbox.txt").write_text("frame cameraID\n")
    write_image(outside / "img.png", 64, 64)
    write_image(outside / "images" / "s.jpg", 64, 64)
    (outside / "unreadable.txt").write_text(SECRET)
    (outside / "unreadable.txt").chmod(0)


def escaping_dataset(fmt: str, root: Path, outside: Path) -> None:
    """A dataset of `fmt` with every kind of escape its layout allows."""
    link = os.symlink
    if fmt == "kitti":
        make_kitti(root)
        t = root / "training"
        write_image(t / "image_2" / "000009.png", 100, 100)
        link(outside / "label.txt", t / "label_2" / "000009.txt")
        (t / "label_2" / "000010.txt").write_text(kitti_line("Car", 0.0, 0, (1.0, 2.0, 30.0, 40.0)))
        link(outside / "img.png", t / "image_2" / "000010.png")
        link(outside / "unreadable.txt", t / "label_2" / "000011.txt")
        write_image(t / "image_2" / "000011.png", 100, 100)
        link(outside / "missing.txt", t / "label_2" / "000012.txt")
        write_image(t / "image_2" / "000012.png", 100, 100)
    elif fmt == "kitti_tracking":
        make_kitti_tracking(root)
        t = root / "training"
        link(outside / "label.txt", t / "label_02" / "0002.txt")
        link(outside / "img.png", t / "image_02" / "0001" / "000003.png")
        link(outside, t / "image_02" / "0005")
        (t / "label_02" / "0005.txt").write_text("")
    elif fmt == "vkitti2":
        make_vkitti2(root)
        fog = root / "vkitti_2.0.3_textgt" / "Scene02" / "fog"
        (fog / "bbox.txt").unlink()
        link(outside / "bbox.txt", fog / "bbox.txt")
        rgb = root / "vkitti_2.0.3_rgb" / "Scene01" / "clone" / "frames" / "rgb" / "Camera_0"
        link(outside / "img.png", rgb / "rgb_00007.jpg")
        depth = root / "vkitti_2.0.3_depth" / "Scene01" / "clone" / "frames" / "depth" / "Camera_0"
        link(outside / "img.png", depth / "depth_00002.png")
    elif fmt == "bdd100k":
        make_bdd2018(root)
        labels = root / "bdd100k" / "labels" / "bdd100k_labels_images_train.json"
        frames = json.loads(labels.read_text())
        frames += [
            {"name": "../../../../../outside/images/s.jpg"},
            {"name": str(outside / "images" / "s.jpg")},
            {"name": "b.jpg"},
        ]
        labels.write_text(json.dumps(frames))
        link(outside / "img.png", root / "bdd100k" / "images" / "100k" / "train" / "b.jpg")
    elif fmt == "yolo":
        make_yolo(root)
        (root / "labels" / "val").mkdir()
        link(outside / "yolo.txt", root / "labels" / "val" / "z.txt")
        link(outside / "img.png", root / "images" / "train" / "w.png")
        (root / "train.txt").write_text(
            f"images/train/x.jpg\n{outside / 'images' / 's.jpg'}\n../outside/images/s.jpg\n"
            f"{outside / 'unreadable.txt'}\n{outside / 'missing.jpg'}\nimages/train/y.png\n"
        )
        (root / "data.yaml").write_text(
            "path: .\ntrain: [train.txt, images/train]\nval: images/val\nnames: [car]\n"
        )
    else:  # a new format: this test must learn its escapes
        raise AssertionError(f"no escaping dataset for format {fmt!r}: add one here")


@pytest.mark.parametrize("fmt", sorted(READERS))
def test_ingest_never_opens_a_path_outside_the_roots(
    api, run_queued, settings, data_root, tmp_path, monkeypatch, fmt
) -> None:
    outside = tmp_path / "outside"
    make_outside(outside)
    escaping_dataset(fmt, data_root / fmt, outside)
    opened: list[str] = []

    def recording(real):  # noqa: ANN001, ANN202
        def call(file, *args, **kwargs):  # noqa: ANN001, ANN202
            if isinstance(file, (str, bytes, os.PathLike)):
                opened.append(os.fsdecode(file))
            return real(file, *args, **kwargs)

        return call

    from PIL import Image

    monkeypatch.setattr(builtins, "open", recording(builtins.open))
    monkeypatch.setattr(io, "open", recording(io.open))
    monkeypatch.setattr(os, "open", recording(os.open))
    monkeypatch.setattr(Image, "open", recording(Image.open))
    r = api.post("/v1/datasets", json={"name": fmt, "format": fmt, "uri": f"file://{data_root / fmt}"})
    job = run_one(run_queued, settings, "ingest_dataset", r.json()["id"])
    monkeypatch.undo()
    assert job.status == "succeeded", job.error
    assert opened, "the recording saw no file opened"
    leaked = [p for p in opened if Path(p).resolve().is_relative_to(outside.resolve())]
    assert leaked == []
    # Of this test's scratch area, only the dataset and the store's own files (under home) were opened.
    scratch, home = tmp_path.resolve(), settings.home.resolve()
    touched = {Path(p).resolve() for p in opened} - {
        Path(p).resolve() for p in opened if not Path(p).resolve().is_relative_to(scratch)
    }
    strays = [
        p for p in touched if not (p.is_relative_to(home) or p.is_relative_to((data_root / fmt).resolve()))
    ]
    assert strays == []
    assert any(p.is_relative_to((data_root / fmt).resolve()) for p in touched)
    warnings = job.result["warnings"]
    assert any("leads outside the dataset folder" in w for w in warnings), warnings
    assert not any(str(outside) in w or SECRET in w for w in warnings)
    store = api.app.state.store
    for key in store.list(f"datasets/{job.id}/"):
        assert SECRET.encode() not in store.get_bytes(key)
    d = api.get(f"/v1/datasets/{job.id}").json()
    assert d["stats"]["warnings"] == warnings
    assert d["stats"]["images"] == d["stats"]["images_with_pixels"] + d["stats"]["label_only_images"]


def test_data_yaml_path_outside_fails_without_naming_it(
    api, run_queued, settings, data_root, tmp_path
) -> None:
    outside = tmp_path / "outside"
    make_yolo(outside)
    (data_root / "y").mkdir()
    (data_root / "y" / "data.yaml").write_text(f"path: {outside}\ntrain: images/train\nnames: [car]\n")
    r = api.post("/v1/datasets", json={"name": "y", "format": "yolo", "uri": f"file://{data_root}/y"})
    job = run_one(run_queued, settings, "ingest_dataset", r.json()["id"])
    assert (
        job.status == "failed"
        and job.error == "data.yaml: path: leads outside the dataset folder; only files inside it are read"
    )
    assert api.get(f"/v1/datasets/{job.id}").status_code == 404


def test_bdd_ingest_warns_on_label_only_images_and_strict_fails(api, run_queued, settings, data_root) -> None:
    make_bdd2018(data_root / "bdd")
    d = ingest(api, run_queued, settings, "bdd100k", f"file://{data_root}/bdd")  # no split: train
    st = d["stats"]
    assert (st["images"], st["images_with_pixels"], st["label_only_images"]) == (4, 1, 3)
    assert st["warnings"][0].startswith("3 of 4 images have labels but no image file")
    job = api.get(f"/v1/jobs/{d['job_id']}").json()
    assert job["warnings"] == st["warnings"] == job["result"]["warnings"]
    r = api.post(
        "/v1/datasets",
        json={"name": "s", "format": "bdd100k", "uri": f"file://{data_root}/bdd", "strict": True},
    )
    assert r.status_code == 202, r.text
    failed = run_one(run_queued, settings, "ingest_dataset", r.json()["id"])
    assert failed.status == "failed" and "3 of 4 images have labels but no image file" in failed.error
    assert "strict" in failed.error
    assert api.get(f"/v1/datasets/{failed.id}").status_code == 404
    assert list(api.app.state.store.list(f"datasets/{failed.id}/")) == []


def test_bdd_folder_with_only_val_labels_is_ingested(api, run_queued, settings, data_root) -> None:
    make_bdd2018(data_root / "bdd")
    labels = data_root / "bdd" / "bdd100k" / "labels"
    (labels / "bdd100k_labels_images_train.json").rename(labels / "bdd100k_labels_images_val.json")
    d = ingest(api, run_queued, settings, "bdd100k", f"file://{data_root}/bdd")
    assert d["stats"]["images"] == 4
    body = {"name": "x", "format": "bdd100k", "uri": f"file://{data_root}/bdd"}
    job = post_and_run(
        api,
        run_queued,
        settings,
        "ingest_dataset",
        "/v1/datasets",
        {**body, "options": {"reader": {"split": "test"}}},
    )
    assert job.status == "failed" and "options.reader.split" in job.error and "['val']" in job.error


def test_malformed_label_file_is_named_and_skipped_or_fails_under_strict(
    api, run_queued, settings, data_root
) -> None:
    make_kitti(data_root / "k")
    (data_root / "k" / "training" / "label_2" / "000001.txt").write_text("Car 0 0\n")
    d = ingest(api, run_queued, settings, "kitti", f"file://{data_root}/k")
    assert d["stats"]["images"] == 1 and d["stats"]["skipped"]["unreadable_file"] == 1
    assert "skipped training/label_2/000001.txt:1: expected 15 fields, got 3" in d["stats"]["warnings"]
    assert "split 'val' has no images with pixels" in d["stats"]["warnings"]
    r = api.post(
        "/v1/datasets", json={"name": "k", "format": "kitti", "uri": f"file://{data_root}/k", "strict": True}
    )
    job = run_one(run_queued, settings, "ingest_dataset", r.json()["id"])
    assert job.status == "failed"
    assert job.error.startswith("skipped training/label_2/000001.txt:1: expected 15 fields")
    assert str(data_root) not in job.error


def zip_of(api, dataset_id: str) -> tuple[zipfile.ZipFile, dict]:  # noqa: ANN001
    r = api.get(f"/v1/datasets/{dataset_id}/export")
    assert r.status_code == 200, r.text
    return zipfile.ZipFile(io.BytesIO(r.content)), r.headers


def assert_yaml_folders_exist(z: zipfile.ZipFile) -> dict[str, str]:
    import yaml

    data = yaml.safe_load(z.read("data.yaml"))
    for split in ("train", "val"):
        assert any(n.startswith(data[split] + "/") for n in z.namelist()), (data[split], z.namelist())
    return data


def test_export_names_only_folders_it_holds(api, run_queued, settings, data_root) -> None:
    # YOLO: every train image is missing, so the images are in val only.
    make_yolo(data_root / "y")
    (data_root / "y" / "train.txt").write_text("images/train/gone.jpg\n")
    (data_root / "y" / "data.yaml").write_text("train: train.txt\nval: images/val\nnames: [car]\n")
    y = ingest(api, run_queued, settings, "yolo", f"file://{data_root}/y")
    assert "split 'train' has no images with pixels" in y["stats"]["warnings"]
    z, _ = zip_of(api, y["id"])
    data = assert_yaml_folders_exist(z)
    assert (data["train"], data["val"]) == ("images/val", "images/val")
    # BDD100K: one image with pixels out of four; the export says how many it leaves out.
    make_bdd2018(data_root / "bdd")
    b = ingest(api, run_queued, settings, "bdd100k", f"file://{data_root}/bdd")
    z, headers = zip_of(api, b["id"])
    assert_yaml_folders_exist(z)
    assert headers["x-label-only-images"] == "3" and "# 3 label-only images" in z.read("data.yaml").decode()
    # Nothing with pixels: refused, not an archive naming folders it lacks.
    (data_root / "bdd" / "bdd100k" / "images" / "100k" / "train" / "d.jpg").unlink()
    e = ingest(api, run_queued, settings, "bdd100k", f"file://{data_root}/bdd")
    r = api.get(f"/v1/datasets/{e['id']}/export")
    assert r.status_code == 409 and "no images with pixels (4 label-only images)" in r.json()["detail"]


def test_translation_names_an_undecodable_depth_map_and_strict_fails(
    api, run_queued, settings, data_root
) -> None:
    make_vkitti2(data_root / "vk")
    depth_dir = data_root / "vk/vkitti_2.0.3_depth/Scene01/clone/frames/depth/Camera_0"
    _, depth = road_scene(1242, 375, seed=0)
    (depth_dir / "depth_00000.png").write_bytes(png_bytes(depth))  # frame 1 keeps an 8-bit RGB "depth"
    src = ingest(api, run_queued, settings, "vkitti2", f"file://{data_root}/vk")
    body = {"method": "physics", "weather": "fog", "filter": "variation=clone;camera=Camera_0;frame<=1"}
    r = api.post(f"/v1/datasets/{src['id']}/translations", json=body)
    job = run_sharded(run_queued, settings, "translate_dataset", r.json()["id"])
    assert job.status == "succeeded", job.error
    assert job.result["images"] == 1
    (warning,) = job.result["warnings"]
    assert warning.startswith(
        "skipped Scene01/clone/Camera_0/00001: its depth map "
        "vkitti_2.0.3_depth/Scene01/clone/frames/depth/Camera_0/depth_00001.png cannot be decoded"
    )
    assert api.get(f"/v1/datasets/{job.id}").json()["stats"]["warnings"] == [warning]
    r = api.post(f"/v1/datasets/{src['id']}/translations", json={**body, "strict": True})
    job = run_sharded(run_queued, settings, "translate_dataset", r.json()["id"])
    assert job.status == "failed" and job.error.startswith(warning.split(" (")[0])
    assert api.get(f"/v1/datasets/{job.id}").status_code == 404


def test_composition_warns_on_missing_slots_and_strict_fails(api, run_queued, settings, data_root) -> None:
    make_kitti_tracking(data_root / "kt")
    make_vkitti2(data_root / "vk")
    kitti = ingest(api, run_queued, settings, "kitti_tracking", f"file://{data_root}/kt")
    vk = ingest(api, run_queued, settings, "vkitti2", f"file://{data_root}/vk")
    body = {
        "name": "b",
        "composition": "baseline",
        "kitti_dataset_id": kitti["id"],
        "vkitti_dataset_id": vk["id"],
    }
    r = api.post("/v1/datasets/compositions", json=body)
    job = run_sharded(run_queued, settings, "compose_dataset", r.json()["id"])
    assert job.status == "succeeded", job.error
    warnings = job.result["warnings"]
    assert warnings[0] == (
        "2 composition slots are empty because their source lacks the frame (kitti: 1, vkitti2:fog: 1; "
        "lineage.missing)"
    )
    assert "split 'val' has no images with pixels" in warnings  # one scene: it cannot be split
    assert api.get(f"/v1/datasets/{job.id}").json()["stats"]["warnings"] == warnings
    r = api.post("/v1/datasets/compositions", json={**body, "strict": True})
    job = run_sharded(run_queued, settings, "compose_dataset", r.json()["id"])
    assert job.status == "failed" and job.error.startswith("2 composition slots are empty")
    assert api.get(f"/v1/datasets/{job.id}").status_code == 404
