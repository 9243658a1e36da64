"""The Multi-Token Attention page's caches: convolved maps of a real capture, and the shipped toy models."""

from __future__ import annotations

import numpy as np
import torch
from shared import TextInput, capture_of, kept

from models.mta.kernels import convolve_layer
from models.mta.toy_experiment import held_out_examples, shipped_runs
from models.mta.toy_model import (
    ToyReading,
    ToyTransformer,
    answer_outcomes,
    load_toy_model,
    read_prompt,
    typical_example,
)
from models.mta.toy_task import ToyTask


@kept()
def cached_convolved(key: TextInput, layer: int, kernel: np.ndarray, pre_softmax: bool,
                     mixing: np.ndarray | None) -> np.ndarray:
    """One layer's maps as MTA would make them with this kernel (and head mixing), (H, T, T)."""
    weights = capture_of(key).layers[layer]
    return convolve_layer(weights.scores, weights.allowed, torch.tensor(kernel),
                          pre_softmax, None if mixing is None else torch.tensor(mixing)).numpy()


@kept("models", spinner="Loading the toy-task checkpoints…")
def cached_toy_runs() -> dict[str, tuple[ToyTransformer, ToyTask]]:
    """The shipped baseline and MTA toy models, by run name ("mta-seed0", ...)."""
    return {name: load_toy_model(folder) for name, folder in shipped_runs().items()}


@kept()
def cached_toy_reading(run: str, prompt: str, block: int) -> ToyReading:
    """One trained toy model's answer, maps and block-finding layer for one prompt."""
    model, task = cached_toy_runs()[run]
    return read_prompt(model, task, prompt, block)


@kept()
def cached_held_out(task: ToyTask) -> torch.Tensor:
    """The test set the shipped rates are measured on, (1000, T) tokens."""
    return held_out_examples(task)


@kept()
def cached_typical_example(runs: tuple[str, ...]) -> int | None:
    """The first test example on which each of these models does what it does most often."""
    task = cached_toy_runs()[runs[0]][1]
    held_out = cached_held_out(task)
    return typical_example([answer_outcomes(cached_toy_runs()[run][0], task, held_out) for run in runs])
