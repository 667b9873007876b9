"""Every GPU path of the service, run once on a machine with GPUs, with its figures.

    .venv/bin/python bench/gpu_paths.py            # on a GPU machine: every path its GPUs allow
    .venv/bin/python bench/gpu_paths.py --smoke    # tiny sizes on the CPU: checks the script itself

Paths, each with a baseline measured in the same run:
  translate    dataset translation on the GPU: CycleGAN (ResNet-9, random weights) batch 1 vs 4 vs 8
               through the overlapped pipeline, and physics fog (the CPU path, for scale); then
               bench/translate_dataset.py --gpu when that benchmark exists and takes --gpu
  cyclegan     CycleGAN training steps on cuda:0 (mixed precision, as training runs on CUDA) vs the CPU
  detector     YOLOv5n training epochs on cuda:0 with bf16 AMP vs without AMP
  cyclegan-ddp CycleGAN data-parallel training on GPUs 0 and 1 (NCCL) vs GPU 0 alone (needs 2 GPUs)
  detector-ddp YOLOv5n training with devices [0, 1] (ultralytics DDP) vs [0] (needs 2 GPUs)

A path the machine cannot run is listed as "not run" with the reason; the summary at the end says which
paths ran. Nothing is downloaded: detector training starts from scratch on generated images.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

RESULTS: dict[str, str] = {}


def gpus() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def section(name: str, needs: int, smoke: bool, body: Callable[[], None]) -> None:
    print(f"\n== {name}")
    have = gpus()
    if have < needs and not (smoke and needs <= 1):
        RESULTS[name] = f"not run: needs {needs} GPU(s), this machine has {have}"
        print(RESULTS[name])
        return
    t0 = time.perf_counter()
    try:
        body()
    except Exception as exc:  # noqa: BLE001 - one path failing must not hide the others' figures
        traceback.print_exc()
        RESULTS[name] = f"FAILED: {type(exc).__name__}: {exc}"
        return
    RESULTS[name] = f"ran ({time.perf_counter() - t0:.0f} s){' [smoke, CPU]' if smoke else ''}"


def translate(smoke: bool) -> None:
    import translate_pipeline as tp

    device = "cpu" if smoke else "cuda"
    data = tp.frames(4 if smoke else 64)
    tp.measure(data, tp.fog_renderer(), 4, 1, "physics fog (CPU render)")
    rates = {}
    for batch in (1, 4) if smoke else (1, 4, 8):
        r = tp.measure(
            data, tp.cyclegan_renderer(device, batch), 4, batch, f"cyclegan on {device}, batch {batch}"
        )
        rates[batch] = max(r.values())
    for batch, rate in rates.items():
        print(f"cyclegan batch {batch}: best {rate:.1f} images/s, {rate / rates[1]:.2f}x batch 1")
    script = ROOT / "bench" / "translate_dataset.py"
    if (
        script.is_file()
        and "--gpu"
        in subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True).stdout
    ):
        if smoke:
            print("bench/translate_dataset.py takes --gpu (not run in a smoke run)")
        else:
            subprocess.run([sys.executable, str(script), "--gpu"], check=True)
    else:
        print("bench/translate_dataset.py --gpu: not available in this checkout")


def _cyclegan_steps(device: str, steps: int, smoke: bool, devices: list[int] | None = None) -> float:
    """Seconds per training step (images per step: batch 1 per rank)."""
    from services.translator.cyclegan.distributed import train_distributed
    from services.translator.cyclegan.training import TrainConfig, train

    size = 32 if smoke else 256
    cfg = TrainConfig(
        ngf=8 if smoke else 64, ndf=8 if smoke else 64, n_blocks=1 if smoke else 9, load_size=size + 8,
        crop_size=size, n_epochs=1, n_epochs_decay=0, checkpoint_every_iters=10**6, seed=0,
    )  # fmt: skip
    rng = np.random.default_rng(0)
    ranks = len(devices) if devices else 1
    n = steps * ranks
    a = [rng.integers(0, 256, (size + 40, size + 120, 3), dtype=np.uint8) for _ in range(n)]
    b = [rng.integers(0, 256, (size + 40, size + 120, 3), dtype=np.uint8) for _ in range(n)]
    marks: list[float] = []
    progress = lambda info: marks.append(time.perf_counter())  # noqa: E731
    if devices and len(devices) > 1:
        train_distributed(cfg, a, b, devices=devices, on_progress=progress)
    else:
        train(cfg, a, b, device=device, on_progress=progress)
    # The first step pays for cuDNN autotuning and allocation: time the rest.
    return (marks[-1] - marks[0]) / max(len(marks) - 1, 1)


def cyclegan(smoke: bool) -> None:
    steps = 3 if smoke else 20
    cpu = _cyclegan_steps("cpu", 3, smoke)
    print(f"cyclegan training on the CPU: {cpu:.3f} s/step")
    if smoke:
        return
    cuda = _cyclegan_steps("cuda:0", steps, smoke)
    print(f"cyclegan training on cuda:0 (AMP fp16): {cuda:.3f} s/step, {cpu / cuda:.1f}x the CPU")


def cyclegan_ddp(smoke: bool) -> None:
    if smoke:
        print(
            "(smoke: the data-parallel code path runs on CPU ranks in tests/translator/test_cyclegan_distributed.py)"
        )
        return
    one = _cyclegan_steps("cuda:0", 20, smoke)
    two = _cyclegan_steps("cuda:0", 20, smoke, devices=[0, 1])
    print(
        f"cyclegan one GPU: {1 / one:.2f} images/s; GPUs 0+1: {2 / two:.2f} images/s, {(2 / two) / (1 / one):.2f}x"
    )


def _detector_epochs(work: Path, devices: list[int] | None, amp: bool, smoke: bool) -> float:
    """Seconds per epoch after the first."""
    import cv2

    from services.detector.offline import prepare_ultralytics

    prepare_ultralytics(work / "ultralytics")
    from services.detector.training import DetectorTrainConfig, train_detector
    from services.detector.yolo_dataset import write_yolo_dataset

    size, n = (160, 8) if smoke else (640, 256)
    rng = np.random.default_rng(0)

    def samples(count: int) -> list[tuple[bytes, list[str]]]:
        out = []
        for _ in range(count):
            img = np.full((size, size, 3), 110, np.uint8)
            w, h = (int(v) for v in rng.integers(size // 8, size // 3, 2))
            x, y = int(rng.integers(0, size - w)), int(rng.integers(0, size - h))
            cv2.rectangle(img, (x, y), (x + w - 1, y + h - 1), (0, 0, 255), -1)
            ok, buf = cv2.imencode(".png", img)
            out.append(
                (buf.tobytes(), [f"0 {(x + w / 2) / size} {(y + h / 2) / size} {w / size} {h / size}"])
            )
        return out

    data = write_yolo_dataset(work / f"data_{amp}_{devices}", ["box"], samples(n), samples(max(4, n // 8)))
    epochs: list[float] = []
    cfg = DetectorTrainConfig(
        model="yolov5n", imgsz=size, epochs=2 if smoke else 4, batch=8 if smoke else 32, amp=amp,
        device="cpu" if smoke else "auto", devices=devices,
    )  # fmt: skip
    train_detector(cfg, data, work / f"run_{amp}_{devices}", on_epoch_end=lambda r: epochs.append(r.seconds))
    return float(np.mean(epochs[1:] or epochs))


def detector(smoke: bool) -> None:
    with tempfile.TemporaryDirectory(prefix="gpu_paths_") as tmp:
        work = Path(tmp)
        plain = _detector_epochs(work, None, False, smoke)
        if smoke:
            print(f"detector training on the CPU: {plain:.1f} s/epoch")
            return
        amp = _detector_epochs(work, None, True, smoke)
        print(f"yolov5n on cuda:0: {plain:.1f} s/epoch without AMP, {amp:.1f} s/epoch with bf16 AMP "
              f"({plain / amp:.2f}x)")  # fmt: skip


def detector_ddp(smoke: bool) -> None:
    if smoke:
        print(
            "(smoke: the device-list plumbing runs without CUDA in tests/detector/test_detector_training.py)"
        )
        return
    with tempfile.TemporaryDirectory(prefix="gpu_paths_") as tmp:
        work = Path(tmp)
        one = _detector_epochs(work, [0], True, smoke)
        two = _detector_epochs(work, [0, 1], True, smoke)
        print(
            f"yolov5n devices [0]: {one:.1f} s/epoch; devices [0, 1] (DDP): {two:.1f} s/epoch ({one / two:.2f}x)"
        )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--smoke", action="store_true", help="tiny sizes on the CPU (checks the script)")
    ap.add_argument("--only", nargs="*", help="run only these paths")
    args = ap.parse_args()
    import torch

    print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, GPUs: {gpus()}")
    for i in range(gpus()):
        print(f"  cuda:{i} {torch.cuda.get_device_name(i)}")
    paths = {
        "translate": (1, translate),
        "cyclegan": (1, cyclegan),
        "detector": (1, detector),
        "cyclegan-ddp": (2, cyclegan_ddp),
        "detector-ddp": (2, detector_ddp),
    }
    for name, (needs, body) in paths.items():
        if args.only and name not in args.only:
            continue
        section(name, needs, args.smoke, lambda body=body: body(args.smoke))
    print("\n== summary")
    for name, outcome in RESULTS.items():
        print(f"  {name:<13} {outcome}")
    shutil.rmtree(Path(tempfile.gettempdir()) / "gpu_paths", ignore_errors=True)
    return 1 if any(v.startswith("FAILED") for v in RESULTS.values()) else 0


if __name__ == "__main__":
    raise SystemExit(main())
