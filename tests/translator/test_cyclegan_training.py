import math
import random

import numpy as np
import pytest
import torch

from services.translator.cyclegan.image_pool import ImagePool
from services.translator.cyclegan.preprocess import preprocess, scale_width
from services.translator.cyclegan.training import LOSS_NAMES, ProgressInfo, TrainConfig, TrainState, train

torch.set_num_threads(2)


def _domains(n_a: int = 2, n_b: int = 3) -> tuple[list, list]:
    rng = np.random.default_rng(1)
    a = [rng.integers(0, 256, (48, 150, 3), dtype=np.uint8) for _ in range(n_a)]
    b_arrays = [rng.integers(0, 256, (72, 128, 3), dtype=np.uint8) for _ in range(n_b)]
    b = [lambda arr=arr: arr for arr in b_arrays]  # callables, as a lazy image source
    return a, b


CFG = TrainConfig(
    ngf=8, ndf=8, n_blocks=2, n_layers_d=2, load_size=40, crop_size=32, n_epochs=1, n_epochs_decay=2,
    pool_size=2, checkpoint_every_iters=2, sample_count=2, preprocess="scale_width_and_crop", seed=3,
)  # fmt: skip


@pytest.fixture(scope="module")
def full_run() -> dict:
    a, b = _domains()
    progress: list[ProgressInfo] = []
    checkpoints: list[bytes] = []
    samples: list[tuple[int, list[np.ndarray]]] = []
    result = train(
        CFG, a, b,
        on_checkpoint=lambda s: checkpoints.append(s.to_bytes()),
        on_progress=progress.append,
        on_epoch_end=lambda e, imgs: samples.append((e, imgs)),
    )  # fmt: skip
    return {"progress": progress, "checkpoints": checkpoints, "samples": samples, "result": result}


def test_losses_finite_and_callbacks(full_run) -> None:
    progress = full_run["progress"]
    assert len(progress) == 3 * 3  # 3 epochs × max(len A, len B) iterations at batch size 1
    for p in progress:
        assert set(p.losses) == set(LOSS_NAMES)
        assert all(math.isfinite(v) for v in p.losses.values())
    assert [e for e, _ in full_run["samples"]] == [0, 1, 2]
    assert all(img.dtype == np.uint8 and img.shape == (13, 40, 3) for img in full_run["samples"][0][1])
    # every 2 steps and at each epoch end (3, 6, 9), once per step
    assert [TrainState.from_bytes(c).global_step for c in full_run["checkpoints"]] == [2, 3, 4, 6, 8, 9]
    assert not full_run["result"].stopped


def test_lr_constant_then_linear_decay(full_run) -> None:
    lrs = {p.epoch: p.lr for p in full_run["progress"]}
    assert lrs[0] == pytest.approx(2e-4)
    assert lrs[1] == pytest.approx(2e-4 * 2 / 3)
    assert lrs[2] == pytest.approx(2e-4 * 1 / 3)
    assert [CFG.lr_factor(e) for e in range(3)] == pytest.approx([1.0, 2 / 3, 1 / 3])


def test_resume_reproduces_the_uninterrupted_run(full_run) -> None:
    a, b = _domains()
    # A mid-epoch checkpoint (global step 2 falls inside epoch 0 of 3 iterations).
    states = [TrainState.from_bytes(c) for c in full_run["checkpoints"]]
    mid = next(s for s in states if s.iteration != 0)
    resumed: list[ProgressInfo] = []
    result = train(CFG, a, b, resume=mid, on_progress=resumed.append)
    expected = [p for p in full_run["progress"] if p.global_step > mid.global_step]
    assert [p.global_step for p in resumed] == [p.global_step for p in expected]
    for got, want in zip(resumed, expected, strict=True):
        assert got.losses == pytest.approx(want.losses, rel=1e-5, abs=1e-6)
    final = full_run["result"].state.nets["G_A"]
    for k, v in result.state.nets["G_A"].items():
        torch.testing.assert_close(v, final[k], rtol=1e-4, atol=1e-5)


def test_should_stop_checkpoints_and_returns(full_run) -> None:
    a, b = _domains()
    calls = {"n": 0}
    saved: list[TrainState] = []

    def stop() -> bool:
        calls["n"] += 1
        return calls["n"] >= 2

    progress: list[ProgressInfo] = []
    result = train(CFG, a, b, on_checkpoint=saved.append, on_progress=progress.append, should_stop=stop)
    assert result.stopped and result.state.global_step == 2
    assert saved and saved[-1].global_step == 2
    # same seed: the stopped run is the start of the full run
    assert [p.losses for p in progress] == [p.losses for p in full_run["progress"][:2]]
    assert TrainState.from_bytes(result.state.to_bytes()).global_step == 2


def test_state_refuses_other_config(full_run) -> None:
    a, b = _domains()
    state = TrainState.from_bytes(full_run["checkpoints"][0])
    with pytest.raises(ValueError, match="different config"):
        train(TrainConfig(**{**state.config, "lr": 1e-3}), a, b, resume=state)
    with pytest.raises(ValueError, match="not a CycleGAN training checkpoint"):
        TrainState.from_bytes(b"junk")


def test_image_pool_semantics() -> None:
    pool = ImagePool(50, random.Random(0))
    stored = [torch.full((1, 3, 2, 2), float(i)) for i in range(50)]
    for img in stored:
        assert torch.equal(pool.query(img), img)  # filling: every image passes through
    returned_old = 0
    n = 2000
    for i in range(n):
        new = torch.full((1, 3, 2, 2), 1000.0 + i)
        out = pool.query(new)
        returned_old += int(not torch.equal(out, new))
    assert abs(returned_old / n - 0.5) < 0.05
    assert len(pool.images) == 50
    assert torch.equal(ImagePool(0, random.Random(0)).query(stored[3]), stored[3])


def test_scale_width_follows_upstream() -> None:
    frame = np.zeros((375, 1242, 3), np.uint8)
    assert scale_width(frame, 286, 256).shape == (256, 286, 3)  # height 86 raised to the crop size
    assert scale_width(np.zeros((720, 1280, 3), np.uint8), 286, 128).shape == (160, 286, 3)
    out = preprocess(
        frame,
        np.random.default_rng(0),
        mode="scale_width_and_crop",
        load_size=286,
        crop_size=256,
        no_flip=False,
    )
    assert out.shape == (3, 256, 256) and out.dtype == np.float32 and out.min() >= -1.0


def test_config_validation() -> None:
    with pytest.raises(ValueError, match="load_size"):
        TrainConfig(load_size=128, crop_size=256)
    with pytest.raises(ValueError, match="preprocess"):
        TrainConfig(preprocess="none")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="both domains"):
        train(CFG, [], [np.zeros((64, 64, 3), np.uint8)])
