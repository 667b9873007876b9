"""The request guard: the API key is checked before a body is read, and a body without a declared length is
cut off as soon as it passes the limit."""

from __future__ import annotations

import asyncio

from pydantic import SecretStr

from services.api.middleware import RequestGuard
from services.common.core.settings import Settings


def _call(guard: RequestGuard, headers: dict[str, str], chunks: list[bytes], path: str = "/v1/image-sets"):
    """Run one request through the guard; returns (status, body chunks the guard pulled, app reached)."""
    pulled: list[int] = []
    sent: list[dict] = []
    reached: list[bool] = []

    async def receive() -> dict:
        n = len(pulled)
        pulled.append(n)
        more = n + 1 < len(chunks)
        return {"type": "http.request", "body": chunks[n] if n < len(chunks) else b"", "more_body": more}

    async def send(message: dict) -> None:
        sent.append(message)

    async def app(scope, rcv, snd) -> None:  # noqa: ANN001
        reached.append(True)
        while True:  # a route reading its whole body, then answering
            message = await rcv()
            if not message.get("more_body"):
                break
        await snd({"type": "http.response.start", "status": 200, "headers": []})
        await snd({"type": "http.response.body", "body": b"ok"})

    guard.app = app
    scope = {
        "type": "http",
        "method": "POST",
        "path": path,
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
    }
    asyncio.run(guard(scope, receive, send))
    return sent[0]["status"], len(pulled), bool(reached)


def test_a_missing_or_wrong_key_is_refused_before_any_body_byte(tmp_path) -> None:
    guard = RequestGuard(None, Settings(home=tmp_path, api_key=SecretStr("k3y")), body_limit=10)  # type: ignore[arg-type]
    big = [b"x" * 1_000_000] * 300
    assert _call(guard, {}, big) == (401, 0, False)
    assert _call(guard, {"Authorization": "Bearer nope"}, big) == (401, 0, False)
    assert _call(guard, {"Authorization": "Bearer k3y"}, [b"12345"]) == (200, 1, True)
    assert _call(guard, {}, [b""], path="/healthz") == (200, 1, True)


def test_a_chunked_body_is_cut_off_once_it_passes_the_limit(tmp_path) -> None:
    guard = RequestGuard(None, Settings(home=tmp_path), body_limit=2500)  # type: ignore[arg-type]
    chunks = [b"x" * 1000] * 50
    status, pulled, _ = _call(guard, {}, chunks)
    assert status == 413 and pulled == 3  # the third chunk passes 2500 bytes; nothing after it is read
    assert _call(guard, {"Content-Length": "5000"}, chunks) == (413, 0, False)
    assert _call(guard, {"Content-Length": "2000"}, [b"x" * 1000] * 2)[0] == 200


def test_a_chunked_upload_over_the_limit_is_413_through_the_app(client_for, server_settings) -> None:
    settings = server_settings.model_copy(update={"max_upload_bytes": 1000})
    client = client_for(settings)

    def body():  # noqa: ANN202 - no Content-Length: httpx sends it chunked
        yield b'--b\r\nContent-Disposition: form-data; name="archive"; filename="a.zip"\r\n\r\n'
        for _ in range(2100):  # past 2 × max_upload_bytes + 1 MiB, the guard's limit for a form
            yield b"x" * 1000

    r = client.post(
        "/v1/image-sets", content=body(), headers={"Content-Type": "multipart/form-data; boundary=b"}
    )
    assert r.status_code == 413 and "SIM2REAL_MAX_UPLOAD_BYTES" in r.json()["detail"]
