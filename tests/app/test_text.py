"""The Text page through Streamlit's AppTest: real app script, real models, every tab."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from tests.apptest import APP, heatmap_values, open_view, rerun, start_app

VIEWS = ("Maps", "Single vs multi-head", "Q·K·V walkthrough", "bertviz", "Generation", "Ablation", "A/B")


@pytest.fixture
def app():
    return start_app()


def _specs(at: AppTest) -> list[str]:
    """Every plotly figure's JSON, decoded (titles and token labels as text)."""
    return [json.dumps(json.loads(c.proto.spec), ensure_ascii=False) for c in at.get("plotly_chart")]


def _map_spec(at: AppTest) -> str:
    """The full-resolution map of the Maps tab: the one titled with the model name."""
    return next(s for s in _specs(at) if "pack:" in s)


def _submit(at: AppTest, text: str) -> AppTest:
    at.text_area(key="text").set_value(text)
    at.button[0].click()
    return rerun(at)


def _open(at: AppTest, view: str) -> AppTest:
    return open_view(at, "text_view", view)


def test_default_sentence_shows_overview_selected_map_and_head_numbers(app):
    assert app.title[0].value == "Text attention"
    assert [t.label for t in app.tabs] == list(VIEWS)
    assert any("6 layers × 12 heads" in m.value for m in app.markdown)
    assert len(app.get("plotly_chart")) == 3  # mosaic, statistic grid, selected map
    assert "pack:minilm" in _map_spec(app) and "animal" in _map_spec(app)
    table = app.dataframe[0].value
    assert list(table.index) == [f"H{h}" for h in range(12)]
    assert {"entropy (bits)", "mean distance (tokens)", "on first token ([CLS])", "on [SEP]"} <= set(table.columns)


@pytest.mark.parametrize("view", VIEWS)
def test_each_view_draws_the_figures_it_lists(app, view):
    """What the view module's FIGURES says (benchmarks wait for that many) is what the page draws."""
    import sys

    sys.path.insert(0, str(Path(APP).parent))
    from views.text import ablation, bertviz, compare, generation, heads, maps, walkthrough

    modules = dict(zip(VIEWS, (maps, heads, walkthrough, bertviz, generation, ablation, compare), strict=True))
    if view == "Generation":  # it draws once asked to generate, on a model that can
        _smollm2(app)
        _open(app, view)
        _generate(app, 3)
    elif view == "Ablation":  # it draws once asked to remove heads (an encoder: no next-token figure)
        _open(app, view)
        _remove(app, [(1, 2)])
    else:
        _open(app, view)
    assert len(app.get("plotly_chart")) == len(modules[view].FIGURES)


def test_only_the_open_tab_is_built(app):
    # lazy tabs: the Maps tab alone sends its figures; the others are built when opened
    assert not app.get("iframe") and not app.metric


def test_choosing_a_head_redraws_only_that_map(app):
    app.selectbox(key="layer").set_value(3)
    app.selectbox(key="head").set_value(7)
    app.run()
    assert not app.exception
    assert "layer 3 · head 7" in _map_spec(app)


def test_single_vs_multi_head_tab_shows_three_maps_the_derivation_and_its_check(app):
    _open(app, "Single vs multi-head")
    specs = _specs(app)
    assert len(specs) == 4 and any("Σₕ" in s for s in specs) and any("JS divergence" in s for s in specs)
    text = " ".join(m.value for m in app.markdown)
    assert "H = 12" in text and "d = 32" in text and "12 \\times 32" in text and "= 384" in text
    check = next(m.value for m in app.markdown if "recomputed from the layer's" in m.value)
    error, tolerance = (float(part) for part in check.split("`")[1::2])
    assert error <= tolerance <= 1e-3  # within float32 rounding, and that bound is small


def _assert_within_rounding(at: AppTest) -> None:
    """The four printed differences are each within the float32 rounding bound printed beside them."""
    lines = [m.value for m in at.markdown if "max |hand − model|" in m.value]
    pairs = [tuple(float(part) for part in line.split("`")[-4::2]) for line in lines]
    assert len(pairs) == 4 and all(error <= tolerance for error, tolerance in pairs), pairs


