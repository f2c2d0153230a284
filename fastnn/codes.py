"""Integer codes shared by Python, Numba, Cython and C — defined here once.

``kernels/codes.h`` mirrors them for the C and Cython kernels; ``tests/test_codes.py``
parses that header and compares, so the two cannot drift apart.
"""
# activations (fastnn.activations maps names to these)
ACT_LINEAR, ACT_SIGMOID, ACT_TANH, ACT_RELU, ACT_RELU6, ACT_LEAKY_RELU = range(6)

# losses, each with the output non-linearity it is fused with
LOSS_MSE = 0          # MSE on the output activation f(z)
LOSS_SOFTMAX_CE = 1   # softmax + cross-entropy: the output layer is computed linear
LOSS_SIGMOID_BCE = 2  # sigmoid + binary cross-entropy: the output layer is computed linear

# optimisers
OPT_SGD, OPT_MOMENTUM, OPT_ADAM = range(3)

# columns of the per-layer layout table (int64, one row per dense layer): fan-in, fan-out,
# offsets of W and b in θ (b: −1 when there is no bias), offsets of A and D in the work buffer
COL_FAN_IN, COL_FAN_OUT, COL_W_OFF, COL_B_OFF, COL_A_OFF, COL_D_OFF = range(6)
LAYOUT_COLS = 6


def output_is_linear(loss_code: int) -> bool:
    """True when the loss applies the output non-linearity itself (softmax/σ fused into CE/BCE),
    so the kernels compute the output layer as linear. The one place this rule lives in Python;
    the compiled loops receive it as ``loss_code != LOSS_MSE`` (see codes.h)."""
    return loss_code != LOSS_MSE


def kernel_activation(layer: int, n_layers: int, act_code: int, loss_code: int) -> int:
    """The activation code the kernels apply for ``layer``: linear for the output layer of a
    fused loss, the layer's own activation otherwise."""
    return ACT_LINEAR if (layer == n_layers - 1 and output_is_linear(loss_code)) else act_code
