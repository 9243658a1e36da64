"""What every page shares: the server's byte-bounded caches, the sidebar model picker, text captures, and the
widgets that show figures and notes. Each page's own caches are in state/<page>.py."""

from __future__ import annotations

import contextlib
import functools
import gc
import hashlib
import inspect
import math
import os
import pickle
import time
from collections.abc import Callable, Hashable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Literal, NamedTuple, TypeVar

import numpy as np
import plotly.graph_objects as go
import streamlit as st
import torch
from streamlit.logger import get_logger

from components.export import figure_config
from models.engine.access import FOLDER_PREFIX, AccessPolicy, read_policy
from models.engine.budget import machine_budget_mb
from models.engine.capture import AttentionCapture, CaptureError, capture_text
from models.engine.loading import LoadedModel, ModelLoadError, load_model, pack_ready, prepare_pack
from models.engine.notes import lacks_scores, model_notes
from models.engine.packs import cache_root
from models.engine.registry import ENCODER_DECODERS, PACK_PREFIX, choices, is_offline
from models.engine.store import ResultStore, held_bytes

OTHER = "Other: a hub id or a folder…"
ATLAS_ENV = "ATTENTION_LENS_ATLASES"
LOG = get_logger("attention_lens")
T = TypeVar("T")


@functools.cache
def settle_heap() -> None:
    """Once per server, at its first script run (before any model or capture): move every object alive now (the
    imported libraries' own, torch, transformers, plotly, pandas: about half a million) out of the garbage
    collector's sight. Streamlit runs a full collection after every rerun; it then scans only what was made since
    (after a 2,048-token rerun, in the server: 245–281 ms before, 22–43 ms after). Library objects are never
    garbage; the first session's few objects are the only ones a later collection could have freed."""
    gc.collect()
    gc.freeze()


@st.cache_resource(show_spinner=False)
def _store(kind: str, max_mb: float, slots: int) -> ResultStore:
    return ResultStore(int(max_mb * 2**20), slots, keep_last=kind == "models")


def shared_store(kind: Literal["results", "models"], policy: AccessPolicy | None = None) -> ResultStore:
    """The server's store of `kind` for every session: "results" (captures and what views derive from them,
    `cache_mb`, computing captures `concurrent_captures` at a time) or "models" (`model_cache_mb`)."""
    policy = policy or read_policy()
    if kind == "models":
        return _store(kind, policy.model_cache_mb, 1)
    return _store(kind, policy.cache_mb, policy.concurrent_captures)


def _key_part(value: object) -> Hashable:
    """An argument as part of a cache key: arrays by shape, dtype and a digest of their content."""
    if isinstance(value, np.ndarray):
        content = hashlib.sha256(np.ascontiguousarray(value).tobytes()).hexdigest()
        return ("ndarray", value.shape, value.dtype.str, content)
    hash(value)  # an unhashable argument is a programming error: fail here, not in the store
    return value


def kept(kind: Literal["results", "models"] = "results", spinner: str | None = None):
    """Keep a function's values for every session in the server's byte-bounded store of `kind`.

    Results are kept pickled, their exact bytes counted, and each caller gets its own copy (as st.cache_data
    does); models are shared by reference and counted by the tensors they hold (as st.cache_resource).
    Arguments whose names start with "_" are left out of the key, as in Streamlit's caches.
    """
    def decorate(function: Callable[..., T]) -> Callable[..., T]:
        signature = inspect.signature(function)

        @functools.wraps(function)
        def cached(*args, **kwargs) -> T:
            arguments = signature.bind(*args, **kwargs)
            arguments.apply_defaults()
            key = (function.__module__, function.__qualname__,
                   *(_key_part(v) for n, v in arguments.arguments.items() if not n.startswith("_")))

            def compute():
                with st.spinner(spinner) if spinner else contextlib.nullcontext():
                    value = function(*args, **kwargs)
                return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL) if kind == "results" else value

            size = len if kind == "results" else held_bytes
            stored = shared_store(kind).get(key, compute, size, queued=False)
            return pickle.loads(stored) if kind == "results" else stored

        return cached

    return decorate


@kept("models")
def _cached_model(name: str, device: str, dtype: str, policy: AccessPolicy) -> LoadedModel:
    return load_model(name, device, dtype, policy=policy)


def cached_model(name: str, device: str, dtype: str) -> LoadedModel:
    """One instance per (model, device, dtype) under the running policy, shared by all sessions; it holds no
    per-user state."""
    return _cached_model(name, device, dtype, read_policy())


def _model_options(modality: Literal["text", "vision"], policy: AccessPolicy) -> dict[str, str]:
    """Picker label -> model name: packs, shipped models and hub presets locally; on a server, packs, shipped models
    and the listed models."""
    if not policy.is_server:
        return {c.label: c.name for c in choices(modality)}
    packs = {c.label: c.name for c in choices(modality) if is_offline(c.name)}
    listed = {(f"{n.removeprefix(FOLDER_PREFIX)} (this server)" if n.startswith(FOLDER_PREFIX) else f"{n} (hub)"): n
              for n in policy.listed_models()}
    return packs | listed


