"""fastnn.tensorboard.TensorBoardCallback: write runs, read the event files back (with
tensorboardX's own protobufs, and with TensorBoard's EventAccumulator when it is installed),
and run the TensorBoard snippet of docs/ecosystem.md."""
import re
import struct
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

import fastnn
from fastnn.callbacks import defines
from fastnn.tensorboard import TensorBoardCallback

DOCS = Path(__file__).resolve().parent.parent / "docs" / "ecosystem.md"
KINDS = ("weights", "biases", "preact", "act", "grad_weights")
STATS = ("min", "max", "mean", "std")

def read_events(logdir):
    """{tag: [(step, value)]} for scalars and {tag: [(step, HistogramProto)]} for histograms,
    read from every event file in ``logdir`` (TFRecord framing, CRCs checked)."""
    pytest.importorskip("tensorboardX", reason="TensorBoardCallback writes with tensorboardX (optional extra)")
    from tensorboardX.proto import event_pb2
    from tensorboardX.record_writer import masked_crc32c

    scalars, hists = defaultdict(list), defaultdict(list)
    files = sorted(Path(logdir).glob("events.out.tfevents.*"))
    assert files, f"no event file in {logdir}"
    for path in files:
        data, pos = path.read_bytes(), 0
        while pos < len(data):
            header = data[pos:pos + 8]
            (length,) = struct.unpack("<Q", header)
            assert struct.unpack("<I", data[pos + 8:pos + 12])[0] == masked_crc32c(header)
            payload = data[pos + 12:pos + 12 + length]
            assert struct.unpack("<I", data[pos + 12 + length:pos + 16 + length])[0] == masked_crc32c(payload)
            pos += 16 + length
            event = event_pb2.Event.FromString(payload)
            for v in event.summary.value:
                if v.HasField("histo"):
                    hists[v.tag].append((event.step, v.histo))
                elif v.HasField("simple_value"):
                    scalars[v.tag].append((event.step, v.simple_value))
    return scalars, hists


def steps(series):
    return [s for s, _ in series]


def values(series):
    return np.array([v for _, v in series])


@pytest.fixture(scope="module")
def data():
    from sklearn.datasets import make_classification

    X, y = make_classification(n_samples=120, n_features=4, n_informative=3, n_redundant=0, n_classes=3,
                               random_state=0)
    return X.astype(np.float32), y


def small_model(**kw):
    return fastnn.DeepMLP([4, 8, 6, 3], activation="tanh", seed=0, **kw)


# ---------------------------------------------------------------------- epoch logging
def test_epoch_scalars_stats_and_histograms(data, tmp_path):
    pytest.importorskip("tensorboardX")
    X, y = data
    probe = X[:50]
    model = small_model()
    tb = TensorBoardCallback(tmp_path / "run", histograms_every=2, probe=probe)
    assert not defines(tb, "on_step_end")  # epoch logging keeps the compiled loop running whole epochs
    hist = model.fit(X, y, epochs=4, lr=0.1, batch_size=32, validation_data=(X[:40], y[:40]), callbacks=[tb],
                     progress=False)
    tb.close()
    scalars, hists = read_events(tmp_path / "run")

    for key in ("loss", "accuracy", "val_loss", "val_accuracy", "lr"):
        assert steps(scalars[key]) == [1, 2, 3, 4], key
    np.testing.assert_allclose(values(scalars["loss"]), hist.loss, rtol=1e-6)
    np.testing.assert_allclose(values(scalars["accuracy"]), hist.accuracy, rtol=1e-6)
    np.testing.assert_allclose(values(scalars["val_loss"]), hist.val_loss, rtol=1e-6)
    np.testing.assert_allclose(values(scalars["val_accuracy"]), hist.val_accuracy, rtol=1e-6)
    np.testing.assert_allclose(values(scalars["lr"]), 0.1, rtol=1e-6)

    expected_tags = {f"layer{l}/{k}" for l in range(3) for k in KINDS}
    assert {t.rsplit("/", 1)[0] for t in scalars if t.startswith("layer")} == expected_tags
    assert set(hists) == expected_tags
    for tag in expected_tags:
        for s in STATS:
            assert steps(scalars[f"{tag}/{s}"]) == [1, 2, 3, 4]
        assert steps(hists[tag]) == [2, 4]

    # the values of the last epoch describe the final model
    acts = model.forward(probe, return_all=True)
    inputs = [probe] + acts[:-1]
    for l in range(3):
        W, b = model.weights[l], model.biases[l]
        z = inputs[l] @ W + b
        for kind, arr in (("weights", W), ("biases", b), ("preact", z), ("act", acts[l])):
            got = {s: scalars[f"layer{l}/{kind}/{s}"][-1][1] for s in STATS}
            np.testing.assert_allclose([got["min"], got["max"], got["mean"], got["std"]],
                                       [arr.min(), arr.max(), arr.mean(), arr.std()], rtol=2e-5, atol=1e-6)
            h = hists[f"layer{l}/{kind}"][-1][1]
            assert h.num == arr.size
            np.testing.assert_allclose([h.min, h.max, h.sum], [arr.min(), arr.max(), arr.sum()], rtol=1e-4,
                                       atol=1e-5)
            assert sum(h.bucket) == arr.size
    # the output activations are the softmax probabilities
    np.testing.assert_allclose(scalars["layer2/act/max"][-1][1], acts[2].max(), rtol=1e-6)
    assert 0 <= scalars["layer2/act/min"][-1][1] and scalars["layer2/act/max"][-1][1] <= 1
    assert all(v > 0 for v in values(scalars["layer0/grad_weights/std"]))


