"""Build the Cython kernels in kernels/ into the extensions ``fastnn._cykernels``, ``fastnn._cyconv`` and
``fastnn._cysparse``.

Compiler directives live here, in one place. Set FASTNN_CYTHON_DEBUG=1 when
building to turn bounds and wraparound checks on (slow; for debugging only).
"""
import os
import sys

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup

DEBUG = os.environ.get("FASTNN_CYTHON_DEBUG", "0") not in ("", "0")

DIRECTIVES = {
    "language_level": 3,
    "boundscheck": DEBUG,
    "wraparound": DEBUG,
    "initializedcheck": DEBUG,
    "cdivision": True,
    "nonecheck": False,
}

libraries = []
if sys.platform.startswith("linux"):
    # -fno-math-errno lets GCC vectorise exp/tanh through glibc's libmvec (kernels/simd_math.h);
    # unlike -ffast-math it keeps NaN/inf semantics, which divergence detection relies on.
    # -fno-wrapv undoes the -fwrapv of Python's own CFLAGS: with wrapping signed indices GCC
    # cannot bound the loops of the C training loop, and W3 ran 1.6x slower.
    compile_args = ["-O3", "-fopenmp", "-fno-math-errno", "-fno-wrapv"]
    link_args = ["-fopenmp"]
    libraries = ["mvec"]
elif sys.platform == "darwin":  # Apple clang has no OpenMP by default: kernels run serially
    compile_args, link_args = ["-O3"], []
else:  # MSVC
    compile_args, link_args = ["/O2", "/openmp"], []


def _extension(name, source, depends):
    """One Cython extension of kernels/, with the compile arguments above."""
    return Extension(
        name,
        sources=[source],
        include_dirs=[numpy.get_include(), "kernels"],
        depends=depends,
        libraries=libraries,
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
        extra_compile_args=compile_args,
        extra_link_args=link_args,
    )


extensions = [
    _extension("fastnn._cykernels", "kernels/_cykernels.pyx",
               ["kernels/codes.h", "kernels/epilogue.h", "kernels/rowwise.h", "kernels/simd_math.h",
                "kernels/small_net.h", "kernels/small_net_impl.h", "kernels/sparse.h", "kernels/spin_team.h"]),
    _extension("fastnn._cyconv", "kernels/_cyconv.pyx", ["kernels/conv.h", "kernels/epilogue.h", "kernels/simd_math.h"]),
    # first layers that skip zero inputs (fastnn.backends.cython_sparse)
    _extension("fastnn._cysparse", "kernels/_cysparse.pyx",
               ["kernels/sparse.h", "kernels/epilogue.h", "kernels/rowwise.h", "kernels/simd_math.h"]),
]

setup(ext_modules=cythonize(extensions, compiler_directives=DIRECTIVES, include_path=["kernels"]))