def test_walkthrough_reproduces_the_model_for_the_chosen_token(app):
    _open(app, "Q·K·V walkthrough")
    app.selectbox(key="walk_token").set_value(10)  # "it"
    app.run()
    assert not app.exception
    text = " ".join(m.value for m in app.markdown)
    assert "384-wide" in text and "12 heads × 32" in text and "«it»" in text
    _assert_within_rounding(app)
    assert [m.label for m in app.metric] == ["var of q components", "var of k components", "var(q·k), raw",
                                             "var after scaling"]
    raw, scaled = (float(m.value) for m in app.metric[2:])
    assert scaled == pytest.approx(raw / 32, rel=0.01)


def test_each_tab_keeps_its_choices_when_another_tab_was_open(app):
    _open(app, "Q·K·V walkthrough")
    app.selectbox(key="walk_token").set_value(2)
    rerun(app)
    _open(app, "Maps")
    app.selectbox(key="statistic").set_value(app.selectbox(key="statistic").options[-1])
    rerun(app)
    _open(app, "Q·K·V walkthrough")
    assert app.selectbox(key="walk_token").value == 2
    _open(app, "Maps")
    assert app.selectbox(key="statistic").value == app.selectbox(key="statistic").options[-1]


def test_bertviz_tab_embeds_both_views_without_a_cdn(app):
    _open(app, "bertviz")
    frames = app.get("iframe")
    assert len(frames) == 2
    for frame in frames:
        page = frame.proto.srcdoc
        assert "cdnjs" not in page and "RequireJS 2.3.6" in page and "animal" in page


def test_long_text_is_cut_with_a_notice_and_bertviz_shows_a_window(app):
    _submit(app, "word " * 600)
    assert any("were dropped" in w.value and "512" in w.value for w in app.warning)
    assert any("512 tokens" in m.value for m in app.markdown)
    _open(app, "bertviz")
    assert any("shows tokens 0–39 of 512" in w.value for w in app.warning)


def test_empty_text_gives_a_message_not_a_traceback(app):
    _submit(app, "   ")
    assert any("empty" in w.value for w in app.warning)
    assert not app.get("plotly_chart")


def test_sentence_pair_marks_the_segment_boundary(app):
    app.text_input(key="pair").set_value("It was late.")
    _submit(app, "The animal didn't cross the street.")
    spec = json.loads(next(c.proto.spec for c in app.get("plotly_chart") if "pack:" in c.proto.spec))
    assert len(spec["layout"]["shapes"]) == 2
    assert any("second segment" in c.value for c in app.caption)


def test_a_bad_model_id_is_explained_and_the_text_is_kept(app):
    _submit(app, "Keep this sentence, please.")
    app.sidebar.selectbox(key="model_choice_text").set_value("Other: a hub id or a folder…")
    app.run()
    app.sidebar.text_input(key="model_custom_text").set_value("./no/such/model")
    app.run()
    assert not app.exception
    assert any("neither a folder here" in e.value for e in app.sidebar.error)
    assert app.text_area(key="text").value == "Keep this sentence, please."
    # back to a pack: the kept text is shown again
    app.sidebar.selectbox(key="model_choice_text").set_value("all-MiniLM-L6-v2 (offline pack)")
    app.run()
    assert "please" in _map_spec(app)


def test_walkthrough_on_a_causal_model_with_shared_key_value_heads(app):
    app.sidebar.selectbox(key="model_choice_text").set_value("SmolLM2-135M-Instruct (offline pack)")
    app.run()
    _open(app, "Q·K·V walkthrough")
    text = " ".join(m.value for m in app.markdown)
    assert "576-wide" in text and "9 heads × 64" in text and "3 query heads share it" in text
    assert "causal mask" in text
    _assert_within_rounding(app)


ODD = "😀 \u200b\u202eabc\u202c \x00 \t\n日本語 \u0301e ﷽ \U0001F468\u200D\U0001F469\u200D\U0001F467"


@pytest.mark.parametrize("view", VIEWS)
def test_odd_unicode_renders_in_every_view(app, view):
    _submit(app, ODD)
    _open(app, view)
    assert not app.error and not app.exception


def test_a_selection_beyond_a_smaller_model_or_text_falls_back_instead_of_failing(app):
    app.sidebar.selectbox(key="model_choice_text").set_value("SmolLM2-135M-Instruct (offline pack)")
    app.run()
    app.selectbox(key="layer").set_value(20)
    _open(app, "Q·K·V walkthrough")
    app.selectbox(key="walk_token").set_value(12)
    app.run()
    app.sidebar.selectbox(key="model_choice_text").set_value("all-MiniLM-L6-v2 (offline pack)")
    app.run()
    _submit(app, "Hi")
    assert not app.exception and app.selectbox(key="layer").value < 6 and app.selectbox(key="walk_token").value < 3


