"""The FastAPI gateway: validates, stores inputs, records jobs, queues tasks by name. No torch here."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from services.api import web
from services.api.middleware import RequestGuard
from services.api.routes import (
    dataset_images,
    datasets,
    detectors,
    evaluations,
    health,
    image_sets,
    jobs,
    quality,
    robustness,
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

DESCRIPTION = """Translate synthetic driving images into real weather; train and evaluate detectors on them.

The web app is at `/`. With `SIM2REAL_API_KEY` set, every `/v1` call and `/openapi.json` need
`Authorization: Bearer <key>`; these pages ask for it once and keep it for the browser session.

Words used throughout:
- **composition**: how a training set is assembled from KITTI and Virtual KITTI 2 frames
  (`POST /v1/datasets/compositions`): `baseline` uses the rendered weather variations as they are,
  `translated` replaces fog, overcast and rain by translations of the clone frame (formerly "recipe").
- **slice_by**: the image attributes an evaluation also reports mAP for, one slice per value besides
  `all`: `occlusion` (cumulative buckets of occluded vehicles such as `<=5`, from `buckets`), `weather`,
  `timeofday`, `scene`.
- **filter**: `field op value` terms (`weather=foggy`, `occluded_vehicles<=5`, `camera=Camera_0`), joined
  by `;` or repeated; `=` / `!=` take comma lists (any of / none of).
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    logging.basicConfig(level=settings.log_level)

    @asynccontextmanager
    async def lifespan(app: FastAPI):  # noqa: ANN202
        upgrade(settings.resolved_database_url)
        publish_configured(settings, app.state.store)
        yield

    app = FastAPI(
        title="sim2real",
        version="0.1.0",
        lifespan=lifespan,
        description=DESCRIPTION,
        # The schema is a data call (it needs the key when one is set); /docs and /redoc are our own
        # offline shells (services/api/web), which fetch it with the key.
        openapi_url="/openapi.json",
        docs_url=None,
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
    web.install(app)
    document_parameters(app)
    for module in (
        jobs,
        translations,
        datasets,
        dataset_images,
        translator_models,
        image_sets,
        detectors,
        evaluations,
        robustness,
        styles,
        weights,
        weathers,
        quality,
    ):
        app.include_router(module.router)
    return app


# Descriptions and examples for path and query parameters that routes leave undescribed: the same name means
# the same thing on every route. A route's own description wins.
PARAMETER_DOCS: dict[str, tuple[str, Any]] = {
    "job_id": ("a job id, as POST answered it or GET /v1/jobs lists it", "3f9c2a6d0b7e4f1a9c8d7e6f5a4b3c2d"),
    "dataset_id": ("a dataset id (GET /v1/datasets)", "8b16ee180c94c7abb4959bebee86a84a"),
    "model_id": ("a translator or detector model id (GET /v1/translator-models, /v1/detector-models)", None),
    "evaluation_id": ("an evaluation id (GET /v1/evaluations; the id of the job that made it)", None),
    "experiment_id": ("an experiment id (GET /v1/experiments; the id of its job)", None),
    "comparison_id": ("a comparison id: the id of the compare_evaluations job that made it", None),
    "robustness_id": (
        "a robustness curve id: the id of the robustness job that made it (GET /v1/robustness)",
        None,
    ),
    "style_id": ("a style id (GET /v1/styles)", None),
    "index": ("the sample's position in the model's `samples` list, from 0", 0),
    "limit": ("page size: at most this many items", 50),
    "offset": ("items to skip: the page starts after them", 0),
    "split": ("only images of this split", "val"),
}


def document_parameters(app: FastAPI) -> None:
    """Fill in undescribed parameters from PARAMETER_DOCS when the schema is first built."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            for item in schema["paths"].values():
                for op in item.values():
                    for param in op.get("parameters", []) if isinstance(op, dict) else []:
                        doc = PARAMETER_DOCS.get(param["name"])
                        if (
                            doc is None
                            or param.get("description")
                            or param.get("schema", {}).get("description")
                        ):
                            continue
                        param["description"] = doc[0]
                        if doc[1] is not None and "example" not in param and "examples" not in param:
                            param["example"] = doc[1]
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


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
