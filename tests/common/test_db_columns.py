"""Columns that hold request values are wide enough for every value the request models accept."""

from __future__ import annotations

from sqlalchemy import create_engine, inspect

from services.common.core.db.migrate import upgrade


def test_comparison_seed_holds_every_seed(pg_url: str) -> None:
    # Seeds run to 2^32 - 1 (fields.Seed): past int4, so a comparison with a large seed failed on insert.
    upgrade(pg_url)
    engine = create_engine(pg_url)
    try:
        columns = {c["name"]: c for c in inspect(engine).get_columns("evaluation_comparisons")}
    finally:
        engine.dispose()
    assert str(columns["seed"]["type"]) == "BIGINT"
