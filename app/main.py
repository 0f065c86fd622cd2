"""Entry point: the page navigation of Optimizer Explorer (``streamlit run app/main.py``)."""

import os
import sys

import streamlit as st

# Streamlit runs this file as a script; make the repository importable from any working directory.
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

st.set_page_config(page_title="Optimizer Explorer", page_icon="🧭", layout="wide")

_HERE = os.path.dirname(os.path.abspath(__file__))
pages = [
    st.Page(os.path.join(_HERE, "views", "playground.py"), title="Playground", icon="🏔️", default=True),
    st.Page(os.path.join(_HERE, "views", "schedules.py"), title="Schedules", icon="📉", url_path="schedules"),
    st.Page(os.path.join(_HERE, "views", "live_training.py"), title="Live Training", icon="🧠", url_path="live-training"),
    st.Page(os.path.join(_HERE, "views", "memory.py"), title="Memory", icon="💾", url_path="memory"),
]
st.navigation(pages).run()
