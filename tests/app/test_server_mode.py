"""The real app in server mode (ATTENTION_LENS_MODE=server, .streamlit/attention_lens.toml): a picker of listed
models with no free-text field, and photo search over named roots that never shows a server path."""

from __future__ import annotations

import shutil

import pytest

from tests.apptest import open_view, start_app
from tests.conftest import ROOT
from tests.tiny_models import families


@pytest.fixture
def server(monkeypatch, tmp_path):
    """A server-mode project folder listing one hub id, one model folder and one photo root; the app runs there."""
    model = families()["vit"].save(tmp_path / "models" / "tiny-vit")
    photos = tmp_path / "class-photos"
    photos.mkdir()
    shutil.copy(ROOT / "assets" / "photos" / "coffee.png", photos)
    (tmp_path / ".streamlit").mkdir()
    (tmp_path / ".streamlit" / "attention_lens.toml").write_text(
        f'hub_ids = ["gpt2"]\n[folders]\n"tiny-vit" = "{model}"\n[photo_roots]\n"Class photos" = "{photos}"\n'
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ATTENTION_LENS_MODE", "server")
    return tmp_path


def _texts(at) -> str:
    return " ".join(str(e.value) for kind in ("markdown", "caption", "error", "warning", "info")
                    for e in at.get(kind) + at.sidebar.get(kind))


def test_the_picker_offers_only_the_list_and_no_free_text(server, minilm):
    at = start_app()
    picker = at.sidebar.selectbox(key="model_choice_text")
    assert picker.options == ["all-MiniLM-L6-v2 (offline pack)", "SmolLM2-135M-Instruct (offline pack)",
                              "Dates in words → ISO, a Marian encoder–decoder (trained here)", "gpt2 (hub)",
                              "tiny-vit (this server)"]  # the shipped model is in the app: every server offers it
    assert not at.sidebar.text_input and at.get("plotly_chart")  # no typed ids or paths; the pack draws its maps
    picker.set_value("tiny-vit (this server)").run()
    assert "a vision model" in _texts(at) and str(server) not in _texts(at)  # loaded by name, path never shown


def test_photo_search_offers_roots_by_name_and_never_shows_a_path(server, dinov2):
    at = open_view(start_app("app_pages/vision.py"), "vision_view", "Photo search")
    roots = at.selectbox(key="search_root")
    assert roots.options == ["Example photos", "Class photos"] and not at.text_input
    roots.set_value("Class photos").run()
    assert not at.exception and not at.error and "The **9** entries" in _texts(at)  # 1 photo + 8 crops
    assert str(server) not in _texts(at) and str(ROOT) not in _texts(at)


def test_a_capture_over_the_memory_budget_is_a_message_and_the_text_stays(server, minilm, monkeypatch):
    monkeypatch.setenv("ATTENTION_LENS_CAPTURE_BUDGET_MB", "8")
    at = start_app()
    at.text_area(key="text").set_value("a long input " * 150)
    at.button[0].click().run()
    assert not at.exception and any("over this server's 8 MB per capture. Up to" in w.value for w in at.warning)
    assert at.text_area(key="text").value.startswith("a long input")  # nothing typed is lost
    at.text_area(key="text").set_value("A short one.")
    at.button[0].click().run()
    assert not at.exception and not at.warning and at.get("plotly_chart")
