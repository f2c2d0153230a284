/* Integer codes shared by the C/Cython kernels and Python — mirrors fastnn/codes.py, which is
 * the definition; tests/test_codes.py parses this header and compares the two. */
#ifndef FASTNN_CODES_H
#define FASTNN_CODES_H

/* activations */
enum fnn_activation {
    FNN_ACT_LINEAR = 0, FNN_ACT_SIGMOID = 1, FNN_ACT_TANH = 2, FNN_ACT_RELU = 3, FNN_ACT_RELU6 = 4,
    FNN_ACT_LEAKY_RELU = 5
};

/* losses; for the two fused ones the output layer is computed linear (the loss applies softmax/σ) */
enum fnn_loss { FNN_LOSS_MSE = 0, FNN_LOSS_SOFTMAX_CE = 1, FNN_LOSS_SIGMOID_BCE = 2 };
#define FNN_OUTPUT_IS_LINEAR(kind) ((kind) != FNN_LOSS_MSE)

/* optimisers */
enum fnn_optimizer { FNN_OPT_SGD = 0, FNN_OPT_MOMENTUM = 1, FNN_OPT_ADAM = 2 };

/* columns of the per-layer layout table (int64, FNN_LAYOUT_COLS per layer) */
enum fnn_layout_column {
    FNN_COL_FAN_IN = 0, FNN_COL_FAN_OUT = 1, FNN_COL_W_OFF = 2, FNN_COL_B_OFF = 3, FNN_COL_A_OFF = 4,
    FNN_COL_D_OFF = 5, FNN_LAYOUT_COLS = 6
};

#endif
