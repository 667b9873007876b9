"""Looking a row up by id for a route: the row, or a 404 that names what was looked for."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from fastapi import HTTPException, status
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from services.common.core.db.models import Base

Row = TypeVar("Row", bound=Base)


def get_or_404(
    session: Session, model: type[Row], row_id: str, what: str, field: str = "", hint: str = ""
) -> Row:
    """`what`: e.g. "dataset"; `field`: the request field that named it (prefixed to the message);
    `hint`: what the client can do, e.g. when the row appears."""
    # No id holds a NUL character, and Postgres would refuse to even compare one.
    row = None if "\x00" in row_id else session.get(model, row_id)
    if row is None:
        prefix = f"{field}: " if field else ""
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"{prefix}no {what} with id {row_id!r}{hint}")
    return row


def paginate(
    session: Session, query: Select, order_by: Sequence[Any], limit: int, offset: int
) -> tuple[int, list]:
    """(total rows the query selects, one page of them in `order_by` order)."""
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    return total, list(session.scalars(query.order_by(*order_by).limit(limit).offset(offset)))
