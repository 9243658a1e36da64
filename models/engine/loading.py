"""Load any model the app can show, by one path: ``from_pretrained(<hub id or folder>)``.

Offline packs resolve to folders first. Every model runs Attention Lens's eager attention
(never SDPA's silent empty weights); ``trust_remote_code`` is never enabled. Failures become
a `ModelLoadError` whose message can be shown to a user as is.
"""

from __future__ import annotations

import json
import os
import re
import socket
import sys
import threading
import time
from contextlib import nullcontext
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlparse

import torch
from huggingface_hub import HfApi
from PIL import Image
from transformers import (
    AutoConfig,
    AutoImageProcessor,
    AutoModel,
    AutoModelForSeq2SeqLM,
    AutoTokenizer,
    CLIPVisionModel,
    PretrainedConfig,
    PreTrainedModel,
    Siglip2VisionModel,
    SiglipVisionModel,
)
from transformers.models.auto.modeling_auto import MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING, MODEL_MAPPING

from models.engine.access import FOLDER_PREFIX, AccessError, AccessPolicy, download_refusal, folder_refusal
from models.engine.lens_attention import LENS_ATTENTION
from models.engine.packs import PACKS, Pack, Progress, ensure_pack, is_complete, no_progress
from models.engine.recording import recording
from models.engine.registry import PACK_PREFIX, SHIPPED, SHIPPED_PREFIX

# image-text models whose vision tower is what the app shows
VISION_TOWERS: dict[str, type[PreTrainedModel]] = {
    "clip": CLIPVisionModel,
    "siglip": SiglipVisionModel,
    "siglip2": Siglip2VisionModel,
}
_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]{0,95}(/[\w.-]{1,96})?")
_HUB_PROBE_SECONDS = 3.0


class ModelLoadError(Exception):
    """A model could not be loaded; the message says why in words a user can act on."""


class PackPrepareError(ModelLoadError):
    """A pack could not be converted into its cache folder (converting again would not help)."""


@dataclass(frozen=True)
class LoadedModel:
    """A model ready for capture, with what turns raw input into its tensors."""

    name: str  # as chosen: "pack:minilm", a hub id or a folder
    source: str  # what from_pretrained was given
    model: PreTrainedModel
    processor: Any  # a tokenizer (text) or an image processor (vision)
    modality: Literal["text", "vision"]
    causal: bool
    device: torch.device
    dtype: torch.dtype
    # False when the model's code bypasses transformers' attention registry (BLOOM, MPT, Falcon):
    # its weights come from output_attentions, and it has no scores, queries, keys or values to show
    exposes_scores: bool = True

    @property
    def family(self) -> str:
        return self.model.config.model_type

    @property
    def encoder_decoder(self) -> bool:
        """An encoder reads the input, a decoder writes the output while attending to it (BART, Marian, T5)."""
        return bool(getattr(self.model.config, "is_encoder_decoder", False))

    @property
    def lm_head(self) -> torch.Tensor | None:
        """The output embedding (V, C) when a causal model ties it to its input one: its next-token logits are
        then exactly last_hidden_state @ lm_head.T without the head itself being loaded. None otherwise."""
        if self.causal and getattr(self.model.config, "tie_word_embeddings", False):
            return self.model.get_input_embeddings().weight
        return None


def pick_device(device: str = "auto") -> torch.device:
    """CUDA when present (or asked for), else the CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ModelLoadError("CUDA was asked for, but no GPU is available here: choose the CPU.")
    return torch.device(device)


def pick_dtype(device: torch.device, dtype: str = "float32") -> torch.dtype:
    """float32 on the CPU; float16 / bfloat16 only on a GPU."""
    if device.type == "cpu" or dtype == "float32":
        return torch.float32
    return {"float16": torch.float16, "bfloat16": torch.bfloat16}[dtype]


_probe_cache: dict[str, tuple[float, bool]] = {}


def hub_reachable() -> bool:
    """Whether the hub's host answers within a few seconds (remembered for 30 s)."""
    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False"):
        return False
    host = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co")).hostname or "huggingface.co"
    seen = _probe_cache.get(host)
    if seen and time.monotonic() - seen[0] < 30:
        return seen[1]
    try:
        socket.create_connection((host, 443), timeout=_HUB_PROBE_SECONDS).close()
        ok = True
    except OSError:
        ok = False
    _probe_cache[host] = (time.monotonic(), ok)
    return ok


