/* Let GCC vectorise exp/log/tanh calls in the epilogue loops through glibc's libmvec, without
 * -ffast-math (so NaN and inf keep their meaning): redeclare the functions with the "simd"
 * attribute, as glibc's <bits/math-vector.h> does only under __FAST_MATH__. Link with -lmvec.
 * Other compilers or C libraries: a no-op, the loops stay scalar. */
#ifndef FASTNN_SIMD_MATH_H
#define FASTNN_SIMD_MATH_H
#include <math.h>
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__GLIBC__) \
    && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 35)) && !defined(__FAST_MATH__)
#define FASTNN_LIBMVEC 1
extern double exp(double) __attribute__((__simd__("notinbranch")));
extern float expf(float) __attribute__((__simd__("notinbranch")));
extern double log(double) __attribute__((__simd__("notinbranch")));
extern float logf(float) __attribute__((__simd__("notinbranch")));
extern double tanh(double) __attribute__((__simd__("notinbranch")));
extern float tanhf(float) __attribute__((__simd__("notinbranch")));
#endif
#endif
