"""Region measurements on real photographs (no depth maps), regions marked by hand in realdata_regions.json.

The frames live outside the repository: SIM2REAL_REALDATA names the folder, else ../shared/realdata next to
the repository root. A user's clone has neither; the tests then skip and say so.
"""

import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from services.common.methods.physics import FogParams, NightParams, OvercastParams
from services.translator.weather.registry import render
from services.translator.weather.scene import analyse

ROOT = Path(__file__).resolve().parents[2]
FOLDER = Path(os.environ.get("SIM2REAL_REALDATA", ROOT.parent / "shared" / "realdata"))
REGIONS = json.loads((Path(__file__).with_name("realdata_regions.json")).read_text())

pytestmark = pytest.mark.skipif(
    not FOLDER.is_dir(), reason=f"no real frames at {FOLDER} (set SIM2REAL_REALDATA to a folder of them)"
)


def frame(name: str) -> np.ndarray:
    path = FOLDER / name
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


def crop(image: np.ndarray, name: str, region: str) -> np.ndarray:
    x0, y0, x1, y1 = REGIONS[name][region]
    return image[y0:y1, x0:x1]


def luma(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)


def contrast(image: np.ndarray) -> float:
    return float(luma(image).std())


def test_fog_contrast_follows_distance_without_a_depth_map():
    name = "nuscenes_cam_back.jpg"
    image = frame(name)
    out = render("fog", image, FogParams(visibility_m=150))
    kept = {
        r: contrast(crop(out, name, r)) / contrast(crop(image, name, r))
        for r in ("parked_car", "building_behind_car")
    }
    assert max(kept.values()) < 2 * min(kept.values()), kept
    assert min(kept.values()) > 0.2, kept  # neither erased


@pytest.mark.parametrize(("name", "region"), [("nuscenes_cam_back.jpg", "sky"), ("kitti_000007.png", "sky")])
def test_fogged_sky_is_neutral(name, region):
    image = frame(name)
    sky = crop(render("fog", image, FogParams(visibility_m=150)), name, region).reshape(-1, 3).mean(axis=0)
    assert np.ptp(sky) < 12, sky


def test_night_dims_a_sunlit_wall():
    name = "kitti_000000.png"
    image = frame(name)
    out = render("night", image, NightParams(read_noise_e=0, iso=100))
    day = luma(crop(image, name, "sunlit_wall")).mean()
    night = luma(crop(out, name, "sunlit_wall")).mean()

    # Luminance in linear light: sRGB grey levels to linear before the ratio.
    def lin(v: float) -> float:
        return ((v / 255 + 0.055) / 1.055) ** 2.4

    assert lin(night) <= 0.35 * lin(day), (day, night)


def test_lamp_keeps_its_light_on_a_real_frame():
    name = "kitti_000000.png"
    image = frame(name).copy()
    image[200:208, 600:608] = (255, 40, 30)  # a lit tail lamp pasted onto the frame
    out = render("night", image, NightParams(read_noise_e=0, iso=100, bloom_strength=0))
    assert out[202:206, 602:606, 0].mean() >= 0.8 * 255


@pytest.mark.parametrize("region", ["bright_wall", "pillar"])
def test_overcast_keeps_a_bright_walls_texture(region):
    name = "nuscenes_cam_front_left.jpg"
    image = frame(name)
    out = render("overcast", image, OvercastParams())
    assert contrast(crop(out, name, region)) >= 0.5 * contrast(crop(image, name, region))


def test_bright_walls_are_not_sky():
    image = frame("nuscenes_cam_front_left.jpg")
    sky = analyse(image).sky
    assert crop(sky[..., None], "nuscenes_cam_front_left.jpg", "pillar").mean() < 0.1


@pytest.mark.parametrize("name", ["kitti_000007.png", "nuscenes_cam_back.jpg"])
@pytest.mark.parametrize(
    "weather",
    [
        "overcast",
        "fog",
        "night",
    ],
)
def test_sky_matte_has_no_seam(name, weather):
    image = frame(name)
    sky = analyse(image).sky
    boundary = (sky > 0.1) & (sky < 0.9)
    assert boundary.sum() > 50

    def gradient(img: np.ndarray) -> np.ndarray:
        g = luma(img)
        return np.hypot(cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3), cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3)) / 8

    params = None
    excess = gradient(render(weather, image, params)) - gradient(image)
    assert np.percentile(excess[boundary], 95) <= 10
