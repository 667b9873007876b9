"""The overlapped load -> render -> store pipeline of dataset translation: order, per-item errors,
bounded memory, threads, early close."""

from __future__ import annotations

import random
import threading
import time

import pytest

from services.translator import pipeline


@pytest.mark.parametrize("threads", [1, 4])
def test_results_come_back_in_order_whatever_the_threads_finish_first(threads: int) -> None:
    rng = random.Random(0)
    delays = [rng.random() * 0.004 for _ in range(60)]

    def load(i: int) -> int:
        time.sleep(delays[i])
        return i * 10

    def store(i: int, out: int) -> tuple[int, int]:
        time.sleep(delays[-1 - i])
        return i, out

    done = list(
        pipeline.run(range(60), load, lambda xs: [x + 1 for x in xs], store, threads=threads, batch_size=3)
    )
    assert [d.item for d in done] == list(range(60))
    assert all(d.ok for d in done)
    assert [d.result for d in done] == [(i, i * 10 + 1) for i in range(60)]


@pytest.mark.parametrize("threads", [1, 2])
def test_each_stage_reports_its_errors_with_the_item_and_the_rest_go_on(threads: int) -> None:
    def load(i: int) -> int:
        if i == 2:
            raise ValueError("cannot decode 2")
        return i

    def render(batch: list[int]) -> list[int]:
        if 7 in batch:
            raise RuntimeError("model failed")
        return batch

    def store(i: int, out: int) -> int:
        if i == 11:
            raise OSError("disk full")
        return out

    done = list(pipeline.run(range(14), load, render, store, threads=threads, batch_size=2))
    assert [d.item for d in done] == list(range(14))
    failed = {d.item: (d.stage, str(d.error)) for d in done if not d.ok}
    # Batches are consecutive items less those that failed to load: [0, 1], [3], [4, 5], [6, 7], ...
    assert failed == {
        2: ("load", "cannot decode 2"),
        6: ("render", "model failed"),
        7: ("render", "model failed"),
        11: ("store", "disk full"),
    }
    assert [d.result for d in done if d.ok] == [i for i in range(14) if i not in failed]


@pytest.mark.parametrize("threads", [1, 2])
def test_a_render_returning_the_wrong_number_of_outputs_fails_its_batch(threads: int) -> None:
    done = list(
        pipeline.run(range(4), lambda i: i, lambda xs: xs[:1], lambda i, o: o, threads=threads, batch_size=2)
    )
    assert all(d.stage == "render" and "1 outputs for 2 inputs" in str(d.error) for d in done)


def test_memory_stays_bounded_and_the_source_is_read_lazily() -> None:
    """However many items, no more than the window (plus the batch being rendered) are held at once."""
    lock = threading.Lock()
    live, peak, pulled = 0, 0, 0

    def source():  # noqa: ANN202
        nonlocal pulled
        for i in range(2000):
            pulled += 1
            yield i

    def load(i: int) -> int:
        nonlocal live, peak
        with lock:
            live += 1
            peak = max(peak, live)
        return i

    outputs = pipeline.run(source(), load, lambda xs: xs, lambda i, o: o, threads=3, batch_size=4, window=12)
    first = next(outputs)
    assert first.item == 0 and pulled <= 12 + 4  # not the whole dataset before the first result
    count = 1
    for _ in outputs:
        count += 1
        with lock:
            live -= 1  # an item handed back no longer counts against memory
    assert count == 2000
    assert peak <= 12 + 4 + 1, peak


def test_load_and_store_run_on_pool_threads_while_render_runs_in_the_caller() -> None:
    seen: dict[str, set[str]] = {"load": set(), "render": set(), "store": set()}

    def note(stage: str) -> None:
        seen[stage].add(threading.current_thread().name)

    def load(i: int) -> int:
        note("load")
        time.sleep(0.002)
        return i

    def render(xs: list[int]) -> list[int]:
        note("render")
        return xs

    def store(i: int, o: int) -> int:
        note("store")
        time.sleep(0.002)
        return o

    list(pipeline.run(range(40), load, render, store, threads=3, batch_size=2))
    assert seen["render"] == {threading.current_thread().name}
    assert all(name.startswith("translate-io") for name in seen["load"] | seen["store"])
    assert len(seen["load"] | seen["store"]) > 1  # more than one thread did the I/O


