"""Tests of the scalar autodiff engine fastnn.scalar and its worked examples A1-A3."""
import inspect
import json
import math
import random
import sys
from contextlib import contextmanager

import numpy as np
import pytest

from fastnn.scalar import RULES, Value, draw_graph, format_trace, topological_order, trace_table
from fastnn.scalar_examples import (
    A2_B1, A2_B2, A2_INPUT, A2_TARGET, A2_W1, A2_W2, network_forward, run_a1, run_a2, run_a3,
)


def central_diff(f, xs, h=1e-6):
    """Central differences of f(list of floats) -> float, one partial per coordinate."""
    out = []
    for i in range(len(xs)):
        hi, lo = list(xs), list(xs)
        hi[i] += h
        lo[i] -= h
        out.append((f(hi) - f(lo)) / (2 * h))
    return out


def check_grads(fn, point, rel=1e-6, abs_=1e-7):
    """Backward gradients of fn(*Values) match central differences at ``point``."""
    leaves = [Value(v) for v in point]
    out = fn(*leaves)
    out.backward()
    analytic = [v.grad for v in leaves]
    numeric = central_diff(lambda p: fn(*[Value(v) for v in p]).data, point)
    assert analytic == pytest.approx(numeric, rel=rel, abs=abs_)
    return out, analytic


@contextmanager
def shallow_recursion(headroom=200):
    """Recursion limit just above the current stack depth: any deep recursion fails."""
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(len(inspect.stack(0)) + headroom)
    try:
        yield
    finally:
        sys.setrecursionlimit(old)


def rendered_pixels(fig):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].astype(float)


def assert_not_blank(fig):
    px = rendered_pixels(fig)
    assert px.std() > 10.0
    assert (px.min(axis=2) < 200).mean() > 0.005  # a fair share of non-white pixels


# ------------------------------------------------------------------ each op

UNARY = {
    "add_const": (lambda x: x + 3.0, [-1.3, 0.0, 2.2]),
    "radd": (lambda x: 3.0 + x, [-1.3, 2.2]),
    "mul_const": (lambda x: x * -2.5, [-1.3, 2.2]),
    "rmul": (lambda x: -2.5 * x, [-1.3, 2.2]),
    "neg": (lambda x: -x, [-1.3, 2.2]),
    "sub_const": (lambda x: x - 4.0, [-1.3, 2.2]),
    "rsub": (lambda x: 4.0 - x, [-1.3, 2.2]),
    "div_const": (lambda x: x / 3.0, [-1.3, 2.2]),
    "rtruediv": (lambda x: 3.0 / x, [-1.3, 0.7, 2.2]),
    "square": (lambda x: x.square(), [-1.3, 0.0, 2.2]),
    "pow2": (lambda x: x ** 2, [-1.3, 2.2]),
    "pow3": (lambda x: x ** 3, [-1.3, 2.2]),
    "pow_neg1": (lambda x: x ** -1, [-1.3, 2.2]),
    "pow_half": (lambda x: x ** 0.5, [0.3, 2.2]),
    "rpow_2": (lambda x: 2.0 ** x, [-1.3, 0.0, 2.2]),
    "rpow_0.3": (lambda x: 0.3 ** x, [-1.3, 2.2]),
    "exp": (lambda x: x.exp(), [-1.3, 0.0, 2.2]),
    "log": (lambda x: x.log(), [0.2, 1.0, 7.5]),
    "tanh": (lambda x: x.tanh(), [-1.3, 0.0, 2.2]),
    "sigmoid": (lambda x: x.sigmoid(), [-8.0, -1.3, 0.0, 2.2, 8.0]),
    "relu": (lambda x: x.relu(), [-1.3, 2.2]),
    "x_plus_x": (lambda x: x + x, [-1.3, 2.2]),
    "x_times_x": (lambda x: x * x, [-1.3, 2.2]),
    "x_pow_x": (lambda x: x ** x, [0.4, 2.2]),
    "composite": (lambda x: (x.tanh() * x.exp() + 1.5 ** x).log() / (1 + x.square()).sigmoid(), [-0.8, 0.3, 1.7]),
}

