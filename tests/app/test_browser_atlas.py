"""The Atlas page in Chromium: a click on the grid opens that head's card; an atlas built from the page on Ray
shows its progress, then its grid."""

from __future__ import annotations

import pytest

from models.atlas.corpus import read_corpus
from models.atlas.job import AtlasJob, build_atlas
from tests.browser import wait_for_app, wait_for_text
from tests.conftest import ARTIFACTS, serve_app

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def atlas_url(tmp_path_factory, minilm):
    folder = tmp_path_factory.mktemp("atlases")
    build_atlas(AtlasJob("pack:minilm", "wordnet-examples.txt", tuple(read_corpus()[:48]), probes=2, shard_size=16),
                folder / "minilm-48.duckdb", engine="plain")
    with serve_app({"ATTENTION_LENS_ATLASES": str(folder)}) as url:
        yield url + "/atlas"


def test_a_click_on_the_grid_opens_that_heads_card(page, atlas_url):
    page.goto(atlas_url)
    wait_for_app(page)
    wait_for_text(page, "[data-testid='stHeading']", "Layer 0 · head 0")
    grid = page.locator("[data-testid='stPlotlyChart']").first.locator(".nsewdrag").first
    box = grid.bounding_box()
    layer, head = 3, 5  # 6 layers (L0 on top) × 12 heads
    page.mouse.click(box["x"] + (head + 0.5) / 12 * box["width"], box["y"] + (layer + 0.5) / 6 * box["height"])
    wait_for_text(page, "[data-testid='stHeading']", f"Layer {layer} · head {head}")
    wait_for_app(page)
    assert page.locator("[data-testid='stException']").count() == 0 and page.external_requests == []


def test_an_atlas_built_from_the_page_on_ray_shows_progress_then_its_grid(page, tmp_path, minilm):
    with serve_app({"ATTENTION_LENS_ATLASES": str(tmp_path)}) as url:
        page.goto(url + "/atlas")
        wait_for_app(page)
        wait_for_text(page, "[data-testid='stAlert']", "No atlas yet")
        page.get_by_text("Build an atlas").click()
        slider = page.get_by_role("slider")
        slider.focus()
        slider.press("Home")  # 100 texts, the least
        wait_for_app(page)
        page.get_by_role("button", name="Build the atlas of pack:minilm over 100 texts").click()
        wait_for_text(page, "[data-testid='stProgress']", "Building minilm-wordnet-100.duckdb", timeout=60_000)
        wait_for_text(page, "[data-testid='stAlert']", "minilm-wordnet-100.duckdb is ready: 100 texts", timeout=240_000)
        wait_for_text(page, "[data-testid='stHeading']", "Layer 0 · head 0", timeout=60_000)
        wait_for_app(page)
        assert (tmp_path / "minilm-wordnet-100.duckdb").is_file()
        assert page.locator("[data-testid='stException']").count() == 0
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "atlas-built-on-the-page.png"), full_page=True)
