"""ultralytics must not touch the network: a fresh process with sockets that record and refuse every use."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent(
    """
    import json, socket, sys
    from pathlib import Path

    attempts = []

    def refuse(name):
        def blocked(*args, **kwargs):
            attempts.append([name, repr(args)[:200]])
            raise OSError(f"network disabled in this test ({name})")
        return blocked

    socket.socket.connect = refuse("connect")
    socket.socket.connect_ex = refuse("connect_ex")
    socket.create_connection = refuse("create_connection")
    socket.getaddrinfo = refuse("getaddrinfo")
    socket.gethostbyname = refuse("gethostbyname")

    work = Path(sys.argv[1])
    from services.detector.offline import prepare_ultralytics

    prepare_ultralytics(work / "home")
    prepare_ultralytics(work / "home")  # idempotent

    import cv2, numpy as np, torch
    torch.set_num_threads(1)
    from services.detector.inference import Detector
    from services.detector.training import DetectorTrainConfig, train_detector
    from services.detector.yolo_dataset import write_yolo_dataset

    def sample(colour):
        img = np.full((64, 64, 3), 100, np.uint8)
        cv2.rectangle(img, (10, 12), (40, 50), colour, -1)
        return cv2.imencode(".png", img)[1].tobytes(), ["0 0.4 0.484 0.484 0.609"]

    data = write_yolo_dataset(work / "ds", ["box"], [sample((0, 0, 255)), sample((255, 0, 0))], [sample((0, 255, 0))])
    cfg = DetectorTrainConfig(model="yolov5n", imgsz=64, epochs=1, batch=2, device="cpu")
    result = train_detector(cfg, data, work / "run")
    detections = Detector(result.best).predict([np.zeros((64, 64, 3), np.uint8)], conf=0.0)
    fonts = sorted(p.name for p in (work / "home" / "ultralytics").rglob("*.ttf"))
    print("RESULT " + json.dumps({"attempts": attempts, "epochs": len(result.epochs), "fonts": fonts,
                                 "images": len(detections)}))
    """
)


def test_training_and_inference_make_no_network_attempt(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("YOLO_", "ULTRALYTICS_", "MPLCONFIGDIR"))}
    env["PYTHONPATH"] = str(REPO)
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULT "))
    result = json.loads(line.removeprefix("RESULT "))
    assert result["attempts"] == []
    assert result["epochs"] == 1 and result["images"] == 1
    assert result["fonts"] == ["Arial.Unicode.ttf", "Arial.ttf"]