def model_picker(modality: Literal["text", "vision"], encoder_decoders: bool = False,
                 ) -> tuple[LoadedModel, tuple[str, str, str]] | None:
    """Sidebar: choose a model (packs, shipped models, hub presets, any id/folder; on a server only what it lists),
    device and dtype; load with progress. Encoder–decoders only where the page reads them."""
    bar = st.sidebar
    bar.header("Model")
    try:
        policy = read_policy()
    except ValueError as error:  # a bad ATTENTION_LENS_MODE or attention_lens.toml: the server's fault, said plainly
        bar.error(f"This server's Attention Lens configuration is invalid: {error}")
        return None
    options = {label: name for label, name in _model_options(modality, policy).items()
               if encoder_decoders or name not in ENCODER_DECODERS}
    label = bar.selectbox("Model", [*options] if policy.is_server else [*options, OTHER],
                          key=f"model_choice_{modality}")
    if label == OTHER:
        name = bar.text_input("Hub id or local folder", key=f"model_custom_{modality}",
                              placeholder="e.g. bert-base-uncased or /path/to/model").strip()
        if not name:
            bar.info("Type a Hugging Face model id or the path of a folder saved with save_pretrained.")
            return None
    else:
        name = options[label]
    devices = ["auto", "cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    device = bar.selectbox("Device", devices, key="device", help="auto: CUDA when a GPU is present, else CPU")
    dtype = "float32"
    if torch.cuda.is_available() and device != "cpu":
        dtype = bar.selectbox("Precision", ["float32", "float16", "bfloat16"], key="dtype")
    try:
        if name.startswith(PACK_PREFIX) and not pack_ready(name):
            holder = bar.empty()
            progress = holder.progress(0.0, text=f"Converting the {name} pack (once)…")
            prepare_pack(name, lambda f, m: progress.progress(min(max(f, 0.0), 1.0), text=m))
            holder.empty()
        with bar, st.spinner(f"Loading {name}…"):
            loaded = cached_model(name, device, dtype)
    except ModelLoadError as error:
        bar.error(str(error))
        return None
    if loaded.encoder_decoder and not encoder_decoders:
        bar.error(f"{name} is an encoder–decoder model: this page reads encoder-only and decoder-only models. "
                  "The Text page shows its encoder, decoder and cross-attention.")
        return None
    config = loaded.model.config
    bar.caption(
        f"**{loaded.family}** · {getattr(config, 'num_hidden_layers', '?')} layers · "
        f"{getattr(config, 'num_attention_heads', '?')} heads · on {loaded.device.type}"
    )
    return loaded, (name, device, dtype)


def stored_capture(key: Hashable, compute: Callable[[AccessPolicy], T], on_wait: Callable[[int], None] | None = None,
                   size: Callable[[T], int] = lambda capture: capture.nbytes) -> T:
    """The kept capture for `key`, or `compute(policy)` run in one of the server's capture turns and kept."""
    policy = read_policy()
    return shared_store("results", policy).get(key, lambda: compute(policy), size, on_wait or (lambda ahead: None))


class Pacer:
    """When a progress bar redraws: not in the first `delay` seconds (a quick step shows no bar, as st.spinner waits
    too), then at most every `every` seconds, and at the last step. Each redraw is a page update the browser renders:
    on a machine that runs both, that is CPU taken from the model."""

    def __init__(self, delay: float = 0.5, every: float = 0.5, start: float | None = None):
        self.delay, self.every = delay, every
        self.start = time.monotonic() if start is None else start
        self.last = -math.inf

    def due(self, done: int, total: int, now: float | None = None) -> bool:
        """Whether step `done` of `total` (reported at `now`) should redraw the bar."""
        now = time.monotonic() if now is None else now
        if now - self.start < self.delay or (now - self.last < self.every and done < total):
            return False
        self.last = now
        return True


@contextlib.contextmanager
def progress_bar(label: Callable[[int, int], str]) -> Iterator[Callable[[int, int], None]]:
    """A `(done, total)` callback that draws one progress bar captioned `label(done, total)`, paced by a `Pacer`;
    the bar is removed on leaving."""
    slot, pacer = st.empty(), Pacer()

    def report(done: int, total: int) -> None:
        if pacer.due(done, total):
            slot.progress(done / total, label(done, total))

    try:
        yield report
    finally:
        slot.empty()


def captured(compute: Callable[[Callable[[int], None]], T], out_of_memory: str,
             input_errors: tuple[type[Exception], ...] = (),
             working: str | None = "Running the model and capturing every attention map…") -> T | None:
    """Run a capture with a spinner saying `working` (None: none, the caller draws a progress bar), saying "queued:
    N ahead" while other captures hold every turn; any failure the user can act on becomes a message, not a
    traceback."""
    queued, slots, told = st.empty(), read_policy().concurrent_captures, []

    def on_wait(ahead: int) -> None:
        if not told:  # once per wait, in the server's log: how busy it is
            LOG.info("capture queued: %d ahead, %d capture turn(s)", ahead, slots)
            told.append(ahead)
        place = "0 ahead of you: yours is next" if ahead == 0 else f"{ahead} ahead of you"
        queued.info(f"Queued: {place}. This server runs {slots} capture(s) at once; yours starts when a turn is "
                    "free.", icon=":material/hourglass_top:")

    try:
        with st.spinner(working) if working else contextlib.nullcontext():
            return compute(on_wait)
    except input_errors as error:
        st.error(str(error))
    except CaptureError as error:
        st.warning(str(error))
    except (torch.OutOfMemoryError, MemoryError):
        st.error(out_of_memory)
    finally:
        queued.empty()
    return None


class TextInput(NamedTuple):
    """What identifies one text capture: the model (name, device, dtype) and the input."""

    model: tuple[str, str, str]
    text: str
    pair: str | None
    max_tokens: int | None  # None: the model's own limit (within the memory budget)


def capture_of(key: TextInput, on_wait: Callable[[int], None] | None = None,
               progress: Callable[[int, int], None] | None = None) -> AttentionCapture:
    """The capture for `key`, kept for every session (computed on first use, within the server's per-capture budget,
    or half this machine's memory when there is none; `progress(layers done, layers)` while it runs)."""

    def compute(policy: AccessPolicy) -> AttentionCapture:
        machine = policy.capture_budget_mb is None
        return capture_text(cached_model(*key.model), key.text, key.pair, key.max_tokens,
                            budget_mb=machine_budget_mb() if machine else policy.capture_budget_mb,
                            machine_budget=machine, overview=True,  # the Maps view's overview, in the forward
                            progress=progress)

    return stored_capture(key, compute, on_wait)


def text_capture(key: TextInput) -> AttentionCapture | None:
    """The capture for this input, or a message in the page (never a traceback); a progress bar counting the layers
    while the model runs (a long input takes a while), in place of a spinner: one animation, not two."""
    with progress_bar(lambda done, layers: f"Running the model and capturing every attention map: layer {done} of "
                                           f"{layers}") as progress:
        return captured(lambda on_wait: capture_of(key, on_wait, progress),
                        "Out of memory for this input: try a shorter text or a smaller model.", working=None)


R = TypeVar("R")  # a request: a NamedTuple whose `text` is the input it was made for


def requested(name: str, submitted: bool, text: TextInput, make: Callable[[], R], hint: str) -> R | None:
    """What a tab that runs the model again on request should show: the request `make()` builds when its form is
    submitted (kept in the session as `name`), or the last one while it was for this `text`; else None, after
    `hint` says what to do."""
    if submitted:
        st.session_state[name] = make()
    request = st.session_state.get(name)
    if request is None or request.text != text:
        st.caption(hint)
        return None
    return request


def show_model_notes(loaded: LoadedModel, capture: AttentionCapture) -> None:
    """What holds for every view of this model's maps (a quantised pack, weights only, sinks...)."""
    for note in model_notes(loaded, capture):
        st.info(note, icon=":material/info:")


def lacks_scores_notice(capture: AttentionCapture, view: str) -> bool:
    """Say so in the page and return True when `view` cannot be drawn: the model exposes weights only."""
    reason = lacks_scores(capture, view)
    if reason is not None:
        st.info(reason, icon=":material/block:")
    return reason is not None


def figure_format_control(container) -> None:
    """The PNG / SVG switch that sets what every figure's camera button downloads (see show_figure)."""
    container.segmented_control("Figure downloads", ["PNG", "SVG"], key="figure_format", default="PNG", required=True,
                                help="The camera button on every figure downloads it in this format.")


def show_figure(figure: go.Figure, file_stem: str, key: str) -> None:
    """A plotly figure whose camera button downloads PNG or SVG, as chosen on the page."""
    image_format = st.session_state.get("figure_format", "PNG").lower()
    st.plotly_chart(figure, key=key, width="stretch", config=figure_config(file_stem, image_format))


def keep_widget_state(*views: ModuleType | tuple[str, ...]) -> None:
    """Keep the values of these views' input widgets (each view's WIDGETS, or the keys given) while they are not
    drawn.

    Tabs are drawn lazily, and Streamlit drops the state of every widget not drawn in a run: without this,
    switching tabs would reset each closed tab's choices.
    """
    for view in views:
        for key in view if isinstance(view, tuple) else view.WIDGETS:
            if key in st.session_state:
                st.session_state[key] = st.session_state[key]


def atlas_folder() -> Path:
    """Where head atlases live: $ATTENTION_LENS_ATLASES, else `atlases/` in Attention Lens's cache folder."""
    folder = Path(os.environ.get(ATLAS_ENV) or cache_root() / "atlases")
    folder.mkdir(parents=True, exist_ok=True)
    return folder
