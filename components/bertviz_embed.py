"""bertviz's head view and model view as self-contained HTML: no CDN, and no user text as markup.

bertviz writes a page that fetches require.js, d3 and jQuery from cdnjs and inlines the tokens as
JSON in a <script>. Here the three libraries are inlined from assets/vendor (pinned, licences kept),
registered as require.js modules, and every "</" and "<!--" inside the view's script is escaped, so
a token such as "</script><script>alert(1)</script>" stays a string.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from bertviz import head_view, model_view

VENDOR = Path(__file__).resolve().parent.parent / "assets" / "vendor"
LIBRARIES = ("d3-5.7.0.min.js", "jquery-2.2.4.min.js", "require-2.3.6.js")  # d3 and jQuery before require
_MODULES = 'define("d3",[],function(){return window.d3;});define("jquery",[],function(){return window.jQuery;});'
_CDN_TAG = re.compile(r'<script src="https://cdnjs[^"]*"></script>')
_REQUIRE_CONFIG = re.compile(r"require\.config\(\{\s*paths:\s*\{[^}]*\}\s*\}\);")
_SCRIPT_OPEN = '<script type="text/javascript">'
BYTES_PER_VALUE = 7  # "0.123, " once rounded to 3 decimals


@cache
def _libraries() -> str:
    return "".join(f"<script>{(VENDOR / name).read_text(encoding='utf-8')}</script>\n" for name in LIBRARIES)


def _drop_params_comment(script: str) -> str:
    """bertviz's template says PYTHON_PARAMS twice on one line, so the data is also pasted into a comment."""
    start = script.find("; // HACK:")
    if start < 0:
        return script
    return script[: start + 1] + script[script.find("\n", start) :]


def _inert(script: str) -> str:
    """Nothing in `script` can end the <script> element or open an HTML comment: same JavaScript."""
    return script.replace("</", "<\\/").replace("<!--", "<\\!--")


def view_bytes(num_layers: int, num_heads: int, num_tokens: int, pair: bool = False) -> int:
    """About how large a view's attention data is: bertviz inlines every weight as text."""
    copies = 2 if pair else 1  # pairs add the four segment-to-segment slices
    return copies * num_layers * num_heads * num_tokens**2 * BYTES_PER_VALUE


def bertviz_html(
    view: Literal["head", "model"],
    weights: Mapping[int, np.ndarray],
    tokens: Sequence[str],
    sentence_b_start: int | None = None,
    *,
    decoder: Mapping[int, np.ndarray] | None = None,
    cross: Mapping[int, np.ndarray] | None = None,
    decoder_tokens: Sequence[str] | None = None,
) -> str:
    """A complete HTML page with bertviz's `view` of `weights`: layer index -> (H, T, T) array. For an
    encoder–decoder, `weights` are the encoder's, and bertviz's Encoder / Decoder / Cross choice shows them with the
    decoder's self-attention (H, T', T') and its cross-attention (H, T', T) over `decoder_tokens`."""
    layers = sorted(weights)

    def per_layer(maps: Mapping[int, np.ndarray]) -> list[torch.Tensor]:
        chosen = {i: torch.round(torch.as_tensor(maps[i], dtype=torch.float64)[None], decimals=3) for i in layers}
        # bertviz picks include_layers out of a per-layer list by index; layers not chosen are never read
        return [chosen.get(i, chosen[layers[0]]) for i in range(layers[-1] + 1)]

    if decoder is None:
        common = dict(attention=per_layer(weights), tokens=list(tokens), sentence_b_start=sentence_b_start)
    else:
        common = dict(encoder_attention=per_layer(weights), decoder_attention=per_layer(decoder),
                      cross_attention=per_layer(cross), encoder_tokens=list(tokens),
                      decoder_tokens=list(decoder_tokens))
    common |= dict(prettify_tokens=False, include_layers=list(layers), html_action="return")
    if view == "head":
        page = head_view(layer=layers[0], **common).data
    else:
        page = model_view(display_mode="light", **common).data
    page, cdn_tags = _CDN_TAG.subn("", page)
    markup, _, script = page.partition(_SCRIPT_OPEN)
    script, configs = _REQUIRE_CONFIG.subn("", script.strip().removesuffix("</script>"))
    if cdn_tags != 1 or configs != 1 or not script:
        raise RuntimeError("this bertviz version writes its page differently: update components/bertviz_embed.py")
    return (
        '<!doctype html><html><head><meta charset="utf-8">'
        "<style>body{margin:0;background:#fff;color:#222}</style>\n"
        f"{_libraries()}<script>{_MODULES}</script></head>\n"
        f"<body>{markup}\n<script>{_inert(_drop_params_comment(script))}</script></body></html>"
    )
