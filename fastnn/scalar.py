"""A small scalar reverse-mode autodiff engine (micrograd-like), for teaching and checking.

Every :class:`Value` is one node of a computational graph: a Python float ``data``,
the gradient ``grad`` of the last :meth:`Value.backward` root with respect to it,
the operation ``op`` that produced it, an optional ``label`` and its input nodes.

Each operation computes its forward value and, right beside it, a small closure
returning the *local* derivatives d(out)/d(input) for each input (evaluated at
the forward values, which the closure captures as floats, so a graph holds no
reference cycles). ``backward`` applies the chain rule with those local
derivatives, visiting the nodes in reverse topological order:

    op        forward            local derivative rule
    ------    ---------------    ---------------------------------------
    +         c + x              d(c+x)/dx = 1
    *         a x                d(ax)/dx = a
    neg       -x                 d(-x)/dx = -1
    square    x**2               d(x²)/dx = 2x
    ^c        x**c (constant c)  d(x^c)/dx = c·x^(c-1)
    a^x       a**x (constant a)  d(a^x)/dx = ln(a)·a^x
    pow       x**y (both nodes)  d(x^y)/dx = y·x^(y-1),  d(x^y)/dy = ln(x)·x^y
    exp       e**x               d(e^x)/dx = e^x
    log       ln x               d(ln x)/dx = 1/x
    tanh      tanh x             d(tanh x)/dx = 1 - tanh²(x)
    sigmoid   1 / (1 + e**-x)    dσ(x)/dx = σ(x)·(1 - σ(x))
    relu      max(x, 0)          d relu(x)/dx = [x > 0]

Derived operators reuse these: ``x - y = x + (-y)``, ``x / y = x * y**-1``.
Python numbers mixed into an expression become ``const`` leaves (``x * 3``,
``2 - x``), except for the constant exponent of ``x**c`` and the constant base
of ``a**x``, which are parameters of those ops.

The graph walk is iterative (no recursion), so chains of any length work, and
``backward()`` zeroes the gradients of the whole graph before accumulating, so
calling it twice gives the same gradients (pass ``accumulate=True`` to add into
the leaves' existing gradients instead).

Inspection helpers: :func:`topological_order`, :func:`trace_table` (rows of plain
data), :func:`format_trace` (a printable table) and :func:`draw_graph` (the graph
drawn with matplotlib only, left to right by depth).
"""
from __future__ import annotations

import math
import numbers
from typing import Callable, Dict, List, Optional, Sequence, Tuple

__all__ = [
    "Value",
    "RULES",
    "topological_order",
    "trace_table",
    "format_trace",
    "draw_graph",
]

# Local derivative rules, shown in traces. Keyed by op kind.
RULES: Dict[str, str] = {
    "leaf": "",
    "const": "",
    "+": "d(c+x)/dx = 1",
    "*": "d(ax)/dx = a",
    "neg": "d(-x)/dx = -1",
    "square": "d(x²)/dx = 2x",
    "^c": "d(x^c)/dx = c·x^(c-1)",
    "a^x": "d(a^x)/dx = ln(a)·a^x",
    "pow": "d(x^y)/dx = y·x^(y-1), d(x^y)/dy = ln(x)·x^y",
    "exp": "d(e^x)/dx = e^x",
    "log": "d(ln x)/dx = 1/x",
    "tanh": "d(tanh x)/dx = 1 - tanh²(x)",
    "sigmoid": "dσ(x)/dx = σ(x)·(1 - σ(x))",
    "relu": "d relu(x)/dx = [x > 0]",
}

_NO_GRADS: Callable[[], Tuple[float, ...]] = lambda: ()  # noqa: E731  (leaves)


def _fmt_num(c: float) -> str:
    return format(c, "g")


def _real_pow(base: float, exponent: float) -> float:
    """``base ** exponent`` as a real float; a complex result is a domain error."""
    out = base ** exponent
    if isinstance(out, complex):
        raise ValueError(f"{base!r} ** {exponent!r} is not a real number")
    return float(out)


