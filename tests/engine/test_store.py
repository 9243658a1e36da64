"""The shared capture store with real threads: K turns at once, the rest in line, kept bytes bounded."""

from __future__ import annotations

import threading
import time

import pytest

from models.engine.store import CaptureStore


def test_k_threads_run_at_once_and_the_rest_wait_in_arrival_order():
    store = CaptureStore(max_bytes=1, slots=2)
    release, lock = threading.Event(), threading.Lock()
    running, most, told = 0, 0, {}

    def work(i: int) -> None:
        nonlocal running, most
        with store.turn(lambda ahead: told.setdefault(i, ahead)):
            with lock:
                running += 1
                most = max(most, running)
            release.wait(10)
            with lock:
                running -= 1

    threads = []
    for i in range(5):  # started one by one, so they join the line in this order
        threads.append(threading.Thread(target=work, args=(i,)))
        threads[-1].start()
        time.sleep(0.1)
    assert store.running == 2 and told == {2: 0, 3: 1, 4: 2}  # the first two run; each waiter knows its place
    release.set()
    for thread in threads:
        thread.join(10)
    assert most == 2 and store.running == 0


def test_a_session_that_waited_for_its_turn_takes_the_capture_the_one_before_it_made():
    store, calls, gate, results = CaptureStore(max_bytes=100, slots=1), [], threading.Event(), []

    def compute():
        calls.append(1)
        gate.wait(10)
        return "maps"

    threads = [threading.Thread(target=lambda: results.append(store.get("k", compute, len))) for _ in range(2)]
    for thread in threads:  # the second asks while the first holds the only turn
        thread.start()
        time.sleep(0.1)
    gate.set()
    for thread in threads:
        thread.join(10)
    assert results == ["maps", "maps"] and len(calls) == 1


def test_kept_bytes_stay_under_the_bound_and_the_least_recently_used_go_first():
    store = CaptureStore(max_bytes=10, slots=1)
    for key, value in (("a", "xxxx"), ("b", "yyyy")):
        store.get(key, lambda v=value: v, len)
    store.get("a", lambda: pytest.fail("kept: not computed again"), len)  # "a" is now the most recent
    store.get("c", lambda: "zzzz", len)  # 12 bytes > 10: "b", the least recent, goes
    assert store.nbytes == 8 and store.get("a", lambda: "new", len) == "xxxx"
    assert store.get("b", lambda: "computed again", len) == "computed again"
    store.get("huge", lambda: "h" * 11, len)  # larger than the bound: returned, never kept
    assert store.nbytes <= 10 and "huge" not in store._entries
