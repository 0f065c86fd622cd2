"""What the Live Training view is sent, as pure functions of a race (app.training.figures).

The browser's side is mirrored by :class:`Browser` (the same rules as ``Series.apply`` in
app/training/static/live_view.js): it holds rows 0, s, 2s, ... of each series, drops the rows
that are not multiples of a raised stride, and refuses a block whose base is not its length.
"""

import json

import numpy as np
import pytest

from app.training import backend as T
from app.training import figures as TF
from app.training.datasets import make_dataset, train_test_split
from app.ui import theme

pytestmark = pytest.mark.skipif(not T.torch_available(), reason="the Live Training backend needs the torch extra")


def make_race(runs=None, n=128, seed=0):
    X, y = make_dataset("moons", n=n, noise=0.1, seed=seed)
    Xtr, ytr, Xte, yte = train_test_split(X, y, test_fraction=0.25, seed=seed)
    runs = runs or [T.TrainingRunConfig("Adam", {"lr": 0.01}), T.TrainingRunConfig("SGD", {"lr": 0.1}, clip_norm=0.5)]
    return T.Race(Xtr, ytr, Xte, yte, runs, seed=seed, eval_every=5)


class Browser:
    """The browser's copy, by the rules of live_view.js (one Series per run and kind)."""

    def __init__(self):
        self.race = None
        self.series = {}
        self.grid_steps = {}

    def receive(self, payload) -> bool:
        """Apply a payload; False where live_view.js asks for a full resend."""
        if payload["full"]:
            self.race = payload["race"]
            self.series = {}
            self.grid_steps = {}
        elif payload["race"] != self.race:
            return False
        for i, run in enumerate(payload["runs"]):
            for kind, cols in (("hist", TF.HIST_COLUMNS), ("evals", TF.EVAL_COLUMNS)):
                block = run[kind]
                stride, rows = self.series.get((i, kind), (1, np.empty((0, len(cols)), np.float32)))
                if block["stride"] < stride or block["stride"] % stride:
                    return False
                if block["stride"] > stride:
                    rows = rows[:: block["stride"] // stride]
                    stride = block["stride"]
                if block["base"] > len(rows):
                    return False  # a gap
                skip = len(rows) - block["base"]
                self.series[(i, kind)] = (stride, np.concatenate([rows, TF.decode_rows(block, cols)[skip:]]))
            if run["grid"]:
                self.grid_steps[i] = run["grid_step"]
        return True


def expected_rows(columns: dict, names, stride: int) -> np.ndarray:
    return np.stack([columns[n][::stride] for n in names], axis=1).astype(np.float32)


def test_stride_keeps_at_most_keep_rows_and_only_doubles():
    assert [TF.stride_for(n, 4) for n in (0, 1, 4, 5, 8, 9, 16, 17, 33)] == [1, 1, 1, 2, 2, 4, 4, 8, 16]
    prev = 1
    for n in range(0, 5000, 7):
        s = TF.stride_for(n, 100)
        assert -(-n // s) <= 100 and s >= prev and s & (s - 1) == 0
        prev = s
    # the browser held rows 0, 2, ..., 10 (next_row 12); at stride 8 it keeps 0 and 8: next is 16
    assert TF.kept_after(12, 2, 8) == 16 and TF.kept_after(0, 1, 4) == 0 and TF.kept_after(5, 1, 4) == 8


def test_a_new_race_is_sent_in_full_with_the_points_and_a_grid_per_run():
    race = make_race()
    payload, sync = TF.live_payload(race, None)
    json.dumps(payload, allow_nan=False)  # what Streamlit sends; NaN is not JSON
    assert payload["full"] and payload["race"] == race.uid and payload["seq"] == 0 and payload["step"] == 0
    assert payload["note"] == TF.START_NOTE  # step 0: an explanation instead of empty axes
    # the (default: light) theme's colors and sizes the browser draws with
    assert payload["style"]["text"] == theme.LIGHT.text and payload["style"]["paper"] == theme.LIGHT.paper
    assert payload["sizes"]["font"] == theme.FONT_SIZE
    s = payload["static"]
    assert s["grid"] == TF.GRID and s["hist_columns"] == list(TF.HIST_COLUMNS)
    assert [r["clip"] for r in s["runs"]] == [False, True]
    assert s["runs"][1]["color"] != s["runs"][0]["color"]
    x = np.frombuffer(__import__("base64").b64decode(s["train"]["x"]), dtype="<f4").reshape(-1, 2)
    np.testing.assert_array_equal(x, race.X_train)
    yb = np.frombuffer(__import__("base64").b64decode(s["test"]["y"]), dtype=np.uint8)
    np.testing.assert_array_equal(yb, race.y_test)
    np.testing.assert_allclose(s["bounds"], race.bounds())
    for sent, run in zip(payload["runs"], race.runs):
        grid = TF.decode_grid(sent["grid"])
        assert grid.dtype == np.uint8 and grid.shape == (TF.GRID, TF.GRID)
        # levels of the clipped logit difference (asinh-spaced): P(class 1) = σ(z), to within half a level
        a, clip = s["logit_scale"], s["logit_clip"]
        z = a * np.sinh((grid - 127.5) / 127.5 * np.arcsinh(clip / a))
        prob = race.decision_grid(run, TF.GRID)["prob"]  # float32, the same points
        assert np.abs(1 / (1 + np.exp(-z)) - prob).max() <= 0.25 * 0.5 * 0.3 + 1e-3  # 0.3: the widest level
        assert grid.min() < 128 < grid.max()  # both classes somewhere in the frame, the boundary between
        assert sent["hist"] == {"stride": 1, "base": 0, "n": 0, "data": ""}
        assert sent["evals"]["n"] == 1 and sent["evals"]["base"] == 0
    assert sync.race == race.uid and [h.next_row for h in sync.sent[-1].hist] == [0, 0]
    assert sync.grid_steps == [0, 0] and len(sync.sent) == 1


def test_each_payload_appends_only_the_new_rows():
    race = make_race()
    browser = Browser()
    payload, sync = TF.live_payload(race, None, repeat=0)
    assert browser.receive(payload)
    for steps in (3, 7, 0, 12):
        race.train(steps)
        before = sync
        payload, sync = TF.live_payload(race, sync, repeat=0)
        assert not payload["full"] and "static" not in payload and payload["seq"] == before.seq + 1
        # in every payload: whichever reaches the browser first
        assert payload["style"]["text"] == theme.LIGHT.text and payload["sizes"]["font"] == theme.FONT_SIZE
        for i, (sent, run) in enumerate(zip(payload["runs"], race.runs)):
            assert sent["hist"]["base"] == before.sent[-1].hist[i].next_row
            assert sent["hist"]["n"] == steps
            rows = TF.decode_rows(sent["hist"])
            assert rows.dtype == np.float32 and rows.shape == (steps, len(TF.HIST_COLUMNS))
            np.testing.assert_array_equal(rows[:, 0], run.history["step"][-steps:] if steps else [])
            # a run that did not move sends no grid; one that did, its new grid
            assert (sent["grid"] is None) == (steps == 0) and sent["grid_step"] == run.step
        assert browser.receive(payload)
    for i, run in enumerate(race.runs):
        np.testing.assert_array_equal(browser.series[(i, "hist")][1], expected_rows(run.history, TF.HIST_COLUMNS, 1))
        np.testing.assert_array_equal(browser.series[(i, "evals")][1], expected_rows(run.evals, TF.EVAL_COLUMNS, 1))
    np.testing.assert_array_equal(browser.series[(1, "hist")][1][:, 0], np.arange(1, 23))  # row r is step r + 1


def test_each_payload_repeats_the_last_few_so_lost_ones_leave_no_gap():
    """Streamlit drops a run's unsent output when the next run starts at once: up to REPEAT payloads
    in a row may never arrive, and the browser's copy still ends complete."""
    race = make_race()
    browser = Browser()
    payload, sync = TF.live_payload(race, None)
    assert browser.receive(payload)
    sizes = []
    for k in range(12):
        race.train(4)
        payload, sync = TF.live_payload(race, sync)
        sizes.append(payload["runs"][0]["hist"]["n"])
        if k % (TF.REPEAT + 1) != TF.REPEAT:
            continue  # lost: REPEAT in a row
        assert browser.receive(payload)
        for i, run in enumerate(race.runs):
            np.testing.assert_array_equal(browser.series[(i, "hist")][1],
                                          expected_rows(run.history, TF.HIST_COLUMNS, 1))
            assert browser.grid_steps[i] == run.step
    assert sizes[TF.REPEAT:] == [4 * (TF.REPEAT + 1)] * (12 - TF.REPEAT)  # the new rows and the last REPEAT's
    # Paused: the last grids and rows are repeated REPEAT more times, then nothing is resent.
    race.train(4)
    payloads = []
    for _ in range(TF.REPEAT + 2):
        payload, sync = TF.live_payload(race, sync)
        payloads.append(payload)
    assert [p["runs"][0]["grid"] is not None for p in payloads] == [True] * (TF.REPEAT + 1) + [False]
    assert payloads[-1]["runs"][0]["hist"]["n"] == 0 and payloads[-2]["runs"][0]["hist"]["n"] == 4
    # More lost payloads in a row than that leave a gap: the browser asks for everything (see live_view.js).
    for _ in range(TF.REPEAT + 1):
        race.train(4)
        payload, sync = TF.live_payload(race, sync)  # lost
    race.train(4)
    assert not browser.receive(TF.live_payload(race, sync)[0])


def test_long_histories_are_thinned_the_same_way_on_both_sides():
    race = make_race([T.TrainingRunConfig("Adam", {"lr": 0.01})])
    keep = 16
    browser = Browser()
    payload, sync = TF.live_payload(race, None, keep=keep)
    assert browser.receive(payload)
    rng = np.random.default_rng(0)
    for _ in range(25):
        race.train(int(rng.integers(0, 30)))
        payload, sync = TF.live_payload(race, sync, keep=keep)
        if rng.random() < 0.3:
            TF.live_payload(race, sync, keep=keep)  # a payload that got lost (one in a row at most here)
            race.train(int(rng.integers(0, 30)))
            payload, sync = TF.live_payload(race, sync, keep=keep)
        assert browser.receive(payload), payload["seq"]
        for kind, cols, columns in (("hist", TF.HIST_COLUMNS, race.runs[0].history),
                                    ("evals", TF.EVAL_COLUMNS, race.runs[0].evals)):
            stride, rows = browser.series[(0, kind)]
            assert len(rows) <= keep and stride == TF.stride_for(len(columns["step"]), keep)
            np.testing.assert_array_equal(rows, expected_rows(columns, cols, stride))
    assert browser.series[(0, "hist")][0] >= 16  # hundreds of steps, at most 16 rows kept
    # A fresh copy of a long race is thinned from the start.
    full, _ = TF.live_payload(race, None, keep=keep)
    assert full["runs"][0]["hist"]["n"] <= keep and full["runs"][0]["hist"]["stride"] == sync.sent[-1].hist[0].stride


def test_a_gap_is_refused_and_a_resend_is_full():
    race = make_race()
    payload, sync = TF.live_payload(race, None)
    race.train(4)
    append, sync2 = TF.live_payload(race, sync)
    assert not Browser().receive(append)  # a remounted or reloaded view holds nothing: it must ask
    # Python resends everything when asked (no sync, resend_all, full=True), and for another race.
    again, _ = TF.live_payload(race, None)
    assert again["full"] and Browser().receive(again)
    asked, _ = TF.live_payload(race, TF.resend_all(sync2))
    assert asked["full"] and asked["seq"] == sync2.seq + 1  # seq counts on: the browser orders payloads by it
    assert TF.live_payload(race, sync2, full=True)[0]["full"]
    other = make_race(seed=1)
    browser = Browser()
    assert browser.receive(payload)
    new, new_sync = TF.live_payload(other, sync2)
    assert new["full"] and new["race"] == other.uid != race.uid and new["seq"] == sync2.seq + 1
    assert browser.receive(new) and browser.race == other.uid
    assert not browser.receive(append)  # a payload of the old race no longer applies


def test_a_diverged_run_still_makes_a_json_payload():
    X, y = make_dataset("moons", n=128, noise=0.1, seed=0)
    Xtr, ytr, Xte, yte = train_test_split(X, y, test_fraction=0.25, seed=0)
    race = T.Race(Xtr, ytr, Xte, yte, [T.TrainingRunConfig("SGD", {"lr": 10.0, "momentum": 0.999}),
                                       T.TrainingRunConfig("Adam", {"lr": 0.01})],
                  model=T.ModelSpec(4, 64, "relu"), batch_size=8, seed=0)
    payload, sync = TF.live_payload(race, None)
    race.train(100)
    assert race.runs[0].diverged and not race.runs[1].diverged
    payload, sync = TF.live_payload(race, sync)
    json.dumps(payload, allow_nan=False)
    assert payload["runs"][0]["diverged"] and not payload["runs"][1]["diverged"]
    grid = TF.decode_grid(payload["runs"][0]["grid"] or TF.live_payload(race, None)[0]["runs"][0]["grid"])
    assert grid.dtype == np.uint8  # NaN probabilities are drawn as undecided (128), never fail
