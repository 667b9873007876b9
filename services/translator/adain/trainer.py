"""The AdaIN trainer: the decoder trained on content (domain A) and style (domain B) images, resumable."""

from __future__ import annotations

import io

from services.common.contracts.train_translator import TrainTranslatorPayload, TrainTranslatorResult
from services.common.core import keys
from services.common.methods.adain import AdaINTrainOptions
from services.common.runtime.worker import JobContext, JobOutcome
from services.translator.inputs import vgg_features
from services.translator.training_data import prepare_run, put_torch, trained_model


def train(ctx: JobContext, p: TrainTranslatorPayload, options: AdaINTrainOptions) -> JobOutcome:
    """A decoder for VGG-19 relu4_1 features (Huang & Belongie 2017); domain A = content, B = style."""
    import torch

    from services.translator.adain.network import AdaINTrainConfig, train_adain

    store = ctx.store
    features = vgg_features(store, ctx.settings, p.weights.get("vgg19", 0))
    run = prepare_run(
        ctx, p, AdaINTrainConfig(**options.model_dump(exclude={"max_images"})), options.max_images
    )
    cfg, model_id, domains, state_key = run.cfg, run.model_id, run.domains, run.state_key
    resume = None
    if store.exists(state_key):
        resume = torch.load(io.BytesIO(store.get_bytes(state_key)), map_location="cpu", weights_only=True)
    history: list[dict[str, float]] = []

    def on_progress(iteration: int, losses: dict[str, float]) -> None:
        if iteration % 10 == 0 or iteration == cfg.iterations:
            history.append({"iteration": iteration, **losses})
            text = " ".join(f"{k} {v:.3f}" for k, v in losses.items())
            ctx.progress(
                0.02 + 0.96 * iteration / cfg.iterations,
                f"iteration {iteration}/{cfg.iterations} {text}",
                done=iteration,
                total=cfg.iterations,
            )

    def on_checkpoint(state: dict) -> None:
        put_torch(store, state_key, state)

    decoder = run.train(
        ctx,
        train_adain,
        features=features,
        resume=resume,
        on_checkpoint=on_checkpoint,
        on_progress=on_progress,
    )
    ctx.check_cancelled()
    weights_key = keys.translator_file(model_id, "decoder.pth")
    put_torch(store, weights_key, decoder)
    model = trained_model(
        ctx,
        p,
        options={**options.model_dump(), "style_keys": domains["b"][:256]},
        config={"encoder": "vgg19 relu4_1"},
        checkpoint_key=weights_key,
        metrics={"history": history, "images": {"content": len(domains["a"]), "style": len(domains["b"])}},
    )
    return JobOutcome(
        TrainTranslatorResult(model_id=model_id, weights_key=weights_key, resumed=resume is not None),
        rows=[model],
    )