BINARY = {
    "add": (lambda x, y: x + y, [(-1.3, 0.4), (2.2, -3.0)]),
    "mul": (lambda x, y: x * y, [(-1.3, 0.4), (2.2, -3.0)]),
    "sub": (lambda x, y: x - y, [(-1.3, 0.4), (2.2, -3.0)]),
    "div": (lambda x, y: x / y, [(-1.3, 0.4), (2.2, -3.0)]),
    "pow": (lambda x, y: x ** y, [(0.7, -1.5), (2.2, 0.4), (1.5, 3.0)]),
    "mixed": (lambda x, y: (x * y - y / x).tanh() + (x - y).sigmoid() * y.exp(), [(0.5, -0.7), (-1.2, 0.9)]),
}


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_gradients_match_central_differences(name):
    fn, points = UNARY[name]
    for p in points:
        check_grads(fn, [p])


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_gradients_match_central_differences(name):
    fn, points = BINARY[name]
    for p in points:
        check_grads(fn, list(p))


def test_forward_values_and_op_names():
    x, y = Value(0.5, label="x"), Value(2.0, label="y")
    cases = [
        (x + y, 2.5, "+"), (x * y, 1.0, "*"), (-x, -0.5, "neg"), (x.square(), 0.25, "square"),
        (x ** 3, 0.125, "^3"), (2 ** x, math.sqrt(2), "2^x"), (y ** x, math.sqrt(2), "pow"),
        (x.exp(), math.exp(0.5), "exp"), (y.log(), math.log(2), "log"), (x.tanh(), math.tanh(0.5), "tanh"),
        (x.sigmoid(), 1 / (1 + math.exp(-0.5)), "sigmoid"), (x.relu(), 0.5, "relu"), ((-x).relu(), 0.0, "relu"),
    ]
    for node, value, op in cases:
        assert node.data == pytest.approx(value, rel=1e-15)
        assert node.op == op
        assert node.rule == RULES[node.kind]
    assert x.op == "" and x.kind == "leaf" and x.label == "x"
    # derived operators are built from the core ones
    d = x - y
    assert d.op == "+" and d.children[1].op == "neg"
    q = x / y
    assert q.op == "*" and q.children[1].op == "^-1"
    c = x * 3
    assert c.children[1].op == "const" and c.children[1].data == 3.0
    assert RULES["square"] == "d(x²)/dx = 2x"
    assert RULES["a^x"] == "d(a^x)/dx = ln(a)·a^x"
    assert RULES["*"] == "d(ax)/dx = a"
    assert RULES["+"] == "d(c+x)/dx = 1"


def test_edge_cases():
    big = Value(-1000.0).sigmoid()  # stable: no overflow
    assert big.data == 0.0
    assert Value(1000.0).sigmoid().data == 1.0
    r = Value(0.0)
    r.relu().backward()
    assert r.grad == 0.0  # relu'(0) = 0 by convention
    x = Value(-2.0)
    y = Value(2.0)
    p = x ** y  # negative base, integer exponent: d/dx fine, d/dy undefined
    p.backward()
    assert p.data == 4.0 and x.grad == -4.0 and math.isnan(y.grad)
    z = Value(2.0)
    q = 0.0 ** z
    q.backward()
    assert q.data == 0.0 and z.grad == 0.0
    with pytest.raises(ValueError):
        Value(-8.0) ** (1 / 3)
    with pytest.raises(ValueError):
        Value(-1.0).log()
    # numpy scalars on the left defer to Value's reflected operators
    w = Value(1.5)
    for out in (np.float64(2.0) * w, np.float64(2.0) + w, np.float64(2.0) - w, np.float64(3.0) / w):
        assert isinstance(out, Value)
    assert isinstance(np.float64(2.0) ** w, Value)
    assert float(w) == 1.5


