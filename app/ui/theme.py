"""Colors, fonts and sizes shared by every figure, chosen to read from the back of a lecture hall."""

from __future__ import annotations

# Okabe-Ito: distinguishable with the common color-vision deficiencies, and on a projector.
RUN_COLORS = ("#E69F00", "#56B4E9", "#009E73", "#D55E00", "#CC79A7", "#0072B2", "#F0E442", "#000000")
FONT_SIZE = 16
TITLE_SIZE = 20
LINE_WIDTH = 3
MARKER_SIZE = 12
FONT_FAMILY = "DejaVu Sans, Arial, sans-serif"


def run_color(i: int) -> str:
    return RUN_COLORS[i % len(RUN_COLORS)]


def base_layout(**overrides) -> dict:
    """Layout keys every figure starts from: large type, white background, tight margins."""
    layout = dict(
        template="plotly_white",
        font=dict(size=FONT_SIZE, family=FONT_FAMILY),
        margin=dict(l=60, r=20, t=50, b=55),
        legend=dict(font=dict(size=FONT_SIZE)),
        hoverlabel=dict(font_size=FONT_SIZE),
    )
    layout.update(overrides)
    return layout
