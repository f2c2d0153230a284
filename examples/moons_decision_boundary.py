"""A small deep network on two interleaving half-moons, and the boundary it learns.

    python examples/moons_decision_boundary.py            # writes examples_output/moons_boundary.png
"""
import argparse
import os

import fastnn
from fastnn import viz
from fastnn.datasets import load

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--quick", action="store_true", help="tiny settings (used by the tests)")
parser.add_argument("--out", default="examples_output", help="folder for the figure (default: %(default)s)")
args = parser.parse_args()
os.makedirs(args.out, exist_ok=True)

# 2-D points in two classes; normalize=True standardises each feature with the train split's
# mean and std (the test split is an independent draw from the same distribution).
n = 100 if args.quick else 400
X, y = load("moons", n_samples=n, noise=0.2, seed=0)
Xt, yt = load("moons", split="test", n_samples=n, noise=0.2, seed=0)

# 2 inputs -> two hidden tanh layers of 8 -> 2-class softmax, mean cross-entropy.
model = fastnn.DeepMLP([2, 8, 8, 2], activation="tanh", output="softmax", init="xavier", seed=0)

# Full-batch gradient descent: every step sees all points (a small problem compiles into
# one loop, so thousands of steps take a fraction of a second).
history = model.fit(X, y, iterations=300 if args.quick else 3000, lr=0.5, progress=False)
print(f"train accuracy {model.score(X, y):.3f}, test accuracy {model.score(Xt, yt):.3f} "
      f"({history.steps} steps in {history.wall_time:.2f} s, engine {history.params.get('engine')})")

# Filled contour of the predicted class over the plane, the training points on top.
fig = viz.decision_boundary(model, X, y, title="DeepMLP([2, 8, 8, 2]), tanh",
                            resolution=80 if args.quick else 300)
path = os.path.join(args.out, "moons_boundary.png")
viz.save_figure(fig, path)
print("wrote", path)
