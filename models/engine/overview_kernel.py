"""The overview's walk compiled: every head's output, entropy, distance and key sums in one pass of C per tile of
queries (overview_kernel.c), for the common case of `LayerAttention.computed_by_rows`.

Torch's walk makes each statistic its own pass over every block of weights, and its products of a few dozen
queries are small for BLAS; the compiled walk keeps a tile of 16 queries' weights in cache from logits to output.
MiniLM's layer at 512 tokens inside a forward pass, on this repository's 2-core machine: 11–14 ms in torch, 3.9 ms
here, SDPA 4.4 ms without any overview. It is built once per machine with the C compiler found here ($CC, or `cc`)
into the cache; where none works, or with $ATTENTION_LENS_NO_KERNEL set, the torch walk gives the same numbers.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import logging
import os
import platform
import shlex
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

import torch

from models.engine.cores import cores
from models.engine.packs import cache_root
from models.engine.recording import LayerAttention, _mask_extent

SOURCE = Path(__file__).with_suffix(".c")
FLAGS = ("-O3", "-march=native", "-shared", "-fPIC", "-pthread", "-fno-math-errno", "-fno-trapping-math")
THREADED = ("-fopenmp",)  # the heads' threads come from torch's own OpenMP runtime (libgomp.so.1, already loaded
# with torch): its threads, still spinning after the layer's last product, take the work at once; threads of our own
# would share the cores with them (MiniLM's layer at 512 tokens in a forward pass: 8.1 ms on two threads of our own)
DISABLE_ENV = "ATTENTION_LENS_NO_KERNEL"  # set (to anything) to walk with torch only
VECTOR = 32  # head sizes the kernel takes are multiples of this (two vectors of 16 floats)

log = logging.getLogger(__name__)
_build_lock = threading.Lock()
_scratch = threading.local()  # each thread's column sums, reused: fresh pages each call cost more than they seem


class _LayerWalk(ctypes.Structure):
    """`struct layer_walk` of overview_kernel.c, field for field."""

    _fields_ = [
        ("query", ctypes.c_void_p), ("query_head", ctypes.c_int64), ("query_row", ctypes.c_int64),
        ("key", ctypes.c_void_p), ("key_head", ctypes.c_int64), ("key_row", ctypes.c_int64),
        ("value", ctypes.c_void_p), ("value_head", ctypes.c_int64), ("value_row", ctypes.c_int64),
        ("heads", ctypes.c_int32), ("group", ctypes.c_int32), ("tq", ctypes.c_int32), ("tk", ctypes.c_int32),
        ("d", ctypes.c_int32), ("offset", ctypes.c_int32), ("threads", ctypes.c_int32), ("scaling", ctypes.c_float),
        ("allowed", ctypes.c_void_p), ("reach", ctypes.c_void_p), ("row_bin", ctypes.c_void_p),
        ("bins", ctypes.c_int32),
        ("out", ctypes.c_void_p), ("out_head", ctypes.c_int64), ("out_row", ctypes.c_int64),
        ("entropy", ctypes.c_void_p), ("distance", ctypes.c_void_p), ("column_sums", ctypes.c_void_p),
    ]


def _machine() -> str:
    """What -march=native compiles for: the CPU's model and flags (a cache shared between machines keeps one each)."""
    try:
        info = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return platform.processor() or platform.machine()
    wanted = ("model name", "flags", "Features", "CPU part")
    return "\n".join(sorted({line for line in info if line.split(":")[0].strip() in wanted}))


def _compiler() -> list[str] | None:
    """The C compiler's command: $CC (which may carry arguments, "ccache gcc"), else cc, gcc or clang."""
    if os.environ.get("CC"):
        return shlex.split(os.environ["CC"])
    found = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    return [found] if found else None


def library_path() -> Path:
    """Where the kernel built for this source, these flags, this compiler and this machine lives in the cache."""
    identity = [SOURCE.read_bytes(), " ".join(FLAGS).encode(), " ".join(_compiler() or []).encode(),
                _machine().encode()]
    key = hashlib.sha256(b"\0".join(identity)).hexdigest()[:16]
    return cache_root() / "kernels" / f"overview_kernel-{key}.so"


def build() -> Path:
    """Compile the kernel into the cache unless it is there already (threaded with OpenMP where the compiler has it);
    raises when no C compiler works."""
    target = library_path()
    with _build_lock:
        if target.exists():
            return target
        compiler = _compiler()
        if compiler is None:
            raise RuntimeError("no C compiler (cc, gcc or clang) on PATH")
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=target.parent) as scratch:  # built aside, then renamed: atomic
            built = Path(scratch) / target.name
            for extra in (THREADED, ()):
                result = subprocess.run([*compiler, *FLAGS, *extra, str(SOURCE), "-o", str(built), "-lm"],
                                        capture_output=True, text=True)
                if result.returncode == 0:
                    break
                if extra:
                    log.warning("%s cannot build with OpenMP; the compiled walk runs on one thread: %s",
                                " ".join(compiler), result.stderr.strip()[-500:])
            else:
                raise RuntimeError(f"{' '.join(compiler)} failed: {result.stderr.strip()}")
            os.replace(built, target)
    return target


