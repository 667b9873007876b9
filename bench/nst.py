"""Neural style transfer speed: feed-forward AdaIN against Gatys optimisation at the same frame size, same run.

Run: python bench/nst.py [--width 1242 --height 375] [--sample-iterations 4] [--repeats 3] [--threads 2] [--full]
Uses a random-weight VGG-19 and an untrained decoder: speed does not depend on the weights' values.

Gatys cost = fixed part (style Grams, resizing, residual upsampling; timed with 0 iterations) + iterations ×
per-iteration cost (mean over a short run, line-search evaluations included). By default the default run
(GatysConfig().iterations) is PROJECTED from these two measured costs, since it takes minutes on CPU;
--full runs it instead.
AdaIN is timed per image with the style statistics computed once (as a dataset translation does) and,
separately, including them.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from services.translator.adain.network import AdaINTranslator, build_decoder  # noqa: E402
from services.translator.nst.gatys import GatysConfig, stylize  # noqa: E402
from services.translator.vgg.weights import build_vgg19_features, load_vgg19_features  # noqa: E402


def _scene(width: int, height: int, seed: int = 0) -> np.ndarray:
    """Sky, road and a few flat boxes with pixel noise: enough structure for realistic activations."""
    rng = np.random.default_rng(seed)
    image = np.zeros((height, width, 3), np.float32)
    image[: height // 2] = (120, 160, 215)
    image[height // 2 :] = (90, 90, 95)
    for _ in range(6):
        x, y = int(rng.integers(0, width - 60)), int(rng.integers(height // 3, height - 40))
        image[y : y + 40, x : x + 60] = rng.integers(0, 255, 3)
    image += rng.normal(0, 6, image.shape)
    return image.clip(0, 255).astype(np.uint8)


def _style(seed: int = 1) -> np.ndarray:
    """A 1280×720 photo-sized texture (BDD100K frame size)."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 255, (45, 80, 3), dtype=np.uint8).repeat(16, 0).repeat(16, 1)


def _random_features() -> torch.nn.Sequential:
    torch.manual_seed(0)
    return load_vgg19_features(build_vgg19_features().state_dict(), "cpu")


def gatys_costs(
    width: int = 1242, height: int = 375, sample_iterations: int = 4, cfg: GatysConfig | None = None
) -> tuple[float, float]:
    """(fixed seconds, seconds per iteration) of :func:`stylize` at this frame size."""
    if sample_iterations < 1:
        raise ValueError("sample_iterations must be at least 1")
    cfg = cfg or GatysConfig()
    features = _random_features()
    content, style = _scene(width, height), _style()
    # Fixed cost measured directly (0 iterations: targets, resizing, composition); the per-iteration cost
    # is the mean over the sample, so extra line-search evaluations are counted (a median hid them).
    start = time.perf_counter()
    stylize(content, [style], features, dataclasses.replace(cfg, iterations=0))
    fixed = time.perf_counter() - start
    start = time.perf_counter()
    stylize(content, [style], features, dataclasses.replace(cfg, iterations=sample_iterations))
    total = time.perf_counter() - start
    return fixed, max(0.0, total - fixed) / sample_iterations


def adain_seconds(width: int = 1242, height: int = 375, repeats: int = 3) -> tuple[float, float]:
    """(seconds per image with cached style statistics, seconds including the style encoding)."""
    features = _random_features()
    torch.manual_seed(1)
    translator = AdaINTranslator(features, build_decoder().state_dict())
    content, styles = _scene(width, height), [_style()]
    stats = translator.style_statistics(styles)
    translator.translate(content, stats)  # warm-up (allocator, oneDNN primitives)
    cached, full = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        translator.translate(content, stats)
        cached.append(time.perf_counter() - start)
        start = time.perf_counter()
        translator.translate(content, styles)
        full.append(time.perf_counter() - start)
    return statistics.median(cached), statistics.median(full)


def nst_timings(width: int = 1242, height: int = 375) -> list[tuple[str, float]]:
    """(method label, seconds per image) for the NST methods at this size; Gatys projected (see module doc).

    Takes about a minute on 2 CPU cores (4 Gatys iterations, 4 AdaIN passes with and without style encoding).
    """
    cfg = GatysConfig()
    fixed, per_iteration = gatys_costs(width, height, sample_iterations=4, cfg=cfg)
    cached, with_style = adain_seconds(width, height)
    return [
        (
            f"NST Gatys L-BFGS {cfg.iterations} it @ {cfg.working_max_side}px (projected from 4 it)",
            fixed + cfg.iterations * per_iteration,
        ),
        ("NST AdaIN feed-forward (style stats cached)", cached),
        ("NST AdaIN feed-forward (incl. style encoding)", with_style),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=1242)
    parser.add_argument("--height", type=int, default=375)
    parser.add_argument("--sample-iterations", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--full", action="store_true", help="run Gatys' full default iterations (minutes)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cfg = GatysConfig()
    print(
        f"{args.width}x{args.height} RGB, torch {torch.__version__}, {torch.get_num_threads()} threads, CPU"
    )
    if args.full:
        features = _random_features()
        start = time.perf_counter()
        stylize(_scene(args.width, args.height), [_style()], features, cfg)
        gatys, label = time.perf_counter() - start, f"Gatys L-BFGS {cfg.iterations} it (measured)"
    else:
        fixed, per_it = gatys_costs(args.width, args.height, args.sample_iterations, cfg)
        gatys = fixed + cfg.iterations * per_it
        label = f"Gatys L-BFGS {cfg.iterations} it (PROJECTED)"
        print(
            f"Gatys at working size {cfg.working_max_side} px: {per_it:.3f} s per iteration, {fixed:.2f} s fixed, "
            f"measured over {args.sample_iterations} iterations; projected = fixed + {cfg.iterations} × per-iteration"
        )
    cached, with_style = adain_seconds(args.width, args.height, args.repeats)
    print(f"{'method':48s} {'s/image':>9s} {'Gatys / method':>15s}")
    print(f"{label:48s} {gatys:9.2f} {1.0:15.1f}x")
    print(f"{'AdaIN, style statistics cached':48s} {cached:9.3f} {gatys / cached:15.1f}x")
    print(f"{'AdaIN, style image encoded each call':48s} {with_style:9.3f} {gatys / with_style:15.1f}x")
    target = 50.0
    verdict = "meets" if gatys / cached >= target else "MISSES"
    print(
        f"AdaIN (cached styles) is {gatys / cached:.1f}x faster than Gatys: {verdict} the >= {target:.0f}x target"
    )


if __name__ == "__main__":
    main()
