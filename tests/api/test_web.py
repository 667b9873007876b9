"""The web app and the docs are served from the API process with no CDN and no key."""

from __future__ import annotations

import re

from services.api.web import DOCS_ASSETS


def test_index_and_docs_shells_reference_only_local_assets(client) -> None:
    for path in ("/", "/docs", "/redoc"):
        r = client.get(path)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html"), path
        urls = re.findall(r'(?:src|href)="([^"]+)"', r.text)
        assert urls, path
        for url in urls:
            assert url.startswith(("/", "#", "data:")), (path, url)
            if url.startswith("/static/"):
                assert client.get(url).status_code == 200, url


def test_redoc_bundle_is_served_without_its_cdn_logo(client) -> None:
    assert b"cdn.redoc.ly" in (DOCS_ASSETS / "redoc.standalone.js").read_bytes()  # what the rewrite removes
    body = client.get("/static/docs/redoc.standalone.js").content
    assert b"cdn.redoc.ly" not in body and len(body) > 500_000


def test_every_app_module_is_served(client) -> None:
    """The modules app.js imports (directly or not) all resolve: a missing one is a blank page."""
    seen, todo = set(), ["/static/app.js"]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        r = client.get(path)
        assert r.status_code == 200, path
        base = path.rsplit("/", 1)[0]
        for spec in re.findall(r'from "(\.{1,2}/[^"]+)"', r.text):
            parts = (base + "/" + spec).split("/")
            out: list[str] = []
            for part in parts:
                if part == "..":
                    out.pop()
                elif part != ".":
                    out.append(part)
            todo.append("/".join(out))
    assert len(seen) >= 6


def test_openapi_parameters_are_described(client) -> None:
    """Every path and query parameter has a description, and the words the API uses are explained."""
    schema = client.get("/openapi.json").json()
    missing = [
        f"{method.upper()} {path} {param['name']}"
        for path, item in schema["paths"].items()
        for method, op in item.items()
        for param in op.get("parameters", [])
        if not (param.get("description") or param.get("schema", {}).get("description"))
    ]
    assert not missing, missing
    text = schema["info"]["description"]
    assert "composition" in text and "slice_by" in text and "recipe" in text
    settings = schema["components"]["schemas"]
    assert any(
        "slice_by" in s.get("properties", {}) and s["properties"]["slice_by"].get("description")
        for s in settings.values()
    )
