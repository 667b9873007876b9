"""Browser tests: Debian's Chromium driven by Playwright for Python, against the embedded stack started as
`make up` starts it. Without Chromium (or Playwright) they skip with the reason, except under CI=true, where
a missing browser fails the run. A failed test leaves a screenshot (its path is printed)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.web.stack import EmbeddedStack, make_scenes

FRAMES = 24


def chromium_path() -> str | None:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None


def _missing(why: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true and {why}: .ci/run installs chromium from Debian (apt-get install -y chromium)")
    pytest.skip(why)


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("playwright is not installed (pip install -e '.[dev]')")
    path = chromium_path()
    if path is None:
        _missing("no Chromium on this machine (apt-get install -y chromium)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=path)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def stack(browser, tmp_path_factory) -> Iterator[EmbeddedStack]:  # noqa: ANN001
    """The stack with one ingested Virtual KITTI 2 dataset (FRAMES frames, boxes, depth)."""
    base = tmp_path_factory.mktemp("web")
    make_scenes(base / "data" / "vk", FRAMES)
    # One image per shard, so a translation's progress advances shard by shard, each step persisted and
    # spread over a second or more where the page's events (every 0.5 s) see it: 24 small frames
    # translate in well under a second, and in shards of 4 the page saw only 0 and 1 on CI.
    s = EmbeddedStack(base / "home", base / "data", {"SIM2REAL_SHARD_IMAGES": "1"})
    try:
        s.wait_ready()
        r = httpx.post(
            f"{s.url}/v1/datasets",
            json={"name": "vkitti sample", "format": "vkitti2", "uri": f"file://{base / 'data' / 'vk'}"},
        )
        assert r.status_code == 202, r.text
        job = wait_job(s.url, r.json()["id"])
        assert job["status"] == "succeeded", (job, s.logs())
        s.dataset_id = job["result"]["dataset_id"]  # type: ignore[attr-defined]
        yield s
    finally:
        s.stop()


def wait_job(url: str, job_id: str, timeout: float = 90) -> dict:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = httpx.get(f"{url}/v1/jobs/{job_id}", timeout=5).json()
        if job["status"] in ("succeeded", "failed", "cancelled"):
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish in {timeout}s")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):  # noqa: ANN001, ANN201
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


class Console:
    """What a page logged as an error, and every request it made to another origin."""

    def __init__(self, page, origin: str) -> None:  # noqa: ANN001
        self.errors: list[str] = []
        self.external: list[str] = []
        page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))
        page.on(
            "request",
            lambda r: r.url.startswith((origin, "blob:", "data:")) or self.external.append(r.url),
        )


@pytest.fixture
def page(browser, stack, request, tmp_path):  # noqa: ANN001, ANN201
    context = browser.new_context(viewport={"width": 1366, "height": 768}, accept_downloads=True)
    page = context.new_page()
    page.console = Console(page, stack.url)
    page.set_default_timeout(20_000)
    yield page
    failed = getattr(request.node, "report_call", None)
    if failed is not None and failed.failed:
        shot = tmp_path / f"{request.node.name}.png"
        page.screenshot(path=str(shot), full_page=True)
        print(f"\nscreenshot of the failed page: {shot}\nstack log: {stack.log}")
    context.close()
