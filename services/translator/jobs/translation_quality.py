"""The `translation_quality` job: KID/FID of a translated set (and its source) against a target set."""

from __future__ import annotations

from services.common.contracts.translation_quality import TranslationQualityPayload, TranslationQualityResult
from services.common.runtime.worker import JobContext
from services.translator.quality_sets import measure, set_keys


def run(ctx: JobContext, p: TranslationQualityPayload) -> TranslationQualityResult:
    q = p.quality
    translated = set_keys(ctx, p.translated, q.max_images, q.seed, "translated")
    source = set_keys(ctx, p.source, q.max_images, q.seed, "source") if p.source is not None else None
    report = measure(ctx, translated, source, q, ctx.progress)
    return TranslationQualityResult(**report.model_dump())
