"""models.engine.cores: the parts of a split run at once, one thread each, under the caller's autograd modes, and
what they return does not depend on which finished first."""

from __future__ import annotations

import random
import threading
import time

import pytest
import torch

from models.engine.cores import cores, split_across_cores


@pytest.fixture
def two_cores():
    """torch set to two threads, as on this machine (the single-thread run of the suite sets one), then put back."""
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def test_each_core_takes_every_nth_item_and_the_order_is_fixed(two_cores):
    def part(items):
        time.sleep(random.random() / 50)  # whichever part ends first, the results come back in the split's order
        return list(items)

    for _ in range(5):
        assert split_across_cores(part, list(range(7))) == [[0, 2, 4, 6], [1, 3, 5]]


def test_the_parts_run_at_the_same_time_on_single_threaded_workers(two_cores):
    both = threading.Barrier(2, timeout=10)  # passes only if the two parts are running at once

    def part(items):
        both.wait()
        return threading.current_thread() is threading.main_thread(), torch.get_num_threads(), cores()

    assert split_across_cores(part, [0, 1]) == [(False, 1, 1), (False, 1, 1)]
    assert torch.get_num_threads() == 2  # the caller keeps its threads
    started_later = []
    thread = threading.Thread(target=lambda: started_later.append(torch.get_num_threads()))
    thread.start()
    thread.join()
    assert started_later == [2]  # and so does a thread started afterwards (a new request's)


def test_a_part_that_splits_again_runs_in_place(two_cores):
    def inner(items):
        return threading.current_thread().name

    def outer(items):
        return split_across_cores(inner, [0, 1, 2]) == [threading.current_thread().name]

    assert split_across_cores(outer, [0, 1]) == [True, True]


@pytest.mark.parametrize("mode", ["inference", "no_grad", "grad"])
def test_the_parts_run_under_the_callers_autograd_mode(two_cores, mode):
    def part(items):
        return torch.is_inference_mode_enabled(), torch.is_grad_enabled()

    context = {"inference": torch.inference_mode, "no_grad": torch.no_grad, "grad": torch.enable_grad}[mode]
    with context():
        expected = (torch.is_inference_mode_enabled(), torch.is_grad_enabled())
        assert split_across_cores(part, [0, 1]) == [expected, expected]


def test_one_thread_means_one_part_in_place():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert split_across_cores(lambda items: (list(items), threading.current_thread().name),
                                  [0, 1, 2]) == [([0, 1, 2], threading.current_thread().name)]
    finally:
        torch.set_num_threads(before)


def test_an_error_in_a_part_reaches_the_caller(two_cores):
    def part(items):
        if 1 in items:
            raise ValueError("part 1 failed")
        return items

    with pytest.raises(ValueError, match="part 1 failed"):
        split_across_cores(part, [0, 1])


def test_a_forked_child_starts_its_own_workers(two_cores):
    """A child forked after the pool started has none of its threads: it must not wait on them."""
    import multiprocessing

    assert split_across_cores(lambda items: list(items), [0, 1]) == [[0], [1]]  # the parent's pool is running
    with multiprocessing.get_context("fork").Pool(1) as pool:
        assert pool.apply_async(_split_in_child).get(timeout=30) == [[0], [1]]  # fails rather than hangs


def _split_in_child() -> list:
    torch.set_num_threads(2)
    return split_across_cores(lambda items: list(items), [0, 1])