def _selected_map(at: AppTest) -> dict:
    return json.loads(next(c.proto.spec for c in at.get("plotly_chart") if "pack:" in c.proto.spec))


def test_value_norm_weighting_redraws_the_maps_with_alpha_times_what_each_value_writes(app):
    import numpy as np

    from models.engine.capture import capture_text
    from models.engine.loading import load_model
    from models.text.weighting import value_norms

    app.segmented_control(key="weighting").set_value("value-norm")
    app.run()
    assert not app.exception
    spec = _selected_map(app)
    assert "α·‖v W_O‖" in spec["layout"]["title"]["text"]
    loaded = load_model("pack:minilm")
    layer = capture_text(loaded, app.text_area(key="text").value, overview=True).layers[0]  # as the page captures
    expected = (layer.weights[0] * value_norms(loaded.model, layer)[0][None, :]).numpy()  # layer 0, head 0
    shown = heatmap_values(spec)
    np.testing.assert_allclose(shown, expected, rtol=1e-5, atol=1e-6 * expected.max())
    _open(app, "bertviz")
    assert not app.exception and any("divided by its sum" in c.value for c in app.caption)


def test_hiding_sinks_renormalises_every_map_and_says_what_was_hidden(app):
    import numpy as np

    app.toggle(key="hide_sinks").set_value(True)
    app.run()
    assert not app.exception
    note = next(i.value for i in app.info if "Hidden in every map" in i.value)
    last = len(heatmap_values(_selected_map(app))) - 1  # [SEP]
    assert "«\\[CLS\\]» (0)" in note and f"«\\[SEP\\]» ({last})" in note
    shown = heatmap_values(_selected_map(app))
    assert (shown[:, [0, last]] == 0).all()
    np.testing.assert_allclose(shown.sum(-1), 1.0, rtol=1e-5)
    assert "sinks hidden" in _selected_map(app)["layout"]["title"]["text"]
    _open(app, "bertviz")
    assert not app.exception and len(app.get("iframe")) == 2


def test_a_model_that_gives_only_weights_cannot_be_value_weighted_and_says_why(app, tmp_path, minilm):
    from tests.tiny_models import more_families

    folder = more_families()["bloom"].save(tmp_path / "bloom", tokenizer=minilm.processor)
    app.segmented_control(key="weighting").set_value("value-norm")
    app.run()
    app.sidebar.selectbox(key="model_choice_text").set_value("Other: a hub id or a folder…")
    app.run()
    app.sidebar.text_input(key="model_custom_text").set_value(str(folder))
    app.run()
    assert not app.exception
    control = app.segmented_control(key="weighting")
    assert control.value == "attention" and control.disabled and "only its attention weights" in control.help


def _smollm2(at: AppTest) -> AppTest:
    at.sidebar.selectbox(key="model_choice_text").set_value("SmolLM2-135M-Instruct (offline pack)")
    return rerun(at)


def _generate(at: AppTest, tokens: int, mode: str = "greedy", seed: int = 0, temperature: float = 1.0) -> AppTest:
    at.number_input(key="gen_tokens").set_value(tokens)
    at.segmented_control(key="gen_mode").set_value(mode)
    at.number_input(key="gen_seed").set_value(seed)
    at.number_input(key="gen_temperature").set_value(temperature)
    next(b for b in at.button if b.label == "Generate").click()
    return rerun(at)


def test_generation_continues_the_text_and_shows_each_step_over_the_cache(app):
    from models.engine.loading import load_model
    from models.text.generation import generate_with_attention

    _smollm2(app)
    _open(app, "Generation")
    assert not app.get("plotly_chart") and any("press Generate" in c.value for c in app.caption)
    _generate(app, 5, "sampled", seed=7, temperature=0.9)
    assert not app.exception and not app.error
    expected = generate_with_attention(load_model("pack:smollm2-135m"), app.text_area(key="text").value, 5,
                                       sample=True, temperature=0.9, seed=7)
    text = " ".join(m.value for m in app.markdown)
    assert "sampled, temperature 0.9, seed 7" in text and "5 tokens" in text
    cache = next(json.loads(c.proto.spec) for c in app.get("plotly_chart")
                 if json.loads(c.proto.spec)["layout"]["title"]["text"].startswith("every step"))
    values = heatmap_values(cache)
    assert values.shape == (5, len(expected.tokens) - 1)
    import numpy as np

    np.testing.assert_allclose(values, expected.cache_map(0, 0).numpy(), rtol=1e-6)  # layer 0, head 0
    app.slider(key="gen_step").set_value(2)
    rerun(app)
    assert any("Step 2:" in m.value for m in app.markdown)
    assert any("step 2" in json.loads(c.proto.spec)["layout"]["title"]["text"] for c in app.get("plotly_chart"))


