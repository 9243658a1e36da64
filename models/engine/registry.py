"""The models the app offers: the offline packs first, then hub presets for users with network."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from models.engine.packs import PACKS

PACK_PREFIX = "pack:"
SHIPPED_PREFIX = "shipped:"  # a model trained here and shipped in assets/: a folder from_pretrained reads
SHIPPED = {"dates": Path(__file__).resolve().parents[2] / "assets" / "dates_model"}


@dataclass(frozen=True)
class ModelChoice:
    """One entry of the model picker."""

    name: str  # what load_model takes: "pack:<key>", a hub id or a folder
    label: str
    modality: Literal["text", "vision"]


HUB_PRESETS: tuple[ModelChoice, ...] = (
    ModelChoice("bert-base-uncased", "BERT base (hub)", "text"),
    ModelChoice("gpt2", "GPT-2 (hub)", "text"),
    ModelChoice("google/vit-base-patch16-224", "ViT-B/16 (hub)", "vision"),
    ModelChoice("facebook/dinov2-small", "DINOv2-small (hub)", "vision"),
    ModelChoice("openai/clip-vit-base-patch32", "CLIP ViT-B/32 vision (hub)", "vision"),
    ModelChoice("google/siglip-base-patch16-224", "SigLIP base (hub)", "vision"),
    ModelChoice("google/siglip2-base-patch16-224", "SigLIP 2 base (hub)", "vision"),
)

OFFLINE_CHOICES: tuple[ModelChoice, ...] = (
    ModelChoice(PACK_PREFIX + "minilm", f"{PACKS['minilm'].title} (offline pack)", "text"),
    ModelChoice(PACK_PREFIX + "smollm2-135m", f"{PACKS['smollm2-135m'].title} (offline pack)", "text"),
    ModelChoice(PACK_PREFIX + "dinov2-small", f"{PACKS['dinov2-small'].title} (offline pack)", "vision"),
    ModelChoice(SHIPPED_PREFIX + "dates", "Dates in words → ISO, a Marian encoder–decoder (trained here)", "text"),
)


ENCODER_DECODERS = frozenset({SHIPPED_PREFIX + "dates"})  # offered only on pages that read encoder–decoders


def is_offline(name: str) -> bool:
    """Whether `name` is a pack or a shipped model: it loads without network and every server offers it."""
    return name.startswith((PACK_PREFIX, SHIPPED_PREFIX))


def choices(modality: Literal["text", "vision"]) -> list[ModelChoice]:
    """Picker entries for a page: packs first (they work offline), then hub presets."""
    return [c for c in OFFLINE_CHOICES + HUB_PRESETS if c.modality == modality]