def test_shared_subexpression_accumulates():
    x = Value(3.0)
    a = x * x          # x used twice by one node
    b = a + x          # and again by another
    c = b * a
    c.backward()
    # c = (x² + x)·x² = x⁴ + x³  ->  4x³ + 3x² = 108 + 27
    assert x.grad == 135.0


# ------------------------------------------------------------- backward semantics

def test_repeated_backward_gives_same_gradients():
    a, b = Value(0.3), Value(-1.2)
    out = ((a * b).tanh() + a.exp() * b).sigmoid() + a.square()
    out.backward()
    first = (a.grad, b.grad, out.grad)
    out.backward()
    out.backward()
    assert (a.grad, b.grad, out.grad) == first


def test_accumulate_adds_into_leaves_only():
    a, b = Value(0.3), Value(-1.2)
    out = (a * b).tanh() * a
    out.backward()
    ga, gb = a.grad, b.grad
    out.backward(accumulate=True)
    assert a.grad == pytest.approx(2 * ga) and b.grad == pytest.approx(2 * gb)
    out.backward()
    assert (a.grad, b.grad) == (ga, gb)
    out.zero_grad()
    assert a.grad == b.grad == out.grad == 0.0


def test_topological_order_and_trace_rows():
    x = Value(0.7, label="x")
    y = (x * 2 + x.exp()).log()
    y.label = "y"
    y.backward()
    order = topological_order(y)
    assert order[-1] is y
    seen = set()
    for n in order:
        assert all(id(c) in seen for c in n.children)
        seen.add(id(n))
    rows = trace_table(y)
    assert [r["value"] for r in rows] == [n.data for n in order]
    assert [r["grad"] for r in rows] == [n.grad for n in order]
    assert rows[-1]["name"] == "y" and rows[-1]["grad"] == 1.0
    names = [r["name"] for r in rows]
    for r in rows:
        assert set(r["inputs"]) <= set(names[: r["index"]])
        assert len(r["local_grads"]) == len(r["inputs"])
    text = format_trace(y)
    assert len(text.splitlines()) == len(rows) + 2
    assert "d(e^x)/dx = e^x" in text and "d(ln x)/dx = 1/x" in text
    json.dumps(rows)


def test_long_chain_is_iterative():
    n = 10_000
    x0 = 0.5
    # forward-mode reference with plain floats
    v, d = x0, 1.0
    for i in range(n):
        if i % 2:
            v, d = math.tanh(v), d * (1 - math.tanh(v) ** 2)
        else:
            v, d = v * 1.01, d * 1.01
    x = Value(x0, label="x")
    y = x
    with shallow_recursion():
        for i in range(n):
            y = y.tanh() if i % 2 else y * 1.01
        y.backward()
        y.backward()
        rows = trace_table(y)
        text = format_trace(y)
        s = repr(y) + str(y)
        y.zero_grad()
        y.backward()
        with pytest.raises(ValueError):
            draw_graph(y)  # too large to draw: refused, not recursed
    assert y.data == pytest.approx(v, rel=1e-12)
    assert x.grad == pytest.approx(d, rel=1e-9)
    assert len(rows) == n + n // 2 + 1  # + one const node per multiplication
    assert len(text.splitlines()) == len(rows) + 2
    assert "tanh" in s
    del y, rows  # tearing down a deep graph must not crash either


# ------------------------------------------------------------------------ drawing

def test_draw_graph_not_blank():
    a, b = Value(2.0, label="a"), Value(-3.0, label="b")
    out = (a * b + 1.5 ** a).tanh() - b.sigmoid()
    out.backward()
    fig = draw_graph(out)
    assert_not_blank(fig)
    from matplotlib.figure import Figure

    fig2 = Figure()
    ax = fig2.add_subplot(1, 1, 1)
    assert draw_graph(out, ax=ax, leaves_near_users=True) is fig2
    assert_not_blank(fig2)
    blank = Figure()
    blank.add_subplot(1, 1, 1).axis("off")
    assert rendered_pixels(blank).std() < 1.0  # the check above does detect a blank figure


# -------------------------------------------------------------------------- A1

