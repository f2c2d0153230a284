"""Watch training in TensorBoard: curves, per-layer statistics and histograms of two runs.

    pip install tensorboardX tensorboard        # the writer, and the viewer
    python examples/tensorboard_logging.py
    tensorboard --logdir examples_output/runs   # then open http://localhost:6006
"""
import argparse
import os
import sys

try:
    import tensorboardX  # noqa: F401  (the event-file writer TensorBoardCallback uses)
except ImportError:
    sys.exit("this example needs tensorboardX: pip install tensorboardX (and tensorboard to view the logs)")

import fastnn
from fastnn.datasets import load
from fastnn.tensorboard import TensorBoardCallback

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--quick", action="store_true", help="tiny settings (used by the tests)")
parser.add_argument("--out", default="examples_output", help="folder for runs/ (default: %(default)s)")
args = parser.parse_args()
logdir = os.path.join(args.out, "runs")

X, y = load("mnist-5k")
Xtest, ytest = load("mnist-5k", split="test")
epochs = 2 if args.quick else 10
if args.quick:
    X, y, Xtest, ytest = X[:500], y[:500], Xtest[:200], ytest[:200]

# Two runs side by side in TensorBoard (spec E2's question for an MLP): ReLU vs tanh.
for activation in ["relu", "tanh"]:
    model = fastnn.DeepMLP([784, 128, 64, 10], activation=activation, output="softmax", init="he", seed=0)
    # Every epoch: loss/accuracy/lr scalars and min/max/mean/std of each layer's weights, biases,
    # pre-activations, activations and weight gradients (on a fixed probe of 256 training rows);
    # every 2 epochs also their histograms. The test split serves as validation data here.
    with TensorBoardCallback(os.path.join(logdir, activation), histograms_every=2) as tb:
        history = model.fit(X, y, epochs=epochs, lr=0.05, batch_size=64, optimizer="momentum",
                            validation_data=(Xtest, ytest), callbacks=[tb], progress=False, seed=0)
    print(f"{activation:5s} test accuracy per epoch: {[round(a, 3) for a in history.val_accuracy]}")

print(f"event files are in {logdir}/; view them with:\n    tensorboard --logdir {logdir}")
