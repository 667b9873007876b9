"""Physics weather speed against albumentations' RandomFog / RandomRain on the same image, same run.

Run: python bench/weather.py [--repeats N] [--save DIR] [--physics-only]
Prints ms per 1242x375 image (median of N rounds after warm-up, the methods timed in turn within each
round), frames/s, and the ratio of the baseline's time to ours for the same weather (> 1 means ours is
faster). RandomRain runs its "heavy" preset; our rain is shown at 10 (moderate), 25 (heavy) and 50 mm/h. The
rows marked (geometric) get no depth map: their time includes the geometric depth estimate and the sky
matte. Then, separately and not held to the 50 frames/s target, fog with depth_source 'model' (Depth
Anything V2 Small, random weights) and its network alone. Then, unless --physics-only, the learned methods
on the same frame in the same table (random weights: speed does not depend on training): CycleGAN
(ResNet-9, ngf 64) with the service's default CPU backend and with eager PyTorch, Gatys NST (projected
from a few iterations, see bench/nst.py) and AdaIN. About two minutes more.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from services.common.methods.physics import (  # noqa: E402
    DuskParams,
    FogParams,
    NightParams,
    OvercastParams,
    RainParams,
    SnowParams,
)
from services.translator.weather.depth import ground_plane_depth  # noqa: E402
from services.translator.weather.registry import render  # noqa: E402

WIDTH, HEIGHT = 1242, 375


def synthetic_road_scene(
    width: int = WIDTH, height: int = HEIGHT, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """A KITTI-like frame: sky gradient, grass, road with lane marks, boxes (cars/buildings) and its depth."""
    rng = np.random.default_rng(seed)
    horizon = height // 2
    image = np.zeros((height, width, 3), dtype=np.float32)
    rows = np.linspace(0.0, 1.0, horizon, dtype=np.float32)[:, None]
    image[:horizon] = (np.array([90, 140, 215]) * (1 - rows) + np.array([200, 215, 230]) * rows)[:, None, :]
    image[horizon:] = (70, 110, 60)  # verge
    depth = ground_plane_depth(height, width)
    ys, xs = np.mgrid[horizon:height, 0:width]
    road = np.abs(xs - width / 2) < (ys - horizon + 1) * 3.2
    image[horizon:][road] = (95, 95, 100)
    marks = road & (np.abs(xs - width / 2) < (ys - horizon + 1) * 0.06) & ((ys // 12) % 2 == 0)
    image[horizon:][marks] = (235, 235, 235)
    # Buildings on the horizon, cars on the road: flat-fronted boxes at a constant depth.
    for x0, w, h, colour in ((30, 180, 90, (150, 130, 120)), (900, 260, 120, (120, 120, 135))):
        bottom = horizon + 4
        image[bottom - h : bottom, x0 : x0 + w] = colour
        depth[bottom - h : bottom, x0 : x0 + w] = float(depth[bottom + 1, 0])
    for cx, row, colour in (
        (430, 300, (180, 30, 30)),
        (760, 240, (30, 60, 160)),
        (560, 215, (220, 220, 220)),
    ):
        z = float(depth[row, 0])
        car_w = int(1.8 * 725 / z)
        car_h = int(1.5 * 725 / z)
        x0 = cx - car_w // 2
        image[row - car_h : row, x0 : x0 + car_w] = colour
        image[row - car_h // 3 : row - car_h // 6, x0 + 2 : x0 + car_w // 5] = (255, 250, 220)  # light
        image[row - car_h : row, x0 : x0 + car_w][..., :][:: max(1, car_h // 4)] *= 0.7  # windows/trim
        depth[row - car_h : row, x0 : x0 + car_w] = z
    image += rng.normal(0, 4, image.shape).astype(np.float32)  # texture
    return np.clip(image, 0, 255).astype(np.uint8), depth


def interleaved_median_ms(fns: list[Callable[[], object]], repeats: int, warmup: int = 2) -> list[float]:
    """Median ms per call of each fn, timed in rounds (one call of each per round).

    A shared machine drifts in speed over seconds; timing the methods in turn within each round exposes
    them all to the same drift, so their ratios hold even when the absolute numbers move.
    """
    for fn in fns:
        for _ in range(warmup):
            fn()
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeats):
        for fn, series in zip(fns, times, strict=True):
            start = time.perf_counter()
            fn()
            series.append((time.perf_counter() - start) * 1000.0)
    return [statistics.median(series) for series in times]


def median_ms(fn: Callable[[], object], repeats: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000.0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=31)
    parser.add_argument("--save", type=Path, default=None, help="folder to write one PNG per method")
    parser.add_argument("--physics-only", action="store_true", help="skip CycleGAN and NST rows")
    parser.add_argument(
        "--skip-depth-model", action="store_true", help="skip the depth_source 'model' rows (seconds on CPU)"
    )
    args = parser.parse_args()
    cv2.setNumThreads(2)
    image, depth = synthetic_road_scene()

    import albumentations as A  # dev dependency; imported late so the scene helper works without it

    album_fog = A.RandomFog(fog_coef_range=(0.5, 0.5), alpha_coef=0.08, p=1.0)
    album_rain = A.RandomRain(rain_type="heavy", p=1.0)
    methods: list[tuple[str, str, Callable[[], np.ndarray]]] = [
        ("albumentations RandomFog", "fog", lambda: album_fog(image=image)["image"]),
        ("physics fog (depth map)", "fog", lambda: render("fog", image, FogParams(), depth)),
        ("physics fog (ground plane)", "fog", lambda: render("fog", image, FogParams())),
        ("albumentations RandomRain", "rain", lambda: album_rain(image=image)["image"]),
        ("physics rain 10 mm/h", "rain", lambda: render("rain", image, RainParams(), depth)),
        (
            "physics rain 25 mm/h (heavy)",
            "rain",
            lambda: render("rain", image, RainParams(intensity_mm_h=25), depth),
        ),
        ("physics rain 50 mm/h", "rain", lambda: render("rain", image, RainParams(intensity_mm_h=50), depth)),
        ("physics overcast", "overcast", lambda: render("overcast", image, OvercastParams(), depth)),
        ("physics dusk", "dusk", lambda: render("dusk", image, DuskParams(), depth)),
        ("physics night", "night", lambda: render("night", image, NightParams(), depth)),
        ("physics snow 1 mm/h", "snow", lambda: render("snow", image, SnowParams(), depth)),
        # Without a depth map: the geometric depth estimate and the sky matte are part of the time.
        ("physics rain 10 mm/h (geometric)", "rain", lambda: render("rain", image, RainParams())),
        ("physics overcast (geometric)", "overcast", lambda: render("overcast", image, OvercastParams())),
        ("physics dusk (geometric)", "dusk", lambda: render("dusk", image, DuskParams())),
        ("physics night (geometric)", "night", lambda: render("night", image, NightParams())),
        ("physics snow 1 mm/h (geometric)", "snow", lambda: render("snow", image, SnowParams())),
    ]
    baselines: dict[str, float] = {}
    print(
        f"{WIDTH}x{HEIGHT} RGB, median of {args.repeats} rounds (methods interleaved within each round) "
        f"after warm-up, cv2 threads {cv2.getNumThreads()}"
    )
    print(f"{'method':34s} {'ms/image':>9s} {'frames/s':>9s} {'speed-up vs albumentations':>27s}")
    started = time.perf_counter()
    timings = interleaved_median_ms([fn for _, _, fn in methods], args.repeats)
    for (name, weather, fn), ms in zip(methods, timings, strict=True):
        if name.startswith("albumentations"):
            baselines[weather] = ms
        ratio = f"{baselines[weather] / ms:.2f}x" if weather in baselines else "n/a (no baseline)"
        print(f"{name:34s} {ms:9.2f} {1000.0 / ms:9.1f} {ratio:>27s}")
        if args.save is not None:
            args.save.mkdir(parents=True, exist_ok=True)
            slug = name.replace(" ", "_").replace("/", "").replace("(", "").replace(")", "")
            cv2.imwrite(str(args.save / f"{slug}.png"), cv2.cvtColor(fn(), cv2.COLOR_RGB2BGR))
    if args.save is not None:
        cv2.imwrite(str(args.save / "input.png"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    if not args.skip_depth_model:
        for name, ms, note in depth_model_rows(image):
            print(f"{name:34s} {ms:9.1f} {1000.0 / ms:9.2f} {note:>27s}")
    if not args.physics_only:
        for name, ms, note in learned_rows(image):
            print(f"{name:34s} {ms:9.0f} {1000.0 / ms:9.2f} {note:>27s}")
    print(f"total {time.perf_counter() - started:.1f} s")


def depth_model_rows(image: np.ndarray, repeats: int = 5) -> list[tuple[str, float, str]]:
    """depth_source 'model' (not held to the 50 frames/s target): fog over Depth Anything V2 Small's depth
    with its ground-plane fit, and the network alone, on CUDA when present. Random weights: the speed is
    the same as with trained ones, but the fit finds no ground in random output and falls back to the
    geometric estimate, whose few milliseconds are then part of the fog row."""
    import torch

    from services.translator.weather.depth_model import DepthEstimator, build_model, model_scene
    from services.translator.weather.scene import downsample, model_depth

    torch.manual_seed(0)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    estimator = DepthEstimator(build_model(), device)
    params = FogParams(depth_source="model")

    def fog() -> np.ndarray:
        with model_depth(lambda img, camera: model_scene(img, camera, estimator)):
            return render("fog", image, params)

    small = downsample(image)[0]
    rows, cols = estimator.input_size(*image.shape[:2])
    net_ms = median_ms(lambda: estimator.predict(image, (small.shape[1], small.shape[0])), repeats, warmup=1)
    fog_ms = median_ms(fog, repeats, warmup=1)
    note = f"{device}, input {cols}x{rows}"
    return [("physics fog (depth model)", fog_ms, note), ("  depth model network alone", net_ms, note)]


def learned_rows(image: np.ndarray) -> list[tuple[str, float, str]]:
    """CycleGAN (default backend vs eager, same weights) and NST on the same frame, ms per image."""
    import torch

    from services.translator.cyclegan.inference import Translator
    from services.translator.cyclegan.networks import GeneratorConfig, build_generator

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from nst import nst_timings  # bench/nst.py

    torch.manual_seed(0)
    generator = build_generator(GeneratorConfig(ngf=64, n_blocks=9))
    rows = []
    fast = Translator(generator, "cpu", backend="auto")
    eager = Translator(generator, "cpu", backend="eager")
    eager_ms = median_ms(lambda: eager.translate([image]), repeats=2, warmup=1)
    fast_ms = median_ms(lambda: fast.translate([image]), repeats=2, warmup=1)
    rows.append(("CycleGAN eager PyTorch", eager_ms, "1.00x (baseline)"))
    rows.append((f"CycleGAN {fast.backend}", fast_ms, f"{eager_ms / fast_ms:.2f}x vs eager"))
    for label, seconds in nst_timings(image.shape[1], image.shape[0]):
        short = (
            "NST Gatys (projected)"
            if "Gatys" in label
            else label.replace("NST AdaIN feed-forward", "NST AdaIN")
        )
        rows.append((short[:30], seconds * 1000.0, "n/a"))
    return rows


if __name__ == "__main__":
    main()
