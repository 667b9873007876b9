"""Overlapped load -> render -> store for dataset translation.

Storing an image costs more than rendering it (PNG encoding of a 1242×375 frame takes 26–40 ms, a fog
render about 5 ms), and decoding the source adds more. Decoding and encoding release the GIL (Pillow,
cv2, zlib), so they run on a small thread pool while the caller renders the current batch: the renderer
(which batches learned methods' inference) stays busy while the previous batch is encoded and the next
one decoded.

The pipeline is pure: it knows items, three functions and a thread count; the job supplies what they do.
One thread means one: every stage runs in order in the calling thread, so a worker capped at
SIM2REAL_THREADS=1 keeps to one core and two such workers on two cores do not compete.
Results come back in the order of the items, each with its own error, and at most about `window` items
are held in memory at any time whatever the dataset's size.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from itertools import islice
from typing import Generic, TypeVar

Item = TypeVar("Item")
Loaded = TypeVar("Loaded")
Rendered = TypeVar("Rendered")
Stored = TypeVar("Stored")


@dataclass
class Done(Generic[Item, Stored]):
    """One item's outcome: what `store` returned, or the error of the stage that failed (`stage` names it:
    'load', 'render' or 'store')."""

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


def _store_one(store: Callable[[Item, Rendered], Stored], item: Item, out: Rendered) -> Done:
    try:
        return Done(item, result=store(item, out))
    except Exception as exc:  # noqa: BLE001 - reported to the caller with its item, never swallowed
        return Done(item, error=exc, stage="store")


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
    store: Callable[[Item, Rendered], Stored],
    pool: ThreadPoolExecutor,
) -> list[Future[Done]]:
    try:
        outs = _rendered(render, [loaded for _, loaded in batch])
    except Exception as exc:  # noqa: BLE001 - the batch's items fail together, each reported
        return [_failed(item, exc, "render") for item, _ in batch]
    return [pool.submit(_store_one, store, item, out) for (item, _), out in zip(batch, outs, strict=True)]


def _serial(
    items: Iterable[Item],
    load: Callable[[Item], Loaded],
    render: Callable[[Sequence[Loaded]], Sequence[Rendered]],
    store: Callable[[Item, Rendered], Stored],
    batch_size: int,
) -> Iterator[Done[Item, Stored]]:
    """The same outcomes as the pool's, computed in the calling thread: at most one batch in memory."""
    source = iter(items)
    while batch := list(islice(source, batch_size)):
        done: dict[int, Done[Item, Stored]] = {}
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
                    (n, _store_one(store, batch[n], out)) for (n, _), out in zip(loaded, outs, strict=True)
                )
        yield from (done[n] for n in range(len(batch)))


def run(
    items: Iterable[Item],
    load: Callable[[Item], Loaded],
    render: Callable[[Sequence[Loaded]], Sequence[Rendered]],
    store: Callable[[Item, Rendered], Stored],
    *,
    threads: int = 2,
    batch_size: int = 1,
    window: int | None = None,
) -> Iterator[Done[Item, Stored]]:
    """Yield a `Done` per item, in the items' order.

    With `threads` 1 every stage runs in the calling thread, one batch after another. With more,
    `load(item)` and `store(item, rendered)` run on `threads` pool threads; `render(batch)` runs in the
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
        yield from _serial(items, load, render, store, batch_size)
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
                    storing.extend(_render(batch, render, store, pool))
            # Hand back what is finished; block on the oldest when the window is full or nothing is loading.
            while storing and (storing[0].done() or not loading or len(storing) + len(loading) >= window):
                yield storing.popleft().result()
                if not loading:
                    break
            fill()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
