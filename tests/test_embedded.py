"""`make up`'s process list: one worker per queue, as many as SIM2REAL_WORKERS says."""

from __future__ import annotations

import pytest

from services.common import contracts
from services.embedded import commands, worker_counts

QUEUES = contracts.queues()


def test_one_worker_per_queue_by_default() -> None:
    procs = commands("127.0.0.1", 8000, "")
    assert set(procs) == {"api", *QUEUES}
    for queue in QUEUES:
        cmd = procs[queue]
        service = next(s for s, qs in contracts.services().items() if queue in qs)
        assert cmd[cmd.index("-A") + 1] == f"services.{service}.worker"
        assert (
            cmd[cmd.index("-Q") + 1] == queue
        )  # its own queue only: interactive never waits behind training
        assert cmd[cmd.index("-n") + 1] == f"{queue}@%h"


def test_workers_setting() -> None:
    assert worker_counts("", QUEUES) == dict.fromkeys(QUEUES, 1)
    assert worker_counts("2", QUEUES) == dict.fromkeys(QUEUES, 2)
    batch = worker_counts("batch=2", QUEUES)
    assert batch["translator.batch"] == batch["detector.batch"] == 2
    assert batch["translator.interactive"] == batch["evaluator"] == 1
    mixed = worker_counts("3, interactive=1, translator.training=0", QUEUES)
    assert mixed["translator.training"] == 0 and mixed["detector.training"] == 3
    assert mixed["detector.interactive"] == 1 and mixed["evaluator"] == 3
    names = set(commands("127.0.0.1", 8000, "batch=2,translator.training=0"))
    assert {"translator.batch", "translator.batch-2", "detector.batch-2"} <= names
    assert "translator.training" not in names


@pytest.mark.parametrize(
    ("spec", "words"), [("lots", "not a count"), ("batch=-1", "negative"), ("gpu=2", "neither a queue")]
)
def test_bad_workers_settings_name_the_setting(spec: str, words: str) -> None:
    with pytest.raises(ValueError, match="SIM2REAL_WORKERS") as err:
        worker_counts(spec, QUEUES)
    assert words in str(err.value)
