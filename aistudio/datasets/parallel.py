"""An ordered, bounded parallel map over batches, on threads or processes.

Results come back in input order while at most ``workers x 4`` batches are in flight, so
memory stays bounded on big imports and the consumer can stop early: closing the iterator
(or an exception in the consumer) cancels what has not started and waits for what has.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Generator, Iterator, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from typing import Any, Literal, TypeVar

logger = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")
ExecutorKind = Literal["thread", "process"]


def available_cpus() -> int:
    """The CPUs this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def chunked(items: Sequence[T], size: int) -> Iterator[list[T]]:
    """Consecutive slices of ``items`` of ``size`` (the last one maybe shorter)."""
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def map_batches(
    func: Callable[[list[T]], list[R]],
    items: Sequence[T],
    *,
    batch_size: int,
    workers: int,
    kind: ExecutorKind = "thread",
    initializer: Callable[..., object] | None = None,
    initargs: tuple[Any, ...] = (),
) -> Generator[R, None, None]:
    """Apply ``func`` to batches of ``items`` in parallel; yield the results in input order.

    Args:
        func: maps a batch to one result per item. For ``kind="process"`` it must be a
            picklable module-level function (its state comes from ``initializer``).
        items: the inputs.
        batch_size: items per task.
        workers: threads or processes; 1 runs everything here, in order, with no pool.
        kind: ``thread`` or ``process`` (started with ``spawn``: safe in a threaded parent).
        initializer: run once in each worker process (``kind="process"`` only).
        initargs: arguments of ``initializer``.
    """
    if workers <= 1:
        for batch in chunked(items, batch_size):
            yield from func(batch)
        return
    executor: Executor
    if kind == "process":
        executor = ProcessPoolExecutor(
            workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=initializer,
            initargs=initargs,
        )
    else:
        executor = ThreadPoolExecutor(workers, thread_name_prefix="ingest")
    batches = chunked(items, batch_size)
    pending: deque[Future[list[R]]] = deque()
    window = workers * 4
    try:
        for batch in batches:
            pending.append(executor.submit(func, batch))
            if len(pending) >= window:
                break
        while pending:
            results = pending.popleft().result()
            for batch in batches:
                pending.append(executor.submit(func, batch))
                break
            yield from results
    finally:
        executor.shutdown(wait=True, cancel_futures=True)
