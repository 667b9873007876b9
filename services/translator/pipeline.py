"""Overlapped load -> render -> store for dataset translation.

Storing an image costs more than rendering it (PNG encoding of a 1242×375 frame takes 26–40 ms, a fog
render about 5 ms), and decoding the source adds more. Decoding and encoding release the GIL (Pillow,
cv2, zlib), so they run on a small thread pool while the caller renders the current batch: the renderer
(which batches learned methods' inference) stays busy while the previous batch is encoded and the next
one decoded.

The pipeline is pure: it knows items, three functions and a thread count; the job supplies what they do.
One thread means one computing thread: load, render and store run in order in the calling thread, and
only the writes (an optional fourth stage) wait on the disk on a thread of their own. A worker capped at
SIM2REAL_THREADS=1 keeps to one core, and its disk waits (an fsync per object on the local store) overlap
its work instead of adding to it.
Results come back in the order of the items, each with its own error, and at most about `window` items
are held in memory at any time whatever the dataset's size.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from itertools import islice
from typing import Any, Generic, TypeVar

Item = TypeVar("Item")
Loaded = TypeVar("Loaded")
Rendered = TypeVar("Rendered")
Stored = TypeVar("Stored")


@dataclass
class Done(Generic[Item, Stored]):
    """One item's outcome: what `write` returned (or `store`, without a write stage), or the error of the
    stage that failed (`stage` names it: 'load', 'render', 'store' or 'write')."""

    item: Item
    result: Stored | None = None
    error: BaseException | None = None
    stage: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def _failed(item: Item, exc: BaseException, stage: str) -> Future[Done]:
    future: Future[Done] = Future()
    future.set_result(Done(item, error=exc, stage=stage))
    return future


def _store_one(
    store: Callable[[Item, Rendered], Any],
    write: Callable[[Item, Any], Any] | None,
    item: Item,
    out: Rendered,
) -> Done:
    try:
        stored = store(item, out)
    except Exception as exc:  # noqa: BLE001 - reported to the caller with its item, never swallowed
        return Done(item, error=exc, stage="store")
    return Done(item, result=stored) if write is None else _write_one(write, item, stored)


def _write_one(write: Callable[[Item, Any], Any], item: Item, stored: Any) -> Done:
    try:
        return Done(item, result=write(item, stored))
    except Exception as exc:  # noqa: BLE001 - reported to the caller with its item, never swallowed
        return Done(item, error=exc, stage="write")


def _rendered(
    render: Callable[[Sequence[Loaded]], Sequence[Rendered]], inputs: list[Loaded]
) -> list[Rendered]:
    outs = list(render(inputs))
    if len(outs) != len(inputs):
        raise RuntimeError(f"render returned {len(outs)} outputs for {len(inputs)} inputs")
    return outs


def _render(
    batch: list[tuple[Item, Loaded]],
    render: Callable[[Sequence[Loaded]], Sequence[Rendered]],
    store: Callable[[Item, Rendered], Any],
    write: Callable[[Item, Any], Any] | None,
    pool: ThreadPoolExecutor,
) -> list[Future[Done]]:
    try:
        outs = _rendered(render, [loaded for _, loaded in batch])
    except Exception as exc:  # noqa: BLE001 - the batch's items fail together, each reported
        return [_failed(item, exc, "render") for item, _ in batch]
    return [
        pool.submit(_store_one, store, write, item, out) for (item, _), out in zip(batch, outs, strict=True)
    ]


def _computed(
    batch: list[Item],
    load: Callable[[Item], Loaded],
    render: Callable[[Sequence[Loaded]], Sequence[Rendered]],
    store: Callable[[Item, Rendered], Any],
) -> list[Done]:
    """One batch loaded, rendered and stored in the calling thread, one outcome per item in order."""
    done: dict[int, Done] = {}
    loaded: list[tuple[int, Loaded]] = []
    for n, item in enumerate(batch):
        try:
            loaded.append((n, load(item)))
        except Exception as exc:  # noqa: BLE001 - this item's problem, reported with it
            done[n] = Done(item, error=exc, stage="load")
    if loaded:
        try:
            outs = _rendered(render, [x for _, x in loaded])
        except Exception as exc:  # noqa: BLE001 - the batch's items fail together, each reported
            done.update((n, Done(batch[n], error=exc, stage="render")) for n, _ in loaded)
        else:
            done.update(
                (n, _store_one(store, None, batch[n], out)) for (n, _), out in zip(loaded, outs, strict=True)
            )
    return [done[n] for n in range(len(batch))]


def _serial(
    items: Iterable[Item],
    load: Callable[[Item], Loaded],
    render: Callable[[Sequence[Loaded]], Sequence[Rendered]],
    store: Callable[[Item, Rendered], Any],
    write: Callable[[Item, Any], Any] | None,
    batch_size: int,
    window: int,
) -> Iterator[Done]:
    """The same outcomes as the pool's with one computing thread: load, render and store run in the
    calling thread, a batch at a time; `write` runs on a writer thread of its own, which waits on the disk
    while the caller computes the next batch (at most `window` items await their write)."""
    source = iter(items)
    writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="translate-write") if write else None
    pending: deque[tuple[Done, Future | None]] = deque()

    def written(entry: tuple[Done, Future | None]) -> Done:
        done, future = entry
        return done if future is None else future.result()

    try:
        while batch := list(islice(source, batch_size)):
            for done in _computed(batch, load, render, store):
                ok = writer is not None and done.ok
                pending.append(
                    (done, writer.submit(_write_one, write, done.item, done.result) if ok else None)
                )
            while pending and (pending[0][1] is None or pending[0][1].done() or len(pending) > window):
                yield written(pending.popleft())
        while pending:
            yield written(pending.popleft())
    finally:
        if writer is not None:
            writer.shutdown(wait=True, cancel_futures=True)


def run(
    items: Iterable[Item],
    load: Callable[[Item], Loaded],
    render: Callable[[Sequence[Loaded]], Sequence[Rendered]],
    store: Callable[[Item, Rendered], Any],
    *,
    write: Callable[[Item, Any], Stored] | None = None,
    threads: int = 2,
    batch_size: int = 1,
    window: int | None = None,
) -> Iterator[Done[Item, Stored]]:
    """Yield a `Done` per item, in the items' order.

    `write(item, stored)`, when given, is an item's I/O after `store` (putting the bytes it made), and its
    return value is the item's result (else `store`'s is). With `threads` 1 there is one computing thread:
    load, render and store run in the calling thread, one batch after another, and the writes run on a
    writer thread of their own, which spends its time waiting on the disk. With more, `load(item)` and
    `store(item, rendered)` (then `write`) run on `threads` pool threads; `render(batch)` runs in the
    calling thread on up to `batch_size` loaded items and returns one output per input. A load or store
    error fails its item alone; a render error fails the items of its batch. At most `window` items
    (default: two batches plus one per thread) are loaded or awaiting storage, plus the batch being
    rendered, whatever the number of items.
    Closing the iterator early (the job was cancelled) cancels what has not started and waits for the rest.
    """
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    window = window or 2 * batch_size + threads
    if window < batch_size:
        raise ValueError(f"window ({window}) must hold at least one batch ({batch_size})")
    if threads == 1:
        yield from _serial(items, load, render, store, write, batch_size, window)
        return
    source = iter(items)
    pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="translate-io")
    loading: deque[tuple[Item, Future[Loaded]]] = deque()
    storing: deque[Future[Done]] = deque()

    def fill() -> None:
        # Loads ahead, but never more than the window holds counting what still waits to be stored.
        room = window - len(loading) - len(storing)
        for item in islice(source, max(room, 0)):
            loading.append((item, pool.submit(load, item)))

    try:
        fill()
        while loading or storing:
            if loading:
                batch: list[tuple[Item, Loaded]] = []
                for _ in range(min(batch_size, len(loading))):
                    item, future = loading.popleft()
                    try:
                        batch.append((item, future.result()))
                    except Exception as exc:  # noqa: BLE001 - this item's problem, reported with it
                        storing.append(_failed(item, exc, "load"))
                fill()
                if batch:
                    storing.extend(_render(batch, render, store, write, pool))
            # Hand back what is finished; block on the oldest when the window is full or nothing is loading.
            while storing and (storing[0].done() or not loading or len(storing) + len(loading) >= window):
                yield storing.popleft().result()
                if not loading:
                    break
            fill()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
