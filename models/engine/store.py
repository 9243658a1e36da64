"""Results kept for reuse by every session of a server (captures, what views derive from them, models):
bounded by the bytes they hold, least recently used first out. Captures are computed at most `slots` at a
time; the others wait in arrival order and are told how many are ahead of them."""

from __future__ import annotations

import dataclasses
import threading
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from typing import Generic, TypeVar

import numpy as np
import torch

V = TypeVar("V")


def _nothing(ahead: int) -> None:
    pass


def held_bytes(value: object) -> int:
    """The bytes of the tensors and arrays `value` holds (a module's parameters and buffers, a dataclass's or a
    container's items): what keeping it costs in memory."""
    if isinstance(value, torch.nn.Module):
        return sum(t.nbytes for t in (*value.parameters(), *value.buffers()))
    if isinstance(value, torch.Tensor | np.ndarray):
        return value.nbytes
    if isinstance(value, bytes | str):
        return len(value)
    if isinstance(value, dict):
        return sum(held_bytes(v) for v in value.values())
    if isinstance(value, list | tuple):
        return sum(held_bytes(v) for v in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return sum(held_bytes(getattr(value, f.name)) for f in dataclasses.fields(value))
    return 0


class ResultStore(Generic[V]):
    """A byte-bounded LRU of results; computing a queued one takes one of `slots` turns (one per core by default).

    With `keep_last`, the most recently kept value stays even when it alone is over the bound (a model larger
    than the bound is still kept while in use, rather than loaded again on every rerun).
    """

    def __init__(self, max_bytes: int, slots: int = 1, keep_last: bool = False):
        if slots < 1:
            raise ValueError("at least one capture must be able to run")
        self.max_bytes, self.slots, self.keep_last = max_bytes, slots, keep_last
        self._entries: OrderedDict[Hashable, tuple[V, int]] = OrderedDict()
        self._lock = threading.Condition()
        self._running = 0
        self._line: deque[object] = deque()  # tickets of the computations waiting for a turn, first first
        self._computing: dict[Hashable, threading.Lock] = {}  # unqueued keys being computed right now

    @property
    def nbytes(self) -> int:
        with self._lock:
            return sum(size for _, size in self._entries.values())

    @property
    def running(self) -> int:
        return self._running

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Hashable, compute: Callable[[], V], size: Callable[[V], int],
            on_wait: Callable[[int], None] = _nothing, queued: bool = True) -> V:
        """The kept value for `key`, or `compute()` (run in a turn when `queued`, `on_wait(ahead)` while in
        line), then kept as `size(value)` bytes. Unqueued computations must not wait for a turn themselves
        inside one (a model loaded inside a capture's turn): they run at once."""
        kept = self._kept(key)
        if kept is not None:
            return kept[0]
        if not queued:
            return self._compute_once(key, compute, size)
        with self.turn(on_wait):
            kept = self._kept(key)  # computed by another session while this one waited
            if kept is not None:
                return kept[0]
            value = compute()
        self._keep(key, value, size(value))
        return value

    def _compute_once(self, key: Hashable, compute: Callable[[], V], size: Callable[[V], int]) -> V:
        """An unqueued value computed once however many sessions ask at the same moment (two visitors opening
        the same model load it once): the others wait for the first and take its value."""
        with self._lock:
            key_lock = self._computing.setdefault(key, threading.Lock())
        try:
            with key_lock:
                kept = self._kept(key)
                if kept is not None:
                    return kept[0]
                value = compute()
                self._keep(key, value, size(value))
                return value
        finally:
            with self._lock:
                if self._computing.get(key) is key_lock:
                    del self._computing[key]

    def _kept(self, key: Hashable) -> tuple[V, int] | None:
        with self._lock:
            if key not in self._entries:
                return None
            self._entries.move_to_end(key)
            return self._entries[key]

    @contextmanager
    def turn(self, on_wait: Callable[[int], None] = _nothing) -> Iterator[None]:
        """Hold one of the slots while the block runs; wait in line (told how many are ahead) when all are taken."""
        ticket = object()
        with self._lock:
            self._line.append(ticket)
        try:
            while True:
                with self._lock:
                    if self._running < self.slots and self._line[0] is ticket:
                        self._line.popleft()
                        self._running += 1
                        break
                    ahead = self._line.index(ticket)
                on_wait(ahead)  # outside the lock: it may draw on a page
                with self._lock:
                    self._lock.wait(timeout=0.25)
        except BaseException:
            with self._lock:
                if ticket in self._line:
                    self._line.remove(ticket)
                    self._lock.notify_all()
            raise
        try:
            yield
        finally:
            with self._lock:
                self._running -= 1
                self._lock.notify_all()

    def _keep(self, key: Hashable, value: V, size: int) -> None:
        """Keep `value`, dropping the least recently used until the total fits; one too large is not kept
        (unless `keep_last`: then it stays alone)."""
        if size > self.max_bytes and not self.keep_last:
            return
        with self._lock:
            self._entries[key] = (value, size)
            self._entries.move_to_end(key)
            total = sum(s for _, s in self._entries.values())
            while total > self.max_bytes and len(self._entries) > 1:
                _, (_, dropped) = self._entries.popitem(last=False)
                total -= dropped

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
