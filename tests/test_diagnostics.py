"""fastnn.diagnose: every finding fires on a history built so that its condition holds, and a
healthy run gives none. No training here except one tiny real fit."""
from types import SimpleNamespace

import numpy as np
import pytest

import fastnn
from fastnn.diagnostics import Finding, diagnose, saturated_units
from fastnn.history import LAYER_STATS, History

WIDTHS = [256, 128, 10]


def make_history(loss=None, accuracy=None, *, n=100, dead=(0, 0, 0), update=(1e-3, 1e-3, 1e-3),
                 weight_rms=(0.05, 0.1, 0.3), act_hists=None, saturated=None, val_loss=None, val_accuracy=None,
                 stopped=None, message="", lr=1e-5):
    """A History with per-layer records every 10 steps; the defaults describe a healthy run:
    loss 2.3 → 0.1 smoothly, accuracy to 97%, no dead units, updates ~1% of the weights."""
    h = History()
    t = np.arange(n)
    h.loss = list(loss if loss is not None else 0.1 + 2.2 * np.exp(-t / 15))
    h.accuracy = list(accuracy if accuracy is not None else 0.97 - 0.87 * np.exp(-t / 15))
    h.step_loss, h.lr = list(h.loss), [lr] * len(h.loss)
    h.steps = len(h.loss)
    h.stopped, h.message = stopped, message
    if val_loss is not None:
        h.val_loss, h.val_epochs = list(val_loss), list(range(1, len(val_loss) + 1))
        h.val_accuracy = list(val_accuracy if val_accuracy is not None else [0.9] * len(val_loss))
    for step in range(0, max(n, 1), 10):
        stats = {k: [0.0, 0.0, 0.0] for k in LAYER_STATS}
        stats["dead_units"] = list(dead)
        stats["update_magnitude"] = list(update)
        stats["weight_std"] = list(weight_rms)
        snap = {"act_unit_mean": [np.zeros(w, np.float32) for w in WIDTHS],
                "act_hist": act_hists if act_hists is not None else [(np.ones(40), np.linspace(0.05, 0.95, 41))] * 3}
        if saturated is not None:
            snap["saturated_units"] = list(saturated)
        h.add_layer_record(step, stats, snap)
    return h


def model(acts=("sigmoid", "sigmoid", "sigmoid")):
    """The parts of a model diagnose reads: layer widths and activations."""
    return SimpleNamespace(layer_dims=[784, *WIDTHS], activations=[SimpleNamespace(name=a) for a in acts],
                           output=acts[-1], task="multiclass")


def kinds(findings):
    return sorted({(f.kind, f.layer) for f in findings})


def test_healthy_run_has_no_finding():
    assert diagnose(make_history(), model()) == []
    assert diagnose(make_history(), model(("relu", "relu", "sigmoid")), top_class_share=0.12) == []
    assert diagnose(make_history()) == []  # without the model too


def test_every_finding_has_words_numbers_and_a_suggestion():
    f = diagnose(make_history(dead=(100, 0, 0)), model(("relu", "relu", "sigmoid")))[0]
    assert isinstance(f, Finding) and f.kind == "dead_units" and f.layer == 1
    assert "100 of 256" in f.message and "39%" in f.message and "relu" in f.message
    assert "He" in f.suggestion or "leaky" in f.suggestion
    assert str(f).startswith("[dead_units, layer 1]") and f.as_dict()["suggestion"] == f.suggestion


def test_dead_relu_units_per_layer():
    found = diagnose(make_history(dead=(10, 64, 0)), model(("relu", "relu", "sigmoid")))
    assert kinds(found) == [("dead_units", 2)]  # 10/256 = 4% stays quiet, 64/128 fires
    assert "never active" in found[0].message


def test_dead_sigmoid_units_are_called_saturated():
    found = diagnose(make_history(dead=(200, 0, 0)), model())
    assert kinds(found) == [("dead_units", 1)] and "saturated" in found[0].message


