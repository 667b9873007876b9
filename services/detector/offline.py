"""Makes ultralytics work with no network: it must run before anything imports ultralytics.

ultralytics probes the network on import (online check), on every train/val (it fetches ``Arial.ttf``
for its plots), and reports telemetry unless told not to. Workers here have no internet, so each probe
would stall or fail; this module points its config folder at one the service owns, puts the fonts in
place, turns every network-touching setting off, and makes checkpoint loading use ultralytics'
restricted unpickler (see ``services.detector.weights`` for why).
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
from pathlib import Path

# Settings whose True value makes ultralytics reach out to a server or a third-party logger.
_OFFLINE_SETTINGS = {
    "sync": False,
    "api_key": "",
    "clearml": False,
    "comet": False,
    "dvc": False,
    "mlflow": False,
    "raytune": False,
    "tensorboard": False,
    "wandb": False,
    "vscode_msg": False,
    "openvino_msg": False,
}
_FONT_NAMES = ("Arial.ttf", "Arial.Unicode.ttf")
log = logging.getLogger(__name__)


def _dejavu_font() -> Path:
    """matplotlib's bundled DejaVuSans, found without importing pyplot (which would pick a backend)."""
    import matplotlib

    font = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    if not font.is_file():
        raise RuntimeError(f"matplotlib ships no DejaVuSans.ttf at {font}; reinstall matplotlib")
    return font


def prepare_ultralytics(home: Path) -> None:
    """Configure ultralytics to run offline with all its files under ``home``; safe to call repeatedly.

    Call it before anything imports ultralytics: its config folder, online flag and safe-load flag are
    read once at import. If ultralytics was imported already (a test session, a library that imports it),
    the fonts go to the folder it actually uses and the settings are still turned off, with a warning.
    """
    home = Path(home).resolve()
    config_dir = home / "ultralytics"
    mpl_dir = home / "matplotlib"
    config_dir.mkdir(parents=True, exist_ok=True)
    mpl_dir.mkdir(parents=True, exist_ok=True)

    if "ultralytics" not in sys.modules:
        os.environ["YOLO_OFFLINE"] = "1"
        # Checkpoints are pickles: load them all with ultralytics' restricted (weights_only) unpickler.
        os.environ["ULTRALYTICS_SAFE_LOAD"] = "1"
        os.environ["YOLO_CONFIG_DIR"] = str(config_dir)
        os.environ["MPLCONFIGDIR"] = str(mpl_dir)

    import ultralytics  # noqa: F401  (first import happens here, after the environment is set)
    from ultralytics.utils import SETTINGS, USER_CONFIG_DIR

    # ultralytics looks fonts up in USER_CONFIG_DIR, a subfolder of YOLO_CONFIG_DIR.
    if not Path(USER_CONFIG_DIR).resolve().is_relative_to(config_dir):
        log.warning(
            "ultralytics was imported before prepare_ultralytics(); it keeps its config folder %s",
            USER_CONFIG_DIR,
        )
    _install_fonts(Path(USER_CONFIG_DIR))
    wanted = {
        **_OFFLINE_SETTINGS,
        "runs_dir": str(home / "runs"),
        "weights_dir": str(home / "weights"),
        "datasets_dir": str(home / "datasets"),
    }
    if any(SETTINGS.get(k) != v for k, v in wanted.items()):
        SETTINGS.update(wanted)


def _install_fonts(config_dir: Path) -> None:
    font = _dejavu_font()
    config_dir.mkdir(parents=True, exist_ok=True)
    for name in _FONT_NAMES:
        target = config_dir / name
        if not target.is_file() or target.stat().st_size != font.stat().st_size:
            tmp = target.with_name(f".{name}.{os.getpid()}.tmp")
            shutil.copyfile(font, tmp)
            tmp.replace(target)  # atomic, so a concurrent reader never sees half a font