def _explain(name: str, error: BaseException, hub_unreachable: bool) -> str:
    """Turn a loading failure into one clear sentence."""
    text = str(error)
    if isinstance(error, (torch.OutOfMemoryError, MemoryError)):
        return f"Out of memory while loading {name!r}: choose a smaller model or free memory."
    if "not a valid model identifier" in text or "Repository Not Found" in text or "404" in text:
        return f"{name!r} is neither a folder here nor a model on the Hugging Face hub."
    if hub_unreachable or "couldn't connect" in text:
        return (
            f"{name!r} is not in the local cache and the Hugging Face hub cannot be reached (no network). "
            "The offline packs work without network."
        )
    if isinstance(error, json.JSONDecodeError) or any(
        s in text for s in ("Unrecognized model", "model_type", "not a valid JSON")
    ):
        return f"{name!r} does not hold a valid transformers config.json."
    if "does not appear to have" in text or "no file named" in text or "Error no file" in text:
        return f"{name!r} has a config but no weights (model.safetensors / pytorch_model.bin)."
    first_line = text.strip().splitlines()[0][:300] if text.strip() else ""
    return f"Could not load {name!r}: {type(error).__name__}: {first_line}"


def model_class(config: PretrainedConfig) -> type[PreTrainedModel] | type[AutoModel]:
    """The class to load: the vision tower of image-text models, encoder-decoders with their LM head (to generate),
    else the base model."""
    if getattr(config, "is_encoder_decoder", False):
        return AutoModelForSeq2SeqLM
    return VISION_TOWERS.get(config.model_type, AutoModel)


def reads_registry(config: PretrainedConfig) -> bool:
    """Whether the model calls transformers' attention registry, so Attention Lens can record its scores."""
    cls = model_class(config)
    if cls is AutoModel:
        cls = MODEL_MAPPING.get(type(config), None)
    elif cls is AutoModelForSeq2SeqLM:  # BART, Marian, T5 call the registry without declaring it
        cls = MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING.get(type(config), None)
        module = sys.modules.get(getattr(cls, "__module__", ""), None)
        return bool(getattr(cls, "_supports_attention_backend", False) or hasattr(module, "ALL_ATTENTION_FUNCTIONS"))
    return bool(getattr(cls, "_supports_attention_backend", False))


def modality_of(config: PretrainedConfig) -> Literal["text", "vision"]:
    if config.model_type in VISION_TOWERS:
        return "vision"
    return "vision" if hasattr(config, "patch_size") and hasattr(config, "num_channels") else "text"


def is_causal(config: PretrainedConfig) -> bool:
    architectures = getattr(config, "architectures", None) or []
    return bool(getattr(config, "is_decoder", False)) or any(
        a.endswith(("ForCausalLM", "LMHeadModel")) for a in architectures
    )


def _pack(name: str) -> Pack:
    key = name.removeprefix(PACK_PREFIX)
    if key not in PACKS:
        raise ModelLoadError(f"There is no offline pack called {key!r}; packs: {', '.join(PACKS)}.")
    return PACKS[key]


def pack_ready(name: str) -> bool:
    """Whether a pack can load without converting first."""
    pack = _pack(name)
    return pack.build is None or is_complete(pack.folder())


# One load or pack conversion at a time in a process: transformers' from_pretrained first builds models on the
# meta device, and two threads loading at once (two visitors of one server) were seen to break each other
# ("Cannot copy out of meta tensor") while converting the SmolLM2 pack.
_LOADING = threading.RLock()


def prepare_pack(name: str, progress: Progress = no_progress, rebuild: bool = False) -> str:
    """Convert a pack into its cache folder if needed (slow once), and return the folder."""
    pack = _pack(name)
    try:
        with _LOADING:
            return str(ensure_pack(pack, progress, rebuild=rebuild))
    except OSError as error:
        raise PackPrepareError(f"Could not prepare the {pack.title} pack: {error}") from error


