"""Where the client finds the service: arguments, environment, config file, default."""

from __future__ import annotations

import pytest

from sim2real.config import DEFAULT_URL, config_path, resolve


def test_precedence(monkeypatch, tmp_path) -> None:
    for name in ("SIM2REAL_URL", "SIM2REAL_API_KEY", "SIM2REAL_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert config_path() == tmp_path / "sim2real" / "config.toml"
    assert resolve() == (DEFAULT_URL, None)
    config_path().parent.mkdir(parents=True)
    config_path().write_text('url = "http://from-file:1/"\napi_key = "file-key"\n')
    assert resolve() == ("http://from-file:1", "file-key")
    monkeypatch.setenv("SIM2REAL_URL", "http://from-env:2")
    assert resolve() == ("http://from-env:2", "file-key")
    assert resolve("http://arg:3", "arg-key") == ("http://arg:3", "arg-key")


def test_a_broken_config_file_is_named(monkeypatch, tmp_path) -> None:
    monkeypatch.delenv("SIM2REAL_URL", raising=False)
    monkeypatch.setenv("SIM2REAL_CONFIG", str(tmp_path / "c.toml"))
    (tmp_path / "c.toml").write_text("url = \n")
    with pytest.raises(ValueError, match="c.toml"):
        resolve()
