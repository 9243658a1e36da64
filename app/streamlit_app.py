"""Attention Lens: see how real pretrained transformers attend, per layer and per head."""

import streamlit as st
from shared import settle_heap

st.set_page_config(page_title="Attention Lens", page_icon="🔍", layout="wide")
settle_heap()  # once: the libraries' objects leave the collector's sight (a full collection follows each rerun)
# Progress bars step instead of gliding: Streamlit eases each update over 0.5 s and ours come every 0.5 s, so a long
# capture kept the page compositing ~10 frames a second, CPU a browser on the same machine takes from the model.
st.html("<style>[data-testid='stProgress'] * { transition: none !important; }</style>")

navigation = st.navigation(
    [
        st.Page("app_pages/text.py", title="Text", icon=":material/text_fields:", default=True, url_path="text"),
        st.Page("app_pages/vision.py", title="Vision", icon=":material/image:", url_path="vision"),
        st.Page("app_pages/mta.py", title="Multi-Token Attention", icon=":material/grid_on:", url_path="mta"),
        st.Page("app_pages/atlas.py", title="Head atlas", icon=":material/travel_explore:", url_path="atlas"),
    ]
)
st.sidebar.caption("Attention Lens · real models, real attention, computed on this machine.")
navigation.run()