@functools.cache
def _library() -> ctypes.CDLL | None:
    """The kernel, built on first use; None (the torch walk runs) when disabled or when it cannot be built."""
    if os.environ.get(DISABLE_ENV):
        return None
    try:
        library = ctypes.CDLL(str(build()))
    except (OSError, RuntimeError) as error:
        log.warning("the compiled overview walk is unavailable, using torch's (same numbers, slower): %s", error)
        return None
    library.walk_layer.restype = ctypes.c_int
    library.walk_layer.argtypes = [ctypes.POINTER(_LayerWalk)]
    return library


def available() -> bool:
    """Whether the compiled walk runs here."""
    return _library() is not None


def supports(layer: LayerAttention) -> bool:
    """Whether `layer` is the kernel's case: weights = softmax(q kᵀ · scaling + mask), float32 vectors on the CPU,
    queries, keys and values of one width, a multiple of 32 (not, e.g., MLA's narrower values)."""
    if not layer.computed_by_rows:
        return False
    vectors = (layer.query, layer.key, layer.value)
    width = layer.query.shape[-1]
    return (all(t.dtype == torch.float32 and t.device.type == "cpu" and t.stride(-1) == 1 for t in vectors)
            and width % VECTOR == 0 and layer.key.shape == layer.value.shape and layer.key.shape[-1] == width)


def _column_sums(size: int) -> torch.Tensor:
    """This thread's float32 buffer of at least `size` floats for the column sums, kept for its next walk."""
    held = getattr(_scratch, "column_sums", None)
    if held is None or held.numel() < size:
        held = _scratch.column_sums = torch.empty(size, dtype=torch.float32)
    return held[:size]


@functools.lru_cache(maxsize=4)
def _mask_arguments(mask: torch.Tensor) -> tuple[torch.Tensor, bool]:
    """(each query's reach (Tq,) int64, whether every key below a query's reach is allowed), once per mask."""
    reach = (_mask_extent(mask)[1] + 1).contiguous()
    below = torch.arange(mask.shape[1])[None, :] < reach[:, None]
    return reach, torch.equal(mask, below)


def walk_layer(layer: LayerAttention, row_bins: torch.Tensor,
               attend: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """(Σ entropy (H,) float64 nats, Σ distance (H,) float64 tokens, column sums (H, bins, Tk) float32 — each key's
    weight summed over the queries of each row bin —, the output (Tq, H, d) or None) over every query of `layer`.
    row_bins: (Tq,) int32, the bin of each query, rising from 0 to bins - 1. The column sums are this thread's
    buffer: read them before the next call."""
    library = _library()
    query, key, value = layer.query, layer.key, layer.value
    heads, tq, d = query.shape
    tk = key.shape[1]
    reach, allowed = None, None
    if layer.mask is not None:
        reach, prefix = _mask_arguments(layer.mask)
        allowed = None if prefix else layer.mask.contiguous()  # bool: a byte of 0 or 1 a cell, read as it is
    entropy, distance = torch.zeros(heads, dtype=torch.float64), torch.zeros(heads, dtype=torch.float64)
    bins = int(row_bins[-1]) + 1
    column_sums = _column_sums(heads * bins * tk).view(heads, bins, tk)
    out = torch.empty(tq, heads, d, dtype=torch.float32) if attend else None
    walk = _LayerWalk(
        query.data_ptr(), query.stride(0), query.stride(1), key.data_ptr(), key.stride(0), key.stride(1),
        value.data_ptr(), value.stride(0), value.stride(1), heads, heads // key.shape[0], tq, tk, d, tk - tq,
        min(cores(), heads), layer.scaling, None if allowed is None else allowed.data_ptr(),
        None if reach is None else reach.data_ptr(), row_bins.data_ptr(), bins,
        None if out is None else out.data_ptr(), 0 if out is None else out.stride(1),
        0 if out is None else out.stride(0), entropy.data_ptr(), distance.data_ptr(), column_sums.data_ptr())
    if library.walk_layer(ctypes.byref(walk)) != 0:
        raise MemoryError(f"no memory for the compiled walk's scratch ({tk} keys)")
    return entropy, distance, column_sums, out


def build_or_explain() -> None:
    """Build the kernel ahead of the first capture (`make install`), or say why the torch walk will be used."""
    try:
        print(f"compiled overview walk: {build()}")
    except (OSError, RuntimeError) as error:
        print(f"no compiled overview walk ({error}): the torch walk gives the same numbers, slower")
