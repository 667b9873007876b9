"""Reading multipart uploads with a size cap and turning decode errors into HTTP answers."""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException, UploadFile

from services.api.json_bodies import JSONRejected, loads_strict
from services.common.core.images import ImageError

CHUNK = 1 << 20


def read_capped(upload: UploadFile, limit: int, field: str) -> bytes:
    """The upload's bytes, refusing more than `limit`. Routes that take uploads are plain `def`s, run in
    the threadpool, so reading, decoding and storing never block the event loop."""
    chunks: list[bytes] = []
    total = 0
    upload.file.seek(0)
    while chunk := upload.file.read(CHUNK):
        total += len(chunk)
        if total > limit:
            raise HTTPException(
                413, f"{field}: file is larger than {limit} bytes (SIM2REAL_MAX_UPLOAD_BYTES)"
            )
        chunks.append(chunk)
    return b"".join(chunks)


def image_http_error(field: str, exc: ImageError) -> HTTPException:
    return HTTPException(exc.status_code, f"{field}: {exc}")


def parse_json_object(raw: str | None, field: str) -> dict[str, Any]:
    if raw is None or raw.strip() == "":
        return {}
    try:
        value = loads_strict(raw)
    except JSONRejected as exc:
        if exc.path:
            raise HTTPException(422, exc.located(field)) from exc
        raise HTTPException(
            422, f'{field}: {exc}; send a JSON object such as {{"visibility_m": 150, "seed": 1}}'
        ) from exc
    if not isinstance(value, dict):
        raise HTTPException(422, f"{field}: must be a JSON object, got {type(value).__name__}")
    return value
