"""Your own initialiser, a cosine learning rate with restarts, momentum vs Adam, early
stopping, and a save -> load -> predict round trip.

    python examples/custom_init_and_schedule.py
"""
import argparse
import os

import numpy as np

import fastnn
from fastnn import viz
from fastnn.datasets import load, train_val_split

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--quick", action="store_true", help="tiny settings (used by the tests)")
parser.add_argument("--out", default="examples_output", help="folder for outputs (default: %(default)s)")
args = parser.parse_args()
os.makedirs(args.out, exist_ok=True)

X, y = load("mnist-5k")
Xtest, ytest = load("mnist-5k", split="test")
epochs = 3 if args.quick else 24
if args.quick:
    X, y = X[:600], y[:600]
Xtr, Xval, ytr, yval = train_val_split(X, y, val_fraction=0.15, seed=0)


def lecun_normal(rng, fan_in, fan_out):
    """Any callable f(rng, fan_in, fan_out) -> (fan_in, fan_out) array is an initialiser."""
    return rng.standard_normal((fan_in, fan_out)) / np.sqrt(fan_in)


# Cosine decay from lr to lr_min, restarting 3 times (every epochs/3 epochs, spec C10).
schedule = ("cosine", {"lr_min": 1e-4, "cycles": 3})
histories, models = {}, {}
for optimizer, lr in [("momentum", 0.05), ("adam", 1e-3)]:
    model = fastnn.DeepMLP([784, 128, 10], activation="relu", output="softmax", init=lecun_normal, seed=0)
    # Stop once val_loss has not improved for 4 epochs, and keep the best weights seen.
    stop = fastnn.EarlyStopping(monitor="val_loss", patience=4, restore_best=True)
    histories[optimizer] = model.fit(Xtr, ytr, epochs=epochs, lr=lr, batch_size=64, optimizer=optimizer,
                                     momentum=0.9, schedule=schedule, validation_data=(Xval, yval),
                                     callbacks=[stop], progress=False, seed=0)
    models[optimizer] = model
    h = histories[optimizer]
    print(f"{optimizer:8s} {h.epochs} epochs, best val_loss {min(h.val_loss):.4f}, "
          f"test accuracy {model.score(Xtest, ytest):.4f}  {h.message}")

# The learning rate per step shows the restarts; validation loss per epoch beside it.
path = os.path.join(args.out, "schedule_curves.png")
viz.save_figure(viz.compare_curves(histories, metrics=("val_loss", "lr"), title="cosine with restarts"), path)

# Save the better model (a versioned .npz, no pickle), load it back, predict the same thing.
best = min(histories, key=lambda name: min(histories[name].val_loss))
model_path = os.path.join(args.out, "mnist_mlp.npz")
models[best].save(model_path)
loaded = fastnn.load_model(model_path)
assert np.array_equal(loaded.predict(Xtest), models[best].predict(Xtest))
print(f"saved {best} model to {model_path}; reloaded predictions: {loaded.predict(Xtest[:10])}")
print(f"wrote {path}")
