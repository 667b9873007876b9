"""The web app and the API docs, served from the API process with no CDN: `/` (the app, plain ES modules in
this folder), `/static/...` (its assets), `/static/docs/...` (Swagger UI and ReDoc from the
fastapi-offline package), and the `/docs` and `/redoc` shells. None of these need the key; every data call
they make sends it (see middleware.PUBLIC_PATHS)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import fastapi_offline
from fastapi import FastAPI
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles

HERE = Path(__file__).parent
DOCS_ASSETS = Path(fastapi_offline.__file__).parent / "static"


# ReDoc's sidebar footer loads its logo from a CDN; the page must make no request outside this server.
_REDOC_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"


@lru_cache(maxsize=1)
def redoc_bundle() -> bytes:
    return (DOCS_ASSETS / "redoc.standalone.js").read_bytes().replace(_REDOC_LOGO.encode(), b"data:,")


def install(app: FastAPI) -> None:
    # Before the mounts: this one asset is served rewritten.
    @app.get("/static/docs/redoc.standalone.js", include_in_schema=False)
    def redoc_js() -> Response:
        return Response(redoc_bundle(), media_type="text/javascript")

    app.mount("/static/docs", StaticFiles(directory=DOCS_ASSETS), name="docs-assets")
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="web")

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(HERE / "index.html", headers={"Cache-Control": "no-cache"})

    @app.get("/docs", include_in_schema=False)
    def docs() -> FileResponse:
        return FileResponse(HERE / "docs.html", headers={"Cache-Control": "no-cache"})

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> FileResponse:
        return FileResponse(HERE / "redoc.html", headers={"Cache-Control": "no-cache"})
