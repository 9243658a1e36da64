"""The Multi-Token Attention page through AppTest: real captures, real convolutions."""

from __future__ import annotations

import json

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from models.engine.precision import float32_tolerance
from tests.apptest import heatmap_values, open_view, rerun, start_app


@pytest.fixture
def app():
    return start_app("app_pages/mta.py")


def _maps(at: AppTest) -> tuple[np.ndarray, np.ndarray]:
    """(standard, MTA) values of the two maps, decoded from the plotly specs; NaN where masked."""
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    standard = next(s for s in specs if s["layout"].get("title", {}).get("text", "").startswith("standard"))
    convolved = next(s for s in specs if s["layout"].get("title", {}).get("text", "").startswith("MTA"))
    return heatmap_values(standard), heatmap_values(convolved)


def test_the_page_says_the_kernels_were_not_learned_and_draws_both_maps(app):
    assert any("not learned" in w.value for w in app.warning)
    standard, convolved = _maps(app)
    assert np.nanmax(np.abs(standard - convolved)) > 1e-3  # the default "diagonal" kernel changes the map


def test_the_identity_kernel_gives_back_the_standard_map(app):
    app.selectbox(key="mta_preset").set_value("identity")
    app.run()
    standard, convolved = _maps(app)
    # a weight moves with its logit's rounding: relative to itself, plus float32 rounding of a row of 1s
    np.testing.assert_allclose(convolved, standard, rtol=1e-4, atol=float32_tolerance(1.0, standard.shape[-1]))


@pytest.mark.parametrize("variant", ["pre-softmax", "post-softmax"])
@pytest.mark.parametrize("mixing", ["none", "swap pairs"])
def test_variants_and_head_mixing_on_a_causal_model(app, variant, mixing):
    app.sidebar.selectbox(key="model_choice_text").set_value("SmolLM2-135M-Instruct (offline pack)")
    app.run()
    app.segmented_control(key="mta_variant").set_value(variant)
    app.segmented_control(key="mta_mixing").set_value(mixing)
    app.run()
    assert not app.exception and not app.error
    _, convolved = _maps(app)
    assert np.isnan(convolved[np.triu_indices(len(convolved), 1)]).all()  # the future: blank, never attention
    assert np.isfinite(convolved[np.tril_indices(len(convolved))]).all()


def test_an_even_key_width_is_explained(app):
    app.number_input(key="mta_ck").set_value(4)
    app.run()
    assert any("must be odd" in e.value for e in app.error)


def _open_toy(app: AppTest) -> AppTest:
    return open_view(app, "mta_view", "Trained on the toy task")


def test_the_toy_tab_shows_both_trained_models_their_answers_and_the_learned_kernels(app):
    _open_toy(app)
    verdicts = [m.value for m in (*app.success, *app.error)]
    assert len(verdicts) == 2 and all(v.startswith("Answer `") for v in verdicts)
    titles = [json.loads(c.proto.spec)["layout"]["title"]["text"] for c in app.get("plotly_chart")]
    assert any(t.startswith("baseline · layer") for t in titles) and any(t.startswith("mta · layer") for t in titles)
    assert sum(t.startswith("layer ") for t in titles) == 4  # the MTA model's kernels, one figure per layer
    assert any("Three rates" in e.label for e in app.expander)
    curves = [c for c in app.get("plotly_chart") if "error, located, copied" in
              json.loads(c.proto.spec)["layout"]["title"]["text"]]
    assert len(curves) == 2  # one figure per model, a line per seed and rate
    for curve in curves:
        spec = json.loads(curve.proto.spec)
        assert len(spec["data"]) == 3 * 3
        assert max(x for trace in spec["data"] for x in trace["x"]) > 6000  # carried on past the budget...
        assert [shape["x0"] for shape in spec["layout"]["shapes"]] == [6000]  # ...whose end is marked
    assert any("carried on past the budget" in m.value for m in app.markdown)


def test_the_toy_tab_opens_on_a_test_example_typical_of_both_models_and_says_so(app):
    from models.mta.toy_experiment import held_out_examples, shipped_runs
    from models.mta.toy_model import answer_outcomes, load_toy_model

    _open_toy(app)
    shown = app.number_input(key="toy_example").value
    assert any(f"Test example {shown} is shown first" in c.value for c in app.caption)
    runs = shipped_runs()
    seed = app.selectbox(key="toy_seed").value
    outcomes = []
    for name in (f"baseline-seed{seed}", f"mta-seed{seed}"):
        model, task = load_toy_model(runs[name])
        outcomes.append(answer_outcomes(model, task, held_out_examples(task)))
    for model in outcomes:  # the example shown: each model's most frequent outcome, and the first such example
        assert model[shown] == max(set(model), key=model.count)
    assert not any(all(model[i] == max(set(model), key=model.count) for model in outcomes) for i in range(shown))


def test_a_typed_prompt_is_answered_and_a_bad_one_explained(app):
    _open_toy(app)
    app.text_input(key="toy_prompt").set_value("abcde.fghij.klmno.pqrst.uvwxy.zabcd.efghi.jklmn#uw")
    rerun(app)
    assert any("the block holding both letters: **4**" in m.value for m in app.markdown)
    app.text_input(key="toy_prompt").set_value("abc#de")
    rerun(app)
    assert [e.value for e in app.error] == ["These models read exactly 8 blocks of 5 letters, separated by '.'."]


def test_switching_tabs_keeps_the_text_and_kernel_choices(app):
    app.text_area(key="mta_text").set_value("Tabs must not forget this.")
    next(b for b in app.button if b.label == "Show attention").click()
    rerun(app)
    app.selectbox(key="mta_preset").set_value("box")
    rerun(app)
    _open_toy(app)
    open_view(app, "mta_view", "Convolved maps on a real model")
    assert app.text_area(key="mta_text").value == "Tabs must not forget this."
    assert app.selectbox(key="mta_preset").value == "box"
