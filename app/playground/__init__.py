"""The Playground: optimizer races on 2D loss surfaces (the page is app/views/playground.py).

- :mod:`.scene` — what a race is (the frozen Scene and its runs) and the values its controls offer;
- :mod:`.presets` — the gallery of lessons; its first scene is the default scene;
- :mod:`.state` — the page's widget (URL) state and the scene, both ways, from one table;
- :mod:`.race` — running a scene on the engine, every refusal a message;
- :mod:`.theory` — the stability theory in words, why a run diverged, the Theory tab's cards;
- :mod:`.analyses` — convergence, sensitivity and stability sweeps of one run;
- :mod:`.cache` — the page's cached results under one cache key (imports streamlit);
- :mod:`.panels` — the page's figures and tables of a computed race;
- :mod:`.figures` — pure figure builders (also used by the Schedules page);
- :mod:`.inspector` — one step of one run, its update rule filled in;
- :mod:`.handoff` — widget values queued for the page's next run (presets, clicks, other pages);
- :mod:`.bench` — time from inputs to a serialized race figure.
"""