def _pow_local(base: float, exponent: float) -> float:
    """d(x^c)/dx = c·x^(c-1) at x = base, with c·0^(negative) = ±inf instead of an exception."""
    if exponent == 0.0:
        return 0.0
    try:
        return exponent * _real_pow(base, exponent - 1.0)
    except ZeroDivisionError:  # 0 ** negative
        return math.copysign(math.inf, exponent)


def _log_base_local(base: float, out: float, exponent: float) -> float:
    """d(a^x)/dx = ln(a)·a^x at a = base, out = a^x; 0 for a = 0 < x; nan where undefined."""
    if base > 0.0:
        return math.log(base) * out
    if base == 0.0 and exponent > 0.0:
        return 0.0
    return math.nan


class Value:
    """One scalar node of a computational graph.

    >>> w, x = Value(2.0, label="w"), Value(-3.0, label="x")
    >>> f = (w * x + 1).square(); f.label = "f"
    >>> f.backward()
    >>> f.data, w.grad, x.grad
    (25.0, -30.0, 20.0)
    """

    __slots__ = ("data", "grad", "label", "_prev", "_op", "_kind", "_local")
    __array_ufunc__ = None  # numpy scalars on the left defer to our reflected operators

    def __init__(self, data: float, label: str = "") -> None:
        self.data = float(data)
        self.grad = 0.0
        self.label = label
        self._prev: Tuple["Value", ...] = ()
        self._op = ""
        self._kind = "leaf"
        self._local = _NO_GRADS

    # ------------------------------------------------------------------ plumbing
    @classmethod
    def _node(cls, data: float, prev: Tuple["Value", ...], op: str, kind: str,
              local: Callable[[], Tuple[float, ...]]) -> "Value":
        out = cls.__new__(cls)
        out.data = data
        out.grad = 0.0
        out.label = ""
        out._prev = prev
        out._op = op
        out._kind = kind
        out._local = local
        return out

    @staticmethod
    def _lift(other) -> "Value":
        if isinstance(other, Value):
            return other
        if isinstance(other, numbers.Real):
            const = Value(other)
            const._op = const._kind = "const"
            return const
        return NotImplemented

    @property
    def op(self) -> str:
        """Name of the operation that produced this node ('' for a leaf, 'const' for a lifted number)."""
        return self._op

    @property
    def kind(self) -> str:
        """Op kind, the key of :data:`RULES` ('leaf', 'const', '+', '*', '^c', 'a^x', ...)."""
        return self._kind

    @property
    def rule(self) -> str:
        """The local derivative rule of this node's op (see :data:`RULES`)."""
        return RULES[self._kind]

    @property
    def children(self) -> Tuple["Value", ...]:
        """Input nodes of this node (empty for leaves)."""
        return self._prev

    def local_grads(self) -> Tuple[float, ...]:
        """d(self)/d(child) for each child, at the forward values."""
        return self._local()

    def __repr__(self) -> str:  # never walks the graph
        lab = f", label={self.label!r}" if self.label else ""
        op = f", op={self._op!r}" if self._op else ""
        return f"Value(data={self.data!r}, grad={self.grad!r}{op}{lab})"

    def __float__(self) -> float:
        return self.data

    # --------------------------------------------------------------- core ops
    def __add__(self, other) -> "Value":
        other = Value._lift(other)
        if other is NotImplemented:
            return NotImplemented
        # d(x+y)/dx = 1, d(x+y)/dy = 1
        return Value._node(self.data + other.data, (self, other), "+", "+", lambda: (1.0, 1.0))

    def __mul__(self, other) -> "Value":
        other = Value._lift(other)
        if other is NotImplemented:
            return NotImplemented
        a, b = self.data, other.data
        # d(ab)/da = b, d(ab)/db = a
        return Value._node(a * b, (self, other), "*", "*", lambda: (b, a))

    def __neg__(self) -> "Value":
        # d(-x)/dx = -1
        return Value._node(-self.data, (self,), "neg", "neg", lambda: (-1.0,))

    def square(self) -> "Value":
        x = self.data
        # d(x²)/dx = 2x
        return Value._node(x * x, (self,), "square", "square", lambda: (2.0 * x,))

    def __pow__(self, other) -> "Value":
        if isinstance(other, Value):  # x ** y, both nodes
            x, y = self.data, other.data
            out = _real_pow(x, y)
            # d(x^y)/dx = y·x^(y-1), d(x^y)/dy = ln(x)·x^y
            return Value._node(out, (self, other), "pow", "pow",
                               lambda: (_pow_local(x, y), _log_base_local(x, out, y)))
        if not isinstance(other, numbers.Real):
            return NotImplemented
        x, c = self.data, float(other)
        # d(x^c)/dx = c·x^(c-1)
        return Value._node(_real_pow(x, c), (self,), "^" + _fmt_num(c), "^c",
                           lambda: (_pow_local(x, c),))

    def __rpow__(self, other) -> "Value":
        if not isinstance(other, numbers.Real):
            return NotImplemented
        a, x = float(other), self.data
        out = _real_pow(a, x)
        # d(a^x)/dx = ln(a)·a^x
        return Value._node(out, (self,), _fmt_num(a) + "^x", "a^x",
                           lambda: (_log_base_local(a, out, x),))

    def exp(self) -> "Value":
        e = math.exp(self.data)
        # d(e^x)/dx = e^x
        return Value._node(e, (self,), "exp", "exp", lambda: (e,))

    def log(self) -> "Value":
        x = self.data
        # d(ln x)/dx = 1/x
        return Value._node(math.log(x), (self,), "log", "log", lambda: (1.0 / x,))

    def tanh(self) -> "Value":
        t = math.tanh(self.data)
        # d(tanh x)/dx = 1 - tanh²x
        return Value._node(t, (self,), "tanh", "tanh", lambda: (1.0 - t * t,))

    def sigmoid(self) -> "Value":
        x = self.data
        if x >= 0.0:  # stable on both sides: never exp of a large positive number
            s = 1.0 / (1.0 + math.exp(-x))
        else:
            e = math.exp(x)
            s = e / (1.0 + e)
        # dσ/dx = σ(1 - σ)
        return Value._node(s, (self,), "sigmoid", "sigmoid", lambda: (s * (1.0 - s),))

    def relu(self) -> "Value":
        x = self.data
        d = 1.0 if x > 0.0 else 0.0
        # d relu(x)/dx = [x > 0]   (0 at x = 0)
        return Value._node(x if x > 0.0 else 0.0, (self,), "relu", "relu", lambda: (d,))

    # ----------------------------------------------------------- derived ops
    def __radd__(self, other) -> "Value":  # other + self
        other = Value._lift(other)
        if other is NotImplemented:
            return NotImplemented
        return other + self

    def __rmul__(self, other) -> "Value":  # other * self
        other = Value._lift(other)
        if other is NotImplemented:
            return NotImplemented
        return other * self

    def __sub__(self, other) -> "Value":  # self + (-other)
        if isinstance(other, Value):
            return self + (-other)
        if isinstance(other, numbers.Real):
            return self + (-other)  # a number: negate it before lifting (no neg node)
        return NotImplemented

    def __rsub__(self, other) -> "Value":  # other + (-self)
        if not isinstance(other, numbers.Real):
            return NotImplemented
        return Value._lift(other) + (-self)

    def __truediv__(self, other) -> "Value":  # self * other**-1
        if isinstance(other, Value):
            return self * other ** -1
        if isinstance(other, numbers.Real):
            return self * (1.0 / other)
        return NotImplemented

    def __rtruediv__(self, other) -> "Value":  # other * self**-1
        if not isinstance(other, numbers.Real):
            return NotImplemented
        return Value._lift(other) * self ** -1

    # --------------------------------------------------------------- backward
    def zero_grad(self) -> None:
        """Set ``grad = 0`` on every node of the graph ending at this node."""
        for node in topological_order(self):
            node.grad = 0.0

    def backward(self, accumulate: bool = False) -> None:
        """Reverse-mode sweep: fill ``grad`` = d(self)/d(node) for every node of the graph.

        By default every gradient in the graph is zeroed first, so calling this again
        gives the same result. With ``accumulate=True`` only interior nodes are zeroed
        and the leaves' gradients are added to (e.g. to sum over several samples).
        """
        order = topological_order(self)
        for node in order:
            if not accumulate or node._prev:
                node.grad = 0.0
        self.grad += 1.0
        for node in reversed(order):
            prev = node._prev
            if prev:
                g = node.grad
                for child, d in zip(prev, node._local()):
                    child.grad += d * g


