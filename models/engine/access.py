"""Who may load what, and how much work the app takes on. Local mode (the default) allows any hub id or folder;
server mode, for a shared server, allows only listed models (safetensors only, under a download cap) and listed
photo folders, shown by name, and refuses captures over a memory budget. Both bound the kept captures' memory
and how many captures run at once.

Read from ATTENTION_LENS_* variables, else from attention_lens.toml in ~/.streamlit/ then ./.streamlit/ (the
project's file overrides the user's, as with Streamlit's own config.toml).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from models.engine.registry import is_offline

Mode = Literal["local", "server"]
FOLDER_PREFIX = "folder:"  # a listed folder is picked by its name, never by its path
CONFIG_NAME = "attention_lens.toml"
SERVER_CAPTURE_BUDGET_MB = 1024.0
WEIGHTS = ".safetensors"


class AccessError(Exception):
    """A model or folder this server does not offer (the same sentence whether or not the path exists)."""


@dataclass(frozen=True)
class AccessPolicy:
    """What visitors may load and read. `folders` and `photo_roots` pair a shown name with a server path
    (tuples, so a policy is hashable and can key a cache)."""

    mode: Mode = "local"
    hub_ids: tuple[str, ...] = ()
    folders: tuple[tuple[str, str], ...] = ()
    photo_roots: tuple[tuple[str, str], ...] = ()
    max_download_mb: float = 2048.0
    capture_budget_mb: float | None = None  # per capture; server mode: SERVER_CAPTURE_BUDGET_MB unless set
    concurrent_captures: int = os.cpu_count() or 1
    cache_mb: float = 2048.0  # all kept captures and the results derived from them, together
    model_cache_mb: float = 2048.0  # all kept models together (the one in use is kept even if larger)

    @property
    def is_server(self) -> bool:
        return self.mode == "server"

    def listed_models(self) -> list[str]:
        """The names the server-mode picker offers besides the packs: hub ids, then folders by name."""
        return [*self.hub_ids, *(FOLDER_PREFIX + name for name, _ in self.folders)]

    def source(self, name: str) -> str:
        """What from_pretrained reads for a picker name; in server mode, refuse anything not listed."""
        if not self.is_server:
            return name
        if is_offline(name) or name in self.hub_ids:
            return name
        folders = dict(self.folders)
        if name.startswith(FOLDER_PREFIX) and name.removeprefix(FOLDER_PREFIX) in folders:
            return folders[name.removeprefix(FOLDER_PREFIX)]
        raise AccessError("This server offers only the models in its list: choose one in the sidebar.")


def config_files(home: Path | None = None, project: Path | None = None) -> list[Path]:
    """Where the policy file may be, in the order read (later files override earlier ones)."""
    return [(home or Path.home()) / ".streamlit" / CONFIG_NAME, (project or Path.cwd()) / ".streamlit" / CONFIG_NAME]


def read_policy(environ: Mapping[str, str] = os.environ, files: list[Path] | None = None) -> AccessPolicy:
    """The policy from the config files, with ATTENTION_LENS_MODE / _HUB_IDS / _MAX_DOWNLOAD_MB on top."""
    values: dict = {}
    for path in config_files() if files is None else files:
        if path.is_file():
            values.update(tomllib.loads(path.read_text()))
    mode = environ.get("ATTENTION_LENS_MODE", values.get("mode", "local")).strip().lower()
    if mode not in ("local", "server"):
        raise ValueError(f"ATTENTION_LENS_MODE must be 'local' or 'server', not {mode!r}")
    hub_ids = environ["ATTENTION_LENS_HUB_IDS"].split(",") if "ATTENTION_LENS_HUB_IDS" in environ else values.get(
        "hub_ids", ())

    def number(key: str, default: float | None) -> float | None:
        value = environ.get("ATTENTION_LENS_" + key.upper(), values.get(key, default))
        return None if value is None else float(value)

    return AccessPolicy(
        mode=mode,
        hub_ids=tuple(h.strip() for h in hub_ids if h.strip()),
        folders=tuple((str(k), str(v)) for k, v in values.get("folders", {}).items()),
        photo_roots=tuple((str(k), str(v)) for k, v in values.get("photo_roots", {}).items()),
        max_download_mb=number("max_download_mb", 2048.0),
        capture_budget_mb=number("capture_budget_mb", SERVER_CAPTURE_BUDGET_MB if mode == "server" else None),
        concurrent_captures=max(1, int(number("concurrent_captures", os.cpu_count() or 1))),
        cache_mb=number("cache_mb", 2048.0),
        model_cache_mb=number("model_cache_mb", 2048.0),
    )


def download_refusal(name: str, files: Mapping[str, int | None], max_mb: float) -> str | None:
    """Why a hub repo may not be downloaded in server mode (no safetensors, or weights over the cap), or None."""
    weights = {f: s for f, s in files.items() if f.endswith(WEIGHTS)}
    if not weights:
        return f"{name!r} has no safetensors weights; this server does not load pickled checkpoints (.bin)."
    if any(s is None for s in weights.values()):
        return f"The hub does not say how large {name!r} is; this server loads only models it can size first."
    size_mb = sum(weights.values()) / 2**20
    if size_mb > max_mb:
        return f"{name!r} weighs {size_mb:,.0f} MB, over this server's download cap of {max_mb:,.0f} MB."
    return None


def folder_refusal(name: str, folder: Path) -> str | None:
    """Why a listed folder may not be loaded in server mode (its weights are not safetensors), or None."""
    if not any(folder.glob("*" + WEIGHTS)):
        return f"{name!r} has no safetensors weights; this server does not load pickled checkpoints (.bin)."
    return None
