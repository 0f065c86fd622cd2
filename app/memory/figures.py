"""The Memory page's figure: bytes per optimizer as bars (pure: no streamlit)."""

from __future__ import annotations

import plotly.graph_objects as go

from app.ui.theme import FONT_SIZE, base_layout, palette, run_pattern, run_tone

__all__ = ["PARTS", "memory_figure"]

# What training keeps, as the rows of app.memory.model.memory_table name it.
PARTS = (("params_gb", "parameters"), ("grads_gb", "gradients"), ("state_gb", "optimizer state"))


def memory_figure(rows: list[dict], stacked: bool = True) -> go.Figure:
    """Horizontal bars, one per optimizer row: parameters, gradients and state in GB, each part in its
    color and fill pattern (told apart without their colors), for the current theme."""
    p = palette()
    labels = [r["optimizer"] for r in rows]
    fig = go.Figure()
    for i, (key, name) in enumerate(PARTS):
        values = [r[key] for r in rows]
        fig.add_trace(go.Bar(
            y=labels, x=values, name=name, orientation="h",
            marker=dict(color=run_tone(i), line=dict(color=p.marker_edge, width=1),
                        pattern=dict(shape=run_pattern(i), fgcolor=p.paper, fgopacity=0.6, size=10, solidity=0.3)),
            hovertemplate="%{y}<br>" + name + ": %{x:.4g} GB<extra></extra>",
        ))
    fig.update_layout(**base_layout(
        barmode="stack" if stacked else "group",
        height=max(360, (36 if stacked else 60) * len(rows) + 140),
        xaxis=dict(title=dict(text="memory (GB = 10⁹ bytes)")),
        yaxis=dict(autorange="reversed", automargin=True, tickfont=dict(size=FONT_SIZE)),
        legend=dict(orientation="h", y=1.02, yanchor="bottom", x=0, traceorder="normal"),
        margin=dict(l=10, r=20, t=40, b=60),
    ))
    return fig
