"""A small sweep: activations x initialisations, run in parallel through fastnn.sweep (joblib).

    python examples/compare_activations.py --jobs 2
"""
import argparse
import os

import fastnn
from fastnn import viz
from fastnn.datasets import load
from fastnn.sweep import grid, sweep


def train(activation, init, iterations, n_train):
    """One run. Module-level so joblib can send it to worker processes; returns picklable results."""
    X, y = load("digits")                       # scikit-learn's 8x8 digits, 64 features
    Xt, yt = load("digits", split="test")
    model = fastnn.DeepMLP([64, 32, 32, 10], activation=activation, output="softmax", init=init, seed=0)
    # Full-batch gradient descent with mean cross-entropy: the same lr for every variant.
    history = model.fit(X[:n_train], y[:n_train], iterations=iterations, lr=0.2, progress=False,
                        on_divergence="stop")   # a diverging variant ends early instead of raising
    return history, model.score(Xt, yt)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny settings (used by the tests)")
    parser.add_argument("--jobs", type=int, default=1, help="parallel worker processes (default: %(default)s)")
    parser.add_argument("--out", default="examples_output", help="folder for the figures (default: %(default)s)")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)

    # grid() expands the axes into every combination: 3 activations x 3 inits = 9 runs.
    variants = grid(activation=["sigmoid", "tanh", "relu"], init=["uniform", "xavier", "he"],
                    iterations=[50 if args.quick else 1000], n_train=[80 if args.quick else 10**6])
    results = sweep(train, variants, jobs=args.jobs, progress=not args.quick)

    histories, accuracies = {}, {}
    for v, (history, test_acc) in zip(variants, results):
        label = f"{v['activation']} / {v['init']}"
        histories[label], accuracies[label] = history, test_acc
        print(f"{label:18s} train acc {history.final_accuracy:.3f}  test acc {test_acc:.3f}")

    # All loss and accuracy curves overlaid, then the final test accuracies as bars.
    figures = {"activations_curves.png": viz.compare_curves(histories, title="activation / init"),
               "activations_accuracy.png": viz.accuracy_bars(accuracies, title="test accuracy", chance=0.1)}
    for name, fig in figures.items():
        viz.save_figure(fig, os.path.join(args.out, name))
        print("wrote", os.path.join(args.out, name))
