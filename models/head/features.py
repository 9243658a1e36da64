"""Backbone tokens of photos and of augmented views, with an on-disk cache of training views.

Training the head with a frozen backbone only ever needs the backbone's tokens of each view, so they
are computed once (the slow part on a CPU) and kept in float16 under the pack cache folder.
"""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

import torch
from PIL import Image

from models.engine.loading import LoadedModel
from models.engine.packs import Progress, cache_root, no_progress
from models.head.views import Item, augmented_view
from models.vision.images import FORMATS, ImageInputError, open_photo

SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff")


def load_photos(folder: Path, limit: int | None = None) -> tuple[list[str], list[Image.Image]]:
    """Every readable photo directly in `folder` (sorted by name) as RGB; unreadable files are skipped.

    Links are not followed (a shared server must not read outside the folder), and more than `limit` candidate
    files are refused before any is read.
    """
    files = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in SUFFIXES and not p.is_symlink())
    if limit is not None and len(files) > limit:
        raise ValueError(f"{len(files)} photo files is over the {limit} this page indexes at once")
    names, photos = [], []
    for path in files:
        try:
            photos.append(open_photo(path.read_bytes()).image)
        except (ImageInputError, IsADirectoryError):
            continue
        names.append(path.name)
    if not photos:
        raise ValueError(f"no photos ({', '.join(FORMATS)}) there")
    return names, photos


def input_size(loaded: LoadedModel) -> int:
    """The square side the backbone's processor feeds the model (224 for DINOv2, ViT, SigLIP base)."""
    processor = loaded.processor
    size = processor.crop_size if getattr(processor, "do_center_crop", False) else processor.size
    return int(size.get("height") or size.get("shortest_edge"))


def token_grid(loaded: LoadedModel, tokens: torch.Tensor) -> tuple[int, int, int]:
    """(first patch token, rows, cols) of backbone tokens (B, N, C) of square images at `input_size`.

    Patches come last: whatever precedes them (CLS, registers) is N minus the patch count.
    """
    side = input_size(loaded) // loaded.model.config.patch_size
    return tokens.shape[1] - side * side, side, side


def pixel_values(loaded: LoadedModel, images: list[Image.Image]) -> torch.Tensor:
    """The backbone's input (B, 3, S, S) for square RGB images already at `input_size`: normalised, not resized."""
    inputs = loaded.processor(images=images, do_resize=False, do_center_crop=False, return_tensors="pt")
    return inputs["pixel_values"].to(loaded.device, loaded.dtype)


@torch.no_grad()
def backbone_tokens(loaded: LoadedModel, images: list[Image.Image], batch_size: int = 32) -> torch.Tensor:
    """Last hidden states (B, N, C) in float32 for square images already at `input_size`."""
    out = []
    for start in range(0, len(images), batch_size):
        batch = [im.convert("RGB") for im in images[start : start + batch_size]]
        out.append(loaded.model(pixel_values=pixel_values(loaded, batch)).last_hidden_state.float().cpu())
    return torch.cat(out)


def _cache_file(loaded: LoadedModel, names: list[str], photos: list[Image.Image], items: list[Item],
                views: int, seed: int) -> Path:
    digest = hashlib.sha256()
    for name, photo in zip(names, photos, strict=True):
        digest.update(name.encode())
        digest.update(photo.tobytes())
    digest.update(json.dumps([loaded.name, [(i.photo, i.box) for i in items], views, seed, 1]).encode())
    return cache_root() / "head-features" / f"{digest.hexdigest()[:24]}.pt"


def view_features(loaded: LoadedModel, names: list[str], photos: list[Image.Image], items: list[Item],
                  views: int, seed: int, progress: Progress = no_progress, batch_size: int = 32) -> torch.Tensor:
    """Tokens of `views` augmented views of every item: (I, V, N, C) float16, from the cache when there."""
    path = _cache_file(loaded, names, photos, items, views, seed)
    if path.exists():
        progress(1.0, f"backbone features from the cache ({path.name})")
        return torch.load(path)
    rng, size = random.Random(seed), input_size(loaded)
    pairs = [(i, v) for i in range(len(items)) for v in range(views)]
    chunks = []
    for start in range(0, len(pairs), batch_size):
        progress(start / len(pairs), f"backbone features of augmented views: {start}/{len(pairs)}")
        images = [augmented_view(photos, items[i], rng, size) for i, _ in pairs[start : start + batch_size]]
        chunks.append(backbone_tokens(loaded, images, batch_size).half())
    tokens = torch.cat(chunks)
    tokens = tokens.view(len(items), views, *tokens.shape[1:])  # (I, V, N, C)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(tokens, path.with_suffix(".tmp"))
    path.with_suffix(".tmp").replace(path)
    progress(1.0, f"backbone features of {len(pairs)} views cached")
    return tokens