def hub_files(name: str) -> dict[str, int | None]:
    """File name -> size in bytes of a hub repo, asked of the hub without downloading anything."""
    info = HfApi().model_info(name, files_metadata=True, timeout=_HUB_PROBE_SECONDS * 2)
    return {sibling.rfilename: sibling.size for sibling in info.siblings or ()}


def _server_source(name: str, policy: AccessPolicy) -> tuple[str, bool]:
    """(source, local only) of a model the server lists, once its weights pass the server-mode checks."""
    try:
        source = policy.source(name)
    except AccessError as error:
        raise ModelLoadError(str(error)) from None
    local = name.startswith(FOLDER_PREFIX) or not hub_reachable()
    if name.startswith(FOLDER_PREFIX):
        refusal = folder_refusal(name, Path(source))
    elif not local:  # a listed hub id: sizes and formats are checked before anything is downloaded
        try:
            refusal = download_refusal(name, hub_files(name), policy.max_download_mb)
        except Exception as error:  # noqa: BLE001 - every failure becomes one clear message
            raise ModelLoadError(_explain(name, error, False)) from error
    else:
        refusal = None  # offline: only what is already in the local cache can load, safetensors only
    if refusal:
        raise ModelLoadError(refusal)
    return source, local


def _resolve(name: str, progress: Progress, rebuild: bool, policy: AccessPolicy) -> tuple[str, bool]:
    """(what to give from_pretrained, whether only local files may be used)."""
    if name.startswith(PACK_PREFIX):
        return prepare_pack(name, progress, rebuild), True
    if name.startswith(SHIPPED_PREFIX):
        if name.removeprefix(SHIPPED_PREFIX) not in SHIPPED:
            raise ModelLoadError(f"There is no shipped model called {name.removeprefix(SHIPPED_PREFIX)!r}; "
                                 f"shipped: {', '.join(SHIPPED)}.")
        return str(SHIPPED[name.removeprefix(SHIPPED_PREFIX)]), True
    if policy.is_server:
        return _server_source(name, policy)
    path = Path(name).expanduser()
    if path.is_dir():
        return str(path), True
    if path.is_absolute() or name.startswith((".", "~")) or not _HUB_ID.fullmatch(name):
        raise ModelLoadError(f"{name!r} is neither a folder here nor a valid Hugging Face model id.")
    return name, not hub_reachable()


def _load_once(name: str, device: torch.device, dtype: torch.dtype, progress: Progress, rebuild: bool,
               policy: AccessPolicy):
    source, local_only = _resolve(name, progress, rebuild, policy)
    options = dict(trust_remote_code=False, local_files_only=local_only)
    weights = dict(use_safetensors=True) if policy.is_server else {}  # never unpickle a checkpoint on a server
    try:
        progress(0.0, f"reading the configuration of {name}")
        config = AutoConfig.from_pretrained(source, **options)
        modality = modality_of(config)
        exposes_scores = reads_registry(config)
        if getattr(config, "is_encoder_decoder", False) and not exposes_scores:
            raise ModelLoadError(_UNREADABLE_SEQ2SEQ.format(name=name, family=config.model_type))
        progress(0.2, f"loading the weights of {name}")
        model = model_class(config).from_pretrained(
            source, attn_implementation=LENS_ATTENTION if exposes_scores else "eager", dtype=dtype, **options, **weights
        )
        progress(0.8, "loading the tokenizer" if modality == "text" else "loading the image processor")
        processor = (AutoTokenizer if modality == "text" else AutoImageProcessor).from_pretrained(source, **options)
    except ModelLoadError:
        raise
    except Exception as error:  # noqa: BLE001 - every failure becomes one clear message
        hub_unreachable = local_only and not Path(source).is_dir()
        raise ModelLoadError(_explain(name, error, hub_unreachable)) from error
    model = model.to(device).eval()
    loaded = LoadedModel(name, source, model, processor, modality, is_causal(config), device, dtype, exposes_scores)
    progress(0.9, f"checking what {name} exposes on a short input")
    loaded = _checked(loaded)
    progress(1.0, f"{name} is ready")
    return loaded


