"""The memory calculator: the course's numbers and one row per registry optimizer."""

from __future__ import annotations

import pytest

from app.memory import model as M
from optim_core import registry


def test_course_question_10b_float32_adam():
    row = M.memory_row(10e9, "float32", "Adam")
    assert row["params_gb"] == pytest.approx(40)
    assert row["state_gb"] == pytest.approx(80)
    assert row["grads_gb"] == pytest.approx(40)
    assert row["total_gb"] == pytest.approx(160)
    assert row["state_buffers"] == pytest.approx(2)
    text = M.course_sentence(10e9, "float32", "Adam")
    assert text.startswith("10B float32 parameters with Adam: 40 GB of parameters + 80 GB of optimizer state")
    assert "= 120 GB" in text
    assert "SGD with momentum keeps 1 buffer" in text and "40 GB of state" in text


def test_sgd_keeps_one_buffer_only_with_momentum():
    assert M.memory_row(10e9, "float32", "SGD")["state_bytes"] == 0
    with_momentum = M.memory_row(10e9, "float32", "SGD", hypers={"momentum": 0.9})
    assert with_momentum["state_gb"] == pytest.approx(40)
    labels = [r["optimizer"] for r in M.memory_table(10e9)]
    assert "SGD" in labels and any(label.startswith("SGD (momentum") for label in labels)


def test_adam8bit_about_two_bytes_per_parameter():
    row = M.memory_row(10e9, "float32", "Adam8bit")
    assert 2.0 <= row["state_bytes_per_param"] <= 2.1
    assert row["state_gb"] == pytest.approx(20, rel=0.03)


def test_adafactor_is_factored():
    side = 4096
    row = M.memory_row(10e9, "float32", "Adafactor", side=side)
    # n + m numbers for an n×m matrix instead of n·m: about 2/side of one buffer.
    assert row["state_buffers"] == pytest.approx(2 / side, rel=0.01)
    assert M.memory_row(10e9, "float32", "Adafactor", side=64)["state_bytes"] > row["state_bytes"]


def test_every_registry_optimizer_has_a_row():
    rows = M.memory_table(1e9, "bfloat16")
    names = {r["name"] for r in rows}
    assert names == set(registry.optimizers())
    base = [r["optimizer"] for r in M.memory_table(1e9, variants=False)]
    assert base == list(registry.optimizers())
    for r in rows:
        assert r["params_bytes"] == 2e9 and r["grads_bytes"] == 2e9
        assert r["state_bytes"] >= 0
        assert r["total_bytes"] == pytest.approx(r["params_bytes"] + r["grads_bytes"] + r["state_bytes"])


def test_dtype_scales_the_bytes():
    f32 = M.memory_row(1e9, "float32", "Adam")
    assert M.memory_row(1e9, "float64", "Adam")["total_bytes"] == 2 * f32["total_bytes"]
    assert M.memory_row(1e9, "bfloat16", "Adam")["total_bytes"] == f32["total_bytes"] / 2
    assert M.memory_row(1e9, "float16", "Adam")["params_gb"] == pytest.approx(2)


def test_memory_variants_come_from_state_bytes():
    labels = [v.label for v in M.optimizer_variants(["Adam", "RMSprop", "AdamW"])]
    assert labels[0] == "Adam" and any("AMSGrad" in label for label in labels)
    assert sum(label.startswith("RMSprop") for label in labels) >= 2
    assert not any("maximize" in label for label in labels)


def test_selection_and_presets():
    rows = M.memory_table(1e6, names=["Adam", "SGD", "NotAnOptimizer"], variants=False)
    assert [r["optimizer"] for r in rows] == ["Adam", "SGD"]
    assert M.DEFAULT_PRESET in M.PRESETS
    course = M.PRESETS[M.DEFAULT_PRESET]
    assert course.n_params == 10e9 and course.dtype == "float32"
    for p in M.PRESETS.values():
        assert isinstance(p, M.ModelPreset) and p.n_params > 0 and p.side >= 1


def test_the_live_training_preset_is_the_live_training_network():
    from app.training.backend import ModelSpec

    spec = ModelSpec()
    mlp = M.PRESETS["Live Training MLP (1,218)"]  # the label the page has always shown
    assert (mlp.n_params, mlp.side) == (spec.n_params, spec.width) == (1218, 32)
    assert mlp.note == "The 2-32-32-2 network of the Live Training page."


def test_dtype_sizes_are_written_from_the_table():
    assert M.dtype_sizes_text() == "bfloat16/float16: 2 bytes, float32: 4, float64: 8"


def test_formatting():
    assert M.format_count(10e9) == "10B"
    assert M.format_count(1.5e9) == "1.5B"
    assert M.format_count(25.6e6) == "25.6M"
    assert M.format_count(175e9) == "175B"
    assert M.format_count(1250) == "1,250"
    assert M.format_gb(40e9) == "40 GB"
    assert M.format_gb(1.05e12) == "1,050 GB"
    assert M.format_gb(0.44e9) == "0.44 GB"
    assert M.format_gb(5000) == "5 kB"


def test_invalid_inputs():
    with pytest.raises(ValueError, match="dtype"):
        M.memory_row(1e6, "int8", "Adam")
    with pytest.raises(ValueError):
        M.memory_row(-1, "float32", "Adam")
    with pytest.raises(KeyError):
        M.memory_row(1e6, "float32", "Nope")
