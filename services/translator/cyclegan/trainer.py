"""The CycleGAN trainer: both generators and discriminators on two domains, checkpointed, resumable."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np

from services.common.contracts.train_translator import TrainTranslatorPayload, TrainTranslatorResult
from services.common.core import keys
from services.common.core.images import encode_png
from services.common.methods.cyclegan import CycleGANTrainOptions
from services.common.runtime.lifecycle import JobCancelled, JobError
from services.common.runtime.worker import JobContext, JobOutcome
from services.translator.training_data import prepare_run, put_torch, trained_model


def trainer_for(devices: list[int] | None) -> Callable[..., Any]:
    """The training loop for `options.devices`: the worker's device (none), one GPU, or data parallel
    over several. A list naming GPUs this worker does not have fails the job before anything starts."""
    from services.translator.cyclegan.distributed import check_devices, train_distributed
    from services.translator.cyclegan.training import train as train_cyclegan

    if not devices:
        return train_cyclegan
    try:
        check_devices(devices)
    except ValueError as exc:
        raise JobError(str(exc)) from exc
    if len(devices) == 1:
        return lambda cfg, a, b, device, **kw: train_cyclegan(cfg, a, b, device=f"cuda:{devices[0]}", **kw)
    return lambda cfg, a, b, device, **kw: train_distributed(cfg, a, b, devices=devices, **kw)


def train(ctx: JobContext, p: TrainTranslatorPayload, options: CycleGANTrainOptions) -> JobOutcome:
    """CycleGAN A -> B, checkpointed to the store every few iterations and resumed from there."""
    from services.translator.cyclegan.training import TrainConfig, TrainState

    store = ctx.store
    trainer = trainer_for(options.devices)
    run = prepare_run(
        ctx, p, TrainConfig(**options.model_dump(exclude={"max_images", "devices"})), options.max_images
    )
    cfg, model_id, domains, state_key = run.cfg, run.model_id, run.domains, run.state_key
    resume = TrainState.from_bytes(store.get_bytes(state_key)) if store.exists(state_key) else None
    history: dict[int, dict[str, float]] = {}
    sums: dict[str, float] = {}
    counts = [0]
    sample_keys: list[str] = []
    if resume is not None:
        meta_key = keys.translator_file(model_id, "checkpoint/history.json")
        if store.exists(meta_key):
            saved = json.loads(store.get_bytes(meta_key))
            history = {int(k): v for k, v in saved["history"].items()}
            sample_keys = saved["samples"]

    def on_progress(info) -> None:  # noqa: ANN001
        for k, v in info.losses.items():
            sums[k] = sums.get(k, 0.0) + v
        counts[0] += 1
        if info.global_step % 10 == 0 or info.iteration == info.iterations_per_epoch:
            losses = " ".join(f"{k} {v:.3f}" for k, v in info.losses.items())
            ctx.progress(
                0.02 + 0.96 * info.global_step / info.total_steps,
                f"epoch {info.epoch + 1}/{cfg.total_epochs} iter {info.iteration}/"
                f"{info.iterations_per_epoch} lr {info.lr:.2e} {losses}",
            )

    def on_epoch_end(epoch: int, samples: list[np.ndarray]) -> None:
        history[epoch + 1] = {k: v / max(counts[0], 1) for k, v in sums.items()}
        sums.clear()
        counts[0] = 0
        for i, img in enumerate(samples):
            key = keys.translator_file(model_id, f"samples/epoch_{epoch + 1:04d}_{i}.png")
            store.put_bytes(key, encode_png(img), "image/png")
            sample_keys.append(key)

    def on_checkpoint(state: TrainState) -> None:
        store.put_bytes(state_key, state.to_bytes(), "application/octet-stream")
        store.put_bytes(
            keys.translator_file(model_id, "checkpoint/history.json"),
            json.dumps({"history": history, "samples": sample_keys}).encode(),
            "application/json",
        )

    result = run.train(
        ctx,
        trainer,
        resume=resume,
        on_checkpoint=on_checkpoint,
        on_progress=on_progress,
        on_epoch_end=on_epoch_end,
    )
    if result.stopped:
        raise JobCancelled(ctx.job_id)

    weights_key = keys.translator_file(model_id, "generator.pth")
    put_torch(store, weights_key, result.state.nets["G_A"])
    put_torch(store, keys.translator_file(model_id, "generator_b2a.pth"), result.state.nets["G_B"])
    metrics = {
        "epochs": [{"epoch": e, **v} for e, v in sorted(history.items())],
        "final_losses": result.last_losses,
        "images": {"a": len(domains["a"]), "b": len(domains["b"])},
    }
    model = trained_model(
        ctx,
        p,
        options=options.model_dump(),
        config=result.generator_config.to_dict(),
        checkpoint_key=weights_key,
        metrics=metrics,
        sample_keys=sample_keys,
    )
    result_info = TrainTranslatorResult(
        model_id=model_id,
        weights_key=weights_key,
        epochs=cfg.total_epochs,
        resumed_from_step=resume.global_step if resume is not None else 0,
    )
    return JobOutcome(result_info, rows=[model])
