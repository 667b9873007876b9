"""One worker's dataset-translation throughput: decode -> render -> encode one image after another (the
baseline, measured in the same run) against the overlapped pipeline (services/translator/pipeline.py),
and PNG against JPEG storage.

    .venv/bin/python bench/translate_pipeline.py [--images 60] [--threads 2] [--method fog|cyclegan]
        [--device cpu|cuda] [--batch-size 4]

Frames are generated 1242x375 JPEGs (Virtual KITTI 2's size and format) held in memory, so the figures
are decode + render + encode, without the object store. `--method cyclegan` renders with a randomly
initialised ResNet-9 CycleGAN generator (speed does not depend on training) in batches of --batch-size.
Prints images per second for each variant and the ratio to the sequential PNG baseline.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from services.common.core.images import decode_image, encode_jpeg, encode_png  # noqa: E402
from services.translator import pipeline  # noqa: E402

WIDTH, HEIGHT = 1242, 375
MAX_PIXELS = 40_000_000


def frames(n: int, seed: int = 0) -> list[bytes]:
    """JPEG frames with road-scene-like structure (smooth gradients plus texture), quality 95."""
    rng = np.random.default_rng(seed)
    y = np.linspace(0, 1, HEIGHT)[:, None, None]
    x = np.linspace(0, 1, WIDTH)[None, :, None]
    out = []
    for i in range(n):
        base = (120 + 80 * np.sin(6 * x + i) * (1 - y) + 60 * y) * np.array([0.9, 1.0, 1.1])
        noise = rng.normal(0, 12, (HEIGHT, WIDTH, 3))
        pixels = np.clip(base + noise, 0, 255).astype(np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format="JPEG", quality=95)
        out.append(buffer.getvalue())
    return out


def fog_renderer() -> Callable[[Sequence[np.ndarray]], list[np.ndarray]]:
    from services.common.methods.physics import FogParams
    from services.translator.weather.registry import render

    params = FogParams()
    return lambda images: [render("fog", image, params) for image in images]


def cyclegan_renderer(device: str, batch_size: int) -> Callable[[Sequence[np.ndarray]], list[np.ndarray]]:
    import torch

    from services.translator.cyclegan.inference import Translator
    from services.translator.cyclegan.networks import GeneratorConfig, ResnetGenerator, init_weights

    torch.manual_seed(0)
    config = GeneratorConfig()
    generator = ResnetGenerator(3, 3, config.ngf, config.n_blocks)
    init_weights(generator)
    translator = Translator(
        generator, device, backend="auto" if device == "cpu" else "eager", batch_size=batch_size
    )
    return translator.translate


def sequential(data: list[bytes], render, encode) -> float:  # noqa: ANN001
    t0 = time.perf_counter()
    for blob in data:
        (out,) = render([decode_image(blob, MAX_PIXELS, orient=False)])
        encode(out)
    return len(data) / (time.perf_counter() - t0)


def overlapped(data: list[bytes], render, encode, threads: int, batch_size: int) -> float:  # noqa: ANN001
    t0 = time.perf_counter()
    done = 0
    for outcome in pipeline.run(
        data,
        lambda blob: decode_image(blob, MAX_PIXELS, orient=False),
        render,
        lambda _blob, out: encode(out),
        threads=threads,
        batch_size=batch_size,
    ):
        if outcome.error is not None:
            raise outcome.error
        done += 1
    return done / (time.perf_counter() - t0)


def measure(
    data: list[bytes], render, threads: int, batch_size: int, label: str = "physics fog"
) -> dict[str, float]:  # noqa: ANN001
    """Images per second of each variant; the first is the baseline the others are divided by."""
    png, jpeg = encode_png, lambda image: encode_jpeg(image, 95)
    render(data[:1] and [decode_image(data[0], MAX_PIXELS, orient=False)])  # warm-up (kernels, cuDNN)
    rates = {
        "sequential, png": sequential(data, render, png),
        f"overlapped ({threads} threads, batch {batch_size}), png": overlapped(
            data, render, png, threads, batch_size
        ),
        "sequential, jpeg q95": sequential(data, render, jpeg),
        f"overlapped ({threads} threads, batch {batch_size}), jpeg q95": overlapped(
            data, render, jpeg, threads, batch_size
        ),
    }
    base = rates["sequential, png"]
    print(f"{label}: {len(data)} frames {WIDTH}x{HEIGHT}, load average {os.getloadavg()[0]:.1f}")
    for name, rate in rates.items():
        print(f"  {name:<44} {rate:7.1f} images/s   {rate / base:5.2f}x the sequential png baseline")
    return rates


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=60)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--method", choices=("fog", "cyclegan"), default="fog")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch-size", type=int, default=None, help="default: 1 for fog, 4 for cyclegan")
    args = ap.parse_args()
    data = frames(args.images)
    if args.method == "fog":
        render, batch = fog_renderer(), args.batch_size or 1
    else:
        batch = args.batch_size or 4
        render = cyclegan_renderer(args.device, batch)
    measure(data, render, args.threads, batch, f"{args.method} on {args.device}")


if __name__ == "__main__":
    main()