def topological_order(root: Value) -> List[Value]:
    """Every node reachable from ``root``, inputs before the nodes using them (root last).

    Iterative depth-first post-order, deterministic (inputs visited left to right).
    """
    order: List[Value] = []
    visited = set()
    stack: List[Tuple[Value, bool]] = [(root, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if id(node) in visited:
            continue
        visited.add(id(node))
        stack.append((node, True))
        for child in reversed(node._prev):
            if id(child) not in visited:
                stack.append((child, False))
    return order


def _names(order: Sequence[Value]) -> Dict[int, str]:
    """Display name of each node: its label, else 't<k>' with k its topological index."""
    return {id(n): (n.label or f"t{k}") for k, n in enumerate(order)}


def trace_table(root: Value) -> List[dict]:
    """One row per node, in topological order (inputs first, root last).

    Each row is a plain dict: ``index``, ``name`` (label or 't<index>'), ``label``,
    ``op`` ('leaf' / 'const' / op name), ``inputs`` (names), ``value``, ``grad``
    (d root / d node after ``root.backward()``), ``local_grads`` (d node / d input for
    each input) and ``rule`` (the op's local derivative rule).
    """
    order = topological_order(root)
    names = _names(order)
    rows = []
    for k, n in enumerate(order):
        rows.append({
            "index": k,
            "name": names[id(n)],
            "label": n.label,
            "op": n._op or "leaf",
            "inputs": [names[id(c)] for c in n._prev],
            "value": n.data,
            "grad": n.grad,
            "local_grads": list(n._local()),
            "rule": RULES[n._kind],
        })
    return rows


def format_trace(root: Value, float_fmt: str = ".6g", rules: bool = True,
                 grad_header: str = "grad") -> str:
    """The :func:`trace_table` of ``root`` as an aligned text table."""
    rows = trace_table(root)
    f = lambda v: format(v, float_fmt)  # noqa: E731
    header = ["#", "node", "op", "inputs", "value", grad_header, "local d/dinput"]
    if rules:
        header.append("rule")
    body = []
    for r in rows:
        line = [str(r["index"]), r["name"], r["op"], ", ".join(r["inputs"]),
                f(r["value"]), f(r["grad"]), ", ".join(f(d) for d in r["local_grads"])]
        if rules:
            line.append(r["rule"])
        body.append(line)
    widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(header)]
    numeric = {0, 4, 5}

    def render(cells):
        out = [c.rjust(w) if i in numeric else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths))]
        return "  ".join(out).rstrip()

    sep = "  ".join("-" * w for w in widths)
    return "\n".join([render(header), sep] + [render(b) for b in body])