def test_a1_exact_numbers():
    data, fig = run_a1()
    assert data["f"] == 25.0
    assert data["grads"] == {"w0": -10.0, "w1": 20.0, "x1": -20.0, "w2": 10.0, "x2": 20.0}
    by_name = {r["name"]: r for r in data["table"]}
    assert by_name["s"]["value"] == -5.0 and by_name["s"]["grad"] == -10.0
    assert by_name["w1*x1"]["value"] == -4.0 and by_name["w1*x1"]["grad"] == -10.0
    assert by_name["w2*x2"]["value"] == 2.0 and by_name["w2*x2"]["grad"] == -10.0
    assert by_name["f"]["op"] == "square" and by_name["f"]["local_grads"] == [-10.0]
    assert len(data["table"]) == 10
    for rule in ("d(x²)/dx = 2x", "d(a^x)/dx = ln(a)·a^x", "d(ax)/dx = a", "d(c+x)/dx = 1"):
        assert rule in data["table_text"] + data["g_table_text"]
    # second expression: g(x) = ln(2^x + e^x) + tanh(x)·σ(x)
    x = 0.5
    s = 1 / (1 + math.exp(-x))
    g = math.log(2 ** x + math.exp(x)) + math.tanh(x) * s
    dg = ((math.log(2) * 2 ** x + math.exp(x)) / (2 ** x + math.exp(x))
          + (1 - math.tanh(x) ** 2) * s + math.tanh(x) * s * (1 - s))
    assert data["g"] == pytest.approx(g, rel=1e-14)
    assert data["g_grad"] == pytest.approx(dg, rel=1e-14)
    ops = {r["op"] for r in data["g_table"]}
    assert {"2^x", "exp", "log", "tanh", "sigmoid"} <= ops
    json.dumps(data)
    assert_not_blank(fig)


# -------------------------------------------------------------------------- A2

def numpy_reference(x, w1, b1, w2, b2, target):
    """Independent NumPy forward + hand-written backward of the 2-3-2 network."""
    x, w1, b1, w2, b2 = (np.asarray(a, dtype=np.float64) for a in (x, w1, b1, w2, b2))
    h = 1.0 / (1.0 + np.exp(-(x @ w1 + b1)))
    z = h @ w2 + b2
    zs = z - z.max()
    p = np.exp(zs) / np.exp(zs).sum()
    loss = np.log(np.exp(zs).sum()) - zs[target]  # -log p[target], stable
    dz = p.copy()
    dz[target] -= 1.0
    dh = w2 @ dz
    dz1 = dh * h * (1.0 - h)
    return loss, {"w1": np.outer(x, dz1), "b1": dz1, "w2": np.outer(h, dz), "b2": dz, "x": w1 @ dz1}, p


def _flatten(grads):
    return [v for k in ("w1", "b1", "w2", "b2") for v in np.ravel(grads[k])]


def _a2_loss(flat, x, target):
    it = iter(flat)
    w1 = [[next(it) for _ in range(3)] for _ in range(2)]
    b1 = [next(it) for _ in range(3)]
    w2 = [[next(it) for _ in range(2)] for _ in range(3)]
    b2 = [next(it) for _ in range(2)]
    return network_forward(x, w1, b1, w2, b2, target)[0].data


def _random_params(seed):
    rng = random.Random(seed)
    g = lambda: rng.gauss(0.0, 1.0)  # noqa: E731
    return ([g(), g()], [[g() for _ in range(3)] for _ in range(2)], [g() for _ in range(3)],
            [[g() for _ in range(2)] for _ in range(3)], [g() for _ in range(2)], rng.randrange(2))


