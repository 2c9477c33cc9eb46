"""Two of Theano 1.0.5's GPU kernels, made valid OpenCL C.

Theano's ``gpuarray`` backend writes its kernels once for both CUDA and OpenCL (libgpuarray's
``cluda`` macros hide the differences), but two of them were only ever compiled by CUDA's
more lenient compiler.  On an OpenCL device (``device=openclP:D``, e.g. pocl on the CPU) they
fail to build:

* ``GpuCrossentropySoftmaxArgmax1HotWithBias`` (``theano.gpuarray.nnet``: the softmax, its
  argmax and the negative log-likelihood of every classifier) declares its ``LOCAL_MEM``
  variables inside the loop over rows.  OpenCL accepts variables in the local address space
  only in a kernel's outermost scope, so the kernel's declarations move up to the top of
  the kernel's body; each row still sets them before reading them, and the barriers that
  order those reads are unchanged.
* the scalar ``maximum`` and ``minimum`` (``theano.scalar.basic``, inlined into every
  ``GpuElemwise`` that uses them) return ``nan("")`` when an input is NaN.  OpenCL's
  ``nan()`` takes an integer code, not a string, so the kernel does not compile (a float64
  ``GpuElemwise`` crashed the process).  Their C code returns ``NAN`` instead, the macro both
  OpenCL C and C's ``<math.h>`` define as a quiet NaN (what ``nan("")`` returns).

Theano caches compiled modules under their ops' ``c_code_cache_version``, so each changed op
reports a version of its own (Theano's with :data:`VERSION_TAG` appended): a cache that holds
the broken kernels is not reused.  The measures apply only in a process whose Theano device
(or one of its ``contexts``) is an OpenCL device: CUDA and the CPU keep Theano's code and
cache keys exactly.  ``tests/runtime/test_opencl.py`` checks both kernels' results against
the CPU's.
"""
import sys

from . import recompile_method, record, register
from .cache_keys import right_theano

__all__ = ["VERSION_TAG", "NNET_NAME", "NAN_NAME", "LOCAL_MEM_DECLARATIONS", "KERNEL_BODY_START",
           "NNET_EDITS", "register_hooks", "opencl_in_use", "bump_version"]

#: Appended to the changed ops' ``c_code_cache_version``.
VERSION_TAG = ("dltut-opencl", 1)

NNET_NAME = "OpenCL: softmax kernel's local memory"
NAN_NAME = "OpenCL: maximum/minimum's NaN"

#: GpuCrossentropySoftmaxArgmax1HotWithBias.gpu_kernels: the LOCAL_MEM declarations leave
#: the row loop and open the kernel's body (text edits, each expected once).
LOCAL_MEM_DECLARATIONS = ("LOCAL_MEM %(work_x)s row_max, sum, sum_inv;\n",
                          "LOCAL_MEM ga_int row_max_threadIdx;\n")
KERNEL_BODY_START = ("x_data = (GLOBAL_MEM const %(type_x)s *)"
                     "(((GLOBAL_MEM char *)x_data)+offset_x);")
NNET_EDITS = [(LOCAL_MEM_DECLARATIONS[0], "", 1),
              (LOCAL_MEM_DECLARATIONS[1], "", 1),
              (KERNEL_BODY_START, "".join(LOCAL_MEM_DECLARATIONS) + KERNEL_BODY_START, 1)]

# the measures whose module was imported (theano.gpuarray.nnet is, only with pygpu)
_SEEN = set()

#: What the scalar ops' C code returns for NaN inputs, and what it returns instead.
C_NAN, OPENCL_NAN = 'nan("")', "NAN"


def register_hooks():
    register("theano.scalar.basic", after=_fix_nan)
    register("theano.gpuarray.nnet", after=_fix_local_mem)


def opencl_in_use():
    """Whether this process's Theano computes on an OpenCL device: its ``device`` or one of
    its ``contexts`` (``name->openclP:D;...``) is ``opencl...``."""
    config = getattr(sys.modules.get("theano.configdefaults"), "config", None)
    if config is not None:
        device, contexts = str(config.device), str(config.contexts)
    else:  # not expected (Theano reads its configuration first); dltut's view of the flags
        from ..runtime import flags
        device = flags.user_setting("device") or "cpu"
        contexts = flags.user_setting("contexts") or ""
    targets = [device] + [part.split("->", 1)[-1] for part in contexts.split(";")]
    return any(t.strip().lower().startswith("opencl") for t in targets)


def _not_opencl(name):
    record(name, False, "not an OpenCL device: Theano's kernel and cache key left as they are")


def bump_version(cls):
    """Make ``cls.c_code_cache_version`` Theano's version plus :data:`VERSION_TAG`."""
    original = cls.__dict__.get("c_code_cache_version")
    inherited = cls.c_code_cache_version

    def c_code_cache_version(self):
        base = original(self) if original is not None else inherited(self)
        return tuple(base) + VERSION_TAG if base else base

    c_code_cache_version.__doc__ = inherited.__doc__
    cls.c_code_cache_version = c_code_cache_version


def _fix_nan(scalar_basic):
    if not opencl_in_use():
        _not_opencl(NAN_NAME)
        if NNET_NAME not in _SEEN:     # so that dltut.info lists it on every machine
            _not_opencl(NNET_NAME)
        return
    if not right_theano(NAN_NAME):
        return
    for op in (scalar_basic.maximum, scalar_basic.minimum):
        probe = op.c_code(_FakeNode(), "probe", ("x", "y"), ("z",), {})
        if probe.count(C_NAN) != 1:
            record(NAN_NAME, False, "%s's C code does not return %s once: left alone"
                   % (type(op).__name__, C_NAN))
            return
    for cls in (scalar_basic.Maximum, scalar_basic.Minimum):
        _replace_nan(cls)
        bump_version(cls)
    record(NAN_NAME, True, "OpenCL's nan() takes an integer code, so Theano's nan(\"\") for a "
           "NaN input does not compile in a GpuElemwise kernel",
           "Maximum/Minimum.c_code return NAN; c_code_cache_version + %r" % (VERSION_TAG,))


class _FakeNode:
    """Enough of an Apply node for the scalar ops' ``c_code`` (it looks at input types)."""
    inputs = ()
    outputs = ()


def _replace_nan(cls):
    original = cls.c_code

    def c_code(self, node, name, inputs, outputs, sub):
        return original(self, node, name, inputs, outputs, sub).replace(C_NAN, OPENCL_NAN)

    c_code.__doc__ = original.__doc__
    cls.c_code = c_code


def _fix_local_mem(nnet):
    _SEEN.add(NNET_NAME)
    if not opencl_in_use():
        _not_opencl(NNET_NAME)
        return
    if not right_theano(NNET_NAME):
        return
    cls = nnet.GpuCrossentropySoftmaxArgmax1HotWithBias
    try:
        recompile_method(cls, "gpu_kernels", NNET_EDITS)
    except (OSError, TypeError, ValueError) as exc:
        record(NNET_NAME, False, "left as it is: %s" % exc)
        return
    bump_version(cls)
    record(NNET_NAME, True, "OpenCL allows local-memory variables only in a kernel's outermost "
           "scope; Theano declares them inside the row loop",
           "GpuCrossentropySoftmaxArgmax1HotWithBias.gpu_kernels: LOCAL_MEM declarations "
           "first; c_code_cache_version + %r" % (VERSION_TAG,))

