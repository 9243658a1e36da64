"""A decoder continues a text token by token, and every step's attention is recorded: the KV cache made visible.

Step s predicts token s of the continuation from the position before it: the prompt's last token for s = 0
(read from the prompt's forward pass), then the token generated at s − 1, which attends over the cached keys
of everything before it. Each step runs the model once through Attention Lens's attention, as a capture does,
so its weights are the model's own. Sampling follows `model.generate`: softmax(logits / temperature), one
`torch.multinomial` draw per step after `torch.manual_seed(seed)`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from transformers import DynamicCache

from models.engine.capture import CaptureError, text_limit, token_labels
from models.engine.loading import LoadedModel
from models.engine.recording import recording


@dataclass(frozen=True)
class GenerationStep:
    """One generated token, what the model read to choose it, and what it could have chosen."""

    token_id: int
    token: str
    rows: torch.Tensor  # (L, H, Tk): the attention of the position before it over every earlier position
    top_ids: tuple[int, ...]  # the most probable next tokens, most probable first
    top_tokens: tuple[str, ...]
    top_probabilities: tuple[float, ...]  # softmax(logits / temperature) at those tokens
    probability: float  # of the token that was chosen


@dataclass(frozen=True)
class Generation:
    """A prompt and its continuation, step by step."""

    model_name: str
    prompt_tokens: tuple[str, ...]
    steps: tuple[GenerationStep, ...]
    sampled: bool
    temperature: float
    seed: int
    layer_names: tuple[str, ...]

    @property
    def tokens(self) -> tuple[str, ...]:
        """Prompt and continuation, as token labels."""
        return (*self.prompt_tokens, *(step.token for step in self.steps))

    @property
    def continuation_ids(self) -> list[int]:
        return [step.token_id for step in self.steps]

    @property
    def nbytes(self) -> int:
        return sum(step.rows.nbytes for step in self.steps)

    def cache_map(self, layer: int, head: int) -> torch.Tensor:
        """(steps, Tk) one head's rows at every step, NaN beyond what each step could read: the KV cache filling."""
        rows = torch.full((len(self.steps), len(self.tokens) - 1), torch.nan)
        for s, step in enumerate(self.steps):
            rows[s, : step.rows.shape[-1]] = step.rows[layer, head]
        return rows


class GenerationError(CaptureError):
    """The model cannot continue this text; the message says why, for the user."""


def _last_rows(layers) -> torch.Tensor:
    """The last query position's weights in every recorded layer: (L, H, Tk)."""
    return torch.stack([layer.weights[:, -1] for layer in layers])


@torch.inference_mode()
def generate_with_attention(loaded: LoadedModel, prompt: str, new_tokens: int = 20, *, sample: bool = False,
                            temperature: float = 1.0, seed: int = 0, top_k: int = 10) -> Generation:
    """Continue `prompt` by `new_tokens` tokens, greedily or sampled, recording each step's attention."""
    lm_head = loaded.lm_head
    if lm_head is None or not loaded.exposes_scores:
        raise GenerationError(f"{loaded.name} has no language-model head that Attention Lens can run exactly here "
                              "(it needs a causal model whose output embedding is tied to its input one).")
    if not prompt.strip():
        raise GenerationError("Type some text first: the prompt is empty.")
    if sample and temperature <= 0:
        raise GenerationError("The temperature must be above 0 to sample.")
    tokenizer, model = loaded.processor, loaded.model
    ids = tokenizer(prompt, return_tensors="pt")["input_ids"].to(loaded.device)  # (1, T)
    if ids.shape[1] + new_tokens > text_limit(loaded):
        raise GenerationError(f"The prompt ({ids.shape[1]} tokens) and {new_tokens} new ones exceed the "
                              f"{text_limit(loaded)} tokens one capture takes here.")
    torch.manual_seed(seed)
    cache = DynamicCache(config=model.config)
    step_input, steps, names = ids, [], ()
    for _ in range(new_tokens):
        with recording(model) as rec:
            output = model(input_ids=step_input, past_key_values=cache, use_cache=True)
        names = tuple(layer.name for layer in rec.layers)
        logits = torch.nn.functional.linear(output.last_hidden_state[0, -1], lm_head).float()  # (V,)
        probabilities = torch.softmax(logits / (temperature if sample else 1.0), dim=-1)
        chosen = int(torch.multinomial(probabilities, 1)) if sample else int(logits.argmax())
        top = torch.topk(probabilities, min(top_k, probabilities.numel()))
        steps.append(GenerationStep(
            token_id=chosen, token=token_labels(tokenizer, [chosen])[0],
            rows=_last_rows(rec.layers), top_ids=tuple(top.indices.tolist()),
            top_tokens=token_labels(tokenizer, top.indices.tolist()),
            top_probabilities=tuple(top.values.tolist()), probability=float(probabilities[chosen])))
        step_input = torch.tensor([[chosen]], device=loaded.device)
    prompt_tokens = token_labels(tokenizer, ids[0].tolist())
    return Generation(loaded.name, prompt_tokens, tuple(steps), sample, temperature, seed, names)
