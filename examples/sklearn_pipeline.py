"""fastnn inside scikit-learn: a Pipeline (scaler + FastMLPClassifier) tuned with GridSearchCV.

    python examples/sklearn_pipeline.py
"""
import argparse
import json
import os
import warnings

from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from fastnn.datasets import load
from fastnn.sklearn import FastMLPClassifier

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--quick", action="store_true", help="tiny settings (used by the tests)")
parser.add_argument("--out", default="examples_output", help="folder for the results (default: %(default)s)")
args = parser.parse_args()
os.makedirs(args.out, exist_ok=True)

X, y = load("digits")                           # 8x8 digits, 64 features, 10 classes
Xtest, ytest = load("digits", split="test")
if args.quick:
    X, y = X[:300], y[:300]

# Any scikit-learn step composes with the fastnn estimator (same parameter names as MLPClassifier).
pipe = Pipeline([("scale", StandardScaler()),
                 ("mlp", FastMLPClassifier(solver="adam", batch_size=32,
                                            max_iter=5 if args.quick else 60, random_state=0))])

# Cross-validated search over the network's width/depth, its activation and its L2 penalty.
param_grid = {"mlp__hidden_layer_sizes": [(32,), (64, 32)],
              "mlp__activation": ["relu", "tanh"],
              "mlp__alpha": [1e-4] if args.quick else [1e-4, 1e-2]}
search = GridSearchCV(pipe, param_grid, cv=3, n_jobs=1)
with warnings.catch_warnings():                 # --quick stops at max_iter on purpose
    warnings.simplefilter("ignore", ConvergenceWarning)
    search.fit(X, y)

for params, score in zip(search.cv_results_["params"], search.cv_results_["mean_test_score"]):
    print(f"cv accuracy {score:.3f}  {params}")
print(f"best: {search.best_params_} -> test accuracy {search.score(Xtest, ytest):.4f}")

# The fitted fastnn network is inside the pipeline: search.best_estimator_["mlp"].model_
path = os.path.join(args.out, "sklearn_search.json")
with open(path, "w") as f:
    json.dump({"best_params": search.best_params_, "cv_accuracy": search.best_score_,
               "test_accuracy": search.score(Xtest, ytest)}, f, indent=2, default=str)
print("wrote", path)
