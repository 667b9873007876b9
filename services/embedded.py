"""`make up`: run the API and one worker process per queue (SIM2REAL_WORKERS sets how many) as separate
processes on embedded defaults. Interactive queues have processes of their own, so a single-image request
never waits behind a training or a dataset translation.

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


def worker_counts(spec: str, queues: tuple[str, ...]) -> dict[str, int]:
    """How many worker processes each queue gets from SIM2REAL_WORKERS: a bare number applies to every
    queue, `class=n` to each queue of that latency class (`batch=2`: two for each batch queue), and
    `queue=n` to one queue (`translator.batch=3`); the most specific wins, and a queue not named gets
    one."""
    every: int | None = None
    by_class: dict[str, int] = {}
    by_queue: dict[str, int] = {}
    classes = {contracts.latency_class(q) for q in queues}
    for part in (p.strip() for p in spec.split(",") if p.strip()):
        name, sep, value = part.rpartition("=") if "=" in part else ("", "", part)
        try:
            n = int(value)
        except ValueError:
            raise ValueError(f"SIM2REAL_WORKERS: {part!r} is not a count (e.g. 2, batch=2)") from None
        if n < 0:
            raise ValueError(f"SIM2REAL_WORKERS: {part!r} is negative")
        if not sep:
            every = n
        elif name in queues:
            by_queue[name] = n
        elif name in classes:
            by_class[name] = n
        else:
            raise ValueError(
                f"SIM2REAL_WORKERS: {name!r} is neither a queue ({', '.join(queues)}) nor a latency class "
                f"({', '.join(sorted(classes))})"
            )
    base = 1 if every is None else every
    return {q: by_queue.get(q, by_class.get(contracts.latency_class(q), base)) for q in queues}


def worker_command(service: str, queues: tuple[str, ...] | list[str], name: str) -> list[str]:
    """A Celery worker of `service` consuming `queues`, one job at a time."""
    return [
        sys.executable,
        "-m",
        "celery",
        "-A",
        f"services.{service}.worker",
        "worker",
        "-Q",
        ",".join(queues),
        "--pool=solo",
        "-n",
        f"{name}@%h",
        "--without-mingle",
        "--without-gossip",
        "--without-heartbeat",
        "--loglevel=INFO",
    ]


def commands(host: str, port: int, workers: str | None = None) -> dict[str, list[str]]:
    """The API and the worker processes by name: `translator.batch`, then `translator.batch-2` ... for
    each further worker of a queue (`workers` as SIM2REAL_WORKERS; default: the setting)."""
    py = sys.executable
    procs = {"api": [py, "-m", "uvicorn", "services.api.main:app", "--host", host, "--port", str(port)]}
    counts = worker_counts(get_settings().workers if workers is None else workers, contracts.queues())
    for service, queues in contracts.services().items():
        for queue in queues:
            for n in range(counts[queue]):
                name = queue if n == 0 else f"{queue}-{n + 1}"
                procs[name] = worker_command(service, [queue], name)
    return procs


def main() -> int:
    settings = get_settings()
    settings.home.mkdir(parents=True, exist_ok=True)
    # Migrate once before anything starts, so the processes never race on an empty SQLite file.
    upgrade(settings.resolved_database_url)
    env = dict(os.environ, SIM2REAL_HOME=str(settings.home.resolve()))
    children: dict[str, subprocess.Popen] = {}
    try:
        procs = commands(settings.host, settings.port, settings.workers)
    except ValueError as exc:
        print(f"sim2real: {exc}", file=sys.stderr, flush=True)
        return 2
    for name, cmd in procs.items():
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
