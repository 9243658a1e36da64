"""components.curves: a line per run and quantity, in percent, and a labelled step."""

from __future__ import annotations

from components.curves import learning_curves

LOGS = {"42": [{"step": 250, "error": 0.5, "copied": 0.25}, {"step": 500, "error": 0.25, "copied": 0.75}],
        "43": [{"step": 250, "error": 1.0, "copied": 0.0}]}


def test_one_line_per_run_and_quantity_in_percent():
    fig = learning_curves(LOGS, ["error", "copied"], "title")
    lines = {trace.name: (list(trace.x), list(trace.y), trace.line.dash) for trace in fig.data}
    assert lines == {"42 · error": ([250, 500], [50.0, 25.0], "solid"),
                     "42 · copied": ([250, 500], [25.0, 75.0], "dash"),
                     "43 · error": ([250], [100.0], "solid"), "43 · copied": ([250], [0.0], "dash")}
    assert not fig.layout.shapes and not fig.layout.annotations


def test_a_marked_step_is_a_labelled_vertical_line():
    fig = learning_curves(LOGS, ["error"], "title", percent=False, mark=(300, "budget ends"))
    assert [trace.y for trace in fig.data] == [(0.5, 0.25), (1.0,)]
    (line,) = fig.layout.shapes
    assert (line.x0, line.x1, line.xref, line.yref) == (300, 300, "x", "y domain")
    assert [a.text for a in fig.layout.annotations] == ["budget ends"]
