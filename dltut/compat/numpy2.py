"""Theano 1.0.5 on numpy 2 (Python 3.13 has no numpy 1.x).

numpy 2 changed three things Theano 1.0.5 depends on; each measure below is active only
when numpy >= 2 is imported:

* **C API.**  ``PyArray_Descr`` keeps ``elsize`` only for code that targets the 2.0 API
  (Theano reads ``descr->elsize`` in some 60 places), so every module Theano compiles gets
  ``-DNPY_TARGET_VERSION=NPY_2_0_API_VERSION`` (it is compiled against, and runs with, the
  installed numpy anyway).  The lazy linker's C code relied on ``npy_3kcompat.h`` for
  ``NPY_PY3K`` and the ``PyInt_*`` names, which numpy 2 dropped: that one module gets them as
  ``-D`` definitions.  The legacy convolution ``ConvOp`` includes ``numpy/noprefix.h``, which
  numpy 2 removed: a small stand-in folder with that header (the unprefixed names that C
  code uses) is added to its include path.
* **Removed functions.**  ``AdvancedIncSubtensor1``'s C code (``x[idx] += y``) uses the
  ``PyArray_MapIter*`` functions numpy 2 removed; it runs its Python ``perform``
  (``numpy.add.at``, exact) instead.
* **Constants.**  ``CumOp`` (cumsum, cumprod) marks "no axis" with ``NPY_MAXDIMS`` in its
  C code; numpy 2 reads that as axis 64 and wants ``NPY_RAVEL_AXIS``: the C code is
  recompiled from Theano's source with that name (and a new cache version).
* **NEP 50 promotion.**  numpy 2 compares a Python number with a numpy value in the numpy
  value's type.  Theano's constant autocaster picks the smallest dtype ``d`` for which
  ``x == asarray(x, d)``, so under numpy 2 ``T.constant(0.1)`` became float32 even in
  float64 graphs (0.1 == float32(0.1) in float32), ``ivector + 300`` became float64 (300 no
  longer wraps in int8: OverflowError, then uint64), and ``T.constant(-129)`` failed.  The
  autocaster's test is replaced by the exact one numpy 1 performed: an integer takes the
  first integer dtype whose range holds it, a float the first float dtype that represents
  it exactly (compared in float64).  The Python MRG generator (``mrg_uniform.perform``)
  masks an int32 with the Python int ``0xffffffff``, which numpy 1 widened to int64 and
  numpy 2 refuses: the mask becomes a numpy int64 (recompiled from Theano's source).
"""
import os

from . import recompile_method, record, register

__all__ = ["LAZYLINKER_DEFINES", "INCLUDE_DIR", "numpy_is_2", "NPY_RAVEL_AXIS", "MRG_MASK_EDIT",
           "register_hooks", "extra_compile_args", "exact_autocast"]

#: Defines for the lazy linker's C code (numpy 1's npy_3kcompat.h provided them).
LAZYLINKER_DEFINES = ("NPY_PY3K=1", "PyInt_AsLong=PyLong_AsLong",
                      "PyInt_FromLong=PyLong_FromLong", "PyInt_Check=PyLong_Check")

#: The include folder holding dltut's ``numpy/noprefix.h`` stand-in.
INCLUDE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "include")

_STATE = {"numpy2": None}


def numpy_is_2():
    """True when the numpy that Theano will use is 2.x or later (imports numpy)."""
    if _STATE["numpy2"] is None:
        import numpy
        _STATE["numpy2"] = int(numpy.__version__.split(".")[0]) >= 2
    return _STATE["numpy2"]


#: numpy 2's C API value for "no axis: flatten" (numpy 1 used NPY_MAXDIMS = 32 for it).
NPY_RAVEL_AXIS = -2147483648

#: mrg_uniform.perform (the Python MRG31k3p generator): its 32-bit mask must be a numpy
#: int64, as numpy 1's value-based casting made it; numpy 2 refuses 0xffffffff in int32.
MRG_MASK_EDIT = ("mask = 0xffffffff", "mask = np.int64(0xffffffff)", 2)


def register_hooks():
    register("theano.gof.cmodule", after=_patch_cmodule)
    register("theano.scalar.basic", after=_patch_autocaster)
    register("theano.tensor.subtensor", after=_patch_subtensor)
    register("theano.tensor.extra_ops", after=_patch_cumop)
    register("theano.sandbox.rng_mrg", after=_patch_mrg)


def _why():
    import numpy
    return "numpy %s" % numpy.__version__


def extra_compile_args():
    """What every Theano C module gets on numpy 2."""
    return ["-DNPY_TARGET_VERSION=NPY_2_0_API_VERSION", "-I" + INCLUDE_DIR]


