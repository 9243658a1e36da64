"""components.bertviz_embed: self-contained pages; user text stays inside a JSON string."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import numpy as np
import pytest

from components.bertviz_embed import LIBRARIES, bertviz_html, view_bytes

EVIL = ["[CLS]", "</script><script>alert(1)</script>", "<img src=x onerror=alert(2)>", "\"'`${x}", "<!--", "[SEP]"]


class _Scripts(HTMLParser):
    """What an HTML parser (like the browser's) sees as elements: script bodies and tag names."""

    def __init__(self):
        super().__init__()
        self.scripts: list[str] = []
        self.tags: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag == "script":
            self._in_script = True
            self.scripts.append("")

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.scripts[-1] += data


def _weights(layers: list[int], tokens: int, heads: int = 3) -> dict[int, np.ndarray]:
    rng = np.random.default_rng(0)
    return {i: rng.dirichlet(np.ones(tokens), (heads, tokens)) for i in layers}


@pytest.mark.parametrize("view", ["head", "model"])
def test_user_text_never_becomes_markup(view):
    page = bertviz_html(view, _weights([0, 2], len(EVIL)), EVIL)
    parsed = _Scripts()
    parsed.feed(page)
    assert len(parsed.scripts) == len(LIBRARIES) + 2  # the libraries, the module shim, the view: nothing else
    assert "img" not in parsed.tags
    params = re.search(r"const params = (\{.*?\});\n", parsed.scripts[-1], re.S).group(1)
    decoded = json.loads(params.replace("<\\/", "</").replace("<\\!--", "<!--"))
    assert decoded["attention"][0]["left_text"] == EVIL and decoded["include_layers"] == [0, 2]


@pytest.mark.parametrize("view", ["head", "model"])
def test_nothing_is_fetched_from_a_cdn(view):
    page = bertviz_html(view, _weights([1], 4), list("abcd"))
    parsed = _Scripts()
    parsed.feed(page)
    assert "cdnjs" not in page and "<script src" not in page
    assert "require.config" not in parsed.scripts[-1]  # bertviz's CDN paths are gone from the view
    assert "d3js.org v5.7.0" in page and "jQuery v2.2.4" in page and "RequireJS 2.3.6" in page


def test_size_estimate_is_close_to_the_real_view():
    tokens, layers = 40, [0, 1, 2]
    page = bertviz_html("model", _weights(layers, tokens, heads=12), [f"t{i}" for i in range(tokens)])
    data = len(page) - len(bertviz_html("model", _weights(layers, 2, heads=12), ["a", "b"]))
    assert 0.8 < view_bytes(len(layers), 12, tokens) / data < 1.25
    assert page.count('"attn"') == 1  # bertviz's template pastes the data twice; the copy in a comment is gone


@pytest.mark.parametrize("view", ["head", "model"])
def test_an_encoder_decoder_view_offers_encoder_decoder_and_cross_with_each_own_tokens(view):
    source, target = EVIL, ["<pad>", "1", "</script>"]
    rng = np.random.default_rng(1)
    cross = {i: rng.dirichlet(np.ones(len(source)), (3, len(target))) for i in (0, 1)}
    page = bertviz_html(view, _weights([0, 1], len(source)), source, decoder=_weights([0, 1], len(target)),
                        cross=cross, decoder_tokens=target)
    parsed = _Scripts()
    parsed.feed(page)
    assert "img" not in parsed.tags and len(parsed.scripts) == len(LIBRARIES) + 2
    params = re.search(r"const params = (\{.*?\});\n", parsed.scripts[-1], re.S).group(1)
    decoded = json.loads(params.replace("<\\/", "</").replace("<\\!--", "<!--"))
    kinds = {entry["name"]: entry for entry in decoded["attention"]}
    assert list(kinds) == ["Encoder", "Decoder", "Cross"]
    assert kinds["Cross"]["left_text"] == target and kinds["Cross"]["right_text"] == source
    assert np.allclose(np.array(kinds["Cross"]["attn"])[1, 0], np.round(cross[1][0], 3))  # (layer, head, T', T)
