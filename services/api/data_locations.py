"""A dataset or prediction-file URI from a request, checked against the data roots and buckets."""

from __future__ import annotations

from fastapi import HTTPException, status

from services.common.core.paths import DataLocation, PathNotAllowed, parse_data_uri
from services.common.core.settings import Settings


def data_location(uri: str, settings: Settings, field: str) -> DataLocation:
    """The location `uri` names, or a 4xx that names `field`: 403 outside the roots and buckets, 422 when
    it cannot name a place at all (no such folder, malformed, too long for the filesystem)."""
    try:
        return parse_data_uri(uri, settings.allowed_data_roots, settings.allowed_data_buckets)
    except PathNotAllowed as exc:
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"{field}: {exc}") from exc
    except (FileNotFoundError, ValueError) as exc:
        raise HTTPException(422, f"{field}: {exc}") from exc
    except OSError as exc:  # e.g. a path component longer than the filesystem allows
        raise HTTPException(
            422, f"{field}: not a usable path ({exc.strerror}); name an existing folder"
        ) from exc