def test_saturated_units_from_the_recorded_count():
    found = diagnose(make_history(saturated=[0, 40, 0]), model(("tanh", "tanh", "sigmoid")))
    assert kinds(found) == [("saturated_units", 2)] and "40 of 128" in found[0].message
    assert diagnose(make_history(saturated=[0, 5, 0]), model(("tanh", "tanh", "sigmoid"))) == []


def test_saturated_activations_from_the_histogram():
    edges = np.linspace(0, 1, 41)  # bins of 0.025: wider than the 0.01 band, never counted as saturated
    fine = np.linspace(0, 1, 201)  # bins of 0.005
    counts = np.zeros(200)
    counts[0], counts[-1], counts[100] = 600, 350, 50  # 95% of activations at 0 or 1
    found = diagnose(make_history(act_hists=[(counts, fine), (np.ones(40), edges), (np.ones(40), edges)]), model())
    assert kinds(found) == [("saturated_units", 1)] and "95%" in found[0].message
    # relu layers are never "saturated"
    assert diagnose(make_history(act_hists=[(counts, fine)] * 3), model(("relu", "relu", "sigmoid"))) == []


def test_saturated_units_counts_rows_near_the_bounds():
    A = np.full((100, 4), 0.5)
    A[:, 0] = 0.999  # always saturated
    A[:99, 1] = 0.001  # 99% of the rows
    A[:90, 2] = 0.0  # only 90%
    assert saturated_units(A, "sigmoid") == 2
    assert saturated_units(np.tanh(np.full((10, 3), 5.0)), "tanh") == 3
    assert saturated_units(A, "relu") == 0


def test_vanishing_updates_first_to_last_layer():
    found = diagnose(make_history(update=(1e-7, 1e-5, 1e-4)), model())
    assert ("vanishing_updates", 1) in kinds(found)
    f = next(f for f in found if f.layer == 1)
    assert "1e+03× smaller" in f.message or "1000" in f.message or "1e+03" in f.message


def test_exploding_updates_first_to_last_layer_and_relative():
    assert ("exploding_updates", 1) in kinds(diagnose(make_history(update=(1e-2, 1e-4, 1e-5)), model()))
    found = diagnose(make_history(update=(1e-3, 1e-3, 0.2)), model())
    assert ("exploding_updates", 3) in kinds(found)
    assert "67%" in next(f for f in found if f.layer == 3).message  # 0.2 / 0.3


def test_per_iteration_updates_are_used_when_given():
    rows = [[1e-9, 1e-6, 1e-5]] * 50
    found = diagnose(make_history(), model(), updates=rows)
    assert ("vanishing_updates", 1) in kinds(found) and "per iteration" in found[0].message


def test_lr_too_small():
    found = diagnose(make_history(loss=np.linspace(0.9, 0.897, 100), accuracy=[0.1] * 100), model())
    assert kinds(found) == [("lr_too_small", None)]
    assert "0.9 → 0.897" in found[0].message and "-0.33%" in found[0].message and "lr 1e-05" in found[0].message


def test_lr_too_large_divergence():
    h = make_history(loss=[2.3, 5.0, float("nan")], accuracy=[0.1, 0.1, 0.1], n=3, stopped="diverged",
                     message="training diverged at step 2: NaN in activations — lower the learning rate")
    found = diagnose(h)
    assert kinds(found)[0] == ("diverged", None) and "NaN in activations" in found[0].message
    assert "lower the learning rate" in found[0].suggestion


def test_lr_too_large_exploding_loss_and_oscillation():
    loss = 2.0 * 1.05 ** np.arange(100)
    assert ("exploding_loss", None) in kinds(diagnose(make_history(loss=loss), model()))
    zigzag = 1.0 + 0.5 * (np.arange(100) % 2)  # up, down, up, down…
    found = diagnose(make_history(loss=zigzag), model())
    assert ("oscillation", None) in kinds(found)
    assert "at 50 of 99 iterations" in next(f for f in found if f.kind == "oscillation").message


