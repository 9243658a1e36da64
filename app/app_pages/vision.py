"""Vision page: a photo in, where attention pooling focuses per head, any patch, rollout, saliency."""


import streamlit as st
from shared import figure_format_control, keep_widget_state, model_picker, show_model_notes
from state.vision import PHOTOS, image_capture
from views.vision import head, patch, pooling, rollout, saliency, search

from components.markdown import escape_markdown
from components.overlays import COLORMAPS
from models.engine.export import capture_npz
from models.vision.focus import pooling_focus, rollout_focus
from models.vision.images import FORMATS

EXAMPLES = {
    "Astronaut (NASA, public domain)": "astronaut.png",
    "Cat (CC0)": "chelsea.png",
    "Coffee cup (CC0)": "coffee.png",
    "Rocket launch (SpaceX, public domain)": "rocket.jpg",
    "Cameraman, greyscale (CC0)": "camera.png",
}
UPLOAD_TYPES = ["jpg", "jpeg", "png", "webp", "bmp", "gif", "tif", "tiff"]
VIEWS = ("Pooling focus", "Any patch", "Rollout", "Attention vs saliency", "Attention head (seed 000)",
         "Photo search")

# before any st.stop: a failed input must not reset the closed tabs' choices
keep_widget_state(pooling, patch, rollout, saliency, head, search)
st.title("Vision attention")
st.caption(
    "Where a real vision transformer looks: the attention that pools the image into its embedding, "
    "per head, drawn over the photo exactly as the model saw it (after its own resize and crop)."
)

picked = model_picker("vision")
pick_example, upload = st.columns([1, 1.4], vertical_alignment="bottom")
example = pick_example.selectbox("Example photo", list(EXAMPLES), key="example")
uploaded = upload.file_uploader(f"…or your own photo ({', '.join(FORMATS)})", type=UPLOAD_TYPES, key="upload")
if picked is None:
    st.info("Choose a model in the sidebar to see its attention.")
    st.stop()
loaded, model_key = picked
data = uploaded.getvalue() if uploaded is not None else (PHOTOS / EXAMPLES[example]).read_bytes()
shown = f"your upload {escape_markdown(uploaded.name)}" if uploaded is not None else f"the example {EXAMPLES[example]}"
result = image_capture(model_key, data)
if result is None:
    st.caption("The rest of the page keeps working: choose another file or an example photo.")
    st.stop()
key, capture, notes = result
for note in notes:
    st.info(note)
show_model_notes(loaded, capture)
grid = capture.grid
extras = [f"{n} {name}" for n, name in ((grid.cls_tokens, "CLS"), (grid.registers, "register"),
                                         (grid.padding, "padding")) if n]
st.markdown(
    f"Showing {shown} · **{grid.rows} × {grid.cols} patches** "
    f"({capture.pixels.shape[1]} × {capture.pixels.shape[0]} px seen)"
    + (f" + {', '.join(extras)} token(s), never drawn as patches" if extras else "")
    + f" · **{capture.num_layers} layers × {capture.num_heads} heads**"
)

opacity_col, colour_col, format_col, download_col = st.columns([1.2, 1, 1, 1.4], vertical_alignment="bottom")
opacity_col.slider("Overlay opacity", 0.0, 1.0, 0.6, 0.05, key="opacity")
colour_col.selectbox("Colormap", COLORMAPS, key="colormap")
figure_format_control(format_col)
download_col.download_button(
    "Download the maps (.npz)", file_name="attention-vision.npz", mime="application/octet-stream",
    data=lambda: capture_npz(capture, {"pooling_focus": pooling_focus(capture).numpy(),
                                       "rollout_focus": rollout_focus(capture).numpy()}),
    on_click="ignore", icon=":material/download:",
    help="Every layer's weights and scores, the grid, the photo as seen, pooling focus per head and rollout.",
)

pooling_tab, patch_tab, rollout_tab, saliency_tab, head_tab, search_tab = st.tabs(
    VIEWS, key="vision_view", on_change="rerun", bind="query-params")  # ?vision_view=Rollout links a tab
if pooling_tab.open:
    with pooling_tab:
        pooling.render(capture)
if patch_tab.open:
    with patch_tab:
        patch.render(capture)
if rollout_tab.open:
    with rollout_tab:
        rollout.render(key, capture)
if saliency_tab.open:
    with saliency_tab:
        saliency.render(key, capture, loaded.name)
if head_tab.open:
    with head_tab:
        head.render(model_key, data)
if search_tab.open:
    with search_tab:
        search.render(model_key, data)
