#!/usr/bin/env python
"""LeNet5's two convolutional layers alone: dltut.ops.conv against Theano's conv2d (and PyTorch).

    python bench/conv_layers.py                     # both layers, float32, 9 rounds
    python bench/conv_layers.py --rounds 15 --block-bytes 262144,1048576

For each layer of the tutorial's LeNet5 (batch 500: 1x28x28 images, 20 filters of 5x5; then
20x12x12, 50 filters) one SGD step of ``tanh(max_pool(conv(x, W)) + b)`` against a fixed
output gradient: the forward pass, the filter and bias gradients, and for the second layer the
input gradient (the first layer's input is the data; no model computes it), then the update.
The sides, alternated round by round (forwards, then backwards) so that other load hits each
alike:

* ``theano``: ``LeNetConvPoolLayer(implementation="theano")`` -- Theano's ``conv2d`` (``CorrMM``,
  one matrix product per image), ``max_pool``, bias and tanh as separate nodes;
* ``dltut``: ``LeNetConvPoolLayer(implementation="dltut")``, i.e. ``dltut.ops.conv.ConvPool`` (one
  product per block of images), once per ``--block-bytes`` value;
* ``torch<n>``: PyTorch's ``conv2d`` / ``max_pool2d`` / ``tanh`` with n threads, when PyTorch is
  installed (``--torch-threads``).

Prints min and median milliseconds per step and the ratio of each side's min to Theano's.
"""
import argparse
import os
import statistics
import sys
import time

LAYERS = {0: dict(image=(500, 1, 28, 28), filters=(20, 1, 5, 5), input_grad=False),
          1: dict(image=(500, 20, 12, 12), filters=(50, 20, 5, 5), input_grad=True)}


def theano_step(layer, implementation, block_bytes, seed=0):
    """A compiled function doing one SGD step of the layer through LeNetConvPoolLayer."""
    import numpy
    import theano
    import theano.tensor as T
    from dltut.layers import LeNetConvPoolLayer
    from dltut.ops import conv

    spec = LAYERS[layer]
    rng = numpy.random.RandomState(seed)
    x = theano.shared(rng.rand(*spec["image"]).astype("float32"), name="x")
    saved = conv.DEFAULT_BLOCK_BYTES
    conv.DEFAULT_BLOCK_BYTES = block_bytes or saved
    try:
        built = LeNetConvPoolLayer(numpy.random.RandomState(seed), x, spec["filters"],
                                   spec["image"], implementation=implementation)
    finally:
        conv.DEFAULT_BLOCK_BYTES = saved
    g = theano.shared(rng.randn(*built.output_shape).astype("float32"), name="g")
    cost = (built.output * g).sum()
    wrt = built.params + ([x] if spec["input_grad"] else [])
    rate = numpy.float32(1e-4)
    updates = [(v, v - rate * gv) for v, gv in zip(wrt, T.grad(cost, wrt))]
    return theano.function([], [], updates=updates)


def torch_step(torch, layer, threads, seed=0):
    import numpy
    import torch.nn.functional as F
    spec = LAYERS[layer]
    rng = numpy.random.RandomState(seed)
    x = torch.tensor(rng.rand(*spec["image"]).astype("float32"),
                     requires_grad=spec["input_grad"])
    W = torch.tensor(0.1 * rng.randn(*spec["filters"]).astype("float32"), requires_grad=True)
    b = torch.zeros(spec["filters"][0], requires_grad=True)
    out_shape = (spec["image"][0], spec["filters"][0], (spec["image"][2] - 4) // 2,
                 (spec["image"][3] - 4) // 2)
    g = torch.tensor(rng.randn(*out_shape).astype("float32"))

    def step():
        torch.set_num_threads(threads)
        out = torch.tanh(F.max_pool2d(F.conv2d(x, W), 2) + b.view(1, -1, 1, 1))
        out.backward(g)
        with torch.no_grad():
            for v in (W, b) + ((x,) if spec["input_grad"] else ()):
                v -= 1e-4 * v.grad
                v.grad = None
    return step


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--layers", default="0,1", help="0 (first), 1 (second) or both")
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--block-bytes", default="",
                        help="comma-separated dltut.ops.conv block sizes to time (default: the "
                             "module's DEFAULT_BLOCK_BYTES)")
    parser.add_argument("--torch-threads", default="%d,1" % (os.cpu_count() or 1),
                        help="PyTorch thread counts ('' for none)")
    args = parser.parse_args(argv)
    os.environ["THEANO_FLAGS"] = ",".join(
        [f for f in os.environ.get("THEANO_FLAGS", "").split(",") if f.strip()] +
        ["floatX=float32"])
    import dltut  # noqa: F401  (Theano set-up first)
    from dltut.ops import conv
    try:
        import torch
    except ImportError:
        torch = None
    blocks = [int(b) for b in args.block_bytes.split(",") if b.strip()] or \
        [conv.DEFAULT_BLOCK_BYTES]
    threads = [int(t) for t in args.torch_threads.split(",") if t.strip()] if torch else []
    print("load average %.1f; dltut.ops.conv threads: the BLAS's (OPENBLAS_NUM_THREADS=%s, "
          "DLTUT_CONV_THREADS=%s)" % (os.getloadavg()[0], os.environ.get("OPENBLAS_NUM_THREADS"),
                                      os.environ.get("DLTUT_CONV_THREADS")))
    for layer in (int(n) for n in args.layers.split(",")):
        sides = [("theano", theano_step(layer, "theano", None))]
        sides += [("dltut block %d" % b, theano_step(layer, "dltut", b)) for b in blocks]
        sides += [("torch%d" % t, torch_step(torch, layer, t)) for t in threads]
        times = {name: [] for name, _ in sides}
        for _, step in sides:
            step()
        for r in range(args.rounds):
            for name, step in (sides if r % 2 == 0 else sides[::-1]):
                start = time.perf_counter()
                step()
                times[name].append(time.perf_counter() - start)
        spec = LAYERS[layer]
        print("\nlayer %d: images %s, filters %s, %s" % (
            layer, spec["image"], spec["filters"],
            "forward + filter, bias and input gradients" if spec["input_grad"]
            else "forward + filter and bias gradients"))
        print("| side | ms per step min (median) | x theano (min) |")
        print("| --- | --- | --- |")
        base = min(times["theano"])
        for name, _ in sides:
            print("| %s | %.1f (%.1f) | %.2f |" % (name, 1e3 * min(times[name]),
                                                  1e3 * statistics.median(times[name]),
                                                  min(times[name]) / base))
    if torch is not None:
        torch.set_num_threads(os.cpu_count() or 1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
