"""The training loop shared by every model: one ``Trainer`` per call to ``fit``.

    fit(model, X, y, config)
      -> model._training_data(X, y)              validated arrays
      -> model._make_engine(X, Y, labels, ...)   an Engine (fastnn.engines) that runs steps
      -> Trainer.run(): chunks of steps through engine.run, each followed by
           _record_chunk (history), _end_epoch (validation, epoch callbacks),
           and on trouble _diverge (rollback, TrainingDiverged) or _interrupt (Ctrl-C).

A chunk is as many steps as the engine may run without returning to Python: up to the end of
the epoch, the next recorded or validated step, a step callback, and ``config.CHUNK_SECONDS``.
"""
from __future__ import annotations

import math
import time
import warnings

import numpy as np

from .. import _threads
from .. import config as tunables
from .callbacks import defines
from .config import FitConfig
from .history import History
from .schedules import learning_rates


class TrainingDiverged(RuntimeError):
    """Raised when the loss becomes NaN/inf or explodes; carries the History. The model is rolled
    back to the last parameters whose loss was finite."""

    def __init__(self, message, history):
        super().__init__(message)
        self.history = history


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C during fit: the model and ``.history`` are as of the last finished chunk of steps."""

    def __init__(self, history):
        super().__init__("training interrupted; the model keeps its last completed steps")
        self.history = history


def fit(model, X, y, config: FitConfig) -> History:
    """Train ``model`` in place; see :class:`~fastnn.train.config.FitConfig` for the options."""
    return Trainer(model, config).run(X, y)


class _Checkpoint:
    """θ and the optimiser state at the start of a chunk (for rollback and Ctrl-C), copied into
    buffers allocated once per fit: a chunk can be a single step (step callbacks)."""

    def __init__(self, theta):
        self.theta = np.empty_like(theta)
        self.moments = {}  # "m1"/"m2" -> buffer
        self.step, self.order, self.t = -1, None, 0

    def take(self, step, theta, order, optimizer):
        self.step, self.order, self.t = step, order, optimizer.t
        np.copyto(self.theta, theta)
        for name in ("m1", "m2"):
            m = getattr(optimizer, name)
            if m is None:
                continue
            buf = self.moments.get(name)
            if buf is None or buf.shape != m.shape or buf.dtype != m.dtype:
                buf = self.moments[name] = np.empty_like(m)
            np.copyto(buf, m)

    def restore(self, theta, optimizer):
        np.copyto(theta, self.theta)
        optimizer.t = self.t
        for name, buf in self.moments.items():
            np.copyto(getattr(optimizer, name), buf)


class Trainer:
    """State of one call to fit (what callbacks see as ``trainer``: ``model``, ``history``,
    ``theta``, ``grad``, ``X``, ``step``, and ``stop`` to end training)."""

    def __init__(self, model, config: FitConfig):
        self.model, self.config = model, config
        self.stop = False
        self.step = 0
        self.in_flight = False  # a chunk is running or not yet in the history

    # -------------------------------------------------------------- what callbacks read
    @property
    def grad(self):
        """The flat gradient of the last step (same layout as ``theta``)."""
        return self.engine.grad

    # -------------------------------------------------------------- setup
    def _setup(self, X, y):
        cfg, model = self.config, self.model
        _threads.ensure_configured()
        X, Y, labels = model._training_data(X, y)
        self.X = X                  # the training inputs (validated, C-contiguous, the model's dtype)
        self.theta = model.params   # θ, updated in place by the engine
        N = X.shape[0]
        self.N, self.labels = N, labels
        self.batch = N if cfg.batch_size is None else min(cfg.batch_size, N)
        self.full_batch = self.batch >= N
        self.steps_per_epoch = math.ceil(N / self.batch)
        self.total = cfg.iterations if cfg.iterations is not None else (cfg.epochs or 10) * self.steps_per_epoch
        self.lrs = learning_rates(cfg.schedule, cfg.lr, self.total)
        self.validation = None
        if cfg.validation_data is not None:
            self.validation = model._validation_data(*cfg.validation_data)
        self.validation_every = cfg.validation_every or (1 if not self.full_batch else max(1, self.total // 100))
        self.rng = np.random.default_rng(cfg.seed if cfg.seed is not None else model.seed)
        model.optimizer_ = cfg.optimizer_obj.continue_from(getattr(model, "optimizer_", None))
        self.engine = model._make_engine(X, Y, labels, self.batch, cfg, model.optimizer_)
        self.history = History()
        self.history.params = cfg.params_summary(cfg.batch_size, self.engine.name, self.total)
        model.history_ = self.history
        self.callbacks = cfg.callbacks
        self.step_hooks = [cb for cb in self.callbacks if defines(cb, "on_step_end")]
        self.epoch_hooks = [cb for cb in self.callbacks if defines(cb, "on_epoch_end")]
        self.checkpoints = (_Checkpoint(model.params), _Checkpoint(model.params))  # this chunk's, the one before
        self.first_loss = None
        self.epoch, self.epoch_loss, self.epoch_correct, self.epoch_rows = 0, 0.0, 0, 0

    def _call(self, hook, *args):
        for cb in self.callbacks:
            fn = getattr(cb, hook, None)
            if callable(fn):
                fn(self, *args)

    # -------------------------------------------------------------- the loop
    def run(self, X, y) -> History:
        self._setup(X, y)
        cfg, history = self.config, self.history
        self._call("on_train_begin")
        bar = None
        if cfg.progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=self.total, desc=f"fit {self.model.describe()}", unit="step", delay=1.0, leave=False)
        t_start = time.perf_counter()
        per_step = None
        order = np.arange(self.N)
        try:
            while self.step < self.total and not self.stop:
                step = self.step
                pos = step % self.steps_per_epoch
                if pos == 0 and not self.full_batch and cfg.shuffle:
                    order = self.rng.permutation(self.N)
                limit, recording = self._plan_chunk(step, pos, per_step)
                self.checkpoints = self.checkpoints[::-1]
                self.checkpoints[0].take(step, self.model.params, order, self.model.optimizer_)
                before = self.model.params.copy() if recording else None
                self.in_flight = True
                t0 = time.perf_counter()
                done, losses, correct, rows = self.engine.run(order[pos * self.batch:], self.lrs[step:step + limit])
                per_step = (time.perf_counter() - t0) / max(done, 1)
                bad = self._first_bad_step(done, limit, losses, rows)
                if bad is not None:
                    self._record_chunk(step, bad - step, losses, correct, rows)
                    self._diverge(bad, losses[bad - step] / max(rows[bad - step], 1), pos)
                    break
                self._record_chunk(step, done, losses, correct, rows)
                if recording and done:
                    self.engine.record_layers(history, step, before)
                if bar is not None and done:
                    bar.update(done)
                    bar.set_postfix(loss=f"{history.step_loss[-1]:.4g}", refresh=False)
                self.step = step + done
                self.in_flight = False  # from here on, Ctrl-C keeps this chunk
                for cb in self.step_hooks:
                    for s in range(step, self.step):
                        cb.on_step_end(self, s, {"loss": history.step_loss[s], "lr": float(self.lrs[s])})
                if self.full_batch or self.step % self.steps_per_epoch == 0 or self.step == self.total:
                    self._end_epoch()
        except KeyboardInterrupt:
            self._interrupt()
        finally:
            if bar is not None:
                bar.close()
            history.wall_time = time.perf_counter() - t_start
            self._call("on_train_end")  # also after divergence or Ctrl-C, so callbacks can flush and clean up
        self.model._fitted = True
        return history

    def _plan_chunk(self, step, pos, per_step):
        """(steps the next chunk may run, whether its first step is recorded)."""
        cfg = self.config
        limit = self.total - step if self.full_batch else min(self.steps_per_epoch - pos, self.total - step)
        if self.step_hooks or (self.full_batch and self.epoch_hooks):
            limit = 1
        if self.full_batch and self.validation is not None:
            limit = min(limit, self.validation_every - step % self.validation_every)
        recording = cfg.record == "layers" and step % cfg.record_every == 0
        if cfg.record == "layers" and not recording:
            limit = min(limit, cfg.record_every - step % cfg.record_every)
        if recording:
            limit = 1
        if per_step is None:
            return min(limit, tunables.FIRST_CHUNK_STEPS), recording
        return min(limit, max(1, int(tunables.CHUNK_SECONDS / max(per_step, 1e-9)))), recording

    def _record_chunk(self, step, done, losses, correct, rows):
        """The chunk's curves into the history, vectorised (a chunk can hold thousands of steps)."""
        history = self.history
        step_loss = losses[:done] / rows[:done]
        history.step_loss.extend(step_loss.tolist())
        history.lr.extend(self.lrs[step:step + done].tolist())
        if self.full_batch:
            history.loss.extend((losses[:done] / self.N).tolist())
            if self.labels.size:
                history.accuracy.extend((correct[:done] / self.N).tolist())
        else:
            self.epoch_loss += float(losses[:done].sum())
            self.epoch_correct += int(correct[:done].sum())
            self.epoch_rows += int(rows[:done].sum())
        history.steps += done

    def _end_epoch(self):
        """Epoch curves, validation and the epoch callbacks (every iteration in full batch)."""
        history, logs = self.history, {}
        if self.full_batch:
            self.epoch = self.step
        else:
            self.epoch += 1
            history.loss.append(self.epoch_loss / self.epoch_rows)
            if self.labels.size:
                history.accuracy.append(self.epoch_correct / self.epoch_rows)
            self.epoch_loss, self.epoch_correct, self.epoch_rows = 0.0, 0, 0
        logs["loss"] = history.loss[-1]
        if self.labels.size:
            logs["accuracy"] = history.accuracy[-1]
        history.epochs = self.epoch
        due = not self.full_batch or self.step % self.validation_every == 0 or self.step == self.total
        if self.validation is not None and due:
            v_loss, v_acc = self.model.evaluate(*self.validation)
            history.val_loss.append(v_loss)
            history.val_accuracy.append(v_acc)
            history.val_epochs.append(self.epoch)
            logs["val_loss"], logs["val_accuracy"] = v_loss, v_acc
        for cb in self.epoch_hooks:
            cb.on_epoch_end(self, self.epoch, logs)

    # -------------------------------------------------------------- trouble
    def _first_bad_step(self, done, limit, losses, rows):
        """The first step of the chunk whose loss is not finite (the engine stopped there) or
        exceeds ``divergence_factor`` × the first step's loss; None when all are fine."""
        bad = self.step + done if done < limit else None
        per_row = losses[:done] / np.maximum(rows[:done], 1)
        if self.first_loss is None and done:
            self.first_loss = float(per_row[0])
        factor = self.config.divergence_factor
        if factor is not None and self.first_loss is not None and done:
            bound = factor * max(self.first_loss, tunables.DIVERGENCE_FLOOR)
            over = np.flatnonzero(per_row > bound)
            if over.size:
                bad = self.step + int(over[0])
        return bad

    def _diverge(self, bad, loss, pos):
        """Step ``bad`` had a NaN/inf or exploding loss: roll θ and the optimiser back to the
        parameters that gave the last finite loss (those of step bad when its loss exploded but
        is finite, of step bad − 1 otherwise), trim the history to them, then raise
        TrainingDiverged or warn ("stop")."""
        history = self.history
        target = bad if np.isfinite(loss) else max(bad - 1, 0)
        self._roll_back_to(target)
        del history.step_loss[target:], history.lr[target:]
        if self.full_batch:
            del history.loss[target:], history.accuracy[target:]
        history.steps = target
        self.step = target
        history.stopped = "diverged"
        lr = float(self.lrs[bad])
        if np.isfinite(loss):
            what = (f"the loss exploded to {loss:.3g}, over {self.config.divergence_factor:g}× its first value "
                    f"{self.first_loss:.3g}, on its way to NaN in activations — lower the learning rate")
        else:
            what = f"NaN in activations — lower the learning rate (loss became {loss})"
        history.message = (f"training diverged at step {bad}: {what} (lr was {lr:g}); the model is rolled back to "
                           f"its parameters after step {target}, the last with a finite loss")
        self.stop = True
        if self.config.on_divergence == "raise":
            raise TrainingDiverged(history.message, history)
        warnings.warn(history.message, RuntimeWarning, stacklevel=4)

    def _roll_back_to(self, target):
        """θ and optimiser state after ``target`` steps: restore the newest checkpoint at or before
        ``target`` and replay the steps from there (the engines are deterministic)."""
        model, engine = self.model, self.engine
        ckpt = next((c for c in self.checkpoints if 0 <= c.step <= target), self.checkpoints[0])
        ckpt.restore(model.params, model.optimizer_)
        n = target - ckpt.step
        if n > 0:
            pos = ckpt.step % self.steps_per_epoch
            engine.run(ckpt.order[pos * self.batch:], self.lrs[ckpt.step:target])

    def _interrupt(self):
        """Ctrl-C: a chunk in flight may be partly applied — go back to its start; a finished
        chunk (Ctrl-C in a callback or validation) is kept."""
        history, ckpt = self.history, self.checkpoints[0]
        if self.in_flight and ckpt.step >= 0:
            ckpt.restore(self.model.params, self.model.optimizer_)
            self.step = ckpt.step
        history.steps = self.step
        del history.step_loss[self.step:], history.lr[self.step:]
        if self.full_batch:
            del history.loss[self.step:], history.accuracy[self.step:]
        history.stopped = "interrupted"
        history.message = f"interrupted by the user after {self.step} steps"
        raise TrainingInterrupted(history) from None
