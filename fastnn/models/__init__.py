"""The models a user builds: each turns its options into a network description and a
``Parameters`` object, and trains through the shared trainer (fastnn.train).

    base.py        Model — fit / predict / score / save shared by every model
    parameters.py  Parameters — the flat θ with named per-layer views
    network.py     DenseNet — what the engines execute for a fully connected network
    mlp.py         DeepMLP, MLP
"""
from .base import Model
from .mlp import MLP, DeepMLP
from .parameters import Parameters, Segment

__all__ = ["Model", "DeepMLP", "MLP", "Parameters", "Segment"]

# pickles (and reprs) name the public module, as they did before the package split
for _cls in (Model, DeepMLP, MLP, Parameters):
    _cls.__module__ = __name__
