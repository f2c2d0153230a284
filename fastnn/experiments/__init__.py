"""The experiment suite (spec EXPERIMENTS.md): registry, runner, report and the experiments."""
import importlib

from .registry import GROUPS, REGISTRY, Experiment, all_experiments, experiment, select

# modules that register experiments when imported (each may be missing while being written)
EXPERIMENT_MODULES = ("c_lecture3", "a_scalar", "b_onehidden", "d_boundaries", "e_cnn")


def load_all():
    for name in EXPERIMENT_MODULES:
        try:
            importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise


__all__ = ["GROUPS", "REGISTRY", "Experiment", "all_experiments", "experiment", "select", "load_all"]
