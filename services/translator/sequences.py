"""Params a translation fixes once per sequence (fog's airlight when none is given), and the translators
that carry them: every frame of a recording is rendered alike, however the work is split."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from typing import Any

import numpy as np

from services.common.core.images import ImageError, decode_image
from services.common.datasets import store as ds
from services.common.datasets.sequences import by_sequence, sequence_key
from services.common.methods.translation import Translation
from services.common.runtime.worker import JobContext
from services.translator.inputs import translator_for
from services.translator.translators import ImageTranslator


def sequence_params(
    ctx: JobContext,
    items: list[ds.StoredImage],
    estimate: Callable[[np.ndarray], dict[str, Any]],
    known: dict[str, dict[str, Any]] | None = None,
) -> dict[str, dict[str, Any]]:
    """Sequence key -> the params `estimate` fixes from that sequence's first frame that decodes (fog: its
    neutral airlight). Sequences in `known` keep theirs: a job that splits the work calls this once and
    hands the result to every part."""
    known = known or {}
    fixed: dict[str, dict[str, Any]] = {}
    for key, group in by_sequence(items, lambda item: item.record).items():
        if key in known:
            fixed[key] = known[key]
            continue
        for item in group:
            try:
                image = decode_image(
                    ctx.store.get_bytes(item.image_key), ctx.settings.max_image_pixels, orient=False
                )
            except (ImageError, ValueError):
                continue  # the job warns about this file when its turn comes
            fixed[key] = estimate(image)
            break
    return fixed


class PerSequence:
    """The translator for each frame: `base`, or one built with its sequence's fixed params (one per
    distinct set of params, built on first use)."""

    def __init__(
        self,
        ctx: JobContext,
        translation: Translation,
        base: ImageTranslator,
        fixed: dict[str, dict[str, Any]],
    ) -> None:
        self.ctx, self.translation, self.base, self.fixed = ctx, translation, base, fixed
        self._built: dict[str, ImageTranslator] = {}

    def __call__(self, record: Any) -> ImageTranslator:
        params = self.fixed.get(sequence_key(record))
        if not params:
            return self.base
        key = json.dumps(params, sort_keys=True)
        if key not in self._built:
            update = {"params": {**self.translation.params, **params}}
            self._built[key] = translator_for(self.ctx, self.translation.model_copy(update=update))
        return self._built[key]

    @property
    def depth_sources(self) -> Counter[str]:
        """Where the frames' depth came from, over every translator used."""
        return sum((t.depth_sources for t in (self.base, *self._built.values())), Counter())


def per_sequence(
    ctx: JobContext,
    translation: Translation,
    base: ImageTranslator,
    items: list[ds.StoredImage],
    known: dict[str, dict[str, Any]] | None = None,
) -> PerSequence:
    """The translators for `items`: with the params `base` fixes per sequence, estimated here unless known."""
    fixed = sequence_params(ctx, items, base.sequence_params, known) if base.sequence_params else {}
    return PerSequence(ctx, translation, base, fixed)
