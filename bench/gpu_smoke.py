#!/usr/bin/env python
"""GPU smoke test: the tutorial's MLP and LeNet5 trained on synthetic MNIST-shaped data.

    python bench/gpu_smoke.py                      # device cuda, 2 epochs of each model
    python bench/gpu_smoke.py --device opencl0:0 --n-train 2000 --n-test 1000 --epochs 1
    python bench/gpu_smoke.py --device cpu --n-train 2000 --epochs 1   # the same, on the CPU

No dataset is needed: 50000 training and 10000 test images of 784 float32 pixels are drawn
as noisy copies of 10 random prototype images, labelled by prototype (so the error rate
must fall far below chance when training works).  The data lives in Theano shared variables and each compiled train
function slices its minibatch out of them with ``givens``, as in the tutorial; on the GPU
the data should therefore be copied to the device once, and never per call.

For each model it prints the compile time, seconds per epoch, the cost and the test error
after each epoch, the compiled graph's ops, and a transfer check: every HostFromGpu /
GpuFromHost node in the train function, flagging any that moves an array computed from the
dataset (a per-call copy of the minibatch or of anything derived from it).  The last lines
are ``RESULT ...`` summaries.  Exit status: 0 when every check passed, 1 when a check
failed, 3 when --require-gpu and the GPU cannot be used.
"""
import argparse
import collections
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

import dltut  # noqa: E402  (Theano set-up; does not import Theano)
from dltut.runtime import device  # noqa: E402

TRANSFER_OPS = ("HostFromGpu", "GpuFromHost")
DATASET_NAMES = ("train_x", "train_y", "test_x", "test_y")


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--device", default="cuda", help="'cuda', 'cudaN', 'openclP:D' or 'cpu'")
    p.add_argument("--require-gpu", action="store_true",
                   help="exit with status 3 instead of falling back to the CPU")
    p.add_argument("--models", default="mlp,lenet", help="comma-separated: mlp, lenet")
    p.add_argument("--epochs", type=int, default=2, help="epochs per model")
    p.add_argument("--n-train", type=int, default=50000, help="training examples")
    p.add_argument("--n-test", type=int, default=10000, help="test examples")
    p.add_argument("--seed", type=int, default=1234)
    return p.parse_args(argv)


def synthetic_mnist(rng, n, prototypes):
    """``n`` MNIST-shaped examples: a noisy copy of one of 10 random prototype images.

    Pixels are in [0, 1], as MNIST's; the label is the prototype's index, so a model that
    trains correctly gets the test error far below chance (90 %) within an epoch.
    """
    y = rng.randint(0, len(prototypes), size=n)
    x = (0.5 * prototypes[y] + 0.5 * rng.rand(n, prototypes.shape[1])).astype("float32")
    return x, y


def transfer_report(fn, output_count):
    """The transfer nodes of compiled function ``fn``: (lines, number flagged as bad).

    A transfer is flagged when what it moves has at least one dimension and depends on a
    dataset shared variable: a copy of (part of) the data, or of activations/gradients,
    made on every call.  The final HostFromGpu of a scalar output (the cost) is expected.
    """
    from theano.gof.graph import ancestors

    fgraph = fn.maker.fgraph
    outputs = set(fgraph.outputs[:output_count])
    lines, bad = [], 0
    for node in fgraph.toposort():
        name = type(node.op).__name__
        if name not in TRANSFER_OPS:
            continue
        moved = node.inputs[0]
        sources = sorted({v.name for v in ancestors([moved]) if v.name in DATASET_NAMES})
        flagged = bool(sources) and moved.ndim > 0
        bad += flagged
        lines.append("    %s %s ndim=%d %s%s%s" % (
            "BAD" if flagged else "ok ", name, moved.ndim, moved.dtype,
            " -> function output" if node.outputs[0] in outputs else "",
            " (from %s)" % ", ".join(sources) if sources else ""))
    return lines, bad


def op_summary(fn):
    counts = collections.Counter(type(node.op).__name__ for node in fn.maker.fgraph.toposort())
    return ", ".join("%s x%d" % (k, v) if v > 1 else k for k, v in sorted(counts.items()))


