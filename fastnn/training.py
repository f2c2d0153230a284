"""The training loop: validation, chunked execution, history, callbacks, divergence, Ctrl-C."""
from __future__ import annotations

import math
import time

import numpy as np

from . import _threads
from .callbacks import defines
from . import engines as _engines
from .engines import CLoopEngine, KernelEngine, LoopEngine, OPTIMIZERS, choose_engine
from .history import History
from .schedules import learning_rates
from .validation import check_positive, check_targets, check_X

CHUNK_SECONDS = 0.15  # a compiled chunk returns to Python about this often (progress, Ctrl-C)
DEAD_TOL = 1e-6


class TrainingDiverged(RuntimeError):
    """Raised when the loss or activations become NaN/inf; carries the History."""

    def __init__(self, message, history):
        super().__init__(message)
        self.history = history


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C during fit: the model and ``.history`` are as of the last finished chunk of steps."""

    def __init__(self, history):
        super().__init__("training interrupted; the model keeps its last completed steps")
        self.history = history


def _resolve_steps(epochs, iterations, steps_per_epoch, full_batch):
    if epochs is not None and iterations is not None:
        raise ValueError("give either epochs or iterations, not both")
    if iterations is not None:
        check_positive(iterations, "iterations", integer=True)
        return int(iterations)
    epochs = 10 if epochs is None else check_positive(epochs, "epochs", integer=True)
    return int(epochs) * steps_per_epoch


class _Run:
    """State of one call to fit (what callbacks see as ``trainer``)."""

    def __init__(self, model, engine, history, lrs):
        self.model, self.engine, self.history, self.lrs = model, engine, history, lrs
        self.theta = model._theta
        self.stop = False
        self.step = 0

    @property
    def X(self):
        """The training inputs (validated, C-contiguous, in the model's dtype)."""
        return self.engine.X

    @property
    def grad(self):
        """The flat gradient of the last step (same layout as ``theta``)."""
        return self.engine.grad


def fit(model, X, y, *, epochs=None, iterations=None, lr=0.01, batch_size=None, reduction="mean",
        optimizer="sgd", momentum=0.9, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
        schedule="constant", validation_data=None, validation_every=None, callbacks=(), shuffle=True,
        seed=None, record=None, record_every=10, progress=True, on_divergence="raise"):
    """Train ``model`` in place; see :meth:`fastnn.DeepMLP.fit` for the parameters."""
    _threads.ensure_configured()
    X = check_X(X, model.layer_dims[0], model.dtype)
    Y, labels = check_targets(y, X.shape[0], model.layer_dims[-1], model.task, model.dtype)
    N = X.shape[0]
    check_positive(lr, "learning rate lr")
    if reduction not in ("sum", "mean"):
        raise ValueError(f"reduction must be 'sum' or 'mean', got {reduction!r}")
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {optimizer!r}; choose one of {', '.join(OPTIMIZERS)}")
    check_positive(weight_decay, "weight_decay", allow_zero=True)
    if on_divergence not in ("raise", "stop"):
        raise ValueError("on_divergence must be 'raise' or 'stop'")
    if record not in (None, "layers"):
        raise ValueError("record must be None or 'layers'")
    batch = N if batch_size is None else min(int(check_positive(batch_size, "batch_size", integer=True)), N)
    full_batch = batch >= N
    steps_per_epoch = math.ceil(N / batch)
    total = _resolve_steps(epochs, iterations, steps_per_epoch, full_batch)
    lrs = learning_rates(schedule, lr, total)
    if validation_data is not None:
        Xv, yv = validation_data
        Xv = check_X(Xv, model.layer_dims[0], model.dtype, name="validation X")
        check_targets(yv, Xv.shape[0], model.layer_dims[-1], model.task, model.dtype)
    if validation_every is None:
        validation_every = 1 if not full_batch else max(1, total // 100)
    record_every = int(check_positive(record_every, "record_every", integer=True))
    rng = np.random.default_rng(seed if seed is not None else model.seed)

    kind, backend = choose_engine(model.backend, batch, full_batch, model.layer_dims)
    opt_params = (float(momentum), float(betas[0]), float(betas[1]), float(eps))
    args = (model, X, Y, labels, batch, optimizer, opt_params, weight_decay, reduction == "mean")
    # without layer recording nobody reads the activations after the backward pass
    if kind == "cloop":
        engine = CLoopEngine(*args)
    elif kind == "loop":
        engine = LoopEngine(*args)
    else:
        engine = KernelEngine(backend, *args, share_deltas=record is None,
                              row_block=_engines.ROW_BLOCK if record is None else None)

    history = History()
    history.params = dict(lr=lr, batch_size=batch_size, reduction=reduction, optimizer=optimizer,
                          schedule=schedule if isinstance(schedule, str) else repr(schedule),
                          weight_decay=weight_decay, engine=engine.name, steps=total)
    run = _Run(model, engine, history, lrs)
    model.history_ = history
    callbacks = list(callbacks)
    step_hooks = [cb for cb in callbacks if defines(cb, "on_step_end")]
    epoch_hooks = [cb for cb in callbacks if defines(cb, "on_epoch_end")]
    for cb in callbacks:
        cb.on_train_begin(run)

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=total, desc=f"fit {model.describe()}", unit="step", delay=1.0, leave=False)

    t_start = time.perf_counter()
    checkpoint = model._theta.copy()
    per_step = None
    order = np.arange(N)
    epoch = 0
    epoch_loss = 0.0
    epoch_correct = 0
    epoch_rows = 0
    step = 0
    try:
        while step < total and not run.stop:
            pos = step % steps_per_epoch
            if pos == 0 and not full_batch and shuffle:
                order = rng.permutation(N)
            # how many steps this chunk may run: up to the epoch end, the next record step,
            # the next validation, and a time budget
            limit = steps_per_epoch - pos if not full_batch else total - step
            limit = min(limit, total - step)
            if step_hooks or (full_batch and epoch_hooks):
                limit = 1
            if full_batch and validation_data is not None:
                limit = min(limit, validation_every - step % validation_every)
            recording = record == "layers" and step % record_every == 0
            if record == "layers" and not recording:
                limit = min(limit, record_every - step % record_every)
            if recording:
                limit = 1
            if per_step is not None:
                limit = min(limit, max(1, int(CHUNK_SECONDS / max(per_step, 1e-9))))
            else:
                limit = min(limit, 4)
            before = model._theta.copy() if recording else None
            t0 = time.perf_counter()
            done, losses, correct, rows = engine.run(order[pos * batch:], lrs[step:step + limit])
            per_step = (time.perf_counter() - t0) / max(done, 1)

            # history of the chunk, vectorised (a chunk can hold thousands of steps)
            history.step_loss.extend((losses[:done] / rows[:done]).tolist())
            history.lr.extend(lrs[step:step + done].tolist())
            if full_batch:
                history.loss.extend((losses[:done] / N).tolist())
                if labels.size:
                    history.accuracy.extend((correct[:done] / N).tolist())
            else:
                epoch_loss += float(losses[:done].sum())
                epoch_correct += int(correct[:done].sum())
                epoch_rows += int(rows[:done].sum())
            if recording and done:
                _record_layers(run, step, before, engine)
            history.steps += done
            new_step = step + done
            if bar is not None:
                bar.update(done)
                if history.step_loss:
                    bar.set_postfix(loss=f"{history.step_loss[-1]:.4g}", refresh=False)

            if done < limit:  # non-finite loss at step new_step
                _diverged(run, new_step, losses[done], float(lrs[new_step]), checkpoint, on_divergence)
                break

            epoch_finished = full_batch or (new_step % steps_per_epoch == 0) or new_step == total
            old_step, step = step, new_step
            run.step = step
            np.copyto(checkpoint, model._theta)
            for cb in step_hooks:
                for s in range(old_step, new_step):
                    cb.on_step_end(run, s, {"loss": history.step_loss[s], "lr": float(lrs[s])})
            if not epoch_finished:
                continue
            logs = {}
            if full_batch:
                epoch = step
                logs["loss"] = history.loss[-1]
                if labels.size:
                    logs["accuracy"] = history.accuracy[-1]
            else:
                epoch += 1
                history.loss.append(epoch_loss / epoch_rows)
                logs["loss"] = history.loss[-1]
                if labels.size:
                    history.accuracy.append(epoch_correct / epoch_rows)
                    logs["accuracy"] = history.accuracy[-1]
                epoch_loss, epoch_correct, epoch_rows = 0.0, 0, 0
            history.epochs = epoch
            if validation_data is not None and (not full_batch or step % validation_every == 0 or step == total):
                v_loss, v_acc = model.evaluate(Xv, yv)
                history.val_loss.append(v_loss)
                history.val_accuracy.append(v_acc)
                history.val_epochs.append(epoch)
                logs["val_loss"], logs["val_accuracy"] = v_loss, v_acc
            for cb in epoch_hooks:
                cb.on_epoch_end(run, epoch, logs)
    except KeyboardInterrupt:
        # the chunk in flight may be partly applied: go back to its start
        np.copyto(model._theta, checkpoint)
        history.steps = run.step
        del history.step_loss[run.step:], history.lr[run.step:]
        if full_batch:
            del history.loss[run.step:], history.accuracy[run.step:]
        history.stopped = "interrupted"
        history.message = f"interrupted by the user after {run.step} steps"
        raise TrainingInterrupted(history) from None
    finally:
        if bar is not None:
            bar.close()
        history.wall_time = time.perf_counter() - t_start
        for cb in callbacks:  # also after divergence or Ctrl-C, so callbacks can flush and clean up
            cb.on_train_end(run)
    model._fitted = True
    return history


def _diverged(run, step, loss, lr, checkpoint, on_divergence):
    model, history = run.model, run.history
    if not np.all(np.isfinite(model._theta)):
        np.copyto(model._theta, checkpoint)
    history.stopped = "diverged"
    history.message = (f"training diverged at step {step}: NaN in activations — lower the learning rate "
                       f"(loss became {loss}, lr was {lr:g}); the model keeps its last finite weights")
    run.stop = True
    if on_divergence == "raise":
        raise TrainingDiverged(history.message, history)
    import warnings

    warnings.warn(history.message, RuntimeWarning, stacklevel=3)


def _record_layers(run, step, before, engine):
    """Per-layer statistics and unit images of the step just taken."""
    model, buf = run.model, engine.buffers
    rows = engine.last_rows
    stats = {k: [] for k in ("act_mean", "act_std", "weight_mean", "weight_std", "update_mean",
                             "update_std", "update_magnitude", "dead_units")}
    snap = {"step": int(step), "act_unit_mean": [], "weight_unit_mean": [], "update_unit_mean": [],
            "act_hist": [], "update_magnitude": [], "accuracy": (run.history.accuracy[-1]
                                                                if run.history.accuracy else None)}
    for l in range(len(model.layer_dims) - 1):
        A, D = buf.A(l, rows), buf.D(l, rows)
        W = model.weights[l]
        dW = W - model._param_view(before, l, "W")
        stats["act_mean"].append(float(A.mean()))
        stats["act_std"].append(float(A.std()))
        stats["weight_mean"].append(float(W.mean()))
        stats["weight_std"].append(float(W.std()))
        stats["update_mean"].append(float(dW.mean()))
        stats["update_std"].append(float(dW.std()))
        mag = float(np.abs(dW).mean())
        stats["update_magnitude"].append(mag)
        dead = (np.abs(A).max(axis=0) <= DEAD_TOL) | (np.abs(D).max(axis=0) <= DEAD_TOL)
        stats["dead_units"].append(int(dead.sum()))
        snap["act_unit_mean"].append(A.mean(axis=0).astype(np.float32))
        snap["weight_unit_mean"].append(W.mean(axis=1).astype(np.float32))
        snap["update_unit_mean"].append(dW.mean(axis=1).astype(np.float32))
        counts, edges = np.histogram(A, bins=40)
        snap["act_hist"].append((counts, edges))
        snap["update_magnitude"].append(mag)
    run.history.add_layer_record(step, stats, snap)
