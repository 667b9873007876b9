"""The `train_translator` job: CycleGAN on two image domains, checkpointed to the store, resumable."""

from __future__ import annotations

import io
import json
import random
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from services.common import dataset_store as ds
from services.common.datasets.filters import parse_filter
from services.common.db.models import DatasetImage, TranslatorModel
from services.common.db.session import session_scope
from services.common.images import encode_png
from services.common.jobs import JobCancelled, JobError
from services.common.storage import ObjectStore
from services.common.worker import JobContext, JobOutcome
from services.translator.methods import device_for

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def put_torch(store: ObjectStore, key: str, obj: object) -> None:
    """torch.save into the store (tensors and plain containers only, so torch.load(weights_only=True) reads it)."""
    import torch

    buf = io.BytesIO()
    torch.save(obj, buf)
    store.put_bytes(key, buf.getvalue(), "application/octet-stream")


def model_prefix(model_id: str) -> str:
    return f"models/translator/{model_id}/"


def resolve_domain(ctx: JobContext, spec: dict[str, Any], seed: int, max_images: int | None) -> list[str]:
    """The object keys of a domain's images, fixed once so a resumed run sees the same lists."""
    if spec.get("dataset_id"):
        with session_scope(ctx.db_url) as s:
            query = ds.select_images(spec["dataset_id"], parse_filter(spec.get("filter") or None))
            keys = [
                k
                for k in s.scalars(
                    query.where(DatasetImage.image_key.is_not(None))
                    .with_only_columns(DatasetImage.image_key)
                    .order_by(DatasetImage.image_id)
                )
            ]
    else:
        keys = [k for k in ctx.store.list(spec["prefix"]) if k.lower().endswith(IMAGE_SUFFIXES)]
    limit = spec.get("limit") or max_images
    if limit and len(keys) > limit:
        keys = sorted(random.Random(seed).sample(keys, limit))
    if not keys:
        raise JobError(f"domain {spec.get('name') or spec} has no images")
    return keys


def cache_images(
    store: ObjectStore, keys: list[str], folder: Path, progress: Callable[[int], None]
) -> list[Callable[[], np.ndarray]]:
    """Download once to local disk; training reads each image many times."""
    import cv2

    sources = []
    for n, key in enumerate(keys):
        path = folder / f"{n:07d}{Path(key).suffix.lower()}"
        if not path.exists():
            folder.mkdir(parents=True, exist_ok=True)
            store.download_file(key, path)
        if n % 50 == 0:
            progress(n)

        def load(p: Path = path) -> np.ndarray:
            img = cv2.imread(str(p), cv2.IMREAD_COLOR)
            if img is None:
                raise JobError(f"cannot decode training image {p.name}")
            return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)

        sources.append(load)
    return sources


def train_translator(ctx: JobContext) -> JobOutcome:
    if ctx.params.get("method", "cyclegan") == "adain":
        return train_adain_model(ctx)
    return train_cyclegan(ctx)


def fixed_domains(ctx: JobContext, base: str, seed: int, max_images: int | None) -> dict[str, list[str]]:
    """Resolved once and stored, so a resumed run trains on exactly the same image lists."""
    key = base + "domains.json"
    if ctx.store.exists(key):
        return json.loads(ctx.store.get_bytes(key))
    domains = {
        "a": resolve_domain(ctx, ctx.params["domain_a"], seed, max_images),
        "b": resolve_domain(ctx, ctx.params["domain_b"], seed + 1, max_images),
    }
    ctx.store.put_bytes(key, json.dumps(domains).encode(), "application/json")
    return domains


@dataclass
class Run:
    """What both trainings start from: the config, the model's prefix, fixed domains cached locally."""

    cfg: Any
    model_id: str
    base: str
    domains: dict[str, list[str]]
    cache: Path
    a: list[Callable[[], np.ndarray]]
    b: list[Callable[[], np.ndarray]]
    state_key: str


def prepare_run(ctx: JobContext, config_cls: type) -> Run:
    options = dict(ctx.params["options"])
    max_images = options.pop("max_images", None)
    cfg = config_cls(**options)
    base = ctx.outputs(model_prefix(ctx.job_id))
    domains = fixed_domains(ctx, base, cfg.seed, max_images)
    cache = ctx.settings.home / "cache" / "train" / ctx.job_id
    total = len(domains["a"]) + len(domains["b"])

    def progress(offset: int) -> Callable[[int], None]:
        return lambda n: ctx.progress(0.02 * (offset + n) / total, f"caching images {offset + n}/{total}")

    a = cache_images(ctx.store, domains["a"], cache / "a", progress(0))
    b = cache_images(ctx.store, domains["b"], cache / "b", progress(len(domains["a"])))
    return Run(cfg, ctx.job_id, base, domains, cache, a, b, base + "checkpoint/state.pt")


