"""Detector weights as loaded models: which weights a model id names, loaded once per worker process."""

from __future__ import annotations

from services.common.core.db.models import DetectorModel
from services.common.core.db.session import session_scope
from services.common.core.model_cache import MODELS
from services.common.core.settings import Settings
from services.common.core.storage import ObjectStore
from services.common.runtime.lifecycle import JobError
from services.common.runtime.worker import JobContext


def weights_key_of(ctx: JobContext, model_id: str) -> str:
    with session_scope(ctx.db_url) as s:
        model = s.get(DetectorModel, model_id)
        if model is None:
            raise JobError(f"detector model {model_id} no longer exists")
        return model.weights_key


def load_detector(store: ObjectStore, settings: Settings, weights_key: str):  # noqa: ANN201
    """A Detector for weights in the store, loaded once per worker process."""
    from services.detector.inference import Detector

    def load() -> Detector:
        path = settings.home / "cache" / "weights" / weights_key
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            store.download_file(weights_key, path)
        return Detector(path, device=settings.device)

    return MODELS.get(f"detector:{weights_key}", load)
