"""The study report page (`#/experiments/{id}/report`, which `sim2real demo study` links to) on the answer
of the default demo study run here on 2026-11-30 (recorded/study_report.json: source / translated / oracle, visibility slices,
gap closure, power), with each arm's sample image and labels served in place of the API."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from tests.scenes import png_bytes
from tests.web.test_pages import _ready

RECORDED = json.loads((Path(__file__).parent / "recorded" / "study_report.json").read_text())
PNG = png_bytes(np.full((48, 160, 3), 128, dtype=np.uint8))


def _labels(dataset_id: str) -> dict:
    return {
        "dataset_id": dataset_id,
        "image_id": "a.jpg",
        "has_pixels": True,
        "class_names": ["car", "truck"],
        "metadata": {"width": 160, "height": 48, "visibility_m": 120.0},
        "boxes": [
            {
                "class_id": 0,
                "class_name": "car",
                "x1": 10,
                "y1": 20,
                "x2": 40,
                "y2": 40,
                "occluded": False,
                "truncated": 0.0,
                "track_id": 1,
            },
            {
                "class_id": 0,
                "class_name": "car",
                "x1": 30,
                "y1": 22,
                "x2": 50,
                "y2": 38,
                "occluded": True,
                "truncated": 0.0,
                "track_id": 2,
            },
        ],
    }


def test_study_report_page(page, stack) -> None:  # noqa: ANN001
    exp = RECORDED["experiment"]
    exp_id = exp["id"]

    def answer(route) -> None:  # noqa: ANN001
        path = route.request.url.removeprefix(stack.url)
        if path == f"/v1/experiments/{exp_id}":
            body = exp
        elif path == f"/v1/jobs/{exp_id}":
            body = RECORDED["job"]
        elif path.endswith(".png") or re.search(r"/images/a\.jpg$", path):
            return route.fulfill(status=200, body=PNG, content_type="image/png")
        elif m := re.match(r"/v1/datasets/([^/]+)/images\?limit=1$", path):
            body = {"items": [{"image_id": "a.jpg"}], "total": 1, "limit": 1, "offset": 0}
        elif m := re.match(r"/v1/datasets/([^/]+)/images/a\.jpg/labels$", path):
            body = _labels(m.group(1))
        else:
            return route.continue_()
        route.fulfill(status=200, body=json.dumps(body), content_type="application/json")

    page.route("**/v1/**", answer)
    route = f"#/experiments/{exp_id}/report"
    page.goto(f"{stack.url}/{route}")
    _ready(page, route)
    page.wait_for_load_state("networkidle")
    text = page.inner_text("main")
    assert page.locator("h1").first.inner_text() == f"Report: {exp['name']}"
    for word in ("NaN", "undefined", "[object", "Infinity"):
        assert word not in text, (word, text)
    assert not page.console.errors, page.console.errors
    assert "the experiment took 16.2 min" in text  # created to finished (started_at is the last wake-up)
    for arm in ("source", "translated", "oracle"):
        assert f"arm {arm}" in text
    assert "visibility=" in text and "Gap closure" in text and "Power" in text
    # One table row per (arm, slice), per gap-closure row and per power row.
    t = exp["table"]
    tables = page.locator("main table")
    assert tables.count() == 3
    assert tables.nth(0).locator("tbody tr").count() == len(t["rows"])
    assert tables.nth(1).locator("tbody tr").count() == len(t["gap_closure"])
    assert tables.nth(2).locator("tbody tr").count() == len(t["power"])
    # A labelled sample per arm and of the evaluation set, boxes drawn.
    samples = page.locator("main .samples .labelled")
    assert samples.count() == len(exp["arms"]) + 1
    assert samples.first.get_attribute("data-boxes") == "2"
    page.wait_for_function(
        "[...document.querySelectorAll('main img')].every(i => i.complete && i.naturalWidth > 0)"
    )