def train_adain_model(ctx: JobContext) -> JobOutcome:
    """AdaIN (Huang & Belongie 2017): a decoder for VGG-19 relu4_1 features; domain A = content, B = style."""
    import torch

    from services.translator.methods import vgg_features
    from services.translator.nst.adain import AdaINTrainConfig, train_adain

    p = ctx.params
    store = ctx.store
    features = vgg_features(store, ctx.settings)
    run = prepare_run(ctx, AdaINTrainConfig)
    cfg, model_id, base, domains, cache, state_key = (
        run.cfg,
        run.model_id,
        run.base,
        run.domains,
        run.cache,
        run.state_key,
    )
    content, styles = run.a, run.b
    resume = None
    if store.exists(state_key):
        resume = torch.load(io.BytesIO(store.get_bytes(state_key)), map_location="cpu", weights_only=True)
    history: list[dict[str, float]] = []

    def on_progress(iteration: int, losses: dict[str, float]) -> None:
        if iteration % 10 == 0 or iteration == cfg.iterations:
            history.append({"iteration": iteration, **losses})
            text = " ".join(f"{k} {v:.3f}" for k, v in losses.items())
            ctx.progress(
                0.02 + 0.96 * iteration / cfg.iterations, f"iteration {iteration}/{cfg.iterations} {text}"
            )

    def on_checkpoint(state: dict) -> None:
        put_torch(store, state_key, state)

    try:
        decoder = train_adain(
            cfg,
            content,
            styles,
            features=features,
            resume=resume,
            on_checkpoint=on_checkpoint,
            on_progress=on_progress,
            should_stop=ctx.cancelled.is_set,
            device=device_for(ctx.settings),
        )
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    ctx.check_cancelled()
    weights_key = base + "decoder.pth"
    put_torch(store, weights_key, decoder)
    model = TranslatorModel(
        id=model_id,
        name=p["name"],
        method="adain",
        weather=p["weather"],
        domain_a=p["domain_a"],
        domain_b=p["domain_b"],
        options={**p["options"], "style_keys": domains["b"][:256]},
        config={"encoder": "vgg19 relu4_1"},
        checkpoint_key=weights_key,
        metrics={"history": history, "images": {"content": len(domains["a"]), "style": len(domains["b"])}},
        sample_keys=[],
        job_id=ctx.job_id,
    )
    return JobOutcome(
        {"model_id": model_id, "weights_key": weights_key, "resumed": resume is not None}, rows=[model]
    )


def train_cyclegan(ctx: JobContext) -> JobOutcome:

    from services.translator.cyclegan.training import TrainConfig, TrainState, train

    p = ctx.params
    store = ctx.store
    run = prepare_run(ctx, TrainConfig)
    cfg, model_id, base, domains, cache, state_key = (
        run.cfg,
        run.model_id,
        run.base,
        run.domains,
        run.cache,
        run.state_key,
    )
    src_a, src_b = run.a, run.b
    resume = TrainState.from_bytes(store.get_bytes(state_key)) if store.exists(state_key) else None
    history: dict[int, dict[str, float]] = {}
    sums: dict[str, float] = {}
    counts = [0]
    sample_keys: list[str] = []
    if resume is not None:
        meta_key = base + "checkpoint/history.json"
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
            key = base + f"samples/epoch_{epoch + 1:04d}_{i}.png"
            store.put_bytes(key, encode_png(img), "image/png")
            sample_keys.append(key)

    def on_checkpoint(state: TrainState) -> None:
        store.put_bytes(state_key, state.to_bytes(), "application/octet-stream")
        store.put_bytes(
            base + "checkpoint/history.json",
            json.dumps({"history": history, "samples": sample_keys}).encode(),
            "application/json",
        )

    try:
        result = train(
            cfg,
            src_a,
            src_b,
            resume=resume,
            on_checkpoint=on_checkpoint,
            on_progress=on_progress,
            on_epoch_end=on_epoch_end,
            should_stop=ctx.cancelled.is_set,
            device=device_for(ctx.settings),
        )
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    if result.stopped:
        raise JobCancelled(ctx.job_id)

    weights_key = base + "generator.pth"
    put_torch(store, weights_key, result.state.nets["G_A"])
    put_torch(store, base + "generator_b2a.pth", result.state.nets["G_B"])
    metrics = {
        "epochs": [{"epoch": e, **v} for e, v in sorted(history.items())],
        "final_losses": result.last_losses,
        "images": {"a": len(domains["a"]), "b": len(domains["b"])},
    }
    model = TranslatorModel(
        id=model_id,
        name=p["name"],
        method="cyclegan",
        weather=p["weather"],
        domain_a=p["domain_a"],
        domain_b=p["domain_b"],
        options=p["options"],
        config=result.generator_config.to_dict(),
        checkpoint_key=weights_key,
        metrics=metrics,
        sample_keys=sample_keys,
        job_id=ctx.job_id,
    )
    result_info = {
        "model_id": model_id,
        "weights_key": weights_key,
        "epochs": cfg.total_epochs,
        "resumed_from_step": resume.global_step if resume is not None else 0,
    }
    return JobOutcome(result_info, rows=[model])
