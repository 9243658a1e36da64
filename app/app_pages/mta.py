"""Multi-Token Attention page: convolved maps on a real model, and models trained with MTA on the toy task."""

import streamlit as st
from shared import keep_widget_state, model_picker
from views.mta import convolved, toy

VIEWS = ["Convolved maps on a real model", "Trained on the toy task"]

# before any st.stop: a failed input must not reset the closed tabs' choices
keep_widget_state(convolved, toy)
st.title("Multi-Token Attention")
st.caption(
    "Multi-Token Attention (Golovneva et al., 2025) lets each attention weight depend on several "
    "queries and keys: a small kernel slides over the (query, key) plane of the scores before the "
    "softmax. First, a real model's scores through a kernel you choose; then two small models trained "
    "here on the paper's toy task, one with MTA and one without."
)
picked = model_picker("text")
convolved_tab, toy_tab = st.tabs(VIEWS, key="mta_view", on_change="rerun", bind="query-params")  # a link per tab
if convolved_tab.open:
    with convolved_tab:
        convolved.render(None if picked is None else picked[1])
if toy_tab.open:
    with toy_tab:
        toy.render()
