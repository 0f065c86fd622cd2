"""The Memory page's figure: bytes per optimizer as bars (pure: no streamlit)."""

from __future__ import annotations

import plotly.graph_objects as go

from app.ui.theme import base_layout, run_color

__all__ = ["PARTS", "memory_figure"]

# What training keeps, as the rows of app.memory.model.memory_table name it.
PARTS = (("params_gb", "parameters"), ("grads_gb", "gradients"), ("state_gb", "optimizer state"))


def memory_figure(rows: list[dict], stacked: bool = True) -> go.Figure:
    """Horizontal bars, one per optimizer row: parameters, gradients and state in GB."""
    labels = [r["optimizer"] for r in rows]
    fig = go.Figure()
    for i, (key, name) in enumerate(PARTS):
        values = [r[key] for r in rows]
        fig.add_trace(go.Bar(
            y=labels, x=values, name=name, orientation="h", marker_color=run_color(i),
            hovertemplate="%{y}<br>" + name + ": %{x:.4g} GB<extra></extra>",
        ))
    fig.update_layout(**base_layout(
        barmode="stack" if stacked else "group",
        height=max(360, (36 if stacked else 60) * len(rows) + 140),
        xaxis_title="memory (GB = 10⁹ bytes)",
        legend=dict(orientation="h", y=1.02, yanchor="bottom", x=0, traceorder="normal"),
        margin=dict(l=10, r=20, t=40, b=55),
    ))
    fig.update_yaxes(autorange="reversed", automargin=True)
    return fig
