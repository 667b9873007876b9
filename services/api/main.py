"""The FastAPI gateway: validates, stores inputs, records jobs, queues tasks by name. No torch here."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI

from services.api.deps import require_api_key
from services.api.routes import (
    datasets,
    detectors,
    evaluations,
    health,
    image_sets,
    jobs,
    styles,
    translations,
    translator_models,
    weathers,
    weights,
)
from services.common.db.migrate import upgrade
from services.common.queue import make_celery
from services.common.settings import Settings, get_settings
from services.common.storage import make_store


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    logging.basicConfig(level=settings.log_level)

    @asynccontextmanager
    async def lifespan(app: FastAPI):  # noqa: ANN202
        upgrade(settings.resolved_database_url)
        yield

    app = FastAPI(
        title="sim2real",
        version="0.1.0",
        lifespan=lifespan,
        description="Translate synthetic driving images into real weather; train and evaluate "
        "detectors on them.",
    )
    app.state.settings = settings
    app.state.store = make_store(settings)
    app.state.celery = make_celery(settings, name="sim2real-api")

    app.include_router(health.router)
    protected = [Depends(require_api_key)]
    for module in (
        jobs,
        translations,
        datasets,
        translator_models,
        image_sets,
        detectors,
        evaluations,
        styles,
        weights,
        weathers,
    ):
        app.include_router(module.router, dependencies=protected)
    return app


def __getattr__(name: str) -> FastAPI:
    # `uvicorn services.api.main:app` builds the app on first access, not at import.
    if name == "app":
        globals()["app"] = created = create_app()
        return created
    raise AttributeError(name)
