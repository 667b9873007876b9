"""The `train_translator` job: the requested method's own trainer, found through the method registry."""

from __future__ import annotations

from services.common import methods
from services.common.contracts.train_translator import TrainTranslatorPayload
from services.common.runtime.worker import JobContext, JobOutcome


def run(ctx: JobContext, payload: TrainTranslatorPayload) -> JobOutcome:
    spec = methods.get(payload.method)
    options = spec.parse_training_options(payload.options)
    return spec.load_trainer()(ctx, payload, options)
