"""The experiment registry: each experiment is a named function with its parameters as data.

    @experiment("C1", title="Learning rate", question="How does the learning rate change …?",
                varies="lr ∈ 1e-5 × {0.1, 0.5, 1, 2, 10}", group="C", data="mnist",
                iterations=200, lrs=[1e-6, 5e-6, 1e-5, 2e-5, 1e-4])
    def c1_learning_rate(ctx):
        ...

The function receives a ``Context`` (implemented in ``fastnn.experiments.runner``) with:

    ctx.params                 dict: the experiment's defaults overridden by the user's options
                               (always has "seed", "backend", "dataset", "jobs"; "iterations"/"epochs"
                               when the experiment declares them)
    ctx.out_dir                pathlib.Path of this experiment's output folder
    ctx.load_data()            (X_train, y_train, X_test, y_test) of ctx.params["dataset"]
                               (MNIST-format experiments; sizes capped by ctx.params.get("n_train"))
    ctx.map(fn, kwargs_list)   run fn(**kwargs) for each variant — in parallel through joblib when
                               jobs > 1 (fn must be a module-level function); returns results in order
    ctx.save_figure(fig, name) write a PNG (atomically) and list it in the report; returns the path
    ctx.save_file(path, name)  list another file (e.g. a GIF) in the report
    ctx.add_run(name, metrics, history=None, params=None)
                               record one run: writes <out_dir>/runs/<name>.json and adds a row to the
                               experiment's metrics table
    ctx.note(text)             a line of text/findings shown in the report section
    ctx.log(text)              progress message (stderr / logging)
    ctx.headline(text)         the one-line result shown in the report's summary table
    ctx.reference(what, ours, reference, data_note)
                               a number of the course shown beside fastnn's (fractions as %)
    ctx.verdict(claim, holds, evidence)
                               the finding as a one-line verdict computed from the runs
                               (holds: True/False, None when undecided)
    ctx.data_note()            "fastnn: <dataset>, <n> training images; the course: full MNIST, 60,000"

Experiments group by their ``group`` letter ("A", "B", "C", "D", "E").
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable

REGISTRY: dict = {}
GROUPS = {
    "A": "Backprop by hand (scalar autodiff engine)",
    "B": "Vectorised one-hidden-layer network on MNIST (784-300-10)",
    "C": "The 'lecture 3' network study on MNIST-format images (784-256-128-10)",
    "D": "Decision boundaries on toy data",
    "E": "A small convolutional network on MNIST",
}


@dataclass
class Experiment:
    id: str
    title: str
    question: str
    varies: str
    group: str
    data: str  # "mnist" (any MNIST-format set, --dataset applies), "toy" or "none"
    defaults: dict = field(default_factory=dict)
    func: Callable = None

    def describe(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.defaults.items())
        return f"{self.id:4s} {self.title} — varies {self.varies}" + (f" [{params}]" if params else "")


def experiment(id, *, title, question, varies, group=None, data="mnist", **defaults):
    """Register the decorated function as experiment ``id``."""

    def register(func):
        grp = group or re.match(r"[A-Z]+", id).group(0)
        if id in REGISTRY:
            raise ValueError(f"experiment {id} registered twice")
        REGISTRY[id] = Experiment(id, title, question, varies, grp, data, dict(defaults), func)
        return func

    return register


def _natural_key(exp_id):
    m = re.match(r"([A-Z]+)(\d+)", exp_id)
    return (m.group(1), int(m.group(2))) if m else (exp_id, 0)


def all_experiments() -> list:
    from . import load_all

    load_all()
    return [REGISTRY[k] for k in sorted(REGISTRY, key=_natural_key)]


def select(names) -> list:
    """Experiments for names like "C1", "C" (a group) or "all"; unknown names raise ValueError
    listing the valid ones."""
    exps = all_experiments()
    if isinstance(names, str):
        names = [names]
    chosen = []
    for name in names:
        key = name.strip().upper()
        if key == "ALL":
            found = exps
        elif key in REGISTRY:
            found = [REGISTRY[key]]
        else:
            found = [e for e in exps if e.group == key]
        if not found:
            valid = ", ".join(e.id for e in exps)
            groups = ", ".join(sorted({e.group for e in exps}))
            raise ValueError(f"unknown experiment {name!r}; valid names are: {valid}; groups: {groups}; or 'all'")
        chosen.extend(e for e in found if e not in chosen)
    return chosen
