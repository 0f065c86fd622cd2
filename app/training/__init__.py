"""Live Training: the tiny MLP and its optimizers raced side by side (:mod:`.backend`, torch
imported lazily), the 2D datasets (:mod:`.datasets`), what the live view is sent (:mod:`.figures`,
pure functions of a race) and the view itself, a Streamlit component drawn in the browser
(:mod:`.live_view`, with its JavaScript and CSS in ``static/``)."""
