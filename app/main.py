"""Entry point: the page navigation of Optimizer Explorer (``streamlit run app/main.py``)."""

import os
import sys

import streamlit as st

# Streamlit runs this file as a script; make the repository importable from any working directory.
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from app.ui import presenter  # noqa: E402
from app import housekeeping; housekeeping.start()  # noqa: E402,E702 - frees ended sessions' memory (once per process)

# No page or navigation icons: an emoji icon is drawn as an empty box by a browser without a
# colour-emoji font (and a favicon emoji is fetched from a CDN), a Material icon is a web font
# fetched from the internet. The titles say it all. Presenter mode (?presenter=1) starts with the
# sidebar collapsed.
presenter.setup()

_HERE = os.path.dirname(os.path.abspath(__file__))
pages = [
    st.Page(os.path.join(_HERE, "views", "playground.py"), title="Playground", default=True),
    st.Page(os.path.join(_HERE, "views", "schedules.py"), title="Schedules", url_path="schedules"),
    st.Page(os.path.join(_HERE, "views", "live_training.py"), title="Live Training", url_path="live-training"),
    st.Page(os.path.join(_HERE, "views", "memory.py"), title="Memory", url_path="memory"),
]
page = st.navigation(pages)
presenter.controls()
page.run()
