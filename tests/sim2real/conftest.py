"""One embedded stack (`python -m services.embedded`, as `sim2real up` runs it) for the client and CLI tests,
with the demo data under its data root, and the CLI run as a real process against it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from sim2real.client import Client
from sim2real.demo.data import DemoData, write_demo_data
from tests.web.stack import ROOT, EmbeddedStack


@dataclass
class Service:
    stack: EmbeddedStack
    demo: DemoData

    @property
    def url(self) -> str:
        return self.stack.url

    def client(self) -> Client:
        return Client(self.url)


@pytest.fixture(scope="session")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    base = tmp_path_factory.mktemp("sim2real-cli")
    demo = write_demo_data(base / "data" / "demo", width=192, height=64)
    stack = EmbeddedStack(base / "home", base / "data")
    try:
        stack.wait_ready()
        yield Service(stack, demo)
    finally:
        stack.stop()


@pytest.fixture(scope="session")
def datasets(service: Service) -> dict[str, str]:
    """The demo trees ingested once (by the client): tree name -> dataset id."""
    ids = {}
    with service.client() as c:
        for request in service.demo.ingest_requests():
            job = c.ingest_dataset(**request).wait(timeout=120)
            ids[request["name"]] = job.result["dataset_id"]
    return ids


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


@pytest.fixture
def cli(service: Service):
    """Run `sim2real ARGS…` as its own process, finding the service through SIM2REAL_URL."""

    def run(*args: str, timeout: float = 180) -> Run:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SIM2REAL_")}
        env.update(SIM2REAL_URL=service.url, SIM2REAL_CONFIG=str(ROOT / "no-such-config.toml"))
        p = subprocess.run(
            [sys.executable, "-m", "sim2real", *map(str, args)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        return Run(p.returncode, p.stdout, p.stderr)

    return run
