"""Shared fixtures: a throwaway Postgres database, a Redis key prefix, settings, and an API client."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
import redis

from services.common.core.settings import Settings
from tests.fixtures.s3 import s3_server, s3_store  # noqa: F401

PG_ADMIN = os.environ.get("SIM2REAL_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("SIM2REAL_TEST_REDIS", "redis://127.0.0.1:6379/0")


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A database of our own for this run, dropped at the end; shared databases stay untouched."""
    name = f"sim2real_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    yield f"{base}/{name}"
    from services.common.core.db.session import get_engine

    get_engine(f"{base}/{name}").dispose()
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A key prefix of our own on the shared Redis; every key under it is removed afterwards."""
    prefix = f"sim2real_test_{uuid.uuid4().hex[:10]}:"
    yield prefix
    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(f"{prefix}*"))
    if keys:
        client.delete(*keys)


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    def make(**overrides: object) -> Settings:
        values: dict[str, object] = {
            "home": tmp_path / "home",
            "heartbeat_interval_s": 0.5,
            "heartbeat_timeout_s": 3.0,
        }
        values.update(overrides)
        return Settings(**values)

    return make


@pytest.fixture
def server_settings(make_settings, pg_url: str, redis_prefix: str) -> Settings:
    """Postgres + Redis + a local store folder: the server configuration minus MinIO.

    Each test has its own store, so the one table describing stored files shared by all (operator weights'
    versions) starts empty too."""
    from sqlalchemy import delete

    from services.common.core.db.migrate import upgrade
    from services.common.core.db.models import OperatorWeights
    from services.common.core.db.session import session_scope

    upgrade(pg_url)
    with session_scope(pg_url) as s:
        s.execute(delete(OperatorWeights))
        s.commit()
    return make_settings(database_url=pg_url, broker_url=REDIS_URL, broker_key_prefix=redis_prefix)


@pytest.fixture
def client_for():
    from fastapi.testclient import TestClient

    from services.api.main import create_app

    clients: list[TestClient] = []

    def make(settings: Settings) -> TestClient:
        c = TestClient(create_app(settings))
        c.__enter__()
        clients.append(c)
        return c

    yield make
    for c in clients:
        c.__exit__(None, None, None)


@pytest.fixture
def client(client_for, server_settings: Settings):
    return client_for(server_settings)


@pytest.fixture
def run_queued():
    """Run the queued jobs of a kind in this process with the real task code (the queue is tested end to end)."""
    from sqlalchemy import select

    from services.common import contracts
    from services.common.core.db.models import Job
    from services.common.core.db.session import session_scope

    def run(settings: Settings, kind: str) -> list[Job]:
        import importlib

        service = contracts.get(kind).service
        runtime = importlib.import_module(f"services.{service}.worker").make_runtime(settings)
        handler = runtime.handlers[kind]
        with session_scope(settings.resolved_database_url) as s:
            ids = list(
                s.scalars(
                    select(Job.id).where(Job.kind == kind, Job.status == "queued").order_by(Job.created_at)
                )
            )
        for job_id in ids:
            runtime.run_job(job_id, handler)
        with session_scope(settings.resolved_database_url) as s:
            done = [s.get(Job, i) for i in ids]
            for j in done:
                s.expunge(j)
        return done

    return run