def test_step_scalars(data, tmp_path):
    pytest.importorskip("tensorboardX")
    X, y = data
    model = small_model()
    tb = TensorBoardCallback(tmp_path / "run", every=3, histograms_every=4, step_scalars=True, probe=16)
    assert defines(tb, "on_step_end")
    hist = model.fit(X, y, epochs=3, lr=0.05, batch_size=32, callbacks=[tb], progress=False)  # 4 steps/epoch
    tb.close()
    scalars, hists = read_events(tmp_path / "run")
    assert steps(scalars["step/loss"]) == [3, 6, 9, 12]
    np.testing.assert_allclose(values(scalars["step/loss"]), np.array(hist.step_loss)[[2, 5, 8, 11]], rtol=1e-6)
    np.testing.assert_allclose(values(scalars["step/lr"]), 0.05, rtol=1e-6)
    assert steps(scalars["loss"]) == [1, 2, 3]  # epoch scalars still at every epoch, on the epoch axis
    assert steps(scalars["layer1/act/mean"]) == [3, 6, 9, 12]
    assert steps(hists["layer0/weights"]) == [4, 8, 12]
    assert "val_loss" not in scalars


def test_steps_continue_across_fits_and_full_batch(data, tmp_path):
    pytest.importorskip("tensorboardX")
    X, y = data
    model = small_model()
    tb = TensorBoardCallback(tmp_path / "run", layer_stats=2, probe=None)
    model.fit(X, y, epochs=2, lr=0.1, batch_size=32, callbacks=[tb], progress=False)
    tb.close()  # the next fit opens a second event file in the same logdir, at once
    h2 = model.fit(X, y, iterations=3, lr=0.01, callbacks=[tb], progress=False)  # full batch: 1 step = 1 epoch
    tb.close()
    assert len(list((tmp_path / "run").glob("events.out.tfevents.*"))) == 2
    scalars, _ = read_events(tmp_path / "run")
    assert sorted(steps(scalars["loss"])) == [1, 2, 3, 4, 5]
    np.testing.assert_allclose(values(scalars["loss"])[2:], h2.loss, rtol=1e-6)
    np.testing.assert_allclose(values(scalars["lr"]), [0.1, 0.1, 0.01, 0.01, 0.01], rtol=1e-6)
    assert steps(scalars["layer0/weights/mean"]) == [2, 4]
    assert "layer0/act/mean" not in scalars and "layer0/preact/mean" not in scalars  # probe=None


def test_regression_and_cadences(tmp_path):
    pytest.importorskip("tensorboardX")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 3))
    y = X @ np.array([1.0, -2.0, 0.5])
    model = fastnn.DeepMLP([3, 5, 1], activation="relu", output="linear", loss="mse", seed=0, dtype=np.float64)
    with TensorBoardCallback(str(tmp_path / "reg"), every=2, layer_stats=False) as tb:
        hist = model.fit(X, y, epochs=5, lr=0.01, batch_size=16, validation_data=(X, y), callbacks=[tb],
                         progress=False)
    assert tb.writer is None  # closed by the with block
    scalars, hists = read_events(tmp_path / "reg")
    assert set(scalars) == {"loss", "val_loss", "lr"}  # no accuracy for regression, no layer stats
    assert steps(scalars["loss"]) == [2, 4]
    np.testing.assert_allclose(values(scalars["loss"]), np.array(hist.loss)[[1, 3]], rtol=1e-6)
    assert not hists


