"""`make up`: run the API and one worker per queue as separate processes on embedded defaults.

SQLite, a local object-store folder and kombu's filesystem broker under SIM2REAL_HOME (./var), so the
same code as the Docker/Kubernetes deployment runs with no servers at all. Ctrl-C stops everything.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from services.common import contracts
from services.common.core.db.migrate import upgrade
from services.common.core.settings import get_settings


def commands(host: str, port: int) -> dict[str, list[str]]:
    py = sys.executable
    procs = {"api": [py, "-m", "uvicorn", "services.api.main:app", "--host", host, "--port", str(port)]}
    for service, queues in contracts.services().items():
        procs[service] = [
            py,
            "-m",
            "celery",
            "-A",
            f"services.{service}.worker",
            "worker",
            "-Q",
            ",".join(queues),
            "--pool=solo",
            "-n",
            f"{service}@%h",
            "--without-mingle",
            "--without-gossip",
            "--without-heartbeat",
            "--loglevel=INFO",
        ]
    return procs


def main() -> int:
    settings = get_settings()
    settings.home.mkdir(parents=True, exist_ok=True)
    # Migrate once before anything starts, so the processes never race on an empty SQLite file.
    upgrade(settings.resolved_database_url)
    env = dict(os.environ, SIM2REAL_HOME=str(settings.home.resolve()))
    children: dict[str, subprocess.Popen] = {}
    for name, cmd in commands(settings.host, settings.port).items():
        children[name] = subprocess.Popen(cmd, env=env)
    print(
        f"sim2real: API on http://{settings.host}:{settings.port} (docs at /docs); "
        f"data in {settings.home.resolve()}; Ctrl-C stops",
        flush=True,
    )

    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    code = 0
    while not stopping:
        for name, proc in children.items():
            if proc.poll() is not None:
                print(f"sim2real: {name} exited with code {proc.returncode}; stopping the rest", flush=True)
                code = proc.returncode or 1
                stopping = True
                break
        time.sleep(0.5)
    for proc in children.values():
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 20
    for proc in children.values():
        try:
            proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
    return code


if __name__ == "__main__":
    sys.exit(main())
