"""The errors' argmax on the GPU, not on the host between device ops.

Every classifier's ``errors`` compares ``T.argmax(p_y_given_x, axis=1)`` with the labels.
Theano 1.0.5 moves ``MaxAndArgmax`` to the GPU (``GpuMaxAndArgmax``), but when only the
argmax is used its canonicalisation first turns the op into ``Argmax``, for which the
``gpuarray`` backend has no GPU version: the compiled graph copies the class probabilities
to the host, takes the argmax there, and copies the predictions back (two transfers per
call, which ``bench/gpu_smoke.py`` flags).

This measure gives the backend the missing step: an ``Argmax`` over given axes of a float32
or float64 input on a GPU context becomes output 1 of ``GpuMaxAndArgmax`` over the same
axes (the same int64 indices; ties go to the first maximum in both).  It applies in a
process whose Theano device (or one of its contexts) is a GPU one; the CPU's graphs are not
touched.  ``tests/runtime/test_opencl.py`` checks it on pocl's OpenCL device; on CUDA it is
Theano's own GpuMaxAndArgmax, not yet run here.
"""
import sys

from . import record, register
from .cache_keys import right_theano

__all__ = ["NAME", "register_hooks", "gpu_in_use"]

NAME = "GPU: the errors' argmax on the device"


def register_hooks():
    # off is recorded as soon as Theano is configured (theano.scalar.basic loads in every
    # process, theano.gpuarray.opt only where the GPU is used), so dltut.info lists it
    register("theano.scalar.basic", after=_off_without_gpu)
    register("theano.gpuarray.opt", after=_lift_argmax)


def _off_without_gpu(_module):
    if not gpu_in_use():
        record(NAME, False, "not a GPU device: nothing to move")


def gpu_in_use():
    """Whether this process's Theano device or one of its contexts is a gpuarray one."""
    config = getattr(sys.modules.get("theano.configdefaults"), "config", None)
    if config is None:
        return False
    targets = [str(config.device)] + [part.split("->", 1)[-1]
                                      for part in str(config.contexts).split(";")]
    return any(t.strip().lower().startswith(("cuda", "opencl")) for t in targets)


def _lift_argmax(gpu_opt):
    if not gpu_in_use():
        record(NAME, False, "not a GPU device: nothing to move")
        return
    if not right_theano(NAME):
        return
    from theano import tensor
    from theano.gpuarray.reduction import GpuMaxAndArgmax

    @gpu_opt.register_opt("fast_compile")
    @gpu_opt.op_lifter([tensor.basic.Argmax])
    @gpu_opt.register_opt2([tensor.basic.Argmax], "fast_compile")
    def local_gpu_argmax(op, context_name, inputs, outputs):
        axis = op.axis
        if axis is None or inputs[0].dtype not in ("float32", "float64"):
            return None   # left on the host, as before
        return [GpuMaxAndArgmax(tuple(axis))(inputs[0])[1]]

    record(NAME, True, "Theano 1.0.5 has no GPU version of Argmax (what T.argmax becomes when "
           "the max is unused), so the errors copied the probabilities to the host and back",
           "a gpuarray lifter: Argmax -> GpuMaxAndArgmax's argmax output")