def test_event_accumulator_reads_the_run(data, tmp_path):
    pytest.importorskip("tensorboardX")
    ea_mod = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator",
                                 reason="tensorboard is not installed (only needed to cross-check the reader)")
    X, y = data
    model = small_model()
    with TensorBoardCallback(tmp_path / "run", histograms_every=1) as tb:
        hist = model.fit(X, y, epochs=3, lr=0.1, batch_size=64, callbacks=[tb], progress=False)
    acc = ea_mod.EventAccumulator(str(tmp_path / "run"), size_guidance={"scalars": 0, "histograms": 0})
    acc.Reload()
    tags = acc.Tags()
    assert {"loss", "accuracy", "lr", "layer0/weights/mean", "layer2/act/std"} <= set(tags["scalars"])
    assert {"layer0/weights", "layer1/preact", "layer2/grad_weights"} <= set(tags["histograms"])
    events = acc.Scalars("loss")
    assert [e.step for e in events] == [1, 2, 3]
    np.testing.assert_allclose([e.value for e in events], hist.loss, rtol=1e-6)
    h = acc.Histograms("layer0/weights")[-1]
    assert h.step == 3 and h.histogram_value.num == model.weights[0].size


# ---------------------------------------------------------------------- writer, errors
class FakeWriter:
    def __init__(self):
        self.scalars, self.hists, self.flushed, self.closed = [], [], 0, False

    def add_scalar(self, tag, value, step):
        self.scalars.append((tag, value, step))

    def add_histogram(self, tag, values, step):
        self.hists.append((tag, np.asarray(values).size, step))

    def flush(self):
        self.flushed += 1

    def close(self):
        self.closed = True


def test_custom_writer_needs_no_tensorboardx(data, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboardX", None)
    X, y = data
    w = FakeWriter()
    tb = TensorBoardCallback(None, writer=w, histograms_every=2)
    small_model().fit(X, y, epochs=2, lr=0.1, batch_size=60, callbacks=[tb], progress=False)
    loss = [(value, step) for tag, value, step in w.scalars if tag == "loss"]
    assert [step for _, step in loss] == [1, 2] and all(np.isfinite(v) for v, _ in loss)
    assert {t for t, _, s in w.hists} == {f"layer{l}/{k}" for l in range(3) for k in KINDS}
    assert {s for _, _, s in w.hists} == {2}
    assert w.flushed == 1
    tb.close()
    assert w.closed and tb.writer is None
    with pytest.raises(RuntimeError, match="was closed"):
        small_model().fit(X, y, epochs=1, callbacks=[tb], progress=False)


def test_missing_tensorboardx_is_a_clear_import_error(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "tensorboardX", None)
    with pytest.raises(ImportError, match="pip install tensorboardX"):
        TensorBoardCallback(tmp_path)


@pytest.mark.parametrize("kwargs, match", [
    (dict(every=0), "every must be a positive integer"),
    (dict(histograms_every=-1), "histograms_every"),
    (dict(layer_stats=0), "layer_stats"),
    (dict(probe=0), "probe"),
    (dict(probe=np.zeros(3)), "probe"),
])
def test_invalid_arguments(kwargs, match, tmp_path):
    with pytest.raises(ValueError, match=match):
        TensorBoardCallback(tmp_path, writer=FakeWriter(), **kwargs)


def test_probe_with_wrong_width_fails_at_train_begin(data):
    X, y = data
    tb = TensorBoardCallback(None, writer=FakeWriter(), probe=np.zeros((5, 7)))
    with pytest.raises(ValueError, match="probe has 7 features but the model expects 4"):
        small_model().fit(X, y, epochs=1, callbacks=[tb], progress=False)


# ---------------------------------------------------------------------- docs
def python_blocks(text):
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M)


def test_every_docs_python_block_is_tested():
    blocks = python_blocks(DOCS.read_text())
    assert blocks and all(("fastnn.sklearn" in b) != ("fastnn.tensorboard" in b) for b in blocks)
    assert "tensorboard --logdir runs" in DOCS.read_text()


def test_docs_tensorboard_snippet_runs(tmp_path, monkeypatch, capsys):
    pytest.importorskip("tensorboardX")
    blocks = [b for b in python_blocks(DOCS.read_text()) if "fastnn.tensorboard" in b]
    assert blocks, "docs/ecosystem.md has no TensorBoard example"
    monkeypatch.chdir(tmp_path)
    for block in blocks:
        exec(compile(block, str(DOCS), "exec"), {"__name__": "__main__"})
    assert "test accuracy:" in capsys.readouterr().out
    scalars, hists = read_events(tmp_path / "runs" / "mnist-relu")
    assert steps(scalars["val_accuracy"]) == [1, 2, 3, 4, 5] and values(scalars["val_accuracy"])[-1] > 0.8
    assert steps(hists["layer0/weights"]) == [1, 2, 3, 4, 5]