def test_a_model_that_cannot_generate_says_why_in_its_tab(app):
    _open(app, "Generation")
    assert not app.exception and any("cannot continue a text here" in i.value for i in app.info)


def _remove(at: AppTest, heads: list[tuple[int, int]], mode: str = "zeroing") -> AppTest:
    at.multiselect(key="abl_heads").set_value(heads)
    at.segmented_control(key="abl_mode").set_value(mode)
    next(b for b in at.button if b.label == "Run again without them").click()
    return rerun(at)


def test_ablation_removes_heads_and_shows_the_next_token_change_and_the_later_maps(app):
    import numpy as np

    from models.engine.capture import capture_encoded, encode_text
    from models.engine.loading import load_model
    from models.text.ablation import ablate_heads

    _smollm2(app)
    app.selectbox(key="layer").set_value(6)
    app.selectbox(key="head").set_value(3)
    rerun(app)
    _open(app, "Ablation")
    assert not app.get("plotly_chart")
    _remove(app, [(4, 1), (4, 5), (2, 0)], "mean")
    assert not app.exception and not app.error
    assert any("Removed** (replaced by their mean): L2H0, L4H1, L4H5" in m.value for m in app.markdown)
    loaded = load_model("pack:smollm2-135m")
    encoded, _ = encode_text(loaded, app.text_area(key="text").value)
    original = capture_encoded(loaded, encoded, overview=True)  # as the page captures
    expected = ablate_heads(loaded, original, encoded, [(2, 0), (4, 1), (4, 5)], mean=True)
    assert app.metric[0].value == f"{expected.kl_divergence():.4f} nats"
    specs = {json.loads(c.proto.spec)["layout"]["title"]["text"]: json.loads(c.proto.spec)
             for c in app.get("plotly_chart")}
    assert len(specs) == 5  # next token, the change grid, original, removed, difference
    shown = heatmap_values(specs["heads removed · layer 6 · head 3"])
    allowed = expected.ablated.layers[6].allowed.numpy()  # the masked future is drawn blank
    assert np.isnan(shown[~allowed]).all()
    np.testing.assert_allclose(shown[allowed], expected.ablated.layers[6].weights[3].numpy()[allowed], rtol=1e-5,
                               atol=1e-7)
    grid = heatmap_values(specs["how much the map of each head moved (mean total variation of its rows)"])
    assert (grid[:2] == 0).all() and grid[5:].max() > 0


def test_an_encoder_ablation_reports_the_sentence_embedding_cosine(app):
    _open(app, "Ablation")
    _remove(app, [(0, 0), (0, 1)])
    assert not app.exception
    assert app.metric[0].label.startswith("Cosine of the sentence embeddings") and 0 < float(app.metric[0].value) < 1


def test_ab_compares_the_classic_pair_and_differs_only_between_matched_tokens(app):
    import numpy as np

    from models.engine.capture import capture_text
    from models.engine.loading import load_model
    from models.text.comparison import map_difference, token_alignment

    app.selectbox(key="layer").set_value(4)
    app.selectbox(key="head").set_value(7)
    rerun(app)
    _open(app, "A/B")
    assert app.text_area(key="ab_text").value.endswith("because it was too wide.")  # the classic pair by default
    assert not app.exception and not app.error
    specs = {json.loads(c.proto.spec)["layout"]["title"]["text"]: json.loads(c.proto.spec)
             for c in app.get("plotly_chart")}
    assert len(specs) == 4
    loaded = load_model("pack:minilm")
    a, b = (capture_text(loaded, t, overview=True)  # as the page captures: the overview's pass runs the attention
            for t in (app.text_area(key="text").value, app.text_area(key="ab_text").value))
    pairs = token_alignment(a.tokens, b.tokens)
    expected = map_difference(a.layers[4].weights[7], b.layers[4].weights[7], pairs).numpy()
    shown = heatmap_values(specs["B − A on the tokens of A"])
    tired = a.tokens.index("tired")
    assert np.isnan(shown[tired]).all() and np.isnan(shown[:, tired]).all()  # the changed word has no match
    np.testing.assert_allclose(shown, expected, rtol=1e-5, atol=1e-7)
    app.text_area(key="ab_text").set_value(app.text_area(key="text").value)
    next(b for b in app.button if b.label == "Compare").click()
    rerun(app)
    assert any("the same as text A" in i.value for i in app.info)


