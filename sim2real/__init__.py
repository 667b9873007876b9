"""sim2real's Python client and `sim2real` command: the service from a terminal or a notebook.

Nothing here imports torch, FastAPI, SQLAlchemy or a worker package: `pip install sim2real` on a laptop is
enough to drive a deployment elsewhere. `sim2real.models` holds the response models the API itself serves
(the API imports only that module, so importing it loads no HTTP client).
"""

from __future__ import annotations

from typing import Any

__all__ = ["Client", "JobFailed", "Sim2RealError"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from sim2real import client

        return getattr(client, name)
    raise AttributeError(name)