def _layout(order: Sequence[Value], leaves_near_users: bool = False):
    """Layered layout: column = longest path from the leaves (so inputs are left of users).

    Edges spanning several columns get a dummy waypoint in each column they cross, so
    they are routed around boxes instead of through them; rows are ordered by a few
    barycentre sweeps to keep crossings down. Returns (depth of each node, y of each
    node or waypoint key, routes = [(input, user, [waypoint keys])], column sizes).
    """
    depth: Dict[int, int] = {}
    for n in order:
        depth[id(n)] = 1 + max((depth[id(c)] for c in n._prev), default=-1)
    if leaves_near_users:  # move each input-less node to just left of its first user
        first_use: Dict[int, int] = {}
        for n in order:
            for c in n._prev:
                if not c._prev:
                    first_use[id(c)] = min(first_use.get(id(c), depth[id(n)]), depth[id(n)])
        for k, d in first_use.items():
            depth[k] = d - 1
    n_cols = 1 + max(depth.values())
    cols: List[list] = [[] for _ in range(n_cols)]
    for n in order:
        cols[depth[id(n)]].append(id(n))
    left: Dict[object, list] = {k: [] for col in cols for k in col}   # neighbours one column left
    right: Dict[object, list] = {k: [] for col in cols for k in col}  # neighbours one column right
    routes = []
    for n in order:
        for j, c in enumerate(n._prev):
            prev, way = id(c), []
            for d in range(depth[id(c)] + 1, depth[id(n)]):
                key = ("via", id(n), j, d)
                cols[d].append(key)
                left[key], right[key] = [], []
                way.append(key)
                left[key].append(prev)
                right[prev].append(key)
                prev = key
            left[id(n)].append(prev)
            right[prev].append(id(n))
            routes.append((c, n, way))
    pos: Dict[object, float] = {}

    def place():
        for col in cols:
            mid = (len(col) - 1) / 2.0
            for r, k in enumerate(col):
                pos[k] = mid - r  # top to bottom

    def bary(k, neigh):
        ys = [pos[m] for m in neigh[k]]
        return -sum(ys) / len(ys) if ys else -pos[k]

    place()
    for _ in range(4):
        for d in range(1, n_cols):  # sweep right: order by inputs
            cols[d].sort(key=lambda k: bary(k, left))
            place()
        for d in range(n_cols - 2, -1, -1):  # sweep left: order by users
            cols[d].sort(key=lambda k: bary(k, right))
            place()
    return depth, pos, routes, [len(c) for c in cols]


