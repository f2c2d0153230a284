"""Diagnostics: what a training run's History says went wrong, in plain words with the numbers.

    >>> history = model.fit(X, y, iterations=200, lr=1e-5, reduction="sum", record="layers")  # doctest: +SKIP
    >>> for finding in fastnn.diagnose(history, model):                                        # doctest: +SKIP
    ...     print(finding)
    [dead_units, layer 1] 61 of 256 units (24%) of hidden layer 1 (relu) are dead: … → try …

Each ``Finding`` has ``kind``, ``layer`` (1-based, None for the whole run), ``message`` (what
was seen, with the numbers) and ``suggestion`` (what to try). The checks and their thresholds:

    kind                fires when
    diverged            training stopped on a non-finite loss (History.stopped == "diverged")
    exploding_loss      the last finite loss is > 10× the first
    oscillation         ≥ 20% of the steps raise the loss by more than 1% (≥ 10 steps)
    collapsed           one class gets ≥ 90% of the predictions (needs top_class_share, or model and X)
    lr_too_small        the loss fell by < 1% over the run (≥ 10 steps)
    plateau             the last quarter of the run improved the loss by < 0.5% while the
                        training accuracy is below 98%
    overfitting         validation loss ≥ 5% above its minimum at the end while the training loss
                        kept falling, or train − validation accuracy ≥ 10 points and widening
    dead_units          ≥ 10% of a hidden layer's units are dead at the end: activation or gradient
                        ≤ 1e-6 on every training input (History.layers["dead_units"])
    saturated_units     ≥ 10% of a sigmoid/tanh layer's units are saturated (output within 0.01 of
                        its bounds) on ≥ 99% of the inputs (snapshots' "saturated_units", recorded by
                        ``saturated_units``), or, without that record, ≥ 90% of the layer's activations
                        lie in the saturated range (snapshots' act_hist)
    vanishing_updates   the first layer's update magnitude is < 1/100 of the last layer's, or a layer's
                        relative update |ΔW|/|W| per step is < 1e-6
    exploding_updates   the first layer's update magnitude is > 100× the last layer's, or a layer's
                        relative update per step is > 0.1 (weights change by 10% each step)

The update statistics come from History.layers (record="layers") or from per-iteration rows
``updates`` (mean |ΔW_l| of each layer at every iteration). A healthy run gives no finding.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: thresholds (documented in the module docstring)
DEAD_FRACTION = 0.10
SATURATION_BOUND = 0.01
SATURATED_INPUTS = 0.99
SATURATED_ACTIVATIONS = 0.90
LR_SMALL_DROP = 0.01
PLATEAU_DROP = 0.005
PLATEAU_ACCURACY = 0.98
OSC_RISE, OSC_FRACTION = 0.01, 0.20
EXPLODE_FACTOR = 10.0
COLLAPSE_SHARE = 0.90
OVERFIT_RISE, OVERFIT_GAP = 0.05, 0.10
UPDATE_RATIO = 100.0
REL_UPDATE_LOW, REL_UPDATE_HIGH = 1e-6, 0.1
MIN_STEPS = 10

BOUNDED = {"sigmoid": (0.0, 1.0), "tanh": (-1.0, 1.0), "relu6": (0.0, 6.0)}


@dataclass(frozen=True)
class Finding:
    """One diagnosis: ``kind`` (see the module docstring), ``layer`` (1-based or None),
    ``message`` (what was seen, with numbers) and ``suggestion`` (what to try)."""
    kind: str
    layer: int | None
    message: str
    suggestion: str

    def as_dict(self) -> dict:
        return {"kind": self.kind, "layer": self.layer, "message": self.message, "suggestion": self.suggestion}

    def __str__(self):
        where = f", layer {self.layer}" if self.layer is not None else ""
        return f"[{self.kind}{where}] {self.message} → {self.suggestion}"


# ---------------------------------------------------------------------------- recording
def saturated_units(A, activation, bound=SATURATION_BOUND, share=SATURATED_INPUTS) -> int:
    """Units of a layer whose activation lies within ``bound`` of the activation's limits
    (σ: 0/1, tanh: ±1, relu6: 0/6) on at least ``share`` of the rows of A (n_rows, n_units);
    0 for unbounded activations. Meant for the trainer's layer record:
    ``snapshot["saturated_units"].append(saturated_units(A, model.activations[l].name))``."""
    name = getattr(activation, "name", activation)
    if name not in BOUNDED:
        return 0
    lo, hi = BOUNDED[name]
    A = np.asarray(A)
    if A.size == 0:
        return 0
    width = (hi - lo) * bound
    near = (A <= lo + width) | (A >= hi - width)
    return int((near.mean(axis=0) >= share).sum())


# ---------------------------------------------------------------------------- helpers
def _finite(values):
    arr = np.asarray(values, dtype=np.float64).ravel()
    return arr[np.isfinite(arr)]


def _pct(x):
    return f"{100 * x:.0f}%" if abs(x) >= 0.1 else f"{100 * x:.1f}%"


def _layer_info(history, model):
    """(widths of the weight layers' outputs, activation names) when known."""
    widths, acts = None, None
    if model is not None:
        dims = getattr(model, "layer_dims", None)
        if dims is not None:
            widths = [int(d) for d in dims[1:]]
        layers = getattr(model, "activations", None)
        if layers is not None:
            acts = [getattr(a, "name", str(a)) for a in layers]
            if getattr(model, "output", None) == "softmax":
                acts[-1] = "softmax"
    if widths is None and history.snapshots:
        units = history.snapshots[-1].get("act_unit_mean") or []
        if units:
            widths = [int(np.size(u)) for u in units]
    return widths, acts


def _layer_table(history, key):
    arr = np.asarray(history.layers.get(key, []), dtype=np.float64)
    return arr if arr.ndim == 2 and arr.size else None


# ---------------------------------------------------------------------------- the checks
def _check_loss(history, top_class_share):
    out = []
    loss = np.asarray(history.loss, dtype=np.float64)
    finite = _finite(loss)
    acc = _finite(history.accuracy)
    lr = _finite(history.lr)
    lr_text = f" (lr {lr[0]:g})" if lr.size else ""
    if history.stopped == "diverged":
        out.append(Finding("diverged", None, f"training diverged after {history.steps} step(s){lr_text}: "
                           f"{history.message or 'the loss became NaN or inf'}",
                           "lower the learning rate (÷10 at a time) or use a smaller initialisation; with "
                           "reduction='sum' the step grows with the number of samples"))
    elif finite.size >= 2 and finite[0] > 0 and finite[-1] > EXPLODE_FACTOR * finite[0]:
        out.append(Finding("exploding_loss", None, f"the loss grew from {finite[0]:.4g} to {finite[-1]:.4g} "
                           f"(×{finite[-1] / finite[0]:.3g}) over {finite.size} iterations{lr_text}",
                           "lower the learning rate (÷10) — the steps overshoot"))
    if finite.size > MIN_STEPS:
        d = np.diff(finite)
        rises = d > OSC_RISE * np.abs(finite[:-1])
        if rises.mean() >= OSC_FRACTION:
            jump = float(np.max(finite[1:][rises] / np.maximum(finite[:-1][rises], 1e-300)))
            out.append(Finding("oscillation", None, f"the loss rose by more than {_pct(OSC_RISE)} at "
                               f"{int(rises.sum())} of {d.size} iterations (largest jump ×{jump:.3g}){lr_text}",
                               "lower the learning rate (÷2 to ÷10) or decay it (schedule='cosine')"))
    if top_class_share is not None and np.isfinite(top_class_share) and top_class_share >= COLLAPSE_SHARE:
        out.append(Finding("collapsed", None, f"the model predicts one class for {_pct(top_class_share)} of the "
                           "inputs: it collapsed to a constant answer",
                           "after a jump in the loss or with dead/saturated units: lower the learning rate; "
                           "if the loss has hardly moved yet: train longer or raise it; check the output/loss "
                           "pair (softmax + cross_entropy)"))
    diverging = any(f.kind in ("diverged", "exploding_loss") for f in out)
    if not diverging and finite.size > MIN_STEPS and finite[0] > 0:
        drop = (finite[0] - finite[-1]) / finite[0]
        if drop < LR_SMALL_DROP:
            out.append(Finding("lr_too_small", None, f"the loss barely moved: {finite[0]:.4g} → {finite[-1]:.4g} "
                               f"({-100 * drop:+.2f}%) in {finite.size} iterations{lr_text}",
                               "raise the learning rate (×10), or check for saturated units (bounded activations "
                               "with large weights learn slowly)"))
        else:
            q = max(2, finite.size // 4)
            tail = (finite[-q] - finite[-1]) / max(abs(finite[-q]), 1e-300)
            if tail < PLATEAU_DROP and (acc.size == 0 or acc[-1] < PLATEAU_ACCURACY):
                acc_text = f"; training accuracy stays at {_pct(acc[-1])}" if acc.size else ""
                out.append(Finding("plateau", None, f"the loss stalled: the last {q} of {finite.size} iterations "
                                   f"improved it by {100 * tail:.2f}% ({finite[-q]:.4g} → {finite[-1]:.4g}){acc_text}",
                                   "more iterations will not help much: raise the learning rate, try a cosine "
                                   "schedule with restarts, a better initialisation (he/lecun) or cross-entropy"))
    return out


def _check_overfitting(history):
    vl = np.asarray(history.val_loss, dtype=np.float64)
    if vl.size < 3 or not np.all(np.isfinite(vl)):
        return []
    epochs = list(history.val_epochs) or list(range(1, vl.size + 1))
    train = np.asarray(history.loss, dtype=np.float64)
    i_min = int(np.argmin(vl))
    rise = (vl[-1] - vl[i_min]) / max(abs(vl[i_min]), 1e-300)
    train_falling = train.size >= 2 and np.isfinite(train[-1]) and train[-1] < train[min(len(train) - 1,
                                                                                          max(0, epochs[i_min] - 1))]
    if i_min < vl.size - 1 and rise >= OVERFIT_RISE and train_falling:
        return [Finding("overfitting", None, f"the validation loss was lowest at epoch {epochs[i_min]} "
                        f"({vl[i_min]:.4g}) and ended {100 * rise:.0f}% higher ({vl[-1]:.4g}) while the training "
                        f"loss kept falling (to {train[-1]:.4g})",
                        f"stop near epoch {epochs[i_min]} (EarlyStopping), add weight_decay, or get more data")]
    va = np.asarray(history.val_accuracy, dtype=np.float64)
    ta = np.asarray(history.accuracy, dtype=np.float64)
    if va.size >= 3 and ta.size >= max(epochs[-1], 1):
        gaps = np.array([ta[e - 1] - v for e, v in zip(epochs, va)])
        if gaps[-1] >= OVERFIT_GAP and gaps[-1] > gaps[0]:
            return [Finding("overfitting", None, f"training accuracy {_pct(ta[epochs[-1] - 1])} vs validation "
                            f"{_pct(va[-1])}: a gap of {100 * gaps[-1]:.0f} points, up from {100 * gaps[0]:.0f}",
                            "add weight_decay, stop earlier (EarlyStopping) or get more data")]
    return []


def _check_units(history, widths, acts):
    out = []
    dead = _layer_table(history, "dead_units")
    if dead is not None:
        last = dead[-1]
        n_hidden = len(last) - 1 if len(last) > 1 else len(last)
        for l in range(n_hidden):
            width = widths[l] if widths and l < len(widths) else None
            if width is None or width == 0:
                continue
            frac = last[l] / width
            if frac >= DEAD_FRACTION:
                act = acts[l] if acts and l < len(acts) else None
                if act in ("relu", "relu6"):
                    why, fix = ("never active (output 0 on every training input)",
                                "lower the learning rate, use He initialisation or leaky_relu")
                elif act in ("sigmoid", "tanh"):
                    why, fix = ("saturated: their gradient is ~0 on every training input",
                                "use smaller initial weights (lecun/he), a smaller k, or a lower learning rate")
                else:
                    why, fix = ("with activation or gradient ~0 on every training input",
                                "lower the learning rate or change the initialisation")
                out.append(Finding("dead_units", l + 1, f"{int(last[l])} of {width} units ({_pct(frac)}) of hidden "
                                   f"layer {l + 1}{f' ({act})' if act else ''} are dead — {why}", fix))
    if not history.snapshots:
        return out
    snap = history.snapshots[-1]
    flagged = {f.layer for f in out}
    recorded = snap.get("saturated_units")
    hists = snap.get("act_hist") or []
    n_layers = len(recorded) if recorded is not None else len(hists)
    for l in range(max(0, n_layers - 1)):  # hidden layers
        act = acts[l] if acts and l < len(acts) else None
        if act not in ("sigmoid", "tanh") or (l + 1) in flagged:
            continue
        lo, hi = BOUNDED[act]
        if recorded is not None:
            width = widths[l] if widths and l < len(widths) else None
            if width and recorded[l] / width >= DEAD_FRACTION:
                out.append(Finding("saturated_units", l + 1, f"{int(recorded[l])} of {width} {act} units "
                                   f"({_pct(recorded[l] / width)}) of hidden layer {l + 1} are saturated (within "
                                   f"{SATURATION_BOUND:g} of {lo:g}/{hi:g}) on ≥ {_pct(SATURATED_INPUTS)} of the inputs",
                                   "use smaller initial weights (lecun/he), a smaller k, or normalise the inputs"))
        elif l < len(hists):
            counts, edges = (np.asarray(a, dtype=np.float64) for a in hists[l])
            width = (hi - lo) * SATURATION_BOUND
            inside = (edges[1:] <= lo + width) | (edges[:-1] >= hi - width)  # bins wholly in the saturated range
            total = counts.sum()
            if total > 0 and counts[inside].sum() / total >= SATURATED_ACTIVATIONS:
                out.append(Finding("saturated_units", l + 1, f"{_pct(counts[inside].sum() / total)} of the {act} "
                                   f"activations of hidden layer {l + 1} are saturated (within "
                                   f"{SATURATION_BOUND:g} of {lo:g}/{hi:g}), where the derivative is ~0",
                                   "use smaller initial weights (lecun/he), a smaller k, or normalise the inputs"))
    return out


def _check_updates(history, updates):
    """Vanishing/exploding updates from per-iteration rows or the layer records."""
    if updates is not None and len(updates):
        mags = np.asarray(updates, dtype=np.float64)
        source = "per iteration"
    else:
        mags = _layer_table(history, "update_magnitude")
        source = "at the recorded steps"
    if mags is None or mags.ndim != 2 or mags.shape[1] < 2:
        return []
    with np.errstate(all="ignore"):
        med = np.array([np.median(_finite(mags[:, l])) if _finite(mags[:, l]).size else np.nan
                        for l in range(mags.shape[1])])
    out = []
    first, last = med[0], med[-1]
    if np.isfinite(first) and np.isfinite(last) and last > 0 and first >= 0:
        ratio = first / last
        if ratio < 1 / UPDATE_RATIO:
            out.append(Finding("vanishing_updates", 1, f"the first layer's updates are {1 / max(ratio, 1e-300):.3g}× "
                               f"smaller than the last layer's (median mean|ΔW| {first:.3g} vs {last:.3g}, {source})",
                               "the gradient vanishes on its way back: use relu/leaky_relu or tanh with lecun/he "
                               "initialisation, or a smaller k for sigmoid layers"))
        elif ratio > UPDATE_RATIO:
            out.append(Finding("exploding_updates", 1, f"the first layer's updates are {ratio:.3g}× larger than the "
                               f"last layer's (median mean|ΔW| {first:.3g} vs {last:.3g}, {source})",
                               "the gradient grows on its way back: use smaller initial weights or a lower "
                               "learning rate"))
    w_mean, w_std = _layer_table(history, "weight_mean"), _layer_table(history, "weight_std")
    rec_mag = _layer_table(history, "update_magnitude")
    if w_mean is None or w_std is None or rec_mag is None:
        return out
    scale = np.sqrt(w_mean ** 2 + w_std ** 2)
    with np.errstate(all="ignore"):
        rel = rec_mag / scale
    flagged = {f.layer for f in out}
    for l in range(rel.shape[1]):
        r = _finite(rel[:, l])
        if r.size == 0 or (l + 1) in flagged:
            continue
        m = float(np.median(r))
        if m > REL_UPDATE_HIGH:
            out.append(Finding("exploding_updates", l + 1, f"layer {l + 1}'s weights change by {_pct(m)} of their "
                               f"size at each step (median |ΔW|/|W|)", "lower the learning rate"))
        elif m < REL_UPDATE_LOW:
            size = "do not change at all" if m == 0 else f"change by only {m:.2g} of their size per step"
            out.append(Finding("vanishing_updates", l + 1, f"layer {l + 1}'s weights {size} (median |ΔW|/|W|): "
                               f"it hardly learns",
                               "raise the learning rate, or fix saturation/dead units feeding this layer"))
    return out


# ---------------------------------------------------------------------------- entry point
def diagnose(history, model=None, *, X=None, updates=None, top_class_share=None) -> list:
    """Findings (list of Finding, most serious first) about a training run.

    ``history``: the History of fit (record="layers" adds the per-layer checks); ``model``:
    the trained model (layer widths and activations; with ``X`` also the share of the most
    predicted class); ``updates``: optional per-iteration rows of mean |ΔW_l| per layer;
    ``top_class_share``: the share of the most predicted class, if already known."""
    if history is None or not hasattr(history, "loss"):
        raise TypeError(f"diagnose needs the History returned by fit, got {type(history).__name__}")
    if top_class_share is None and model is not None and X is not None and getattr(model, "task", "") != "regression":
        with np.errstate(all="ignore"):
            pred = np.asarray(model.predict(X))
        if pred.size:
            top_class_share = float(np.bincount(pred.astype(np.int64)).max() / pred.size)
    widths, acts = _layer_info(history, model)
    findings = _check_loss(history, top_class_share)
    findings += _check_overfitting(history)
    findings += _check_units(history, widths, acts)
    dead = {f.layer for f in findings if f.kind in ("dead_units", "saturated_units")}
    # a layer fed by dead units cannot learn: that finding already explains its vanishing updates
    findings += [f for f in _check_updates(history, updates)
                 if not (f.kind == "vanishing_updates" and f.layer is not None
                         and {f.layer, f.layer - 1} & dead)]
    return findings
