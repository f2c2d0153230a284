"""fit for Sequential until the shared trainer (fastnn.train.trainer, coord SEAM.md) is on main:
the same arguments, History, callbacks, divergence and Ctrl-C behaviour as DeepMLP.fit, over the
engine protocol (``run(order, lrs)``, ``record_layers``). Temporary: replaced by the trainer."""
from __future__ import annotations

import math
import time
from types import SimpleNamespace

import numpy as np

from . import _threads
from ._seam_shim import OPTIMIZERS, make_optimizer
from .callbacks import defines
from .history import History
from .schedules import learning_rates
from .training import TrainingDiverged, TrainingInterrupted
from .validation import check_positive


class _Run:
    def __init__(self, model, engine, history):
        self.model, self.engine, self.history = model, engine, history
        self.theta = model.params.theta
        self.stop = False
        self.step = 0

    @property
    def X(self):
        return self.engine.X

    @property
    def grad(self):
        return self.engine.grad


def fit(model, X, y, *, epochs=None, iterations=None, lr=0.01, batch_size=64, reduction="mean", optimizer="sgd",
        momentum=0.9, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, schedule="constant", validation_data=None,
        callbacks=(), shuffle=True, seed=None, record=None, record_every=100, progress=True, on_divergence="raise"):
    _threads.ensure_configured()
    X, Y, labels = model._training_data(X, y)
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
    record_every = int(check_positive(record_every, "record_every", integer=True))
    batch = N if batch_size is None else min(int(check_positive(batch_size, "batch_size", integer=True)), N)
    steps_per_epoch = math.ceil(N / batch)
    if epochs is not None and iterations is not None:
        raise ValueError("give either epochs or iterations, not both")
    if iterations is not None:
        total = int(check_positive(iterations, "iterations", integer=True))
    else:
        total = (10 if epochs is None else int(check_positive(epochs, "epochs", integer=True))) * steps_per_epoch
    lrs = learning_rates(schedule, lr, total)
    if validation_data is not None:
        Xv, yv = validation_data
        model._training_data(Xv, yv)
    hyper = dict(momentum=momentum, betas=betas, eps=eps, weight_decay=weight_decay)
    opt = model.optimizer_
    if opt is None or opt.name != optimizer:
        opt = make_optimizer(optimizer, **hyper)
    else:
        opt.momentum, opt.betas, opt.eps, opt.weight_decay = float(momentum), tuple(betas), float(eps), \
            float(weight_decay)
    model.optimizer_ = opt.bind(model.params.size, model.dtype)
    config = SimpleNamespace(seed=seed, mean_reduction=reduction == "mean")
    engine = model._make_engine(X, Y, labels, batch, config)
    rng = np.random.default_rng(seed if seed is not None else model.seed)

    history = History()
    history.params = dict(lr=lr, batch_size=batch_size, reduction=reduction, optimizer=optimizer,
                          schedule=schedule if isinstance(schedule, str) else repr(schedule),
                          weight_decay=weight_decay, engine=engine.name, steps=total)
    run = _Run(model, engine, history)
    model.history_ = history
    callbacks = list(callbacks)
    step_hooks = [cb for cb in callbacks if defines(cb, "on_step_end")]
    epoch_hooks = [cb for cb in callbacks if defines(cb, "on_epoch_end")]
    for cb in callbacks:
        cb.on_train_begin(run)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=total, desc="fit Sequential", unit="step", delay=1.0, leave=False)
    t_start = time.perf_counter()
    theta = model.params.theta
    checkpoint = theta.copy()
    order = np.arange(N)
    ep_loss, ep_correct, ep_rows, epoch, step = 0.0, 0, 0, 0, 0
    try:
        while step < total and not run.stop:
            pos = step % steps_per_epoch
            if pos == 0 and shuffle:
                order = rng.permutation(N)
            recording = record == "layers" and step % record_every == 0
            limit = min(steps_per_epoch - pos, total - step, 1 if (recording or step_hooks) else 50)
            if record == "layers" and not recording:
                limit = min(limit, record_every - step % record_every)
            before = theta.copy() if recording else None
            done, losses, correct, rows = engine.run(order[pos * batch:], lrs[step:step + limit])
            history.step_loss.extend((losses[:done] / rows[:done]).tolist())
            history.lr.extend(lrs[step:step + done].tolist())
            ep_loss += float(losses[:done].sum())
            ep_correct += int(correct[:done].sum())
            ep_rows += int(rows[:done].sum())
            if recording and done:
                engine.record_layers(history, step, before)
            history.steps += done
            if bar is not None:
                bar.update(done)
            if done < limit:
                _diverged(run, step + done, losses[done], float(lrs[step + done]), checkpoint, on_divergence)
                break
            old, step = step, step + done
            run.step = step
            np.copyto(checkpoint, theta)
            for cb in step_hooks:
                for s in range(old, step):
                    cb.on_step_end(run, s, {"loss": history.step_loss[s], "lr": float(lrs[s])})
            if step % steps_per_epoch and step != total:
                continue
            epoch += 1
            history.loss.append(ep_loss / ep_rows)
            history.accuracy.append(ep_correct / ep_rows)
            logs = {"loss": history.loss[-1], "accuracy": history.accuracy[-1]}
            ep_loss, ep_correct, ep_rows = 0.0, 0, 0
            history.epochs = epoch
            if validation_data is not None:
                v_loss, v_acc = model.evaluate(Xv, yv)
                history.val_loss.append(v_loss)
                history.val_accuracy.append(v_acc)
                history.val_epochs.append(epoch)
                logs["val_loss"], logs["val_accuracy"] = v_loss, v_acc
            for cb in epoch_hooks:
                cb.on_epoch_end(run, epoch, logs)
    except KeyboardInterrupt:
        np.copyto(theta, checkpoint)
        history.steps = run.step
        del history.step_loss[run.step:], history.lr[run.step:]
        history.stopped = "interrupted"
        history.message = f"interrupted by the user after {run.step} steps"
        raise TrainingInterrupted(history) from None
    finally:
        if bar is not None:
            bar.close()
        history.wall_time = time.perf_counter() - t_start
        for cb in callbacks:
            cb.on_train_end(run)
    model._fitted = True
    return history


def _diverged(run, step, loss, lr, checkpoint, on_divergence):
    theta, history = run.model.params.theta, run.history
    if not np.all(np.isfinite(theta)):
        np.copyto(theta, checkpoint)
    history.stopped = "diverged"
    history.message = (f"training diverged at step {step}: the loss became {loss} — lower the learning rate "
                       f"(lr was {lr:g}); the model keeps its last finite weights")
    run.stop = True
    if on_divergence == "raise":
        raise TrainingDiverged(history.message, history)
    import warnings

    warnings.warn(history.message, RuntimeWarning, stacklevel=3)
