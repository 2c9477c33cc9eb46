"""Run by tests/runtime/test_opencl.py in a fresh process (Theano reads its device once):

    python tests/runtime/opencl_probe.py DEVICE DATASET OUT_DIR [--checks]

Trains the tutorial's logistic regression, MLP and LeNet5 for one epoch on DATASET (a tiny
synthetic MNIST-shaped pickle) through the scripts' own ``main`` with ``--device DEVICE
--require-gpu`` (float32), each into OUT_DIR/<script>, and records the ops of every function
each script compiles.  With ``--checks`` (on the GPU device) it then records where dltut's
``shared_dataset`` puts the data, and runs the two kernels that dltut.compat.opencl fixes on
inputs with NaNs.  Everything it finds goes to OUT_DIR/probe.json as data; the test makes the
comparisons (with numpy references and the CPU's runs).
"""
import json
import os
import sys

import dltut  # noqa: F401  (Theano's set-up; does not import Theano)
from dltut import compat

#: script name -> sorted names of the ops in the functions it compiled
COMPILED = {}
_CURRENT = [None]


def _record_compiled_ops(function_module):
    """Wrap FunctionMaker.create (every theano.function ends there) to note the graph's ops."""
    maker = function_module.FunctionMaker
    create = maker.create

    def recording_create(self, *args, **kwargs):
        names = COMPILED.setdefault(_CURRENT[0], set())
        names.update(type(node.op).__name__ for node in self.fgraph.toposort())
        return create(self, *args, **kwargs)

    maker.create = recording_create


# before Theano is imported: the scripts choose the device first
compat.register("theano.compile.function_module", after=_record_compiled_ops)

#: per script: the flags of a one-epoch run small enough for pocl on a busy CPU
SCRIPT_FLAGS = {
    "logistic_sgd": ["--batch-size", "20", "--learning-rate", "0.1"],
    "mlp": ["--batch-size", "20", "--learning-rate", "0.1", "--n-hidden", "10"],
    "convolutional_mlp": ["--batch-size", "20", "--learning-rate", "0.1",
                          "--nkerns", "2", "3", "--n-hidden", "10"],
}


def run_scripts(device_name, dataset, out_dir):
    from dltut.cli.supervised import main_for
    codes = {}
    for name, extra in SCRIPT_FLAGS.items():
        argv = ["--dataset", dataset, "--out", os.path.join(out_dir, name), "--n-epochs", "1",
                "--quiet", "--device", device_name, "--require-gpu"] + extra
        _CURRENT[0] = name
        try:
            code = main_for(name)(argv)
        except SystemExit as exit:
            code = exit.code
        codes[name] = 0 if code is None else code
        sys.stdout.flush()
        if codes[name] != 0:
            break
    return codes


def op_names(fn):
    """The ops of compiled function ``fn``'s graph, sorted."""
    return sorted({type(node.op).__name__ for node in fn.maker.fgraph.toposort()})


def shared_checks():
    """Where dltut's shared_dataset puts the data: the types of the variables and values."""
    import numpy
    import theano
    from dltut.data import shared_dataset

    rng = numpy.random.RandomState(0)
    shared_x, y_int = shared_dataset(rng.rand(40, 784), rng.randint(0, 10, size=40))
    # the labels are stored as floatX and used through a cast: the shared variable under it
    shared_y, = [v for v in theano.gof.graph.inputs([y_int]) if hasattr(v, "get_value")]
    return {"shared": {name: [type(var).__name__,
                              type(var.get_value(borrow=True, return_internal_type=True)).__name__]
                       for name, var in (("x", shared_x), ("y", shared_y))}}


def kernel_checks():
    """The two kernels dltut.compat.opencl fixes, on inputs with NaNs, and their results."""
    import numpy
    import theano
    import theano.tensor as T
    from dltut import compat

    found = {"measures": {name: active for name, active, _, _ in compat.describe()}}
    # the errors' argmax (dltut.compat.gpu_argmax), as LogisticRegression.errors computes it
    from dltut.layers import LogisticRegression
    rng = numpy.random.RandomState(5)
    xv = rng.normal(size=(9, 4)).astype("float32")
    yv = rng.randint(0, 3, size=9).astype("int32")
    x, y = T.matrix(dtype="float32"), T.ivector()
    model = LogisticRegression(x, 4, 3)
    model.W.set_value(rng.normal(size=(4, 3)).astype("float32"))
    fn = theano.function([x, y], [model.errors(y), model.y_pred])
    error, pred = fn(xv, yv)
    found["errors"] = {"ops": op_names(fn), "x": xv.tolist(), "y": yv.tolist(),
                       "W": model.W.get_value().tolist(), "b": model.b.get_value().tolist(),
                       "error": float(error), "y_pred": pred.tolist()}
    a = numpy.array([1.0, numpy.nan, -2.0, 3.0, numpy.nan, 0.5])
    b = numpy.array([0.0, 1.0, numpy.nan, 3.0, numpy.nan, 4.0])
    for dtype in ("float32", "float64"):
        u, v = T.vector(dtype=dtype), T.vector(dtype=dtype)
        fn = theano.function([u, v], [T.maximum(u, v), T.minimum(u, v)])
        high, low = fn(a.astype(dtype), b.astype(dtype))
        found["elemwise_" + dtype] = {"ops": op_names(fn), "maximum": high.tolist(),
                                      "minimum": low.tolist(), "a": a.tolist(), "b": b.tolist()}
    rng = numpy.random.RandomState(3)
    xv = rng.normal(size=(7, 5)).astype("float32")
    bv = rng.normal(size=5).astype("float32")
    yv = rng.randint(0, 5, size=7).astype("int32")
    x, bias, y = T.matrix(dtype="float32"), T.vector(dtype="float32"), T.ivector()
    nll, sm, am = T.nnet.crossentropy_softmax_argmax_1hot_with_bias(x, bias, y)
    fn = theano.function([x, bias, y], [nll, sm, am])
    nll_v, sm_v, am_v = fn(xv, bv, yv)
    found["xent"] = {"ops": op_names(fn), "x": xv.tolist(), "b": bv.tolist(), "y": yv.tolist(),
                     "nll": nll_v.tolist(), "sm": sm_v.tolist(), "am": am_v.tolist()}
    return found


def main(argv):
    device_name, dataset, out_dir = argv[:3]
    result = {"codes": run_scripts(device_name, dataset, out_dir)}
    result["ops"] = {name: sorted(names) for name, names in COMPILED.items()}
    import theano
    result["device"] = theano.config.device
    result["floatX"] = theano.config.floatX
    if "--checks" in argv[3:] and all(code == 0 for code in result["codes"].values()):
        result.update(shared_checks())
        result.update(kernel_checks())
    with open(os.path.join(out_dir, "probe.json"), "w") as handle:
        json.dump(result, handle)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
