"""`sim2real translate` against the embedded stack: one image, a folder as a batch."""

from __future__ import annotations

import numpy as np
from PIL import Image

from tests.scenes import rms_contrast


def test_one_image_keeps_its_size_and_name_and_is_fogged(service, cli, tmp_path) -> None:
    source = service.demo.trees["bdd100k-val"] / "bdd100k" / "images" / "100k" / "val" / "val-0000.jpg"
    run = cli("translate", source, "--weather", "fog", "--param", "visibility_m=60", "-o", tmp_path, "--json")
    assert run.code == 0, run.stderr
    out = tmp_path / "val-0000.jpg"
    assert run.json() == {"input": str(source), "output": str(out)}
    before, after = np.asarray(Image.open(source)), np.asarray(Image.open(out))
    assert after.shape == before.shape and Image.open(out).format == "JPEG"
    assert rms_contrast(after) < rms_contrast(before)


def test_a_folder_is_one_batch_with_depth_maps_by_name(service, cli, tmp_path) -> None:
    vk = service.demo.trees["vkitti2"]
    images = vk / "vkitti_2.0.3_rgb" / "Scene01" / "clone" / "frames" / "rgb" / "Camera_0"
    depth = vk / "vkitti_2.0.3_depth" / "Scene01" / "clone" / "frames" / "depth" / "Camera_0"
    run = cli("translate", images, "--depth", depth, "--weather", "fog", "-o", tmp_path / "out", "--json")
    assert run.code == 0, run.stderr
    result = run.json()
    sources = sorted(images.glob("*.jpg"))
    assert result["failed"] == []
    assert [d["input"] for d in result["translated"]] == [str(p) for p in sources]
    for src in sources:
        out = tmp_path / "out" / src.name
        assert Image.open(out).size == Image.open(src).size
    # Depth was used: far pixels (small depth values are near) change more than near ones.
    d = np.asarray(Image.open(depth / "depth_00000.png")).astype(np.float32)
    change = np.abs(
        np.asarray(Image.open(tmp_path / "out" / "rgb_00000.jpg"), np.float32)
        - np.asarray(Image.open(sources[0]), np.float32)
    ).mean(axis=2)
    ground = d < 65535
    assert (
        change[ground & (d > np.percentile(d[ground], 80))].mean()
        > change[ground & (d < np.percentile(d[ground], 20))].mean()
    )


def test_a_bad_parameter_exits_non_zero_with_the_servers_message(service, cli, tmp_path) -> None:
    source = service.demo.trees["bdd100k-val"] / "bdd100k" / "images" / "100k" / "val" / "val-0001.jpg"
    run = cli("translate", source, "--weather", "fog", "--param", "visibility_m=-5", "-o", tmp_path / "x.png")
    assert run.code == 1
    assert "params.visibility_m" in run.stderr and "HTTP 422" in run.stderr
    assert not (tmp_path / "x.png").exists()
