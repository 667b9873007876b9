"""The CycleGAN trainer: both generators and discriminators on two domains, checkpointed, resumable."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import cv2
import numpy as np

from services.common.contracts.train_translator import TrainTranslatorPayload, TrainTranslatorResult
from services.common.core import keys
from services.common.core.images import encode_png
from services.common.methods.cyclegan import CycleGANTrainOptions
from services.common.runtime.lifecycle import JobCancelled, JobError
from services.common.runtime.worker import JobContext, JobOutcome
from services.translator.quality_sets import KidProbe
from services.translator.training_data import prepare_run, put_torch, trained_model


def kid_probe(ctx: JobContext, p: TrainTranslatorPayload, options: CycleGANTrainOptions, run) -> KidProbe:  # noqa: ANN001
    """The first `kid_images` of each domain at training scale (width `load_size`): A is translated at each
    probe, B is the target KID is measured against."""

    def scaled(load) -> np.ndarray:  # noqa: ANN001
        img = load()
        h, w = img.shape[:2]
        size = (options.load_size, max(1, round(h * options.load_size / w)))
        return cv2.resize(
            img, size, interpolation=cv2.INTER_AREA if options.load_size < w else cv2.INTER_CUBIC
        )

    version = p.weights.get("inception")
    if version is None:
        raise JobError(
            "kid_every_epochs needs the operator's inception weights; none were recorded at submit"
        )
    return KidProbe(
        ctx,
        version,
        [scaled(load) for load in run.b[: options.kid_images]],
        [scaled(load) for load in run.a[: options.kid_images]],
    )


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
        ctx,
        p,
        TrainConfig(
            **options.model_dump(exclude={"max_images", "kid_every_epochs", "kid_images", "devices"})
        ),
        options.max_images,
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
                done=info.global_step,
                total=info.total_steps,
            )

    def on_epoch_end(epoch: int, samples: list[np.ndarray]) -> None:
        history[epoch + 1] = {k: v / max(counts[0], 1) for k, v in sums.items()}
        sums.clear()
        counts[0] = 0
        for i, img in enumerate(samples):
            key = keys.translator_file(model_id, f"samples/epoch_{epoch + 1:04d}_{i}.png")
            store.put_bytes(key, encode_png(img), "image/png")
            sample_keys.append(key)

    probe = kid_probe(ctx, p, options, run) if options.kid_every_epochs else None

    def on_epoch_generator(epoch: int, translate) -> None:  # noqa: ANN001
        done = epoch + 1
        if probe is None or (done % options.kid_every_epochs and done != cfg.total_epochs):
            return
        kid = probe.measure(translate)
        history.setdefault(done, {}).update(kid=kid.kid_mean, kid_std=kid.kid_std, fid=kid.fid)
        ctx.progress(
            0.02 + 0.96 * done / cfg.total_epochs,
            f"epoch {done}/{cfg.total_epochs}: KID against domain B {kid.kid_mean:.4g} ± {kid.kid_std:.2g}",
        )

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
        on_epoch_generator=on_epoch_generator,
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
    if probe is not None:
        metrics["kid"] = {
            "every_epochs": options.kid_every_epochs,
            "images": len(probe.sources),
            "untranslated": probe.before.to_dict(),  # domain A as it is, against domain B
            "epochs": [
                {"epoch": e, "kid_mean": v["kid"], "kid_std": v["kid_std"], "fid": v["fid"]}
                for e, v in sorted(history.items())
                if "kid" in v
            ],
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
        **({"kid": metrics["kid"]} if probe is not None else {}),
    )
    return JobOutcome(result_info, rows=[model])
