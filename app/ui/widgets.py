"""Streamlit helpers shared by the pages' URL-bound widgets."""

from __future__ import annotations

import streamlit as st

from app.ui.controls import nearest_option


def fit_stored(key: str, options, log: bool = False) -> None:
    """Move a stored widget value (from a URL, a preset or an older range) onto the widget's
    options, or drop it so the widget starts from its default."""
    ss = st.session_state
    if key in ss and ss[key] not in options:
        value = nearest_option(ss[key], options, log=log)
        if value is None:
            del ss[key]
        else:
            ss[key] = value
