"""CycleGAN inference speed: our Translator backends vs. a plain eager forward, same weights, same input.

    .venv/bin/python bench/translate.py [--repeats 3] [--threads 2] [--height 375 --width 1242]
        [--backends fast,openvino,fast-no-openvino]

Runs are interleaved (eager, candidate, eager, candidate …) because CPU timings here drift 20–40 %
between runs and the machine is shared; prints the load average, each backend's one-off set-up time,
every measurement, the median seconds per frame, the speed-up against eager (medians and per
interleaved pair) and the largest output difference on [-1, 1]. 'fast-no-openvino' is the fast backend
with its head and tail run eagerly (what a worker without openvino gets).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from services.translator.cyclegan.fast import FastResnetGenerator  # noqa: E402
from services.translator.cyclegan.inference import Translator, pad_to_model  # noqa: E402
from services.translator.cyclegan.networks import ResnetGenerator, init_weights  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--height", type=int, default=375)
    ap.add_argument("--width", type=int, default=1242)
    ap.add_argument("--ngf", type=int, default=64)
    ap.add_argument("--n-blocks", type=int, default=9)
    ap.add_argument(
        "--backends",
        default="fast,openvino,fast-no-openvino",
        help="Translator backends (or fast-no-openvino) to time against the eager baseline",
    )
    ap.add_argument(
        "--gpu",
        action="store_true",
        help="on CUDA: images/s in fp32 and fp16 at batch 1 and 8 (eager and fp16 autocast)",
    )
    args = ap.parse_args()
    if args.gpu:
        gpu_throughput(args)
        return

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    g = ResnetGenerator(ngf=args.ngf, n_blocks=args.n_blocks).eval()
    init_weights(g)
    x = torch.rand(1, 3, args.height, args.width, generator=torch.Generator().manual_seed(1)) * 2 - 1
    xp, _ = pad_to_model(x)
    print(f"input {args.width}x{args.height} (padded {xp.shape[-1]}x{xp.shape[-2]}), ngf {args.ngf}, "
          f"{args.n_blocks} blocks, {args.threads} threads, torch {torch.__version__}")  # fmt: skip

    print(f"load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")

    candidates: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {}
    for name in args.backends.split(","):
        t0 = time.perf_counter()
        if name == "fast-no-openvino":
            candidates[name] = FastResnetGenerator(g, openvino=False)
        else:
            t = Translator(g, backend=name)  # type: ignore[arg-type]
            if t.backend != name:
                raise SystemExit(f"backend {name!r} is not available here (got {t.backend!r})")
            candidates[name] = t.run_model
        print(f"set-up {name}: {time.perf_counter() - t0:.1f} s (one-off: kernel build, OpenVINO compile)")

    def baseline() -> torch.Tensor:
        with torch.inference_mode():
            return g(xp)

    ref = baseline()  # warm-up
    for fn in candidates.values():
        fn(xp)
    times: dict[str, list[float]] = {"baseline": [], **{k: [] for k in candidates}}
    diffs: dict[str, float] = {}
    for rep in range(args.repeats):
        for name, fn in [
            ("baseline", baseline),
            *((k, lambda fn=fn: fn(xp)) for k, fn in candidates.items()),
        ]:
            t0 = time.perf_counter()
            y = fn()
            dt = time.perf_counter() - t0
            times[name].append(dt)
            if name != "baseline":
                diffs[name] = max(diffs.get(name, 0.0), float((y - ref).abs().max()))
            print(f"  rep {rep} {name:16s} {dt:6.2f} s   (load {os.getloadavg()[0]:.2f})")
    print(f"load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    base = statistics.median(times["baseline"])
    print(f"baseline eager forward: median {base:.2f} s/frame")
    for name in candidates:
        med = statistics.median(times[name])
        pair = [b / c for b, c in zip(times["baseline"], times[name], strict=True)]
        print(
            f"{name:16s} median {med:.2f} s/frame  speed-up {base / med:.2f}x "
            f"(per interleaved pair {', '.join(f'{r:.2f}' for r in pair)})  max|diff| {diffs[name]:.2e}"
        )


def gpu_throughput(args: argparse.Namespace) -> None:
    """Images per second on the GPU; fp16 is autocast, compared with fp32 on the same batch."""
    if not torch.cuda.is_available():
        raise SystemExit("--gpu needs CUDA; none is available here")
    torch.manual_seed(0)
    g = ResnetGenerator(ngf=args.ngf, n_blocks=args.n_blocks).eval()
    init_weights(g)
    g = g.cuda()
    print(
        f"{torch.cuda.get_device_name()}, {args.width}x{args.height}, ngf {args.ngf}, {args.n_blocks} blocks"
    )
    for batch in (1, 8):
        x = torch.rand(batch, 3, args.height, args.width, generator=torch.Generator().manual_seed(1)) * 2 - 1
        xp, _ = pad_to_model(x)
        xp = xp.cuda()
        outs = {}
        for precision in ("fp32", "fp16"):

            def run(xp: torch.Tensor = xp, half: bool = precision == "fp16") -> torch.Tensor:
                with torch.inference_mode(), torch.autocast("cuda", torch.float16, enabled=half):
                    return g(xp).float()

            for _ in range(3):
                run()
            torch.cuda.synchronize()
            n = max(3, args.repeats * 5)
            t0 = time.perf_counter()
            for _ in range(n):
                outs[precision] = run()
            torch.cuda.synchronize()
            dt = (time.perf_counter() - t0) / n
            print(f"batch {batch} {precision}: {batch / dt:8.1f} images/s ({dt * 1000 / batch:.1f} ms/image)")
        print(f"batch {batch} fp16 vs fp32 max|diff| {float((outs['fp16'] - outs['fp32']).abs().max()):.2e}")


if __name__ == "__main__":
    main()