def test_collapse_to_one_class():
    found = diagnose(make_history(), model(), top_class_share=0.97)
    assert kinds(found) == [("collapsed", None)] and "97%" in found[0].message
    m = fastnn.DeepMLP([2, 3, 2], seed=0)
    X = np.random.default_rng(0).normal(size=(30, 2))
    m.weights[-1][:] = 0
    m.weights[-1][:, 0] = 5  # every input → class 0 (after some positive hidden activation)
    share = np.bincount(m.predict(X), minlength=2).max() / 30
    found = diagnose(make_history(), m, X=X)
    assert (("collapsed", None) in kinds(found)) == (share >= 0.9)


def test_plateau():
    t = np.arange(100)
    loss = np.where(t < 60, 2.3 - 0.02 * t, 1.1)  # falls, then flat for the last 40
    found = diagnose(make_history(loss=loss, accuracy=[0.6] * 100), model())
    assert kinds(found) == [("plateau", None)] and "60%" in found[0].message
    # a flat end at 99.5% training accuracy is convergence, not a plateau
    assert diagnose(make_history(loss=loss, accuracy=[0.995] * 100), model()) == []


def test_overfitting_validation_loss_turns_up():
    val = [1.0, 0.6, 0.5, 0.55, 0.7]
    train = [1.0, 0.5, 0.3, 0.2, 0.1]
    found = diagnose(make_history(loss=train, accuracy=[0.5, 0.8, 0.9, 0.95, 0.99], n=5, val_loss=val))
    assert kinds(found) == [("overfitting", None)]
    assert "epoch 3" in found[0].message and "40% higher" in found[0].message
    # validation loss that keeps falling: no finding
    assert diagnose(make_history(loss=train, accuracy=[0.5, 0.8, 0.9, 0.95, 0.99], n=5,
                                 val_loss=[1.0, 0.7, 0.6, 0.5, 0.45])) == []


def test_overfitting_accuracy_gap():
    found = diagnose(make_history(loss=[1.0, 0.5, 0.3, 0.2, 0.1], accuracy=[0.6, 0.8, 0.9, 0.97, 0.99], n=5,
                                  val_loss=[1.0, 0.9, 0.85, 0.84, 0.84], val_accuracy=[0.6, 0.7, 0.75, 0.76, 0.77]))
    assert kinds(found) == [("overfitting", None)] and "22 points" in found[0].message


def test_dead_layer_explains_its_vanishing_updates():
    found = diagnose(make_history(dead=(256, 128, 0), update=(0.0, 0.0, 0.0)), model(("relu", "relu", "sigmoid")))
    assert [f.kind for f in found] == ["dead_units", "dead_units"]


def test_rejects_what_is_not_a_history():
    with pytest.raises(TypeError, match="History"):
        diagnose({"loss": [1.0]})


def test_real_run_diverging_and_healthy():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 2)).astype(np.float32)
    y = (X[:, 0] * X[:, 1] > 0).astype(np.int64)
    m = fastnn.DeepMLP([2, 16, 2], activation="tanh", output="softmax", loss="cross_entropy", init="lecun", seed=0)
    h = m.fit(X, y, iterations=300, lr=0.5, record="layers", record_every=10, progress=False)
    assert diagnose(h, m, X=X) == [], [str(f) for f in diagnose(h, m, X=X)]
    m2 = fastnn.DeepMLP([2, 16, 2], activation="relu", output="softmax", loss="cross_entropy", seed=0)
    with pytest.warns(RuntimeWarning):
        h2 = m2.fit(X, y, iterations=50, lr=1e30, progress=False, on_divergence="stop")
    assert any(f.kind in ("diverged", "exploding_loss", "collapsed") for f in diagnose(h2, m2, X=X))
