"""Where the client finds the service: arguments, then SIM2REAL_URL / SIM2REAL_API_KEY, then the config file,
then the embedded default (http://127.0.0.1:8000, no key).

The config file is TOML with `url` and `api_key`, at $SIM2REAL_CONFIG if set, else
$XDG_CONFIG_HOME/sim2real/config.toml (~/.config/sim2real/config.toml).
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

DEFAULT_URL = "http://127.0.0.1:8000"


def config_path() -> Path:
    if os.environ.get("SIM2REAL_CONFIG"):
        return Path(os.environ["SIM2REAL_CONFIG"]).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base) / "sim2real" / "config.toml"


def read_config(path: Path | None = None) -> dict[str, str]:
    """The config file's `url` and `api_key` (an absent file is an empty config; a broken one an error
    naming the file)."""
    path = path or config_path()
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"config file {path}: {exc}") from exc
    return {k: str(data[k]) for k in ("url", "api_key") if data.get(k)}


def resolve(url: str | None = None, api_key: str | None = None) -> tuple[str, str | None]:
    """The service's URL and key, from the first place that names them."""
    file = read_config() if not (url and api_key) else {}
    url = url or os.environ.get("SIM2REAL_URL") or file.get("url") or DEFAULT_URL
    api_key = api_key or os.environ.get("SIM2REAL_API_KEY") or file.get("api_key") or None
    return url.rstrip("/"), api_key
