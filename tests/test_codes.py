"""The integer codes are defined once in Python (fastnn/codes.py) and mirrored once in C
(kernels/codes.h): parse the header and compare, so the two cannot drift apart."""
import re
from pathlib import Path

import pytest

from fastnn import activations, codes

HEADER = Path(__file__).resolve().parents[1] / "kernels" / "codes.h"


def _header_constants():
    text = HEADER.read_text()
    return {name: int(value) for name, value in re.findall(r"\b(FNN_[A-Z0-9_]+)\s*=\s*(\d+)", text)}


def _python_constants():
    prefixes = ("ACT_", "LOSS_", "OPT_", "COL_")
    out = {f"FNN_{k}": v for k, v in vars(codes).items() if k.startswith(prefixes) and isinstance(v, int)}
    out["FNN_LAYOUT_COLS"] = codes.LAYOUT_COLS
    return out


def test_header_mirrors_python_codes():
    header, python = _header_constants(), _python_constants()
    assert len(python) == 6 + 3 + 3 + 6 + 1
    assert header == python


@pytest.mark.parametrize("name", ["sigmoid", "tanh", "relu", "relu6", "leaky_relu", "linear"])
def test_activation_registry_uses_the_codes(name):
    assert activations.CODES[name] == getattr(codes, f"ACT_{name.upper()}")


def test_no_bare_codes_left_in_the_kernels():
    """Layout columns and codes are referred to by name in C and Cython, never as literals."""
    kernels = HEADER.parent
    for path in list(kernels.glob("*.h")) + list(kernels.glob("_cykernels.pyx")):
        text = path.read_text()
        assert not re.search(r"\b(ly|lp|lo)\[[0-9]\]", text), path.name
        assert not re.search(r"layout\s*\+\s*6\b|layout\[6\b", text), path.name
        assert not re.search(r"\b(kind|opt|act)\s*[!=]=\s*[0-9]", text), path.name


def test_output_layer_rule():
    assert codes.output_is_linear(codes.LOSS_SOFTMAX_CE) and codes.output_is_linear(codes.LOSS_SIGMOID_BCE)
    assert not codes.output_is_linear(codes.LOSS_MSE)
    assert codes.kernel_activation(1, 2, codes.ACT_SIGMOID, codes.LOSS_SIGMOID_BCE) == codes.ACT_LINEAR
    assert codes.kernel_activation(0, 2, codes.ACT_SIGMOID, codes.LOSS_SIGMOID_BCE) == codes.ACT_SIGMOID
    assert codes.kernel_activation(1, 2, codes.ACT_SIGMOID, codes.LOSS_MSE) == codes.ACT_SIGMOID
