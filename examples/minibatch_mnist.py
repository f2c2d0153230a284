"""784-300-10 on MNIST with mini-batch SGD, a validation curve, and the training speed.

    python examples/minibatch_mnist.py                  # mnist-5k, offline
    python examples/minibatch_mnist.py --dataset mnist  # the full 60k set (downloaded once)
"""
import argparse
import os

import fastnn
from fastnn import viz
from fastnn.datasets import load, train_val_split

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--quick", action="store_true", help="tiny settings (used by the tests)")
parser.add_argument("--dataset", default="mnist-5k", help="mnist-5k (default, no download) or mnist")
parser.add_argument("--epochs", type=int, default=10)
parser.add_argument("--out", default="examples_output", help="folder for the figure (default: %(default)s)")
args = parser.parse_args()
os.makedirs(args.out, exist_ok=True)

X, y = load(args.dataset)                       # pixels already scaled to [0, 1]
Xtest, ytest = load(args.dataset, split="test")
if args.quick:
    X, y, args.epochs = X[:600], y[:600], 2
# Hold out 10% of the training set (stratified) to watch over-fitting epoch by epoch.
Xtr, Xval, ytr, yval = train_val_split(X, y, val_fraction=0.1, seed=0)

# One sigmoid hidden layer of 300, softmax output with cross-entropy (spec B).
model = fastnn.MLP(784, 300, 10, activation="sigmoid", output="softmax", init="xavier", seed=0)

# Mini-batches of 64, mean-reduced gradients (the modern convention), reshuffled each epoch.
# Sigmoid units learn slowly, so the rate is large: lr 0.5 gives ~90% test accuracy on mnist-5k.
history = model.fit(Xtr, ytr, epochs=args.epochs, lr=0.5, batch_size=64, reduction="mean",
                    validation_data=(Xval, yval), progress=not args.quick, seed=0)

for epoch, (loss, vloss) in enumerate(zip(history.loss, history.val_loss), 1):
    print(f"epoch {epoch:2d}  train loss {loss:.4f}  val loss {vloss:.4f}")
print(f"{history.steps} steps in {history.wall_time:.2f} s = {history.steps / history.wall_time:,.0f} "
      f"steps/s (engine {history.params.get('engine')})")
print(f"validation accuracy {history.val_accuracy[-1]:.4f}, test accuracy {model.score(Xtest, ytest):.4f}")

# Train vs validation loss per epoch: the validation curve turning up means over-fitting.
fig = viz.new_figure(figsize=(6, 4))
ax = fig.subplots()
ax.plot(range(1, len(history.loss) + 1), history.loss, "o-", label="train")
ax.plot(history.val_epochs, history.val_loss, "s-", label="validation")
ax.set(xlabel="epoch", ylabel="cross-entropy", title="784-300-10, mini-batch 64")
ax.legend()
path = os.path.join(args.out, "minibatch_curves.png")
viz.save_figure(fig, path)
print("wrote", path)