def _probe_inputs(loaded: LoadedModel) -> dict[str, torch.Tensor]:
    if loaded.encoder_decoder:  # the encoder reads the text, the decoder its start token
        start = loaded.model.config.decoder_start_token_id
        return dict(loaded.processor("Attention Lens looks inside.", return_tensors="pt"),
                    decoder_input_ids=torch.tensor([[0 if start is None else start]]))
    if loaded.modality == "text":
        return dict(loaded.processor("Attention Lens looks inside.", return_tensors="pt"))
    return dict(loaded.processor(images=Image.new("RGB", (64, 64), (120, 130, 140)), return_tensors="pt"))


_UNREADABLE_SEQ2SEQ = (
    "{name!r} ({family}) is an encoder–decoder whose attention does not all go through transformers' attention "
    "functions, so its scores and cross-attention cannot be recorded exactly; Attention Lens reads encoder–decoders "
    "such as BART, Marian and T5."
)


def _checked(loaded: LoadedModel) -> LoadedModel:
    """Run a short input once: keep the model if its attention can be read, else say why in one sentence.

    A model whose registry calls do not cover every layer it returns weights for is read from
    output_attentions instead; one that returns no attention weights at all is refused.
    """
    model, family = loaded.model, loaded.family
    inputs = {k: v.to(loaded.device) for k, v in _probe_inputs(loaded).items()}
    try:
        with torch.inference_mode(), (recording(model, fast=False) if loaded.exposes_scores else nullcontext()) as rec:
            output = model(**inputs, output_attentions=True)
    except Exception as error:  # noqa: BLE001 - the user gets one sentence
        first_line = (str(error).strip().splitlines() or [""])[0][:200]
        raise ModelLoadError(
            f"{loaded.name!r} ({family}) cannot run on a plain input here ({type(error).__name__}: {first_line}); "
            "Attention Lens reads encoder-only, decoder-only, encoder–decoder and vision models."
        ) from error
    kinds = ("encoder_attentions", "decoder_attentions", "cross_attentions") if loaded.encoder_decoder else (
        "attentions",)
    returned = [a for kind in kinds for a in (getattr(output, kind, None) or ()) if a is not None]
    if not returned:
        raise ModelLoadError(
            f"{loaded.name!r} ({family}) has no attention layers that Attention Lens can read: "
            "it returns no attention weights."
        )
    if loaded.exposes_scores and len(rec.layers) != len(returned) and loaded.encoder_decoder:
        raise ModelLoadError(_UNREADABLE_SEQ2SEQ.format(name=loaded.name, family=family))
    if loaded.exposes_scores and len(rec.layers) != len(returned):
        model.set_attn_implementation("eager")  # some layers bypass the registry: read every one the same way
        loaded = replace(loaded, exposes_scores=False)
    if not loaded.causal and returned[0].shape[-1] > 1:  # a decoder whose config does not say so
        upper = torch.ones(returned[0].shape[-2:], dtype=torch.bool, device=returned[0].device).triu(1)
        loaded = replace(loaded, causal=all(bool((a[..., upper] == 0).all()) for a in returned))
    return loaded


def load_model(
    name: str, device: str = "auto", dtype: str = "float32", progress: Progress = no_progress,
    policy: AccessPolicy | None = None,
) -> LoadedModel:
    """Load a pack, hub id or folder for capture (only what `policy` lists, in server mode); a broken pack cache
    is rebuilt once."""
    name, policy = name.strip(), policy or AccessPolicy()
    if not name:
        raise ModelLoadError("Type a model id or a folder.")
    torch_device = pick_device(device)
    torch_dtype = pick_dtype(torch_device, dtype)
    pack = _pack(name) if name.startswith(PACK_PREFIX) else None
    try:
        with _LOADING:
            return _load_once(name, torch_device, torch_dtype, progress, rebuild=False, policy=policy)
    except PackPrepareError:
        raise  # the conversion itself failed: a second one would fail the same way
    except ModelLoadError:
        if pack is None or pack.build is None:
            raise
        progress(0.0, "the cached pack looks damaged: converting it again")
        with _LOADING:
            return _load_once(name, torch_device, torch_dtype, progress, rebuild=True, policy=policy)
