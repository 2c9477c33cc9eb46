#!/usr/bin/env python
"""Compiled against Python ``scan``: an RBM-style Gibbs chain, timed in one run.

The chain is the one the tutorial's RBM trains with (PCD-15): 15 steps of
``h ~ Bernoulli(sigmoid(v W + hbias))``, ``v ~ Bernoulli(sigmoid(h W' + vbias))`` with a
784 x 500 weight matrix and ``MRG_RandomStreams``, on 20 chains.  The same graph is
compiled twice -- once with Theano's compiled scan loop (built by :mod:`dltut.compat.scan`)
and once with its Python loop -- and the two are called alternately, so that both see the
same machine load.  Both give the same samples (checked).

    python bench/scan_bench.py [--steps 15] [--chains 20] [--calls 30]
"""
import argparse
import sys
import time

import dltut  # noqa: F401  (Theano set-up first)
import numpy
import theano
import theano.tensor as T
from theano.sandbox.rng_mrg import MRG_RandomStreams
from theano.scan_module.scan_op import Scan

PERFORM_EXT = "theano.scan_module.scan_perform_ext"


def gibbs_chain(W, hbias, vbias, v0, steps, seed):
    srng = MRG_RandomStreams(seed)

    def step(v):
        p_h = T.nnet.sigmoid(T.dot(v, W) + hbias)
        h = srng.binomial(size=p_h.shape, n=1, p=p_h, dtype=theano.config.floatX)
        p_v = T.nnet.sigmoid(T.dot(h, W.T) + vbias)
        return srng.binomial(size=p_v.shape, n=1, p=p_v, dtype=theano.config.floatX)

    chain, updates = theano.scan(step, outputs_info=v0, n_steps=steps)
    return chain[-1], updates


def scan_is_compiled(f):
    thunks = [t for t, node in zip(f.fn.thunks, f.fn.nodes) if isinstance(node.op, Scan)]
    return all(getattr(t.perform, "__func__", None) is not Scan.execute for t in thunks)


def build(args, python_loop):
    rng = numpy.random.RandomState(123)
    floatX = theano.config.floatX
    W = theano.shared((rng.randn(784, 500) * 0.01).astype(floatX))
    hbias = theano.shared(numpy.zeros(500, dtype=floatX))
    vbias = theano.shared(numpy.zeros(784, dtype=floatX))
    v0 = T.matrix("v0")
    out, updates = gibbs_chain(W, hbias, vbias, v0, args.steps, seed=1234)
    saved = {}
    if python_loop:     # Theano takes the Python loop when it cannot import the extension
        package = theano.scan_module
        saved = {"module": sys.modules.get(PERFORM_EXT),
                 "attr": package.__dict__.pop("scan_perform_ext", None)}
        sys.modules[PERFORM_EXT] = None
    try:
        f = theano.function([v0], out, updates=updates)
    finally:
        if python_loop:
            sys.modules[PERFORM_EXT] = saved["module"]
            if saved["attr"] is not None:
                theano.scan_module.scan_perform_ext = saved["attr"]
    return f


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=15, help="Gibbs steps (default %(default)s)")
    parser.add_argument("--chains", type=int, default=20, help="chains (default %(default)s)")
    parser.add_argument("--calls", type=int, default=30, help="timed calls each (default %(default)s)")
    args = parser.parse_args(argv)
    f_c = build(args, python_loop=False)
    f_py = build(args, python_loop=True)
    assert scan_is_compiled(f_c) and not scan_is_compiled(f_py)
    v = (numpy.random.RandomState(0).rand(args.chains, 784) > 0.5).astype(theano.config.floatX)
    same = numpy.array_equal(f_c(v), f_py(v))       # same seeds, same state: same samples
    times = {"compiled": [], "python": []}
    for _ in range(args.calls):
        for name, f in (("compiled", f_c), ("python", f_py)):
            start = time.perf_counter()
            f(v)
            times[name].append(time.perf_counter() - start)
    c, p = numpy.array(times["compiled"]), numpy.array(times["python"])
    print("Gibbs chain: %d steps of 784x500, %d chains, MRG binomial, floatX %s, Python %s, "
          "numpy %s" % (args.steps, args.chains, theano.config.floatX,
                        ".".join(map(str, sys.version_info[:3])), numpy.__version__))
    print("| scan loop | ms per call, min | median | per step, min |")
    print("| --- | --- | --- | --- |")
    for name, t in (("compiled (C)", c), ("Python", p)):
        print("| %s | %.2f | %.2f | %.3f |" % (name, t.min() * 1e3, numpy.median(t) * 1e3,
                                             t.min() * 1e3 / args.steps))
    print("compiled/Python time: %.2f (min), %.2f (median); same samples: %s"
          % (c.min() / p.min(), numpy.median(c) / numpy.median(p), "yes" if same else "NO"))
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