@pytest.mark.parametrize("case", ["spec", 1, 2, 3])
def test_a2_gradients(case):
    if case == "spec":
        x, w1, b1, w2, b2, t = A2_INPUT, A2_W1, A2_B1, A2_W2, A2_B2, A2_TARGET
    else:
        x, w1, b1, w2, b2, t = _random_params(case)
    data, fig = run_a2(make_figure=(case == "spec"), x=x, w1=w1, b1=b1, w2=w2, b2=b2, target=t)
    ref_loss, ref, ref_p = numpy_reference(x, w1, b1, w2, b2, t)
    assert data["loss"] == pytest.approx(ref_loss, abs=1e-12)
    assert data["probs"] == pytest.approx(list(ref_p), abs=1e-12)
    for k in ("w1", "b1", "w2", "b2", "x"):
        assert np.shape(data["grads"][k]) == ref[k].shape
        np.testing.assert_allclose(np.array(data["grads"][k]), ref[k], rtol=0, atol=1e-12)
    flat = [v for k in ("w1", "b1", "w2", "b2") for v in np.ravel(np.array({"w1": w1, "b1": b1, "w2": w2, "b2": b2}[k])).tolist()]
    numeric = central_diff(lambda p: _a2_loss(p, x, t), flat)
    np.testing.assert_allclose(_flatten(data["grads"]), numeric, rtol=0, atol=1e-8)
    json.dumps(data)
    if fig is not None:
        assert_not_blank(fig)


def test_a2_spec_point_numbers():
    data, _ = run_a2(make_figure=False)
    a = 1 / (1 + math.exp(-2.0))
    assert data["loss"] == pytest.approx(math.log(2), abs=1e-15)
    assert data["probs"] == pytest.approx([0.5, 0.5], abs=1e-15)
    assert data["grads"]["b2"] == pytest.approx([-0.5, 0.5], abs=1e-15)
    np.testing.assert_allclose(data["grads"]["w2"], [[-0.5 * a, 0.5 * a]] * 3, rtol=0, atol=1e-15)
    assert data["grads"]["w1"] == [[0.0] * 3] * 2 and data["grads"]["b1"] == [0.0] * 3
    assert "dL/dparam" in data["table_text"] and "w2[2][1]" in data["table_text"]
    assert len(data["table"]) == 6 + 3 + 6 + 2 + 2


def test_softmax_is_stable_for_huge_logits():
    w1 = [[50.0, -50.0, 10.0], [20.0, 30.0, -40.0]]
    w2 = [[400.0, -400.0], [300.0, 800.0], [-200.0, 100.0]]
    data, _ = run_a2(make_figure=False, x=[3.0, -2.0], w1=w1, w2=w2, b2=[500.0, -500.0], target=1)
    ref_loss, ref, _ = numpy_reference([3.0, -2.0], w1, A2_B1, w2, [500.0, -500.0], 1)
    assert math.isfinite(data["loss"]) and data["loss"] == pytest.approx(ref_loss, rel=1e-12)
    np.testing.assert_allclose(data["grads"]["b2"], ref["b2"], atol=1e-12)


# -------------------------------------------------------------------------- A3

def test_a3_loss_decreases_and_is_seeded():
    data, fig = run_a3()
    loss = data["epoch_loss"]
    assert len(loss) == 25 and all(math.isfinite(v) for v in loss)
    assert loss[-1] < loss[0]
    assert sum(loss[-5:]) / 5 < 0.7 * sum(loss[:5]) / 5
    assert data["train_accuracy"] > 0.8
    X = np.array(data["X"])
    np.testing.assert_allclose(X.mean(axis=0), 0.0, atol=1e-12)  # z-scored
    np.testing.assert_allclose(X.std(axis=0), 1.0, atol=1e-12)
    again, _ = run_a3(make_figure=False)
    assert again["epoch_loss"] == loss
    other, _ = run_a3(make_figure=False, seed=1, n_samples=40, epochs=3)
    assert len(other["epoch_loss"]) == 3 and other["epoch_loss"] != loss[:3]
    json.dumps(data)
    assert_not_blank(fig)


def test_a3_moons_dataset():
    pytest.importorskip("sklearn")
    data, fig = run_a3(n_samples=40, epochs=2, dataset="moons", make_figure=False)
    assert fig is None and len(data["epoch_loss"]) == 2 and len(data["X"]) == 40
    with pytest.raises(ValueError):
        run_a3(dataset="nope", make_figure=False)
