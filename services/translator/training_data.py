"""What the translator trainers share: the two image domains resolved once (so a resumed run sees the same
lists), cached on local disk, and checkpoints written to the store."""

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

from services.common.contracts.train_translator import DomainSpec, TrainTranslatorPayload
from services.common.core import keys
from services.common.core.db.models import DatasetImage, TranslatorModel
from services.common.core.db.session import session_scope
from services.common.core.storage import ObjectStore
from services.common.datasets import store as ds
from services.common.datasets.filters import parse_filter
from services.common.runtime.lifecycle import JobError
from services.common.runtime.worker import JobContext
from services.translator.translators import device_for

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def put_torch(store: ObjectStore, key: str, obj: object) -> None:
    """torch.save into the store (tensors and plain containers only, so torch.load(weights_only=True) reads it)."""
    import torch

    buf = io.BytesIO()
    torch.save(obj, buf)
    store.put_bytes(key, buf.getvalue(), "application/octet-stream")


def resolve_domain(ctx: JobContext, spec: DomainSpec, seed: int, max_images: int | None) -> list[str]:
    """The object keys of a domain's images, fixed once so a resumed run sees the same lists."""
    if spec.dataset_id:
        with session_scope(ctx.db_url) as s:
            query = ds.select_images(spec.dataset_id, parse_filter(spec.filter or None))
            keys = [
                k
                for k in s.scalars(
                    query.where(DatasetImage.image_key.is_not(None))
                    .with_only_columns(DatasetImage.image_key)
                    .order_by(DatasetImage.image_id)
                )
            ]
    else:
        keys = [k for k in ctx.store.list(spec.prefix or "") if k.lower().endswith(IMAGE_SUFFIXES)]
    limit = spec.limit or max_images
    if limit and len(keys) > limit:
        keys = sorted(random.Random(seed).sample(keys, limit))
    if not keys:
        raise JobError(f"domain {spec.name or spec.model_dump(exclude_none=True)} has no images")
    return keys


@dataclass(frozen=True)
class CachedImage:
    """A training image on local disk, decoded each time it is sampled (picklable: DDP ranks get it)."""

    path: Path

    def __call__(self) -> np.ndarray:
        import cv2

        img = cv2.imread(str(self.path), cv2.IMREAD_COLOR)
        if img is None:
            raise JobError(f"cannot decode training image {self.path.name}")
        return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def cache_images(
    store: ObjectStore, keys: list[str], folder: Path, progress: Callable[[int], None]
) -> list[Callable[[], np.ndarray]]:
    """Download once to local disk; training reads each image many times."""
    sources: list[Callable[[], np.ndarray]] = []
    for n, key in enumerate(keys):
        path = folder / f"{n:07d}{Path(key).suffix.lower()}"
        if not path.exists():
            folder.mkdir(parents=True, exist_ok=True)
            store.download_file(key, path)
        if n % 50 == 0:
            progress(n)
        sources.append(CachedImage(path))
    return sources


def fixed_domains(
    ctx: JobContext, payload: TrainTranslatorPayload, seed: int, max_images: int | None
) -> dict[str, list[str]]:
    """Resolved once and stored, so a resumed run trains on exactly the same image lists."""
    key = keys.translator_file(ctx.job_id, "domains.json")
    if ctx.store.exists(key):
        return json.loads(ctx.store.get_bytes(key))
    domains = {
        "a": resolve_domain(ctx, payload.domain_a, seed, max_images),
        "b": resolve_domain(ctx, payload.domain_b, seed + 1, max_images),
    }
    ctx.store.put_bytes(key, json.dumps(domains).encode(), "application/json")
    return domains


@dataclass
class Run:
    """What both trainings start from: the config, the model's prefix, fixed domains cached locally."""

    cfg: Any
    model_id: str
    domains: dict[str, list[str]]
    cache: Path
    a: list[Callable[[], np.ndarray]]
    b: list[Callable[[], np.ndarray]]
    state_key: str

    def train(self, ctx: JobContext, trainer: Callable[..., Any], **callbacks: Any) -> Any:
        """`trainer(cfg, a, b, ...)` with the job's cancel flag and device; the local image cache goes after."""
        try:
            return trainer(
                self.cfg,
                self.a,
                self.b,
                should_stop=ctx.cancelled.is_set,
                device=device_for(ctx.settings),
                **callbacks,
            )
        finally:
            shutil.rmtree(self.cache, ignore_errors=True)


def prepare_run(ctx: JobContext, payload: TrainTranslatorPayload, cfg: Any, max_images: int | None) -> Run:
    """`cfg`: the trainer's config (made from the method's training options); `max_images` caps each domain."""
    ctx.outputs(keys.translator_prefix(ctx.job_id))
    domains = fixed_domains(ctx, payload, cfg.seed, max_images)
    cache = ctx.settings.home / "cache" / "train" / ctx.job_id
    total = len(domains["a"]) + len(domains["b"])

    def progress(offset: int) -> Callable[[int], None]:
        return lambda n: ctx.progress(0.02 * (offset + n) / total, f"caching images {offset + n}/{total}")

    a = cache_images(ctx.store, domains["a"], cache / "a", progress(0))
    b = cache_images(ctx.store, domains["b"], cache / "b", progress(len(domains["a"])))
    state_key = keys.translator_file(ctx.job_id, "checkpoint", "state.pt")
    return Run(cfg, ctx.job_id, domains, cache, a, b, state_key)


def trained_model(
    ctx: JobContext,
    payload: TrainTranslatorPayload,
    *,
    options: dict[str, Any],
    config: dict[str, Any],
    checkpoint_key: str,
    metrics: dict[str, Any],
    sample_keys: list[str] | None = None,
) -> TranslatorModel:
    """The model row a training makes (its id is the job's), with the request's name, weather and domains."""
    return TranslatorModel(
        id=ctx.job_id,
        name=payload.name,
        method=payload.method,
        weather=payload.weather,
        domain_a=payload.domain_a.model_dump(),
        domain_b=payload.domain_b.model_dump(),
        options=options,
        config=config,
        checkpoint_key=checkpoint_key,
        metrics=metrics,
        sample_keys=sample_keys or [],
        job_id=ctx.job_id,
    )
