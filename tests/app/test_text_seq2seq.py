"""The Text page for an encoder–decoder, through Streamlit's AppTest: the shipped dates model translates, and its
encoder, decoder and cross-attention maps are the model's own, replayed step by step."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

from models.dates.model import source_text, trained_results
from models.dates.task import held_out_example
from models.engine.loading import load_model
from models.engine.registry import SHIPPED
from tests.apptest import heatmap_values, open_view, rerun, start_app
from tests.tolerance import assert_close32

DATES = "Dates in words → ISO, a Marian encoder–decoder (trained here)"


@pytest.fixture(scope="module")
def dates():
    return load_model("shipped:dates")


@pytest.fixture
def app():
    at = start_app()
    at.sidebar.selectbox(key="model_choice_text").set_value(DATES)
    return rerun(at)


def _charts(at: AppTest) -> dict[str, dict]:
    """Every plotly figure of the page, by its widget key (the end of the element's id)."""
    return {c.proto.id.rsplit("-", 1)[-1]: json.loads(c.proto.spec) for c in at.get("plotly_chart")}


def _reference(dates, source: str) -> tuple[torch.Tensor, object]:
    """The model's own greedy output and output_attentions over it, computed here without Attention Lens."""
    encoded = dates.processor(source, return_tensors="pt")
    with torch.inference_mode():
        generated = dates.model.generate(**encoded, max_new_tokens=32, num_beams=1, do_sample=False)
        out = dates.model(**encoded, decoder_input_ids=generated[:, :-1], output_attentions=True)
    return generated, out


def test_the_dates_model_translates_a_held_out_date_and_draws_the_cross_attention_of_the_model(app, dates):
    example = held_out_example(0)
    assert app.text_area(key="source").value == source_text(example)  # the model's own first test date
    text = " ".join(m.value for m in app.markdown)
    assert example.target.replace("-", "\\-") in text and "encoder 2 layers × 4 heads" in text
    assert any(f"the answer is {example.target}, so the model is right" in c.value for c in app.caption)
    charts = _charts(app)
    assert set(charts) == {"s2s_mosaic", "s2s_map"}
    generated, out = _reference(dates, source_text(example))
    shown = heatmap_values(charts["s2s_map"])  # layer 0, head 0, every step
    assert shown.shape == (generated.shape[1] - 1, len(example.words) + 1)  # decoder positions × source + EOS
    assert_close32(torch.tensor(shown), out.cross_attentions[0][0, 0], scale=1.0, terms=32)


def test_the_step_slider_replays_the_generation_and_each_kind_has_its_own_axes(app, dates):
    app.select_slider(key="s2s_step").set_value(3)
    rerun(app)
    full = _reference(dates, app.text_area(key="source").value)[1].cross_attentions[0][0, 0]
    shown = heatmap_values(_charts(app)["s2s_map"])
    assert np.isnan(shown[4:]).all() and np.allclose(shown[:4], full[:4].numpy(), atol=1e-6)
    assert "after step 3" in json.dumps(_charts(app)["s2s_map"])
    steps, sources = full.shape
    for kind, shape in (("decoder", (steps, steps)), ("encoder", (sources, sources))):
        app.segmented_control(key="s2s_kind").set_value(kind)
        rerun(app)
        z = heatmap_values(_charts(app)["s2s_map"])
        assert z.shape == shape
        if kind == "decoder":  # causal, and replayed: rows after step 3 blank
            assert np.isnan(z[4:]).all() and np.isnan(z[0, 1:]).all() and np.isfinite(z[3, :4]).all()
        else:  # the encoder runs once, before the first step: complete
            assert np.isfinite(z).all()


def test_step_by_step_shows_every_heads_row_the_path_of_one_head_and_the_measured_alignment(app, dates):
    app.select_slider(key="s2s_step").set_value(5)
    app.selectbox(key="s2s_layer").set_value(1)
    rerun(app)
    open_view(app, "s2s_view", "Step by step")
    charts = _charts(app)
    assert set(charts) == {"s2s_step_cross", "s2s_step_decoder", "s2s_alignment"}
    _, out = _reference(dates, app.text_area(key="source").value)
    assert_close32(torch.tensor(heatmap_values(charts["s2s_step_cross"])), out.cross_attentions[1][0, :, 5],
                   scale=1.0, terms=32)
    assert heatmap_values(charts["s2s_step_decoder"]).shape == (4, 6)  # the six tokens read so far
    rates = trained_results(SHIPPED["dates"])["alignment"]
    assert np.allclose(heatmap_values(charts["s2s_alignment"]), np.asarray(rates) * 100)
    path = app.dataframe[0].value
    assert len(path) == 11 and list(path["writes"])[:4] == list(held_out_example(0).target[:4])


def test_bertviz_offers_encoder_decoder_and_cross_offline(app):
    open_view(app, "s2s_view", "bertviz")
    frames = app.get("iframe")
    assert len(frames) == 2
    for frame in frames:
        page = frame.proto.srcdoc
        assert "cdnjs" not in page and '"Cross"' in page and '"Encoder"' in page and '"Decoder"' in page


def test_the_test_date_button_cycles_through_held_out_dates_and_says_whether_the_model_is_right(app):
    app.button[0].click()
    rerun(app)
    example = held_out_example(1)
    assert app.text_area(key="source").value == source_text(example)
    assert any(f"Test date 1: the answer is {example.target}" in c.value for c in app.caption)


def test_unknown_words_empty_and_long_sources_are_messages_and_the_pages_text_is_kept(app):
    app.text_area(key="source").set_value("March 3rd, 2001")
    app.button[1].click()  # the form's submit
    rerun(app)
    assert any("«3rd,»" in w.value and "«2001»" in w.value for w in app.warning)
    app.text_area(key="source").set_value("  ")
    app.button[1].click()
    rerun(app)
    assert any("empty" in w.value for w in app.warning) and not app.get("plotly_chart")
    app.text_area(key="source").set_value("the first of may " * 30)
    app.button[1].click()
    rerun(app)
    assert any("were dropped to fit this model's 32 positions" in w.value for w in app.warning)
    # to a single-stack model and back: each page's own text is where it was
    app.sidebar.selectbox(key="model_choice_text").set_value("all-MiniLM-L6-v2 (offline pack)")
    rerun(app)
    assert app.text_area(key="text").value.startswith("The animal")
    app.sidebar.selectbox(key="model_choice_text").set_value(DATES)
    rerun(app)
    assert app.text_area(key="source").value == "the first of may " * 30


@pytest.mark.parametrize("page", ["app_pages/atlas.py", "app_pages/mta.py"])
def test_pages_that_read_single_stacks_do_not_offer_encoder_decoders(page):
    at = start_app(page)
    assert DATES not in at.sidebar.selectbox(key="model_choice_text").options
