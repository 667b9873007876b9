"""Looking a row up by id for a route: the row, or a 404 that names what was looked for."""

from __future__ import annotations

from typing import TypeVar

from fastapi import HTTPException, status
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
