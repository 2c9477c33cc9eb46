"""Which BLAS should Theano use on this machine?  sgemm GFLOP/s per option, in one run.

Each option (a ``blas.ldflags`` value plus environment variables) runs in a fresh Python,
because OpenBLAS and MKL read their variables once, when they load.  The options are run in
turn, ``--repeat`` times round-robin, and the best time of each is kept, so that a noisy,
shared machine disturbs every option alike.  Ratios are to the best option on each row.

    python bench/blas_bench.py               # Theano T.dot on the shapes dltut's models use
    python bench/blas_bench.py --models      # also one MLP and one LeNet5 training step
    python bench/blas_bench.py --mkl-dir DIR # an MKL that is not where dltut looks
    python bench/blas_bench.py --threads 1 --clock cpu   # steadier on a busy machine

Shapes are (m, k, n) for an (m, k) by (k, n) product: 2048^3 (the textbook number),
20x784x500 (MLP hidden layer, batch 20), 500x800x500 (LeNet5 hidden layer, batch 500) and
50x500x64 (one image of LeNet5's second convolution as CorrMM computes it).
"""
import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

SHAPES = ((2048, 2048, 2048), (20, 784, 500), (500, 800, 500), (50, 500, 64))
ENV_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
            "MKL_THREADING_LAYER", "OMP_NUM_THREADS")


# --- child side: runs with the environment already set, never imports dltut -------------

CLOCK = time.perf_counter   # the child's clock: --clock cpu makes it time.process_time


def best_rate(fn, work, budget=0.3, repeats=5):
    """``work / best time`` of ``fn()`` over ``repeats`` timed blocks of about budget/repeats."""
    fn()
    calls = 1
    while True:
        start = CLOCK()
        for _ in range(calls):
            fn()
        elapsed = CLOCK() - start
        if elapsed > budget / repeats or calls >= 1 << 20:
            break
        calls *= 2
    best = elapsed
    for _ in range(repeats - 1):
        start = CLOCK()
        for _ in range(calls):
            fn()
        best = min(best, CLOCK() - start)
    return work * calls / best


def child_theano(shapes, models):
    import numpy as np
    import theano
    import theano.tensor as T

    out = {}
    rng = np.random.RandomState(0)
    for m, k, n in shapes:
        a = theano.shared(rng.rand(m, k).astype("float32"))
        b = theano.shared(rng.rand(k, n).astype("float32"))
        f = theano.function([], T.dot(a, b))
        f.trust_input = True
        out["%dx%dx%d" % (m, k, n)] = best_rate(f, 2.0 * m * k * n) / 1e9
    if models:
        out.update(model_steps(np, theano, T))
    return out


def model_steps(np, theano, T):
    """Steps per second of one SGD step of the tutorial's MLP and LeNet5 (float32)."""
    from theano.tensor.nnet import conv2d
    from theano.tensor.signal.pool import pool_2d

    rng = np.random.RandomState(1234)

    def shared(*shape):
        return theano.shared((rng.uniform(-0.05, 0.05, shape)).astype("float32"))

    def step(batch, x_shape, forward, params):
        x = T.tensor4() if len(x_shape) == 4 else T.matrix()
        y = T.ivector()
        p = T.nnet.softmax(forward(x))
        cost = -T.mean(T.log(p)[T.arange(y.shape[0]), y])
        grads = T.grad(cost, params)
        f = theano.function([x, y], cost, updates=[(w, w - 0.01 * g) for w, g in zip(params, grads)])
        xv = rng.rand(*x_shape).astype("float32")
        yv = rng.randint(0, 10, batch).astype("int32")
        return best_rate(lambda: f(xv, yv), 1.0, budget=1.0, repeats=3)

    w1, b1, w2, b2 = shared(784, 500), shared(500), shared(500, 10), shared(10)
    mlp = step(20, (20, 784), lambda x: T.dot(T.tanh(T.dot(x, w1) + b1), w2) + b2,
               [w1, b1, w2, b2])

    k1, c1, k2, c2 = shared(20, 1, 5, 5), shared(20), shared(50, 20, 5, 5), shared(50)
    w3, b3, w4, b4 = shared(800, 500), shared(500), shared(500, 10), shared(10)

    def lenet(x):
        h = T.tanh(pool_2d(conv2d(x, k1), (2, 2), ignore_border=True) + c1.dimshuffle("x", 0, "x", "x"))
        h = T.tanh(pool_2d(conv2d(h, k2), (2, 2), ignore_border=True) + c2.dimshuffle("x", 0, "x", "x"))
        h = T.tanh(T.dot(h.flatten(2), w3) + b3)
        return T.dot(h, w4) + b4

    net = step(500, (500, 1, 28, 28), lenet, [k1, c1, k2, c2, w3, b3, w4, b4])
    return {"MLP step/s (b=20)": mlp, "LeNet5 step/s (b=500)": net}


def child_numpy(shapes):
    import numpy as np

    out = {}
    rng = np.random.RandomState(0)
    for m, k, n in shapes:
        a = rng.rand(m, k).astype("float32")
        b = rng.rand(k, n).astype("float32")
        out["%dx%dx%d" % (m, k, n)] = best_rate(lambda: np.dot(a, b), 2.0 * m * k * n) / 1e9
    return out


# --- parent side -------------------------------------------------------------------------

