"""The Atlas page through the real app script: an atlas of the MiniLM pack drawn as a grid and a head's card,
bad atlas files as messages, and no building on a shared server."""

from __future__ import annotations

import pytest

from models.atlas.corpus import read_corpus
from models.atlas.job import AtlasJob, build_atlas
from tests.apptest import rerun, start_app

PAGE = "app_pages/atlas.py"


@pytest.fixture(scope="module")
def atlas_of_minilm(tmp_path_factory, minilm):
    """A small real atlas: MiniLM over the first 48 bundled sentences, two probes."""
    folder = tmp_path_factory.mktemp("atlases")
    build_atlas(AtlasJob("pack:minilm", "wordnet-examples.txt", tuple(read_corpus()[:48]), probes=2, shard_size=16),
                folder / "minilm-48.duckdb", engine="plain")
    return folder


@pytest.fixture
def atlases(atlas_of_minilm, monkeypatch):
    monkeypatch.setenv("ATTENTION_LENS_ATLASES", str(atlas_of_minilm))
    return atlas_of_minilm


def test_the_grid_and_a_heads_card_with_its_examples_drawn_as_maps(atlases):
    at = start_app(PAGE)
    assert at.selectbox(key="atlas_file").options == ["minilm-48.duckdb"]
    assert "pack:minilm** · 6 layers × 12 heads · 48 texts" in " ".join(c.value for c in at.caption)
    charts = at.get("plotly_chart")
    assert len(charts) == 1 + 3  # the grid, then the three top examples of the head's strongest measure
    relations, table, _ = (d.value for d in at.dataframe)  # the page's syntax table, the card's measures, its syntax
    assert {"relation", "head", "accuracy", "offset baseline"} <= set(relations.columns) and len(relations) > 0
    assert any(m.value.startswith("**Syntax.** The relation it tracks best") for m in at.markdown)
    assert list(table["measure"])[:2] == ["sink_share", "special_share"] and table["rank"].str.endswith("of 72").all()
    at.selectbox(key="atlas_layer").set_value(0)
    at.selectbox(key="atlas_head").set_value(2)
    at.selectbox(key="atlas_examples_of").set_value("previous_token")
    rerun(at)
    assert at.subheader[0].value == "Layer 0 · head 2" and not at.error


def test_a_similar_head_opens_its_card(atlases):
    at = start_app(PAGE)
    like = next(b for b in at.button if b.key and b.key.startswith("atlas_like_"))
    layer, head = (int(x) for x in like.key.removeprefix("atlas_like_").split("_"))
    like.click()
    rerun(at)
    assert at.subheader[0].value == f"Layer {layer} · head {head}"


def test_every_measure_colours_the_grid(atlases):
    at = start_app(PAGE)
    for measure in at.selectbox(key="atlas_measure").options:
        at.selectbox(key="atlas_measure").set_value(measure)
        rerun(at)
        assert not at.error


def test_an_unreadable_or_unfinished_atlas_is_a_message(atlases, tmp_path, monkeypatch):
    (tmp_path / "broken.duckdb").write_bytes(b"not a database at all")
    monkeypatch.setenv("ATTENTION_LENS_ATLASES", str(tmp_path))
    at = start_app(PAGE)
    assert "broken.duckdb cannot be read as an atlas" in at.warning[0].value


def test_with_no_atlas_the_page_says_how_to_make_one(tmp_path, monkeypatch, minilm):
    monkeypatch.setenv("ATTENTION_LENS_ATLASES", str(tmp_path))
    at = start_app(PAGE)
    assert "No atlas yet" in at.info[0].value and not at.exception


def test_a_shared_server_shows_atlases_but_builds_none(atlases, monkeypatch):
    monkeypatch.setenv("ATTENTION_LENS_MODE", "server")
    at = start_app(PAGE)
    assert not [b for b in at.button if b.label.startswith("Build the atlas")]
    assert any("building one is done where it runs" in c.value for c in at.caption)
    shown = " ".join(str(e.value) for kind in ("caption", "markdown", "info") for e in at.get(kind))
    assert str(atlases) not in shown  # no server path


def test_the_text_pages_head_table_links_each_head_to_its_atlas_card(atlases):
    at = start_app()  # the Text page, MiniLM: an atlas of MiniLM exists
    table = next(d.value for d in at.dataframe if "atlas" in d.value.columns)
    assert table["atlas"].iloc[3] == "/atlas?atlas=minilm-48.duckdb&layer=0&head=3"
    linked = start_app(PAGE)
    linked.query_params.update({"atlas": "minilm-48.duckdb", "layer": "2", "head": "7"})
    rerun(linked)
    assert linked.subheader[0].value == "Layer 2 · head 7"
