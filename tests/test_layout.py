"""The folder tree is the architecture: each room imports only the rooms it builds on, and each page only
what it displays. Read from the source with ast, so a stray import fails here rather than in review."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import ROOT

# models/: what each room may import from the library (the engine is the floor; rooms do not borrow sideways)
MODEL_ROOMS = {
    "engine": set(),
    "text": {"engine"},
    "vision": {"engine"},
    "mta": {"engine", "training"},
    "head": {"engine", "vision", "training"},
    "atlas": {"engine"},
    "dates": {"engine", "training"},
    "training": set(),
}
# app/: the library rooms each page displays; shared.py (picker, captures, figure widgets) serves every page
PAGE_ROOMS = {"text": {"engine", "text", "atlas", "dates"}, "atlas": {"engine", "atlas"},
              "vision": {"engine", "vision", "head"}, "mta": {"engine", "mta"},
              "shared": {"engine"}, "navigation": set()}


def _imports(path: Path) -> set[str]:
    """Every absolute module name `path` imports (`import a.b`, `from a.b import c`)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def _room(module: str) -> str | None:
    """The models/ room of an imported module name ("models.engine.capture" -> "engine"), else None."""
    parts = module.split(".")
    return parts[1] if parts[0] == "models" and len(parts) > 1 else None


def _page(path: Path) -> str:
    """Which page an app/ module serves: app_pages/<page>.py, state/<page>.py, views/<page>/..., or shared."""
    relative = path.relative_to(ROOT / "app")
    if relative.parts[0] in ("app_pages", "state", "views") and len(relative.parts) > 1:
        name = relative.parts[1].removesuffix(".py")
        return "shared" if name == "__init__" else name
    return {"shared.py": "shared", "streamlit_app.py": "navigation"}[relative.parts[0]]


def _sources(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


@pytest.mark.parametrize("path", _sources("models"), ids=lambda p: str(p.relative_to(ROOT)))
def test_a_models_room_imports_only_the_rooms_below_it(path):
    relative = path.relative_to(ROOT / "models")
    room = relative.parts[0].removesuffix(".py")
    if room == "__init__":
        return
    imported = _imports(path)
    assert not any(m.split(".")[0] == "streamlit" for m in imported), "models/ has no Streamlit"
    rooms = {_room(m) for m in imported} - {None, room}
    assert rooms <= MODEL_ROOMS[room], f"{relative} imports {sorted(rooms - MODEL_ROOMS[room])}"


@pytest.mark.parametrize("path", _sources("app"), ids=lambda p: str(p.relative_to(ROOT)))
def test_an_app_module_imports_only_what_its_page_displays(path):
    page = _page(path)
    imported = _imports(path)
    rooms = {_room(m) for m in imported} - {None}
    assert rooms <= PAGE_ROOMS[page], f"the {page} page's {path.name} imports models.{sorted(rooms - PAGE_ROOMS[page])}"
    others = {m for m in imported if m.split(".")[0] in ("state", "views") and len(m.split(".")) > 1
              and m.split(".")[1] != page}
    assert not others, f"{path.relative_to(ROOT)} imports another page's modules: {sorted(others)}"


@pytest.mark.parametrize("path", _sources("components"), ids=lambda p: str(p.relative_to(ROOT)))
def test_components_turn_arrays_into_figures_without_model_code(path):
    imported = _imports(path)
    assert not {m for m in imported if m.split(".")[0] in ("models", "streamlit", "transformers")}


def test_every_package_says_what_it_holds_in_one_line():
    for init in [*_sources("models"), *_sources("app"), *_sources("components")]:
        if init.name != "__init__.py":
            continue
        doc = ast.get_docstring(ast.parse(init.read_text()))
        assert doc and doc.splitlines()[0].strip(), f"{init.relative_to(ROOT)} has no one-line docstring"