def _patch_cmodule(cmodule):
    if not numpy_is_2():
        record("numpy 2 C API", False, "%s has the C API Theano 1.0.5 was written for" % _why())
        return
    compiler = cmodule.GCC_compiler
    original_args = compiler.compile_args
    original_compile = compiler.compile_str

    def compile_args(march_flags=True):
        return list(original_args(march_flags)) + extra_compile_args()

    def compile_str(module_name, src_code, location=None, include_dirs=None, lib_dirs=None,
                    libs=None, preargs=None, py_module=True, hide_symbols=True):
        if module_name == "lazylinker_ext":
            preargs = list(preargs or []) + ["-D" + d for d in LAZYLINKER_DEFINES]
        return original_compile(module_name, src_code, location=location,
                                include_dirs=include_dirs, lib_dirs=lib_dirs, libs=libs,
                                preargs=preargs, py_module=py_module,
                                hide_symbols=hide_symbols)

    compiler.compile_args = staticmethod(compile_args)
    compiler.compile_str = staticmethod(compile_str)
    record("numpy 2 C API", True,
           "%s: PyArray_Descr fields, npy_3kcompat.h and numpy/noprefix.h changed" % _why(),
           "every C module: %s; lazy linker: -D%s" % (" ".join(extra_compile_args()),
                                                       " -D".join(LAZYLINKER_DEFINES)))


# --------------------------------------------------------------------------- autocaster
def exact_autocast(autocaster, x, floatX):
    """The dtype choice of Theano's ``NumpyAutocaster`` (policy 'custom') as numpy 1 made it.

    Returns the 0-d array, or None when ``x`` is not a Python number (numpy-typed values
    compare the same way under both numpy versions, so Theano's own code handles them).
    Raises OverflowError for an integer no dtype holds, as numpy 1's conversion did.
    """
    import numpy
    if not isinstance(x, (int, float)) or hasattr(x, "dtype"):
        return None
    dtypes = [d for d in autocaster.dtypes if floatX == "float16" or d != "float16"]
    if isinstance(x, int):
        value = int(x)
        for dtype in dtypes:
            info = numpy.iinfo(dtype)
            if info.min <= value <= info.max:
                return numpy.asarray(value, dtype=dtype)
        raise OverflowError("Python int %d does not fit in %s" % (value, dtypes[-1]))
    # a Python float: the first dtype that holds it exactly; else the last one
    result = None
    for dtype in dtypes:
        result = numpy.asarray(x, dtype=dtype)
        if float(result) == x:
            break
    return result


def _patch_autocaster(basic):
    if not numpy_is_2():
        record("autocaster (NEP 50)", False,
               "%s compares Python numbers the way Theano 1.0.5 expects" % _why())
        return
    caster = basic.NumpyAutocaster
    original_call = caster.__call__
    config = basic.config

    def __call__(self, x):
        if config.cast_policy == "custom":
            if not (isinstance(x, float) and config.floatX in self.dtypes
                    and config.floatX != "float64"):     # Theano's deliberate float32 case
                result = exact_autocast(self, x, config.floatX)
                if result is not None:
                    return result
        return original_call(self, x)

    __call__.__doc__ = original_call.__doc__
    caster.__call__ = __call__
    record("autocaster (NEP 50)", True,
           "%s promotes Python numbers by NEP 50, which changed Theano's constant dtypes" % _why(),
           "integers: first dtype whose range holds them; floats: first exact dtype")


# --------------------------------------------------------------------------- subtensor
def _patch_subtensor(subtensor):
    if not numpy_is_2():
        record("AdvancedIncSubtensor1 in Python", False,
               "%s still has the PyArray_MapIter functions" % _why())
        return
    from theano.gof.utils import MethodNotDefined
    op = subtensor.AdvancedIncSubtensor1

    def c_code(self, node, name, input_names, output_names, sub):
        raise MethodNotDefined("c_code", type(self), "numpy 2 removed PyArray_MapIter")

    op.c_code = c_code
    record("AdvancedIncSubtensor1 in Python", True,
           "%s removed the PyArray_MapIter functions its C code calls" % _why(),
           "x[idx] += y runs as numpy.add.at (Theano's own perform)")


# --------------------------------------------------------------------------- cumsum / cumprod
def _patch_cumop(extra_ops):
    if not numpy_is_2():
        return
    op = extra_ops.CumOp
    original_version = op.c_code_cache_version
    try:
        recompile_method(op, "c_code", [("NPY_MAXDIMS", "NPY_RAVEL_AXIS", 3)])
    except (OSError, TypeError, ValueError) as exc:
        record("CumOp's flatten axis", False, "left as it is: %s" % exc)
        return
    op.c_axis = property(lambda self: NPY_RAVEL_AXIS if self.axis is None else self.axis)
    # a new cache version, so that no module compiled from the old code is reused
    op.c_code_cache_version = lambda self: tuple(original_version(self)) + ("dltut-numpy2",)
    record("CumOp's flatten axis", True,
           "%s: C code asks for 'no axis' with NPY_RAVEL_AXIS, not NPY_MAXDIMS" % _why(),
           "cumsum/cumprod with axis=None (C code and its cache version)")


# --------------------------------------------------------------------------- MRG in Python
def _patch_mrg(rng_mrg):
    if not numpy_is_2():
        return
    try:
        recompile_method(rng_mrg.mrg_uniform, "perform", [MRG_MASK_EDIT])
    except (OSError, TypeError, ValueError) as exc:
        record("MRG generator in Python (NEP 50)", False, "left as it is: %s" % exc)
        return
    record("MRG generator in Python (NEP 50)", True,
           "%s: int32 & 0xffffffff no longer widens to int64" % _why(),
           "mrg_uniform.perform's mask is a numpy int64")
