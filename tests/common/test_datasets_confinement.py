"""Readers open nothing outside the dataset folder, and a file they cannot use is named inside the dataset."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from services.common.core.paths import OUTSIDE, PathNotAllowed
from services.common.datasets import bdd100k, kitti, vkitti2, yolo
from services.common.datasets.canonical import DatasetFormatError, ReadReport
from services.common.datasets.stats import compute_stats
from tests.common.dataset_fixtures import (
    kitti_line,
    make_bdd2018,
    make_kitti,
    make_vkitti2,
    make_yolo,
    write_image,
)

SECRET_LABEL = kitti_line("Car", 0.0, 0, (1.0, 2.0, 300.0, 200.0)) + "\n"


def collecting() -> tuple[ReadReport, list[str]]:
    seen: list[str] = []
    return ReadReport(on_problem=seen.append), seen


def test_kitti_symlinked_label_and_image_leading_outside_are_skipped(tmp_path: Path) -> None:
    root, outside = tmp_path / "kitti", tmp_path / "outside"
    make_kitti(root)
    outside.mkdir()
    (outside / "label.txt").write_text(SECRET_LABEL)
    write_image(outside / "img.png", 50, 50)
    t = root / "training"
    write_image(t / "image_2" / "000009.png", 1242, 375)
    os.symlink(outside / "label.txt", t / "label_2" / "000009.txt")
    (t / "label_2" / "000010.txt").write_text(SECRET_LABEL)
    os.symlink(outside / "img.png", t / "image_2" / "000010.png")
    report, problems = collecting()
    ids = [r.image_id for r in kitti.iter_records(root, report=report)]
    assert ids == ["000000", "000001"]
    assert problems == [
        f"skipped training/label_2/000009.txt: {OUTSIDE}",
        f"skipped training/image_2/000010.png: {OUTSIDE}",
    ]
    assert report.skipped["outside_dataset_folder"] == 2
    with pytest.raises(PathNotAllowed, match="000009.txt: leads outside"):  # no handler: raised
        list(kitti.iter_records(root))


def test_yolo_list_files_with_absolute_and_dotdot_entries(tmp_path: Path) -> None:
    root, outside = tmp_path / "yolo", tmp_path / "outside"
    make_yolo(root)
    write_image(outside / "images" / "s.jpg", 40, 40)
    (outside / "labels").mkdir()
    (outside / "labels" / "s.txt").write_text("0 0.5 0.5 0.5 0.5\n")
    (root / "train.txt").write_text(
        f"images/train/x.jpg\n{outside / 'images' / 's.jpg'}\n../outside/images/s.jpg\n"
        f"{outside / 'images' / 'missing.jpg'}\n"
    )
    (root / "data.yaml").write_text(
        "path: .\ntrain: train.txt\nval: images/val\nnames: [car, person, truck]\n"
    )
    report, problems = collecting()
    records = list(yolo.iter_records(root, report=report))
    assert [r.image_id for r in records] == ["images/train/x", "images/val/z"]
    assert problems == [f"skipped train.txt:{n}: {OUTSIDE}" for n in (2, 3, 4)]
    assert not any(str(outside) in p for p in problems)


def test_yolo_data_yaml_path_outside_is_refused(tmp_path: Path) -> None:
    root, outside = tmp_path / "yolo", tmp_path / "outside"
    make_yolo(outside)
    root.mkdir()
    for path in (str(outside), "../outside"):
        (root / "data.yaml").write_text(f"path: {path}\ntrain: images/train\nnames: [car, person, truck]\n")
        with pytest.raises(PathNotAllowed) as info:
            list(yolo.iter_records(root))
        assert str(info.value) == f"data.yaml: path: {OUTSIDE}"


def test_yolo_symlinked_label_leading_outside_is_not_read(tmp_path: Path) -> None:
    root, outside = tmp_path / "yolo", tmp_path / "outside"
    make_yolo(root)
    outside.mkdir()
    (outside / "z.txt").write_text("0 0.5 0.5 0.9 0.9\n")
    (root / "labels" / "val").mkdir()
    os.symlink(outside / "z.txt", root / "labels" / "val" / "z.txt")
    report, problems = collecting()
    records = list(yolo.iter_records(root, report=report))
    assert "images/val/z" not in [r.image_id for r in records]
    assert problems == [f"skipped labels/val/z.txt: {OUTSIDE}"]


def test_malformed_label_file_is_named_inside_the_dataset_and_skipped(tmp_path: Path) -> None:
    make_yolo(tmp_path)
    (tmp_path / "labels" / "train" / "y.txt").write_text("0 0.25 0.25 0.5\n")
    (tmp_path / "images" / "val" / "z.jpg").write_bytes(b"not a jpeg")
    report, problems = collecting()
    assert [r.image_id for r in yolo.iter_records(tmp_path, report=report)] == ["images/train/x"]
    assert problems[0] == "skipped labels/train/y.txt:1: expected 5 fields 'cls cx cy w h', got 4"
    assert problems[1].startswith("skipped images/val/z.jpg: cannot read the image header")
    assert not any(str(tmp_path) in p for p in problems)
    assert report.skipped["unreadable_file"] == 2


def test_vkitti2_bbox_file_leading_outside_is_skipped(tmp_path: Path) -> None:
    root, outside = tmp_path / "vk", tmp_path / "outside"
    make_vkitti2(root)
    outside.mkdir()
    secret = root / "vkitti_2.0.3_textgt" / "Scene02" / "fog" / "bbox.txt"
    secret.rename(outside / "bbox.txt")
    os.symlink(outside / "bbox.txt", secret)
    report, problems = collecting()
    records = list(vkitti2.iter_records(root, report=report))
    assert {r.scene for r in records} == {"Scene01"}
    assert problems == [f"skipped vkitti_2.0.3_textgt/Scene02/fog/bbox.txt: {OUTSIDE}"]


def test_bdd_frame_names_leading_outside_are_skipped(tmp_path: Path) -> None:
    import json

    root, outside = tmp_path / "bdd", tmp_path / "outside"
    make_bdd2018(root)
    write_image(outside / "s.jpg", 10, 10)
    labels = root / "bdd100k" / "labels" / "bdd100k_labels_images_train.json"
    frames = json.loads(labels.read_text())
    frames.append({"name": "../../../../../outside/s.jpg", "labels": []})
    labels.write_text(json.dumps(frames))
    report, problems = collecting()
    records = list(bdd100k.iter_records(root, report=report))
    assert len(records) == 4 and report.skipped["outside_dataset_folder"] == 1
    assert problems == [
        f"skipped bdd100k/labels/bdd100k_labels_images_train.json: frame #4 'name': {OUTSIDE}"
    ]


def test_bdd_folder_with_only_val_labels_uses_them(tmp_path: Path) -> None:
    make_bdd2018(tmp_path)
    labels = tmp_path / "bdd100k" / "labels"
    (labels / "bdd100k_labels_images_train.json").rename(labels / "bdd100k_labels_images_val.json")
    assert len(list(bdd100k.iter_records(tmp_path))) == 4
    (labels / "bdd100k_labels_images_train.json").write_text("[]")
    with pytest.raises(ValueError, match=r"splits present: \['train', 'val'\]"):
        list(bdd100k.iter_records(tmp_path, split="test"))
    (labels / "bdd100k_labels_images_train.json").unlink()
    (labels / "bdd100k_labels_images_val.json").unlink()
    with pytest.raises(ValueError, match="options.reader.split .*options.reader.labels"):
        list(bdd100k.iter_records(tmp_path))


def test_stats_separate_images_with_pixels_from_label_only(tmp_path: Path) -> None:
    make_bdd2018(tmp_path)
    records = list(bdd100k.iter_records(tmp_path))
    stats = compute_stats(records, ["car", "van", "truck"])
    assert (stats.images, stats.images_with_pixels, stats.label_only_images) == (4, 1, 3)


def test_a_malformed_label_without_handler_still_raises_with_the_inside_name(tmp_path: Path) -> None:
    make_kitti(tmp_path)
    (tmp_path / "training" / "label_2" / "000000.txt").write_text("Car 1 2\n")
    with pytest.raises(DatasetFormatError) as info:
        list(kitti.iter_records(tmp_path))
    assert str(info.value) == "training/label_2/000000.txt:1: expected 15 fields, got 3"
