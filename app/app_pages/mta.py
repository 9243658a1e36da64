"""Multi-Token Attention page: convolved maps on a real model, and models trained with MTA on the toy task."""

import streamlit as st
from session import keep_widget_state, model_picker
from views import mta_convolved, mta_toy

VIEWS = ["Convolved maps on a real model", "Trained on the toy task"]

# before any st.stop: a failed input must not reset the closed tabs' choices
keep_widget_state(mta_convolved, mta_toy)
st.title("Multi-Token Attention")
st.caption(
    "Multi-Token Attention (Golovneva et al., 2025) lets each attention weight depend on several "
    "queries and keys: a small kernel slides over the (query, key) plane of the scores before the "
    "softmax. First, a real model's scores through a kernel you choose; then two small models trained "
    "here on the paper's toy task, one with MTA and one without."
)
picked = model_picker("text")
convolved, toy = st.tabs(VIEWS, key="mta_view", on_change="rerun", bind="query-params")  # a link per tab
if convolved.open:
    with convolved:
        mta_convolved.render(None if picked is None else picked[1])
if toy.open:
    with toy:
        mta_toy.render()
