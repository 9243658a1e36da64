"""Head atlas page: what every head of a model does across a whole corpus, from an atlas file (DuckDB)."""

import streamlit as st
from shared import keep_widget_state, model_picker
from state.atlas import atlas_files, cached_atlas
from views.atlas import build, card, grid

from models.atlas.atlas import TABLES
from models.atlas.store import AtlasError

keep_widget_state(build, grid, card)
linked = dict(st.query_params)  # a link from the Text page's head table: that atlas, at that head
st.query_params.clear()
st.title("Head atlas")
st.caption(
    "What each head does in general, not on one input: its share of attention on sinks, neighbours and "
    "punctuation, its spread, and its copying behaviour, averaged over a corpus (measures from Clark et al. 2019, "
    "Olsson et al. 2022 and TransformerLens's head detector). Atlases are built by `python -m models.atlas` on "
    "Ray and kept in DuckDB files."
)
picked = model_picker("text")
build.render(None if picked is None else picked[1][0])
files = atlas_files()
if not files:
    st.info("No atlas yet: build one above, or run `python -m models.atlas --out <atlas folder>/NAME.duckdb`.")
    st.stop()
if linked.get("atlas") in files:
    st.session_state["atlas_file"] = linked["atlas"]
    for part in ("layer", "head"):
        if linked.get(part, "").isdigit():
            st.session_state[f"atlas_{part}"] = int(linked[part])
name = st.selectbox("Atlas", list(files), key="atlas_file")
try:
    atlas = cached_atlas(str(files[name]), files[name].stat().st_mtime)
except AtlasError as error:
    st.warning(str(error))
    st.stop()
st.caption(f"**{atlas.model}** · {atlas.num_layers} layers × {atlas.num_heads} heads · {atlas.texts:,} texts, "
           f"{atlas.tokens:,} tokens from {atlas.corpus} · built with {atlas.run.get('engine')} in "
           f"{atlas.run.get('seconds', 0):.0f} s")
downloads = st.columns(len(TABLES))
for column, table in zip(downloads, TABLES, strict=True):
    column.download_button(f"{table}.parquet", data=lambda t=table: atlas.parquet(t), file_name=f"{table}.parquet",
                           mime="application/octet-stream", on_click="ignore", icon=":material/download:")
relations = atlas.syntax()
if relations:
    with st.expander("Syntax: the best head for each dependency relation, beside the best fixed offset "
                     "(Clark et al. 2019)", icon=":material/account_tree:"):
        st.dataframe(card.syntax_table(relations, with_head=True), hide_index=True, width="stretch",
                     column_config={c: st.column_config.NumberColumn(format="%.2f")
                                    for c in ("accuracy", "offset baseline")})
layer, head = grid.render(atlas)
card.render(atlas, layer, head, None if picked is None else picked[1])