def options(mkl_dir=None):
    """``[(label, kind, ldflags, env)]`` for every BLAS available here."""
    from dltut.runtime import blas

    cpu = blas.parse_cpuinfo(blas.read_cpuinfo())
    core, _ = blas.openblas_coretype(cpu)
    dirs = blas.library_dirs()
    if mkl_dir:
        dirs.insert(0, mkl_dir)
    libs = blas.find_blas_libraries(dirs)
    opts = [("fallback (ldflags empty)", "theano", "", {})]
    if core:
        opts.append(("fallback, CORETYPE=%s" % core, "theano", "", {"OPENBLAS_CORETYPE": core}))
    if libs["openblas"]:
        flags = blas.ldflags_for(libs["openblas"])
        opts.append(("openblas, detected core", "theano", flags, {}))
        if core:
            opts.append(("openblas, CORETYPE=%s" % core, "theano", flags, {"OPENBLAS_CORETYPE": core}))
            opts.append(("openblas, CORETYPE=%s, 1 thread" % core, "theano", flags,
                         {"OPENBLAS_CORETYPE": core, "OPENBLAS_NUM_THREADS": "1"}))
    if libs["mkl"]:
        flags = blas.ldflags_for(libs["mkl"])
        opts.append(("mkl, Intel OpenMP", "theano", flags, {}))
        opts.append(("mkl, GNU OpenMP", "theano", flags, {"MKL_THREADING_LAYER": "GNU"}))
        opts.append(("mkl, GNU OpenMP, 1 thread", "theano", flags,
                     {"MKL_THREADING_LAYER": "GNU", "MKL_NUM_THREADS": "1"}))
    opts.append(("numpy.dot, detected core", "numpy", None, {}))
    if core:
        opts.append(("numpy.dot, CORETYPE=%s" % core, "numpy", None, {"OPENBLAS_CORETYPE": core}))
    return opts


def run_option(kind, ldflags, env, models, threads=None, clock="wall"):
    child_env = {k: v for k, v in os.environ.items() if k not in ENV_VARS}
    if threads:
        for var in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS"):
            child_env[var] = str(threads)
    child_env.update(env)
    # keep the user's other Theano flags, but not a BLAS, device or floatX choice
    from dltut.runtime.flags import parse_theano_flags
    flags = {k: v for k, v in parse_theano_flags(os.environ.get("THEANO_FLAGS", "")).items()
             if k not in ("blas.ldflags", "device", "floatX")}
    if ldflags is not None:
        flags["blas.ldflags"] = ldflags
    flags["device"] = "cpu"
    flags["floatX"] = "float32"
    child_env["THEANO_FLAGS"] = ",".join("%s=%s" % kv for kv in flags.items())
    cmd = [sys.executable, os.path.abspath(__file__), "--child", kind, "--clock", clock]
    if models and kind == "theano":
        cmd.append("--models")
    proc = subprocess.run(cmd, env=child_env, capture_output=True, text=True)
    if proc.returncode != 0:
        return {"error": (proc.stderr.strip().splitlines() or ["exit %d" % proc.returncode])[-1]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def table(opts, results):
    rows = []
    keys = []
    for res in results:
        keys += [k for k in res if k != "error" and k not in keys]
    best = {k: max((r.get(k, 0) for r in results), default=0) for k in keys}
    width = max(len(o[0]) for o in opts)
    cols = {k: max(20, len(k) + 2) for k in keys}
    head = "%-*s" % (width, "option") + "".join("%*s" % (cols[k], k) for k in keys)
    rows.append(head)
    rows.append("-" * len(head))
    for (label, _, _, _), res in zip(opts, results):
        if "error" in res:
            rows.append("%-*s  failed: %s" % (width, label, res["error"]))
            continue
        cells = ""
        for k in keys:
            if k in res:
                cells += "%*s" % (cols[k], "%.1f (%.2f)" % (res[k], res[k] / best[k] if best[k] else 0))
            else:
                cells += "%*s" % (cols[k], "-")
        rows.append("%-*s%s" % (width, label, cells))
    return "\n".join(rows)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2,
                        help="rounds over all options; the best of each is kept (default: 2)")
    parser.add_argument("--models", action="store_true",
                        help="also time one MLP and one LeNet5 training step (default: off)")
    parser.add_argument("--mkl-dir", default=None,
                        help="a directory holding libmkl_rt.so* (default: where dltut looks)")
    parser.add_argument("--threads", type=int, default=None,
                        help="set OPENBLAS/MKL/OMP_NUM_THREADS for every option "
                             "(default: each library's own choice)")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="wall time, or process CPU time: steadier on a shared machine, "
                             "but only fair with --threads 1 (default: wall)")
    parser.add_argument("--child", choices=("theano", "numpy"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        global CLOCK
        CLOCK = time.process_time if args.clock == "cpu" else time.perf_counter
        res = child_theano(SHAPES, args.models) if args.child == "theano" else child_numpy(SHAPES)
        print(json.dumps(res))
        return 0

    opts = options(args.mkl_dir)
    if args.threads:   # the per-option thread variants are moot then
        opts = [o for o in opts if "thread" not in o[0]]
    results = [{} for _ in opts]
    for _ in range(max(1, args.repeat)):
        for i, (label, kind, ldflags, env) in enumerate(opts):
            res = run_option(kind, ldflags, env, args.models, args.threads, args.clock)
            if "error" in res:
                results[i] = res
                continue
            for k, v in res.items():
                results[i][k] = max(v, results[i].get(k, 0))
    from dltut.runtime import blas
    cpu = blas.parse_cpuinfo(blas.read_cpuinfo())
    print("CPU: %s (%s, %d cores)" % (cpu.model_name or "?", cpu.isa, os.cpu_count() or 0))
    print("GFLOP/s of float32 (m x k) . (k x n) through Theano T.dot (numpy rows: numpy.dot);")
    print("model rows: training steps per second.  (ratio to the best option in the column)")
    print("threads: %s; clock: %s\n" % (args.threads or "library default", args.clock))
    print(table(opts, results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
