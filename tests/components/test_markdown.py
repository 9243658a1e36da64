"""components.markdown: user text stays literal inside markdown."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from components.markdown import escape_markdown

NASTY = "**bold** [link](javascript:alert(1)) `code` $x^2$ :smile: <b>tag</b> # head\nline"


def test_markdown_specials_are_backslashed_and_streamlit_takes_the_result():
    at = AppTest.from_string(f"import streamlit as st\nst.markdown({escape_markdown(NASTY)!r})")
    at.run()
    assert not at.exception
    assert at.markdown[0].value == escape_markdown(NASTY)
    assert "\\*\\*bold\\*\\*" in escape_markdown(NASTY) and "\\[link\\]" in escape_markdown(NASTY)
    assert "\n" not in escape_markdown(NASTY)
