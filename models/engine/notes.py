"""What a user must know about a model's maps before reading them: what it cannot show, and why.

Each note is one plain sentence for the page. Views that need scores or q/k/v use `lacks_scores`.
"""

from __future__ import annotations

from models.engine.capture import AttentionCapture
from models.engine.loading import LoadedModel
from models.engine.packs import PACKS
from models.engine.registry import PACK_PREFIX


def lacks_scores(capture: AttentionCapture, view: str) -> str | None:
    """Why `view` cannot be shown for this capture (weights only), or None when it can."""
    if capture.exposes_scores:
        return None
    return (f"{view} needs the attention scores, queries, keys and values, and {capture.model_name} does not "
            "expose them: its code computes attention itself, so only its weights (output_attentions) are known.")


def model_notes(loaded: LoadedModel, capture: AttentionCapture) -> list[str]:
    """Sentences about this model's attention that hold for every view of the page."""
    notes = []
    if loaded.name.startswith(PACK_PREFIX):
        caveat = PACKS[loaded.name.removeprefix(PACK_PREFIX)].caveat
        if caveat:
            notes.append(caveat)
    if not capture.exposes_scores:
        notes.append(
            f"{loaded.family} computes attention in its own code, outside transformers' attention functions: "
            "the maps are its output_attentions, exact, but its scores, queries, keys and values are not exposed, "
            "so the views built on them say so instead of drawing."
        )
    layers = capture.layers
    if any(layer.bias is not None for layer in layers):
        notes.append("This model adds a position bias to its scores (ALiBi or relative positions); the scores "
                     "shown and exported include it, so softmax(scores + mask) gives the weights.")
    if any(layer.softcap is not None for layer in layers):
        notes.append("This model soft-caps its scores (cap × tanh(score / cap)); the scores shown are capped.")
    if any(layer.sink is not None for layer in layers):
        notes.append("Every head of this model has an attention sink, a learned extra softmax column that is "
                     "dropped afterwards: a row's weights sum to less than 1, the rest went to the sink.")
    return notes
