"""The web app in a real browser: every page loads clean, a translation through the form, the dataset grid
with its filter and boxes, a job's progress advancing live."""

from __future__ import annotations

import httpx
import numpy as np
from PIL import Image

from tests.scenes import png_bytes, road_scene
from tests.web.conftest import FRAMES, wait_job

FRAME = "Scene01/clone/Camera_0/00003"


def _ready(page, path: str) -> None:  # noqa: ANN001
    """Wait until the router finished rendering `path` (it marks <main data-ready>)."""
    page.wait_for_function("p => document.getElementById('main').dataset.ready === p", arg=path)


def test_every_page_loads_without_console_errors(page, stack) -> None:  # noqa: ANN001
    url, ds = stack.url, stack.dataset_id
    job = httpx.post(
        f"{url}/v1/datasets/{ds}/translations",
        json={"method": "physics", "weather": "rain", "filter": "frame<=2"},
    ).json()
    done = wait_job(url, job["id"])
    assert done["status"] == "succeeded", done
    translated = done["result"]["dataset_id"]
    routes = [
        "#/translate",
        "#/jobs",
        f"#/jobs/{job['id']}",
        "#/datasets",
        f"#/datasets/{ds}",
        "#/models",
        "#/detectors",
        "#/evaluations",
        "#/experiments",
        f"#/datasets/{translated}/image/Scene01/clone/Camera_0/00001",  # last: checked below
    ]
    for route in routes:
        page.goto(f"{url}/{route}")
        _ready(page, route.split("?")[0])
        page.wait_for_load_state("networkidle")
        assert page.locator("h1").first.inner_text() != "Something went wrong", (
            route,
            page.inner_text("main"),
        )
        assert not page.console.errors, (route, page.console.errors)
    # The translated image's page shows its source beside it, both with boxes, and the lineage.
    page.wait_for_function("document.querySelectorAll('.pair figure .labelled').length === 2")
    assert "physics · rain" in page.inner_text("section.lineage")
    for shell, ready in (("/docs", ".swagger-ui .opblock"), ("/redoc", "[role=navigation], .menu-content")):
        page.goto(f"{url}{shell}")
        page.wait_for_selector(ready)
        page.wait_for_load_state("networkidle")
        assert not page.console.errors, (shell, page.console.errors)
    assert not page.console.external, page.console.external


def test_the_translate_form_lists_methods_that_cannot_run_yet_with_the_fix(page, stack) -> None:  # noqa: ANN001
    rows = httpx.get(f"{stack.url}/v1/weathers").json()
    blocked = [r for r in rows if not r["available"]]
    assert blocked  # nothing supplies VGG-19 weights or trains a translator here
    page.goto(f"{stack.url}/#/translate")
    _ready(page, "#/translate")
    disabled = page.locator("#choice option[disabled]").all_text_contents()
    assert len(disabled) == len(blocked)
    for text, row in zip(disabled, blocked, strict=True):
        assert text.startswith(f"{row['method']} · ") and text.endswith(f"({row['reason']})")
    page.click(".unavailable summary")
    items = page.locator(".unavailable li").all_inner_texts()
    assert [
        row["fix"] in item and row["reason"] in item for item, row in zip(items, blocked, strict=True)
    ] == [True] * len(blocked)
    assert not page.console.errors, page.console.errors


def test_a_translation_through_the_form_shows_and_downloads_its_result(page, stack, tmp_path) -> None:  # noqa: ANN001
    rgb, _ = road_scene(320, 96, seed=9)
    upload = tmp_path / "frame.png"
    upload.write_bytes(png_bytes(rgb))
    page.goto(f"{stack.url}/#/translate")
    _ready(page, "#/translate")
    page.set_input_files("#image", str(upload))
    page.select_option("#choice", label="physics · fog")
    page.fill("#param-visibility_m", "60")
    page.click("button[type=submit]")
    page.wait_for_selector("#download", timeout=60_000)
    assert page.locator(".compare img.after").evaluate("img => img.complete && img.naturalWidth") == 320
    page.fill("#compare-slider", "80")
    page.select_option("#compare-zoom", "200%")
    with page.expect_download() as info:
        page.click("#download")
    saved = tmp_path / "result.png"
    info.value.save_as(saved)
    out = np.asarray(Image.open(saved).convert("RGB"))
    assert out.shape == rgb.shape and not np.array_equal(out, rgb)
    # It is listed under recent results.
    page.wait_for_selector(".recent a.thumb")
    assert not page.console.errors, page.console.errors


def test_the_dataset_grid_filters_and_shows_boxes(page, stack) -> None:  # noqa: ANN001
    ds = stack.dataset_id
    page.goto(f"{stack.url}/#/datasets/{ds}")
    _ready(page, f"#/datasets/{ds}")
    page.wait_for_function(f"document.querySelectorAll('#grid .labelled').length === {FRAMES}")
    page.fill("#filter", "occluded_vehicles>=1; frame<=9")
    page.press("#filter", "Enter")
    expected = httpx.get(
        f"{stack.url}/v1/datasets/{ds}/images", params={"filter": ["occluded_vehicles>=1", "frame<=9"]}
    ).json()["total"]
    assert expected == 4  # frames 0, 3, 6, 9 have an occluded van
    page.wait_for_function(f"document.querySelectorAll('#grid .labelled').length === {expected}")
    assert f"{expected} images match" in page.inner_text("main")
    # Every cell shows its thumbnail with two boxes, the occluded one marked.
    page.wait_for_function(
        "[...document.querySelectorAll('#grid .labelled img')].every(i => i.complete && i.naturalWidth > 0)"
    )
    assert page.locator("#grid .labelled svg rect").count() == 2 * expected
    assert page.locator("#grid .labelled svg rect.occluded").count() == expected
    # A cell opens the image page with its labels.
    page.click(f"#grid a[aria-label='image {FRAME}']")
    _ready(page, f"#/datasets/{ds}/image/{FRAME}")
    assert "Boxes (2)" in page.inner_text("main")
    assert not page.console.errors, page.console.errors


def test_a_jobs_progress_advances_live(page, stack) -> None:  # noqa: ANN001
    url = stack.url
    # The batch worker stays stopped until the page follows the job: every shard (one image each, see
    # conftest) then finishes while the page watches, however fast this machine translates.
    with stack.paused("translator.batch"):
        job = httpx.post(
            f"{url}/v1/datasets/{stack.dataset_id}/translations",
            json={"method": "physics", "weather": "rain", "name": "live"},
        ).json()
        page.goto(f"{url}/#/jobs/{job['id']}")
        _ready(page, f"#/jobs/{job['id']}")
        # Record every value the progress bar shows, as the page receives the job's events.
        page.evaluate(
            """() => { window.seen = []; const bar = document.getElementById('job-progress');
            const note = () => window.seen.push(Number(bar.value));
            note(); new MutationObserver(note).observe(bar, {attributes: true});
            setInterval(note, 50); }"""
        )
        assert page.inner_text("#job-status") == "queued"
    page.wait_for_function("document.getElementById('job-status').innerText === 'succeeded'", timeout=90_000)
    seen = page.evaluate("window.seen")
    distinct = sorted(set(seen))
    assert seen == sorted(seen), seen  # never goes back
    assert distinct[-1] == 1.0
    assert any(0 < v < 1 for v in distinct), distinct  # it was seen mid-way, not only at the end
    assert page.inner_text("#job-percent") == "100%"
    assert page.locator("a", has_text="dataset").count() >= 1  # what it made is linked once it is done
    assert not page.console.errors, page.console.errors
