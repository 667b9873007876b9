"""POST /v1/image-sets: member names that cannot be keys are skipped, and the pixels an archive would decode
are budgeted from the headers before any is decoded."""

from __future__ import annotations

import io
import zipfile

import numpy as np
from PIL import Image

from tests.scenes import png_bytes


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _post(client, data: bytes):  # noqa: ANN001, ANN202
    return client.post("/v1/image-sets", files={"archive": ("a.zip", data)})


def test_names_that_cannot_be_keys_are_skipped_and_counted(client) -> None:
    small = png_bytes(np.zeros((4, 4, 3), np.uint8))
    r = _post(
        client,
        _zip(
            {
                "ok.png": small,
                "x.png": small,
                "x.png/y.png": small,  # a file that would also be a folder
                ("a" * 300) + ".png": small,
                "d/" + "b" * 150 + ".png": small,
                "evil\u202egnp.png": small,  # a bidi override
                "bell\x07.png": small,
                "tab\there.png": small,
            }
        ),
    )
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["images"] == 2
    assert out["skipped"] == {
        "duplicate_or_conflicting_path": 1,
        "name_too_long": 2,
        "unsafe_characters_in_name": 3,
    }
    stored = sorted(k.removeprefix(out["prefix"]) for k in client.app.state.store.list(out["prefix"]))
    assert stored == ["ok.png", "x.png"]


def test_an_archive_of_huge_blank_images_is_refused_from_its_headers(client, monkeypatch) -> None:
    # 30 all-zero 6000×6000 PNGs zip to a few hundred kB but would decode to 3 GB of pixels.
    buf = io.BytesIO()
    Image.new("L", (6000, 6000)).save(buf, "PNG", compress_level=9)
    blank = buf.getvalue()
    decoded: list[int] = []
    import services.api.routes.image_sets as route

    real = route.decode_image
    monkeypatch.setattr(route, "decode_image", lambda *a, **k: (decoded.append(1), real(*a, **k))[1])
    r = _post(client, _zip({f"{n:02d}.png": blank for n in range(30)}))
    assert r.status_code == 413 and "SIM2REAL_MAX_ARCHIVE_PIXELS" in r.json()["detail"]
    assert decoded == []
    assert list(client.app.state.store.list("uploads/")) == []


def test_the_pixel_budget_is_a_setting(client_for, server_settings) -> None:
    client = client_for(server_settings.model_copy(update={"max_archive_pixels": 1000}))
    tile = png_bytes(np.zeros((20, 20, 3), np.uint8))
    assert _post(client, _zip({"a.png": tile, "b.png": tile})).status_code == 201
    r = _post(client, _zip({f"{n}.png": tile for n in range(3)}))
    assert r.status_code == 413 and "1000 pixels" in r.json()["detail"]
