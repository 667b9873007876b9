"""POST /v1/translations and the result download: validation, storage, and nothing left behind."""

from __future__ import annotations

import io
import json
import struct
import zlib

import numpy as np
import pytest
from sqlalchemy import func, select

from services.common.core.db.models import Job
from services.common.core.db.session import session_scope
from tests.scenes import jpeg_bytes, png_bytes, road_scene


@pytest.fixture(scope="module")
def scene() -> tuple[bytes, bytes]:
    rgb, depth = road_scene(320, 96)
    return png_bytes(rgb), png_bytes(depth)


def _job_count(settings) -> int:  # noqa: ANN001
    with session_scope(settings.resolved_database_url) as s:
        return s.scalar(select(func.count()).select_from(Job))


def _objects(client) -> list[str]:  # noqa: ANN001
    return list(client.app.state.store.list("uploads/"))


def _state(client, settings) -> tuple[int, list[str]]:  # noqa: ANN001
    """Rows and stored objects: a refused request must change neither."""
    return _job_count(settings), _objects(client)


def _bomb_png(width: int = 20000, height: int = 20000) -> bytes:
    """A valid PNG header declaring a huge image, with a tiny compressed body."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    body = zlib.compress(b"\x00" * (width * 3 + 1) * 4)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", body) + chunk(b"IEND", b"")


def test_fog_request_is_accepted_stored_and_queued(client, server_settings, scene) -> None:
    image, depth = scene
    r = client.post(
        "/v1/translations",
        data={"weather": "fog", "method": "physics", "params": json.dumps({"visibility_m": 80, "seed": 1})},
        files={"image": ("frame.png", image, "image/png"), "depth": ("d.png", depth, "image/png")},
    )
    assert r.status_code == 202, r.text
    job = r.json()
    assert (job["kind"], job["status"]) == ("translate", "queued")
    assert job["params"]["translation"]["params"]["visibility_m"] == 80
    assert sorted(_objects(client)) == [f"uploads/{job['id']}/depth.png", f"uploads/{job['id']}/image.png"]
    assert client.get(f"/v1/jobs/{job['id']}").json()["id"] == job["id"]
    r = client.get(f"/v1/translations/{job['id']}/image")
    assert r.status_code == 409 and "queued" in r.json()["detail"]


def test_jpeg_without_depth_and_default_params(client, scene) -> None:
    rgb, _ = road_scene(64, 32)
    r = client.post(
        "/v1/translations",
        data={"weather": "rain"},
        files={"image": ("f.jpg", jpeg_bytes(rgb), "image/jpeg")},
    )
    assert r.status_code == 202, r.text
    assert r.json()["params"]["translation"]["params"]["intensity_mm_h"] > 0


BAD_REQUESTS = {
    "not an image": (
        {"weather": "fog"},
        {"image": ("a.txt", b"hello world, not pixels", "text/plain")},
        400,
        "PNG or JPEG",
    ),
    "zero bytes": ({"weather": "fog"}, {"image": ("a.png", b"", "image/png")}, 400, "empty"),
    "unknown weather": ({"weather": "sandstorm"}, None, 422, "fog"),
    "unknown method": ({"weather": "fog", "method": "magic"}, None, 422, "physics"),
    "params not json": ({"weather": "fog", "params": "{visibility: 3"}, None, 422, "JSON"),
    "params not object": ({"weather": "fog", "params": "[1, 2]"}, None, 422, "JSON object"),
    "params unknown field": ({"weather": "fog", "params": '{"visiblity_m": 3}'}, None, 422, "visiblity_m"),
    "params out of range": ({"weather": "fog", "params": '{"visibility_m": -5}'}, None, 422, "visibility_m"),
}


@pytest.mark.parametrize("case", list(BAD_REQUESTS))
def test_bad_input_is_refused_and_leaves_nothing(client, server_settings, scene, case) -> None:
    data, files, code, words = BAD_REQUESTS[case]
    files = files or {"image": ("f.png", scene[0], "image/png")}
    before = _state(client, server_settings)
    r = client.post("/v1/translations", data=data, files=files)
    assert r.status_code == code, r.text
    assert words.lower() in r.json()["detail"].lower()
    assert _state(client, server_settings) == before


def test_truncated_images_are_refused(client, server_settings, scene) -> None:
    rgb, _ = road_scene(200, 80)
    before = _state(client, server_settings)
    for name, data in (("t.png", scene[0][: len(scene[0]) // 2]), ("t.jpg", jpeg_bytes(rgb)[:600])):
        r = client.post(
            "/v1/translations", data={"weather": "fog"}, files={"image": (name, data, "image/png")}
        )
        assert r.status_code == 400, r.text
    assert _state(client, server_settings) == before


def test_pixel_bomb_is_refused_before_decoding(client, server_settings) -> None:
    bomb = _bomb_png()
    before = _state(client, server_settings)
    assert len(bomb) < 200_000
    r = client.post(
        "/v1/translations", data={"weather": "fog"}, files={"image": ("b.png", bomb, "image/png")}
    )
    assert r.status_code == 413, r.text
    assert "20000" in r.json()["detail"]
    assert _state(client, server_settings) == before


def test_depth_of_another_size_is_refused(client, server_settings, scene) -> None:
    _, other_depth = road_scene(100, 50)
    before = _state(client, server_settings)
    r = client.post(
        "/v1/translations",
        data={"weather": "fog"},
        files={
            "image": ("f.png", scene[0], "image/png"),
            "depth": ("d.png", png_bytes(other_depth), "image/png"),
        },
    )
    assert r.status_code == 422 and "differs" in r.json()["detail"]
    assert _state(client, server_settings) == before


def test_eight_bit_depth_is_refused(client, server_settings, scene) -> None:
    rgb, _ = road_scene(320, 96)
    before = _state(client, server_settings)
    r = client.post(
        "/v1/translations",
        data={"weather": "fog"},
        files={
            "image": ("f.png", scene[0], "image/png"),
            "depth": ("d.png", png_bytes(rgb[..., 0]), "image/png"),
        },
    )
    assert r.status_code == 400 and "16-bit" in r.json()["detail"]
    assert _state(client, server_settings) == before


def test_oversized_upload_is_refused(client_for, make_settings, pg_url, redis_prefix, scene) -> None:
    settings = make_settings(
        database_url=pg_url,
        broker_url="redis://127.0.0.1:6379/0",
        broker_key_prefix=redis_prefix,
        max_upload_bytes=1000,
    )
    client = client_for(settings)
    before = _job_count(settings)
    r = client.post(
        "/v1/translations", data={"weather": "fog"}, files={"image": ("f.png", scene[0], "image/png")}
    )
    assert r.status_code == 413 and "SIM2REAL_MAX_UPLOAD_BYTES" in r.json()["detail"]
    assert _job_count(settings) == before


def test_unreachable_queue_answers_503_and_keeps_nothing(client_for, make_settings, pg_url, scene) -> None:
    settings = make_settings(database_url=pg_url, broker_url="redis://127.0.0.1:1/0")
    client = client_for(settings)
    before = _state(client, settings)
    r = client.post(
        "/v1/translations", data={"weather": "fog"}, files={"image": ("f.png", scene[0], "image/png")}
    )
    assert r.status_code == 503 and "queue" in r.json()["detail"]
    assert _state(client, settings) == before


def test_result_of_a_job_of_another_kind_is_404(client) -> None:
    assert client.get("/v1/translations/doesnotexist/image").status_code == 404


def test_gray_and_rgba_images_are_accepted(client) -> None:
    rgba = np.dstack([road_scene(50, 20)[0], np.full((20, 50), 255, np.uint8)])
    buf = io.BytesIO()
    from PIL import Image

    Image.fromarray(rgba).save(buf, format="PNG")
    r = client.post("/v1/translations", data={"weather": "fog"}, files={"image": ("f.png", buf.getvalue())})
    assert r.status_code == 202, r.text
