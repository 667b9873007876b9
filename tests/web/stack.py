"""The embedded stack as `make up` starts it, with a small Virtual KITTI 2 dataset of real-looking frames
(16-bit depth included) under its data root, for the browser tests and screenshots."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

from tests.common.dataset_fixtures import BBOX_HEADER
from tests.scenes import road_scene

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_scenes(root: Path, frames: int, width: int = 621, height: int = 188) -> None:
    """Virtual KITTI 2's layout: Scene01/clone Camera_0 frames with rgb, 16-bit depth (cm) and boxes; every
    third frame's van is occluded."""
    rgb_dir = root / "vkitti_2.0.3_rgb" / "Scene01" / "clone" / "frames" / "rgb" / "Camera_0"
    depth_dir = root / "vkitti_2.0.3_depth" / "Scene01" / "clone" / "frames" / "depth" / "Camera_0"
    text = root / "vkitti_2.0.3_textgt" / "Scene01" / "clone"
    for d in (rgb_dir, depth_dir, text):
        d.mkdir(parents=True, exist_ok=True)
    lines = [BBOX_HEADER]
    for f in range(frames):
        rgb, depth_cm = road_scene(width, height, seed=f)
        Image.fromarray(rgb).save(rgb_dir / f"rgb_{f:05d}.jpg", quality=90)
        Image.fromarray(depth_cm.astype(np.uint16)).save(depth_dir / f"depth_{f:05d}.png")
        x = 40 + 20 * (f % 10)
        lines.append(f"{f} 0 0 {x} {x + 120} 90 150 4000 0.0 0.9 True")
        lines.append(f"{f} 0 3 {x + 250} {x + 330} 95 140 500 0.0 {0.3 if f % 3 == 0 else 0.9} False")
    (text / "info.txt").write_text("trackID label model color\n0 Car Sedan4Door Black\n3 Van Van1 Red\n")
    (text / "bbox.txt").write_text("\n".join(lines) + "\n")


class EmbeddedStack:
    """`python -m services.embedded` in a subprocess: SQLite, a folder store and a file broker."""

    def __init__(self, home: Path, data: Path, extra_env: dict[str, str] | None = None) -> None:
        self.data = data
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = home / "up.log"
        home.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("SIM2REAL_")}
        env.update(
            SIM2REAL_HOME=str(home / "var"),
            SIM2REAL_PORT=str(self.port),
            SIM2REAL_DATA_ROOTS=str(data),
            PYTHONUNBUFFERED="1",
            **(extra_env or {}),
        )
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "services.embedded"],
            env=env,
            cwd=ROOT,
            stdout=open(self.log, "wb"),  # noqa: SIM115
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"the stack exited; log:\n{self.logs()}")
            try:
                if httpx.get(self.url + "/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"the stack did not start; log:\n{self.logs()}")

    def logs(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def workers(self, queue: str) -> list[int]:
        """The pids of this stack's Celery workers consuming `queue` (children of the embedded process)."""
        children: dict[int, list[int]] = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                except (OSError, IndexError, ValueError):
                    continue
                children.setdefault(ppid, []).append(int(entry.name))
        found, todo = [], [self.proc.pid]
        while todo:
            pid = todo.pop()
            todo += children.get(pid, [])
            try:
                argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"celery" in b" ".join(argv) and queue.encode() in argv:
                found.append(pid)
        return found

    @contextmanager
    def paused(self, queue: str) -> Iterator[None]:
        """The workers of `queue` stopped (SIGSTOP) inside the block, so a job sent there waits queued until
        the block ends, whatever the machine's speed."""
        pids = self.workers(queue)
        assert pids, f"no worker consumes {queue}; log:\n{self.logs()}"
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
        try:
            yield
        finally:
            for pid in pids:
                os.kill(pid, signal.SIGCONT)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