def draw_graph(root: Value, ax=None, float_fmt: str = ".4g", max_nodes: int = 400,
               title: Optional[str] = None, fontsize: float = 8.0, leaves_near_users: bool = False):
    """Draw the graph ending at ``root`` with matplotlib (no graphviz); return the Figure.

    Nodes are boxes showing name, op, value and grad; arrows go from each input to
    the node using it; columns are depths (longest path from the leaves), so the
    graph reads left to right. Leaves are blue, constants grey, the root green.
    ``leaves_near_users=True`` puts each leaf/constant in the column just left of its
    first user instead of column 0 (shorter edges for wide graphs).
    If ``ax`` is None a new ``matplotlib.figure.Figure`` (not registered with pyplot)
    is created, sized to the graph.
    """
    order = topological_order(root)
    if len(order) > max_nodes:
        raise ValueError(f"graph has {len(order)} nodes (> max_nodes={max_nodes}); "
                         "use trace_table/format_trace for large graphs")
    names = _names(order)
    depth, pos, routes, col_sizes = _layout(order, leaves_near_users)
    n_cols, n_rows = len(col_sizes), max(col_sizes)
    if ax is None:
        from matplotlib.figure import Figure

        fig = Figure(figsize=(max(4.0, 2.0 * n_cols), max(2.5, 0.9 * n_rows + 0.6)))
        ax = fig.add_subplot(1, 1, 1)
    else:
        fig = ax.figure
    f = lambda v: format(v, float_fmt)  # noqa: E731
    boxes = {}
    for n in order:
        if n is root:
            color = "#c7f0c2"
        elif n._kind == "leaf":
            color = "#cfe3ff"
        elif n._kind == "const":
            color = "#e6e6e6"
        else:
            color = "#fff2c2"
        op = n._op or "leaf"
        text = f"{names[id(n)]}  [{op}]\nvalue {f(n.data)}\ngrad {f(n.grad)}"
        boxes[id(n)] = ax.text(depth[id(n)], pos[id(n)], text, ha="center", va="center",
                               fontsize=fontsize, family="monospace", zorder=3,
                               bbox=dict(boxstyle="round,pad=0.35", fc=color, ec="#444444", lw=0.8))
    line = dict(color="#555555", lw=0.9)
    for c, n, way in routes:
        pts = [(depth[id(c)], pos[id(c)])] + [(k[3], pos[k]) for k in way] + [(depth[id(n)], pos[id(n)])]
        for i in range(len(pts) - 1):
            first, last = i == 0, i == len(pts) - 2
            ax.annotate("", xy=pts[i + 1], xytext=pts[i], zorder=4,
                        arrowprops=dict(arrowstyle="-|>" if last else "-", shrinkA=1 if first else 0,
                                        shrinkB=1 if last else 0,
                                        patchA=boxes[id(c)].get_bbox_patch() if first else None,
                                        patchB=boxes[id(n)].get_bbox_patch() if last else None,
                                        **line))
    half = (n_rows - 1) / 2.0
    ax.set_xlim(-0.6, n_cols - 0.4)
    ax.set_ylim(-half - 0.6, half + 0.6)
    ax.axis("off")
    if title:
        ax.set_title(title)
    return fig
