"""The FastAPI gateway: validates, stores inputs, records jobs, queues tasks by name. No torch here."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import ValidationError

from services.api.middleware import RequestGuard
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
from services.common.core.db.migrate import upgrade
from services.common.core.queue import make_celery
from services.common.core.settings import Settings, get_settings
from services.common.core.storage import ObjectNotFound, StoreUnavailable, make_store
from services.common.core.weights import publish_configured
from services.common.methods import MethodError


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    logging.basicConfig(level=settings.log_level)

    @asynccontextmanager
    async def lifespan(app: FastAPI):  # noqa: ANN202
        upgrade(settings.resolved_database_url)
        publish_configured(settings, app.state.store)
        yield

    # With an API key, the schema and docs need it too (every route but health does).
    keyed = settings.api_key is not None
    app = FastAPI(
        title="sim2real",
        version="0.1.0",
        lifespan=lifespan,
        description="Translate synthetic driving images into real weather; train and evaluate "
        "detectors on them.",
        openapi_url=None if keyed else "/openapi.json",
        docs_url=None if keyed else "/docs",
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.store = make_store(settings)
    app.state.celery = make_celery(settings, name="sim2real-api")

    app.include_router(health.router)
    install_error_handlers(app)
    # Key first, then size, before any route reads a body.
    app.add_middleware(
        RequestGuard, settings=settings, body_limit=settings.max_upload_bytes * 2 + 1024 * 1024
    )
    if keyed:

        @app.get("/openapi.json", include_in_schema=False)
        def openapi() -> JSONResponse:
            return JSONResponse(app.openapi())

        @app.get("/docs", include_in_schema=False)
        def docs() -> HTMLResponse:
            return get_swagger_ui_html(openapi_url="/openapi.json", title="sim2real")

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
        app.include_router(module.router)
    return app


def install_error_handlers(app: FastAPI) -> None:
    """Store failures a client can meet become 404 / 503 with a message, not a bare 500."""

    @app.exception_handler(ObjectNotFound)
    async def missing_object(_request: Request, exc: ObjectNotFound) -> JSONResponse:
        return JSONResponse(
            {"detail": f"{exc}; it may have been deleted from the object store"}, status_code=404
        )

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's shape, with each input made printable (a NaN input would make the 422 itself fail).
        return JSONResponse({"detail": jsonable_errors(exc.errors())}, status_code=422)

    @app.exception_handler(ValidationError)
    async def invalid_payload(_request: Request, exc: ValidationError) -> JSONResponse:
        # A payload a route built from values the request models let through.
        return JSONResponse({"detail": jsonable_errors(exc.errors())}, status_code=422)

    @app.exception_handler(MethodError)
    async def method_error(_request: Request, exc: MethodError) -> JSONResponse:
        # A route that forgot to translate it: the message already names the field.
        return JSONResponse({"detail": str(exc)}, status_code=exc.status)

    @app.exception_handler(StoreUnavailable)
    async def store_down(_request: Request, exc: StoreUnavailable) -> JSONResponse:
        logging.getLogger("sim2real.api").error("object store unavailable: %s", exc)
        return JSONResponse({"detail": "the object store is unreachable; try again later"}, status_code=503)


def jsonable_errors(errors: Sequence[Any]) -> list[dict[str, Any]]:
    """Validation errors as JSON: inputs and contexts that JSON cannot hold (NaN, bytes, objects) as text."""

    def clean(value: Any) -> Any:
        if isinstance(value, float) and not math.isfinite(value):
            return repr(value)
        if isinstance(value, str | int | float | bool) or value is None:
            return value
        if isinstance(value, dict):
            return {str(k): clean(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [clean(v) for v in value]
        return str(value)

    out = []
    for error in errors:
        item = {k: clean(v) for k, v in dict(error).items() if k != "url"}
        if isinstance(item.get("input"), str) and len(item["input"]) > 200:
            item["input"] = item["input"][:200] + "…"
        out.append(item)
    return out


def __getattr__(name: str) -> FastAPI:
    # `uvicorn services.api.main:app` builds the app on first access, not at import.
    if name == "app":
        globals()["app"] = created = create_app()
        return created
    raise AttributeError(name)
