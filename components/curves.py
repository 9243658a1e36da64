"""Learning curves: one line per run and quantity, drawn from a training log."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import plotly.graph_objects as go

DASHES = ("solid", "dash", "dot", "dashdot")


def learning_curves(logs: Mapping[str, Sequence[Mapping[str, float]]], quantities: Sequence[str], title: str,
                    percent: bool = True, mark: tuple[int, str] | None = None) -> go.Figure:
    """logs: run name -> rows with "step" and each quantity; one colour per run, one dash per quantity.
    mark: (step, label), a labelled vertical line at that step (where a budget ended, say)."""
    fig = go.Figure()
    for run, rows in logs.items():
        for quantity, dash in zip(quantities, DASHES, strict=False):
            values = [row[quantity] * (100 if percent else 1) for row in rows]
            fig.add_scatter(x=[row["step"] for row in rows], y=values, mode="lines", name=f"{run} · {quantity}",
                            line=dict(dash=dash), legendgroup=run)
    fig.update_layout(title=title, xaxis_title="training step", yaxis_title="% of test examples" if percent else "",
                      height=380, margin=dict(t=60, b=40), legend=dict(font=dict(size=10)))
    if percent:
        fig.update_yaxes(range=[-2, 102])
    if mark is not None:
        fig.add_vline(x=mark[0], line=dict(dash="dot", color="grey", width=1.5))
        fig.add_annotation(x=mark[0], y=1, yref="paper", yanchor="bottom", text=mark[1], showarrow=False,
                           font=dict(size=11, color="grey"))  # above the plot, clear of the lines
    return fig