def test_a_2048_token_text_draws_a_max_pooled_map_and_an_exact_window_within_3_mb(app, smollm2):
    """Past 512 tokens the selected map is max-pooled (a sharp weight stays visible) and a window shows the exact
    cells; every figure together stays under 3 MB."""
    from models.engine.capture import capture_text

    text = " a" * 2048
    _smollm2(app)
    _submit(app, text)
    charts = {c.proto.id.rsplit("-", 1)[-1]: json.loads(c.proto.spec) for c in app.get("plotly_chart")}
    assert set(charts) == {"mosaic", "statistic_grid", "selected_map", "zoom_map"}
    assert sum(len(c.proto.spec) for c in app.get("plotly_chart")) < 3e6
    capture = capture_text(smollm2, text, max_tokens=4096, overview=True)  # as the page captures
    assert capture.seq_len == 2048 and any("2048 tokens" in m.value for m in app.markdown)
    full = capture.layers[0].head_weights(0).numpy()  # layer 0, head 0: what the page shows first
    overview = heatmap_values(charts["selected_map"])
    assert overview.shape == (256, 256)
    assert "max-pooled to 256×256 blocks" in json.dumps(charts["selected_map"], ensure_ascii=False)
    blocks = full.reshape(256, 8, 256, 8).max(axis=(1, 3))  # 8 × 8 tokens per block
    blocks[np.triu(np.ones((256, 256), bool), 1)] = np.nan  # blocks wholly in the future: blank
    np.testing.assert_allclose(overview, blocks, rtol=1e-5, atol=1e-7)
    app.number_input(key="zoom_query").set_value(1000)
    app.number_input(key="zoom_key").set_value(900)
    rerun(app)
    window = heatmap_values({"data": [next(json.loads(c.proto.spec) for c in app.get("plotly_chart")
                                           if c.proto.id.endswith("zoom_map"))["data"][0]]})
    expected = full[1000:1256, 900:1156].copy()
    expected[~np.tril(np.ones((2048, 2048), bool))[1000:1256, 900:1156]] = np.nan
    np.testing.assert_allclose(window, expected, rtol=1e-5, atol=1e-7)  # the exact cells, masked ones blank


def test_the_page_takes_the_models_own_context_and_every_view_walks_it(app, tmp_path, smollm2):
    """A tiny Llama that reads 6,000 tokens: a 5,000-token text is taken whole (past the 4,096 the page once
    stopped at), and the views that need every head of a layer (heads, A/B, ablation) draw from it."""
    import dataclasses

    from tests.tiny_models import families

    llama = families()["llama"]
    config = llama.config.__class__(**{**llama.config.to_dict(), "max_position_embeddings": 6000})
    folder = dataclasses.replace(llama, config=config).save(tmp_path / "llama", tokenizer=smollm2.processor)
    app.sidebar.selectbox(key="model_choice_text").set_value("Other: a hub id or a folder…")
    app.run()
    app.sidebar.text_input(key="model_custom_text").set_value(str(folder))
    rerun(app)
    text = "Attention reads the whole document, " * 900  # about 5,400 tokens
    _submit(app, text)
    assert not app.exception and not app.error
    tokens = len(smollm2.processor(text)["input_ids"])
    assert 4096 < tokens < 6000 and any(f"{tokens} tokens" in m.value for m in app.markdown)
    assert not app.warning  # nothing cut
    _open(app, "Single vs multi-head")
    assert not app.exception and len(app.get("plotly_chart")) == 4
    assert any("max |difference|" in m.value for m in app.markdown)  # the one-head check ran, block by block
    _open(app, "A/B")
    app.text_area(key="ab_text").set_value("In short: " + text)
    next(b for b in app.button if b.label == "Compare").click()
    rerun(app)
    assert not app.exception and not app.error and len(app.get("plotly_chart")) == 4
    _open(app, "Ablation")
    _remove(app, [(0, 1)])
    assert not app.exception and not app.error and app.get("plotly_chart")
