"""Learning-rate schedules: each maps step t (0-based) of T steps to a rate.

    constant   lr_t = lr
    cosine     lr_t = lr_min + ½(lr − lr_min)(1 + cos(π·(t mod P)/P)), P = T/cycles (restarts)
    step       lr_t = lr · gamma^⌊t / step_size⌋
"""
from __future__ import annotations

import numpy as np


def constant(lr, total):
    return np.full(total, lr, dtype=np.float64)


def cosine(lr, total, lr_min=0.0, cycles=1):
    if cycles < 1:
        raise ValueError(f"cosine schedule needs cycles >= 1, got {cycles}")
    period = max(total / cycles, 1.0)
    t = np.arange(total, dtype=np.float64)
    phase = np.mod(t, period) / period
    return lr_min + 0.5 * (lr - lr_min) * (1.0 + np.cos(np.pi * phase))


def step(lr, total, step_size=100, gamma=0.5):
    if step_size < 1:
        raise ValueError(f"step schedule needs step_size >= 1, got {step_size}")
    t = np.arange(total)
    return lr * gamma ** (t // step_size)


SCHEDULES = {"constant": constant, "cosine": cosine, "step": step}


def learning_rates(schedule, lr: float, total: int) -> np.ndarray:
    """The rate of every step: ``schedule`` is a name, (name, {options}), or a callable
    ``f(t, total) -> rate``."""
    options = {}
    if isinstance(schedule, tuple):
        if len(schedule) != 2 or not isinstance(schedule[1], dict):
            raise ValueError(f"schedule as a tuple must be (name, {{options}}), e.g. ('cosine', {{'cycles': 3}}), "
                             f"got {schedule!r}")
        schedule, options = schedule
    if callable(schedule):
        rates = np.array([schedule(t, total) for t in range(total)], dtype=np.float64)
    elif isinstance(schedule, str) and schedule in SCHEDULES:
        try:
            rates = SCHEDULES[schedule](lr, total, **options)
        except TypeError as exc:  # an unknown option name
            raise ValueError(f"schedule {schedule!r} got options {sorted(options)} it does not take ({exc})") from None
    else:
        raise ValueError(f"unknown schedule {schedule!r}; choose one of {', '.join(SCHEDULES)} "
                         "or pass a callable f(step, total) -> lr")
    if not np.all(np.isfinite(rates)) or np.any(rates < 0):
        raise ValueError("the learning-rate schedule produced a negative or non-finite rate")
    return rates
