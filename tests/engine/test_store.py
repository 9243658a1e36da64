"""The shared result store with real threads: K turns at once, the rest in line, kept bytes bounded."""

from __future__ import annotations

import dataclasses
import threading
import time

import numpy as np
import pytest
import torch

from models.engine.store import ResultStore, held_bytes


def test_k_threads_run_at_once_and_the_rest_wait_in_arrival_order():
    store = ResultStore(max_bytes=1, slots=2)
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
    store, calls, gate, results = ResultStore(max_bytes=100, slots=1), [], threading.Event(), []

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
    store = ResultStore(max_bytes=10, slots=1)
    for key, value in (("a", "xxxx"), ("b", "yyyy")):
        store.get(key, lambda v=value: v, len)
    store.get("a", lambda: pytest.fail("kept: not computed again"), len)  # "a" is now the most recent
    store.get("c", lambda: "zzzz", len)  # 12 bytes > 10: "b", the least recent, goes
    assert store.nbytes == 8 and store.get("a", lambda: "new", len) == "xxxx"
    assert store.get("b", lambda: "computed again", len) == "computed again"
    store.get("huge", lambda: "h" * 11, len)  # larger than the bound: returned, never kept
    assert store.nbytes <= 10 and "huge" not in store._entries


def test_an_unqueued_value_is_computed_at_once_while_every_turn_is_taken():
    store, release = ResultStore(max_bytes=100, slots=1), threading.Event()
    holder = threading.Thread(target=lambda: store.get("capture", lambda: release.wait(10) and "maps", len))
    holder.start()
    time.sleep(0.1)  # the only turn is taken; a model loaded inside that turn must not wait for another
    assert store.running == 1 and store.get("model", lambda: "weights", len, queued=False) == "weights"
    release.set()
    holder.join(10)


def test_keep_last_keeps_a_value_larger_than_the_bound_alone():
    store = ResultStore(max_bytes=10, keep_last=True)
    store.get("small", lambda: "xxxx", len, queued=False)
    store.get("large", lambda: "y" * 25, len, queued=False)  # over the bound: kept alone, the older one goes
    assert list(store._entries) == ["large"] and store.nbytes == 25
    store.get("large", lambda: pytest.fail("kept: not loaded again"), len, queued=False)
    store.get("next", lambda: "zz", len, queued=False)  # the large one is no longer the last: it goes
    assert list(store._entries) == ["next"]


@dataclasses.dataclass
class _Held:
    layer: torch.nn.Module
    extra: tuple


def test_held_bytes_counts_tensors_arrays_and_modules_inside_containers():
    layer = torch.nn.Linear(3, 4)  # 12 weights + 4 biases, float32
    layer.register_buffer("running", torch.zeros(5, dtype=torch.float64))
    held = _Held(layer, (np.zeros((2, 3), np.float16), "ab", None))
    value = {"held": held, "list": [torch.ones(7, dtype=torch.int8)]}
    assert held_bytes(value) == 16 * 4 + 5 * 8 + 6 * 2 + 2 + 7


def test_sessions_asking_for_the_same_unqueued_value_at_once_compute_it_once():
    store, calls, gate, results = ResultStore(max_bytes=100, keep_last=True), [], threading.Event(), []

    def load():
        calls.append(1)
        gate.wait(10)
        return "model"

    threads = [threading.Thread(target=lambda: results.append(store.get("m", load, len, queued=False)))
               for _ in range(3)]
    for thread in threads:
        thread.start()
    time.sleep(0.2)  # all three asked while the first was loading
    gate.set()
    for thread in threads:
        thread.join(10)
    assert results == ["model"] * 3 and len(calls) == 1 and store._computing == {}