def test_one_thread_runs_every_stage_in_the_caller_one_batch_at_a_time() -> None:
    """SIM2REAL_THREADS=1 means one: two such workers on two cores each keep to their own."""
    threads: set[str] = set()
    held, peak = 0, 0

    def load(i: int) -> int:
        nonlocal held, peak
        threads.add(threading.current_thread().name)
        held += 1
        peak = max(peak, held)
        return i

    def render(xs: list[int]) -> list[int]:
        threads.add(threading.current_thread().name)
        return xs

    def store(i: int, o: int) -> int:
        nonlocal held
        threads.add(threading.current_thread().name)
        held -= 1
        return o

    before = threading.active_count()
    outputs = pipeline.run(range(30), load, render, store, threads=1, batch_size=3)
    assert [d.result for d in outputs] == list(range(30))
    assert threads == {threading.current_thread().name}
    assert threading.active_count() == before
    assert peak == 3


@pytest.mark.parametrize("threads", [1, 3])
def test_writes_follow_their_store_and_report_their_own_errors(threads: int) -> None:
    def write(i: int, stored: int) -> tuple[int, int]:
        if i == 5:
            raise OSError("disk full")
        time.sleep(0.001 * (i % 3))
        return i, stored

    done = list(
        pipeline.run(range(20), lambda i: i, lambda xs: xs, lambda i, o: o * 10, write=write, threads=threads)
    )
    assert [d.item for d in done] == list(range(20))
    assert [(d.item, d.stage, str(d.error)) for d in done if not d.ok] == [(5, "write", "disk full")]
    assert [d.result for d in done if d.ok] == [(i, i * 10) for i in range(20) if i != 5]


def test_with_one_thread_only_the_writes_leave_the_caller_and_they_overlap_its_work() -> None:
    """One computing thread: the writer waits on the disk while the caller computes the next item. Each
    write here waits until the next item has been computed, which only happens if they overlap."""
    computing: set[str] = set()
    writing: set[str] = set()
    computed = [threading.Event() for _ in range(21)]
    computed[20].set()
    overlapped: list[bool] = []

    def compute(i: int) -> int:
        computing.add(threading.current_thread().name)
        computed[i].set()
        return i

    def write(i: int, o: int) -> int:
        writing.add(threading.current_thread().name)
        overlapped.append(computed[i + 1].wait(timeout=5))
        return o

    out = pipeline.run(
        range(20), compute, lambda xs: xs, lambda i, o: o, write=write, threads=1, batch_size=1
    )
    assert [d.result for d in out] == list(range(20))
    assert computing == {threading.current_thread().name}
    assert len(writing) == 1 and writing != computing
    assert all(overlapped) and len(overlapped) == 20


def test_renders_batches_of_at_most_batch_size() -> None:
    sizes: list[int] = []

    def render(xs: list[int]) -> list[int]:
        sizes.append(len(xs))
        return xs

    list(pipeline.run(range(10), lambda i: i, render, lambda i, o: o, threads=2, batch_size=4))
    assert sum(sizes) == 10 and max(sizes) == 4


def test_closing_early_stops_loading_the_rest() -> None:
    loads = 0

    def load(i: int) -> int:
        nonlocal loads
        loads += 1
        return i

    outputs = pipeline.run(range(10_000), load, lambda xs: xs, lambda i, o: o, threads=2, batch_size=2)
    next(outputs)
    outputs.close()  # what a cancelled job does
    after = loads
    time.sleep(0.05)
    assert loads == after < 100


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"threads": 0}, "threads"),
        ({"batch_size": 0}, "batch_size"),
        ({"batch_size": 4, "window": 2}, "window"),
    ],
)
def test_bad_arguments_are_refused(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        list(pipeline.run(range(3), lambda i: i, lambda xs: xs, lambda i, o: o, **kwargs))
