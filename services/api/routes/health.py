"""Liveness and readiness."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from services.common.core.db.session import get_engine

router = APIRouter(tags=["health"])
log = logging.getLogger("sim2real.api")


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


def _check_database(request: Request) -> None:
    with get_engine(request.app.state.settings.resolved_database_url).connect() as conn:
        conn.execute(text("SELECT 1"))


def _check_broker(request: Request) -> None:
    with request.app.state.celery.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)


def _check_store(request: Request) -> None:
    request.app.state.store.ping()


@router.get("/readyz")
def readyz(request: Request) -> JSONResponse:
    """503 naming each dependency that does not answer."""
    checks = {"database": _check_database, "broker": _check_broker, "object_store": _check_store}
    results: dict[str, str] = {}
    for name, check in checks.items():
        try:
            check(request)
            results[name] = "ok"
        except Exception as exc:
            # Unauthenticated route: the kind of failure only; hosts and users go to the log.
            log.warning("readiness: %s unreachable: %s", name, exc)
            results[name] = f"unreachable ({type(exc).__name__})"
    failing = [name for name, value in results.items() if value != "ok"]
    if failing:
        return JSONResponse(
            {"status": "unavailable", "detail": f"not reachable: {', '.join(failing)}", "checks": results},
            status_code=503,
        )
    return JSONResponse({"status": "ready", "checks": results})
