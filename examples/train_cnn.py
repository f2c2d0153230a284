"""The course's small CNN (conv 5×5 → pool → conv 5×5 → pool → 320-50-10 with dropout) on MNIST
with Adam, its test accuracy per epoch, the first layer's filters and one image's feature maps.

    python examples/train_cnn.py                          # mnist-5k, offline, 3 epochs
    python examples/train_cnn.py --dataset fashion-mnist --epochs 10
"""
import argparse
import os

import fastnn
from fastnn import viz
from fastnn.datasets import load
from fastnn.layers import Conv2D, Dense, Dropout, Flatten, MaxPool2D

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--quick", action="store_true", help="tiny settings (used by the tests)")
parser.add_argument("--dataset", default="mnist-5k", help="mnist-5k (default, no download), mnist or fashion-mnist")
parser.add_argument("--epochs", type=int, default=3)
parser.add_argument("--out", default="examples_output", help="folder for the figures (default: %(default)s)")
args = parser.parse_args()
os.makedirs(args.out, exist_ok=True)

X, y = load(args.dataset)                       # (n, 784) in [0, 1]; the model reshapes to (n, 1, 28, 28)
Xtest, ytest = load(args.dataset, split="test")
if args.quick:
    X, y, Xtest, ytest, args.epochs = X[:300], y[:300], Xtest[:200], ytest[:200], 1

# The same network as fastnn.models.course_cnn("relu"), written layer by layer.
model = fastnn.Sequential([
    Conv2D(1, 10, 5, activation="relu"), MaxPool2D(2),
    Conv2D(10, 20, 5, activation="relu"), MaxPool2D(2), Flatten(),
    Dense(320, 50, activation="relu"), Dropout(0.5), Dense(50, 10),
], input_shape=(1, 28, 28), seed=0)
print(model.summary())

history = model.fit(X, y, epochs=args.epochs, lr=1e-3, optimizer="adam", batch_size=64,
                    validation_data=(Xtest, ytest), progress=not args.quick, seed=0)
for epoch, (loss, acc) in enumerate(zip(history.val_loss, history.val_accuracy), 1):
    print(f"epoch {epoch:2d}  test loss {loss:.4f}  test accuracy {acc:.4f}")
print(f"{history.steps} steps in {history.wall_time:.2f} s ({history.params.get('engine')})")

path = model.save(os.path.join(args.out, "course_cnn.npz"))
assert (fastnn.load_model(path).predict(Xtest) == model.predict(Xtest)).all()
for name, fig in (("cnn_filters.png", viz.cnn_filters(model)),
                  ("cnn_feature_maps.png", viz.cnn_feature_maps(model, Xtest[0]))):
    viz.save_figure(fig, os.path.join(args.out, name))
    print("wrote", os.path.join(args.out, name))
