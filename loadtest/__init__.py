"""A protocol-level load test of Optimizer Explorer: simulated students speaking Streamlit's websocket protocol.

- :mod:`loadtest.protocol`: one browser tab's conversation with a Streamlit 1.67 server (Streamlit's own
  protobufs over ``/_stcore/stream``), with the browser's widget state and message cache;
- :mod:`loadtest.locustfile`: Locust users (students at a human pace, one heavy session) and the
  isolation checks;
- :mod:`loadtest.drive`: Locust as a library, headless, in a process of its own (gevent);
- :mod:`loadtest.browsers`: real Chromium sessions alongside (Playwright, Debian's Chromium);
- :mod:`loadtest.run`: ``python -m loadtest run``: server, load, samples of the server's memory and CPU,
  the report.

Nothing here is imported by the app; importing this package imports neither Locust nor Streamlit.
"""
