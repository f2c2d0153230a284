/* The compiled whole-loop for small networks (Cython backend), for float and double.
 * See small_net_impl.h; the activation epilogues come from epilogue.h. */
#ifndef FASTNN_SMALL_NET_H
#define FASTNN_SMALL_NET_H
#include <math.h>
#include <stdint.h>
#include "epilogue.h"

enum { FNN_MSE = 0, FNN_SOFTMAX_CE = 1, FNN_SIGMOID_BCE = 2 };
enum { FNN_SGD = 0, FNN_MOMENTUM = 1, FNN_ADAM = 2 };

#define T float
#define FNN_NAME(x) fastnn_##x##_f
#define FNN_EXP expf
#define FNN_LOG logf
#define FNN_LOG1P log1pf
#define FNN_ABS fabsf
#include "small_net_impl.h"
#undef T
#undef FNN_NAME
#undef FNN_EXP
#undef FNN_LOG
#undef FNN_LOG1P
#undef FNN_ABS

#define T double
#define FNN_NAME(x) fastnn_##x##_d
#define FNN_EXP exp
#define FNN_LOG log
#define FNN_LOG1P log1p
#define FNN_ABS fabs
#include "small_net_impl.h"
#undef T
#undef FNN_NAME
#undef FNN_EXP
#undef FNN_LOG
#undef FNN_LOG1P
#undef FNN_ABS

#endif
