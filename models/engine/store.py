"""Captures kept for reuse by every session of a server: bounded by the bytes they hold (least recently used
go first), and computed at most `slots` at a time; the others wait in arrival order and are told how many
are ahead of them."""

from __future__ import annotations

import threading
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from typing import Generic, TypeVar

V = TypeVar("V")


def _nothing(ahead: int) -> None:
    pass


class CaptureStore(Generic[V]):
    """A byte-bounded LRU of results whose computation takes one of `slots` turns (one per core by default)."""

    def __init__(self, max_bytes: int, slots: int):
        if slots < 1:
            raise ValueError("at least one capture must be able to run")
        self.max_bytes, self.slots = max_bytes, slots
        self._entries: OrderedDict[Hashable, tuple[V, int]] = OrderedDict()
        self._lock = threading.Condition()
        self._running = 0
        self._line: deque[object] = deque()  # tickets of the computations waiting for a turn, first first

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
            on_wait: Callable[[int], None] = _nothing) -> V:
        """The kept value for `key`, or `compute()` run in a turn (`on_wait(ahead)` while queued), then kept
        as `size(value)` bytes."""
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                return self._entries[key][0]
        with self.turn(on_wait):
            with self._lock:  # computed by another session while this one waited
                if key in self._entries:
                    self._entries.move_to_end(key)
                    return self._entries[key][0]
            value = compute()
        self._keep(key, value, size(value))
        return value

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
        """Keep `value`, dropping the least recently used until the total fits; one too large is not kept."""
        if size > self.max_bytes:
            return
        with self._lock:
            self._entries[key] = (value, size)
            self._entries.move_to_end(key)
            total = sum(s for _, s in self._entries.values())
            while total > self.max_bytes:
                _, (_, dropped) = self._entries.popitem(last=False)
                total -= dropped

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
