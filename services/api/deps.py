"""Typed dependencies shared by the routes."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Annotated

from celery import Celery
from fastapi import Depends, HTTPException, Request, status
from sqlalchemy.orm import Session

from services.common.core.db.session import make_session
from services.common.core.settings import Settings
from services.common.core.storage import ObjectStore


def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings


def get_session(request: Request) -> Iterator[Session]:
    session = make_session(request.app.state.settings.resolved_database_url)
    try:
        yield session
    finally:
        session.close()


def get_store(request: Request) -> ObjectStore:
    return request.app.state.store


def get_celery(request: Request) -> Celery:
    return request.app.state.celery


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
SessionDep = Annotated[Session, Depends(get_session)]
StoreDep = Annotated[ObjectStore, Depends(get_store)]
CeleryDep = Annotated[Celery, Depends(get_celery)]


def require_api_key(request: Request, settings: SettingsDep) -> None:
    """With SIM2REAL_API_KEY set, every /v1 route needs `Authorization: Bearer <key>`."""
    if settings.api_key is None:
        return
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing API key: send 'Authorization: Bearer <key>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if not secrets.compare_digest(token.strip().encode(), settings.api_key.get_secret_value().encode()):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "invalid API key", headers={"WWW-Authenticate": "Bearer"}
        )
