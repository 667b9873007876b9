"""Registries filled by their package's modules: importing every module once is the registration."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable


def once_importing_submodules(package: str, path: list[str]) -> Callable[[], None]:
    """A function that imports every module of `package` the first time it is called (each module registers
    itself as it is imported), so a registry is complete before anyone reads it."""
    done = False

    def load() -> None:
        nonlocal done
        if not done:
            done = True
            for info in pkgutil.iter_modules(path):
                importlib.import_module(f"{package}.{info.name}")

    return load