def run_model(kind, args, data, theano, T, numpy):
    from dltut.models import LeNet5, MLP

    train_x, train_y, test_x, test_y = data
    rng = numpy.random.RandomState(args.seed)
    index = T.lscalar("index")
    x = T.matrix("x")
    y = T.ivector("y")
    if kind == "mlp":
        batch, learning_rate, l2 = 20, 0.01, 0.0001
        model = MLP(rng, x, n_in=784, n_hidden=500, n_out=10)
    else:
        batch, learning_rate, l2 = 500, 0.1, 0.0
        model = LeNet5(rng, x, batch_size=batch, nkerns=(20, 50), n_hidden=500)
    cost = model.negative_log_likelihood(y) + l2 * model.L2_sqr
    updates = [(p, p - learning_rate * g) for p, g in zip(model.params, T.grad(cost, model.params))]

    def window(data_x, data_y):
        return {x: data_x[index * batch:(index + 1) * batch],
                y: data_y[index * batch:(index + 1) * batch]}

    t0 = time.perf_counter()
    train = theano.function([index], cost, updates=updates, givens=window(train_x, train_y))
    test = theano.function([index], model.errors(y), givens=window(test_x, test_y))
    compile_s = time.perf_counter() - t0
    n_train_batches = args.n_train // batch
    n_test_batches = args.n_test // batch
    print("%s: %r, batch %d, %d train / %d test minibatches; compiled in %.1f s"
          % (kind, model, batch, n_train_batches, n_test_batches, compile_s))
    print("  train graph ops: " + op_summary(train))
    lines, bad = transfer_report(train, 1)
    print("  transfer ops in the train function: %d, moving dataset-derived arrays: %d"
          % (len(lines), bad))
    for line in lines:
        print(line)
    test_lines, test_bad = transfer_report(test, 1)
    print("  transfer ops in the test function: %d, moving dataset-derived arrays: %d"
          % (len(test_lines), test_bad))
    for line in test_lines:
        print(line)

    epoch_seconds, error = [], None
    for epoch in range(1, args.epochs + 1):
        t0 = time.perf_counter()
        costs = [float(train(i)) for i in range(n_train_batches)]
        seconds = time.perf_counter() - t0
        epoch_seconds.append(seconds)
        error = float(numpy.mean([test(i) for i in range(n_test_batches)]))
        print("  %s epoch %d: %.3f s (%.3f ms per minibatch), mean cost %.4f, test error %.2f %%"
              % (kind, epoch, seconds, 1000 * seconds / n_train_batches,
                 numpy.mean(costs), 100 * error))
        sys.stdout.flush()
    finite = all(numpy.isfinite(c) for c in costs)
    # a model that trains correctly beats chance (90 % error) clearly on this data
    learned = error is not None and error < 0.5
    ok = bad == 0 and test_bad == 0 and finite and learned
    best = min(epoch_seconds) if epoch_seconds else float("nan")
    print("RESULT %s device=%s s_per_epoch=%.3f (best of %d) compile_s=%.1f test_error=%.2f%% "
          "dataset_transfers=%d %s" % (kind, theano.config.device, best, len(epoch_seconds),
                                        compile_s, 100 * (error or 0), bad + test_bad,
                                        "OK" if ok else "FAIL"))
    return ok


def main(argv=None):
    args = parse_args(argv)
    try:
        chosen = device.use_device(args.device, require_gpu=args.require_gpu)
    except device.GPUUnavailable as error:
        print("gpu_smoke: error: %s" % error, file=sys.stderr)
        return 3
    except ValueError as error:
        print("gpu_smoke: error: %s" % error, file=sys.stderr)
        return 2
    print("gpu_smoke: requested %s, using %s (%s)" % (args.device, chosen,
                                                     device.STATE.get("reason", "")))
    t0 = time.perf_counter()
    import numpy
    import theano
    import theano.tensor as T
    print("theano %s imported in %.1f s; device: %s" % (
        theano.__version__, time.perf_counter() - t0, device.describe_device()))
    c = theano.config
    print("flags in effect: device=%s floatX=%s dnn.enabled=%s mode=%s optimizer=%s cxx=%s "
          "blas.ldflags=%r gpuarray.preallocate=%s" % (
              c.device, c.floatX, c.dnn.enabled, c.mode, c.optimizer, c.cxx, c.blas.ldflags,
              c.gpuarray.preallocate))
    print("THEANO_FLAGS=%s" % os.environ.get("THEANO_FLAGS", ""))

    rng = numpy.random.RandomState(args.seed)
    prototypes = (rng.rand(10, 784) < 0.3).astype("float32")
    t0 = time.perf_counter()
    arrays = (synthetic_mnist(rng, args.n_train, prototypes)
              + synthetic_mnist(rng, args.n_test, prototypes))
    floatx = c.floatX
    shared = [theano.shared(numpy.asarray(a, dtype=floatx), name=name, borrow=True)
              for a, name in zip(arrays, DATASET_NAMES)]
    # the tutorial's shared_dataset: labels stored as floatX (GPU-friendly), used as int32
    data = (shared[0], T.cast(shared[1], "int32"), shared[2], T.cast(shared[3], "int32"))
    print("data: %d x 784 train, %d x 784 test, %s; stored as %s in %.1f s" % (
        args.n_train, args.n_test, floatx, type(shared[0].get_value(borrow=True,
                                                                     return_internal_type=True)).__name__,
        time.perf_counter() - t0))

    ok = True
    for kind in [k.strip() for k in args.models.split(",") if k.strip()]:
        if kind not in ("mlp", "lenet"):
            print("gpu_smoke: error: unknown model %r (mlp, lenet)" % kind, file=sys.stderr)
            return 2
        ok = run_model(kind, args, data, theano, T, numpy) and ok
    on_gpu = device.is_gpu_device(c.device)
    if device.is_gpu_device(args.device) and not on_gpu:
        print("RESULT fallback: ran on the CPU although %s was requested" % args.device)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
