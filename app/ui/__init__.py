"""What every page shares: the values a control offers and how numbers are written
(:mod:`app.ui.controls`, pure), the Streamlit widget helpers (:mod:`app.ui.widgets`) and the
look (:mod:`app.ui.theme`)."""
