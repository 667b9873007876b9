"""What is checked before any route reads a request body: the API key, the body's size, and a JSON body's
content (strictly parsed: see json_bodies).

Both run as one ASGI middleware so that a 300 MB upload without a key is refused at its first byte, and a
chunked upload (no Content-Length) is cut off as soon as it passes the limit rather than spooled whole.
"""

from __future__ import annotations

import json
import secrets
from urllib.parse import parse_qsl

from fastapi import HTTPException
from pydantic import SecretStr
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.api.json_bodies import JSONRejected, loads_strict
from services.common.core.settings import Settings

# Paths that never need the key: load balancers probe the first two; the web app's page, the docs shells and
# their static assets hold no data (every data call they make sends the key).
PUBLIC_PATHS = ("/healthz", "/readyz", "/", "/docs", "/redoc")
PUBLIC_PREFIXES = ("/static/",)
# Operator weights are larger than any user upload (their route caps them itself), and only the operator
# key changes them.
LARGE_BODY_PREFIXES = ("/v1/weights/",)
OPERATOR_PREFIXES = ("/v1/weights/",)


class BodyTooLarge(HTTPException):
    """Raised from `receive` while the body streams in; FastAPI answers it as the 413 it is."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            413, f"request body is over the limit of {limit} bytes (SIM2REAL_MAX_UPLOAD_BYTES); send less"
        )


def _matches(token: str, key: SecretStr | None) -> bool:
    return key is not None and secrets.compare_digest(token.encode(), key.get_secret_value().encode())


def api_key_problem(
    settings: Settings, authorization: str, operator_only: bool = False
) -> tuple[int, str] | None:
    """(status, why) when the Authorization header does not open the route, else None. The operator key
    opens every route; routes that change shared weights open only to it once any key is set."""
    scheme, _, token = authorization.partition(" ")
    token = token.strip() if scheme.lower() == "bearer" else ""
    if operator_only:
        if settings.admin_api_key is None:
            if settings.api_key is None:
                return None  # embedded mode: no keys at all
            return (
                403,
                "changing shared weights needs the operator key: set SIM2REAL_ADMIN_API_KEY and send it",
            )
        if not token:
            return 401, "missing operator key: send 'Authorization: Bearer <SIM2REAL_ADMIN_API_KEY>'"
        return (
            None
            if _matches(token, settings.admin_api_key)
            else (403, "only the operator key may change shared weights")
        )
    if settings.api_key is None:
        return None
    if not token:
        return 401, "missing API key: send 'Authorization: Bearer <key>'"
    if _matches(token, settings.api_key) or _matches(token, settings.admin_api_key):
        return None
    return 401, "invalid API key"


def nul_in_url(scope: Scope) -> str | None:
    """Why the path or a query parameter cannot be used (a NUL character: Postgres text cannot hold one,
    so any lookup with it would fail), else None."""
    if "\x00" in scope["path"]:
        return "path: contains a NUL character (%00); remove it from the URL"
    query = scope.get("query_string", b"").decode("latin-1")
    if "%00" in query or "\x00" in query:
        for name, value in parse_qsl(query, keep_blank_values=True, errors="replace"):
            if "\x00" in name or "\x00" in value:
                return f"query parameter {name!r}: contains a NUL character (%00); remove it"
    return None


class RequestGuard:
    def __init__(self, app: ASGIApp, settings: Settings, body_limit: int) -> None:
        self.app = app
        self.settings = settings
        self.limit = body_limit

    async def _refuse(
        self, send: Send, status: int, detail: str, headers: dict[str, str] | None = None
    ) -> None:
        body = json.dumps({"detail": detail}).encode()
        raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        raw += [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
        await send({"type": "http.response.start", "status": status, "headers": raw})
        await send({"type": "http.response.body", "body": body})

    async def _json(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Read a JSON body whole (it is small: the limit holds), check it, and hand it on unchanged."""
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.limit:
                await self._refuse(send, 413, BodyTooLarge(self.limit).detail)
                return
            more = message.get("more_body", False)
        body = b"".join(chunks)
        if body.strip():
            try:
                loads_strict(body)
            except JSONRejected as exc:
                await self._refuse(send, 422, exc.located("body"))
                return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers") or []}
        if path not in PUBLIC_PATHS and not path.startswith(PUBLIC_PREFIXES):
            operator_only = path.startswith(OPERATOR_PREFIXES) and scope.get("method") in (
                "POST",
                "PUT",
                "DELETE",
            )
            problem = api_key_problem(self.settings, headers.get("authorization", ""), operator_only)
            if problem:
                await self._refuse(send, problem[0], problem[1], {"WWW-Authenticate": "Bearer"})
                return
        problem_text = nul_in_url(scope)
        if problem_text:
            await self._refuse(send, 422, problem_text)
            return
        if path.startswith(LARGE_BODY_PREFIXES):
            await self.app(scope, receive, send)
            return
        declared = headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._refuse(
                send,
                413,
                f"request body of {int(declared)} bytes is over the limit of {self.limit} "
                "(SIM2REAL_MAX_UPLOAD_BYTES)",
            )
            return
        if headers.get("content-type", "").split(";")[0].strip().lower() == "application/json":
            await self._json(scope, receive, send)
            return
        if declared is not None and declared.isdigit():
            await self.app(scope, receive, send)
            return
        received = 0
        limit = self.limit

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, tracked)
        except BodyTooLarge as exc:  # read outside a route's own body parsing
            if started:
                raise
            await self._refuse(send, 413, exc.detail)
