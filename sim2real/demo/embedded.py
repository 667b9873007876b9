"""The embedded service (`python -m services.embedded`, as `sim2real up` runs it) started for one command and
stopped afterwards, when no service answers at the configured URL."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx


def answers(url: str, timeout: float = 2.0) -> bool:
    """Whether a sim2real service answers /healthz at `url`."""
    try:
        return httpx.get(url.rstrip("/") + "/healthz", timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def embedded_service(home: Path, data_root: Path, timeout: float = 180) -> Iterator[str]:
    """Run the embedded stack with `home` as SIM2REAL_HOME and `data_root` as its only data root; yields its
    URL once /readyz answers, stops it (SIGINT, as Ctrl-C) on exit. Its log is `home/service.log`."""
    home.mkdir(parents=True, exist_ok=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIM2REAL_")}
    env.update(
        SIM2REAL_HOME=str(home.resolve()),
        SIM2REAL_PORT=str(port),
        SIM2REAL_HOST="127.0.0.1",
        SIM2REAL_DATA_ROOTS=str(data_root.resolve()),
        PYTHONUNBUFFERED="1",
    )
    log = home / "service.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "services.embedded"], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the embedded service exited (code {proc.returncode}); see {log}")
            try:
                if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the embedded service did not answer within {timeout:.0f} s; see {log}")
            time.sleep(0.3)
        yield url
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(40)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
