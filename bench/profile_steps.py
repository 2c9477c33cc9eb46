#!/usr/bin/env python
"""Where does a training step's time go?  Theano's profiler on the train functions, and the
measured effect of flags and code changes that might make them faster.

``profile`` and ``overhead`` also take the later chapters (``--models dA,cA,SdA,SdA-finetune,
rbm,DBN,DBN-finetune``): the training function bench/bench_cpu.py times, built by its recipe.

    python bench/profile_steps.py profile               # top ops (Class and Apply) per model
    python bench/profile_steps.py variants              # each variant vs the unchanged set-up
    python bench/profile_steps.py variants --models mlp --variants base,allow_gc,blas1 --rounds 3
    python bench/profile_steps.py overhead              # Python work per train_model call

``profile`` compiles each script's ``train_model`` (through ``dltut.training.compile_functions``,
the scripts' defaults, float32) with ``theano.config.profile`` on, runs some minibatches and
prints the function summary (time in the VM vs in Python), the op classes and the apply nodes
that take the most time.

``variants`` runs one fresh Python per variant (a Theano flag, an environment variable, or a
patched layer), round-robin ``--rounds`` times so that load from other processes hits every
variant alike.  Each child starts the model from the script's initial weights, trains one full
epoch (or ``--batches`` minibatches) and reports the time, the validation error and a hash of
the parameters; a variant "keeps the math" when its parameters after the epoch are bit for bit
those of the unchanged set-up (``base``).

``overhead`` times the Python side of a ``train_model(i)`` call: the same compiled function
called normally, with ``trust_input`` and a prebuilt index array, and through its VM directly.
"""
import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

EXPERIMENTS = {"logreg": "logistic_sgd", "mlp": "mlp", "lenet": "convolutional_mlp"}
#: The later chapters (``profile`` and ``overhead`` only): the training function
#: bench/bench_cpu.py times, built by its recipe (dA 30 %, cA, RBM PCD-15, the SdA's and the
#: DBN's layer-0 pre-training and their fine-tuning).
LATER = ("dA", "cA", "SdA", "SdA-finetune", "rbm", "DBN", "DBN-finetune")
PROFILE_BATCHES = {"logreg": 83, "mlp": 1000, "lenet": 10, "dA": 250, "cA": 50, "SdA": 1000,
                   "SdA-finetune": 1000, "rbm": 20, "DBN": 200, "DBN-finetune": 200}
#: Variants that only change the convolutional layers.
LENET_ONLY = {"legacy_conv", "theano_conv", "conv_threads1", "batched_conv", "pool_2d",
              "slice_pool"}
#: Patches that change the graph of Theano's convolution: they act on
#: ``LeNetConvPoolLayer(implementation="theano")``, which they switch on.
THEANO_CONV_PATCHES = {"theano_conv", "batched_conv", "pool_2d", "slice_pool"}


# --------------------------------------------------------------------------- shared set-up
def set_theano_flags(extra):
    """Append ``extra`` (a dict) and floatX=float32 to THEANO_FLAGS, before Theano loads."""
    flags = os.environ.get("THEANO_FLAGS", "").strip(",")
    items = [flags] if flags else []
    items += ["%s=%s" % kv for kv in dict({"floatX": "float32"}, **extra).items()]
    os.environ["THEANO_FLAGS"] = ",".join(items)


def build(name, splits):
    """``(model, compiled)`` for one script's defaults through compile_functions."""
    import theano.tensor as T
    from dltut.cli import supervised as experiment
    from dltut.data import shared_datasets
    from dltut.training import compile_functions
    _, args = experiment.parse(EXPERIMENTS[name], [])
    config = experiment.train_config(args)
    x, y = T.matrix("x"), T.ivector("y")
    model = experiment.build(EXPERIMENTS[name], args, x, 784, 10, (28, 28))
    return model, compile_functions(model, x, y, shared_datasets(splits), config)


def build_step(name, splits):
    """``(step, f, n_batches, batch_size, params)`` for any model: ``step(i)`` is one training
    call as the script makes it, ``f`` the compiled Theano function it calls."""
    if name in EXPERIMENTS:
        _, fns = build(name, splits)
        return fns.train_model, fns.train_model, fns.n_train_batches, fns.batch_size, fns.params
    sys.path.insert(0, HERE)
    import bench_cpu
    data = bench_cpu.Data(splits)
    spec = bench_cpu.MODELS[name]
    if spec["kind"] == "finetune":
        side = bench_cpu.Supervised(name, data, stack=bench_cpu.Stack.get(spec["recipe"], data))
        f = side.fns.train_model
        return f, f, side.n_batches, side.batch_size, side.shared
    side = bench_cpu.Pretrain(name, data)
    step = side.layer.train_fn
    f = getattr(step, "func", step)      # functools.partial(fn, corruption=..., lr=...)
    return step, f, side.n_batches, side.batch_size, side.shared


def load_splits():
    from dltut import data
    path = data.default_mnist_path()
    if path.is_file():
        return data.load_mnist(path), "MNIST"
    import numpy
    return data.synthetic_dataset(numpy.random.RandomState(0), 50000, 10000, 10000), "synthetic"


# --------------------------------------------------------------------------- profile
def cmd_profile(args):
    set_theano_flags({})
    import dltut  # noqa: F401
    import theano
    from theano.compile import profiling
    apply_patches(args.patch)
    splits, label = load_splits()
    print("data: %s; patches: %s; blas.ldflags=%r openmp=%s; %s" % (
        label, args.patch or "none", theano.config.blas.ldflags, theano.config.openmp,
        " ".join("%s=%s" % (k, os.environ[k]) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_NUM_THREADS",
                                                         "OMP_NUM_THREADS") if k in os.environ)))
    for name in args.models:
        theano.config.profile = True
        step, f, n_batches, batch_size, _ = build_step(name, splits)
        n = min(args.batches or PROFILE_BATCHES[name], n_batches)
        step(0)                    # first-call allocations out of the profile
        f.profile.reset() if hasattr(f.profile, "reset") else None
        start = time.perf_counter()
        for i in range(n):
            step(i)
        wall = time.perf_counter() - start
        ps = f.profile
        print("\n" + "=" * 100)
        print("%s: %s, %d minibatches of %d, %.2f ms per call (wall, profiling on)"
              % (name, f.name or "train_model", n, batch_size, 1000 * wall / n))
        print("=" * 100)
        ps.summary_function(sys.stdout)
        ps.summary_class(sys.stdout, args.top)
        ps.summary_nodes(sys.stdout, args.top)
    # the functions are profiled; keep Theano from printing every one of them again at exit
    del profiling._atexit_print_list[:]
    theano.config.profile = False
    return 0


# --------------------------------------------------------------------------- overhead
def cmd_overhead(args):
    set_theano_flags({})
    import dltut  # noqa: F401
    import numpy
    splits, _ = load_splits()
    for name in args.models:
        _, f, n_train_batches, _, params = build_step(name, splits)
        n = min(args.batches or 500, n_train_batches)
        initial = [p.get_value() for p in params]
        indices = [numpy.asarray(i, dtype="int64") for i in range(n)]

        def plain():
            for i in range(n):
                f(i)

        def trusted():
            f.trust_input = True
            try:
                for index in indices:
                    f(index)
            finally:
                f.trust_input = False

        vm = f.fn
        storage = f.input_storage[0]

        def direct():            # what the VM alone costs: set the input cell, run the thunks
            for index in indices:
                storage.storage[0] = index
                vm()

        times = {}
        for _ in range(args.rounds):
            for label, fn in (("f(i)", plain), ("trust_input", trusted), ("f.fn()", direct)):
                for p, v in zip(params, initial):
                    p.set_value(v.copy())
                start = time.perf_counter()
                fn()
                times.setdefault(label, []).append((time.perf_counter() - start) / n)
        base = min(times["f(i)"])
        print("%s: %d calls; per call: %s" % (name, n, ", ".join(
            "%s %.1f us (%.3f)" % (k, 1e6 * min(v), min(v) / base) for k, v in times.items())))
        print("    Python work of f(i) beyond the VM: %.1f us/call = %.3f s per epoch of %d "
              "minibatches" % (1e6 * (base - min(times["f.fn()"])),
                               (base - min(times["f.fn()"])) * n_train_batches,
                               n_train_batches))
    return 0


# --------------------------------------------------------------------------- variants
def _mkl_ldflags(mkl_dir=None):
    from dltut.runtime import blas
    dirs = ([mkl_dir] if mkl_dir else []) + blas.library_dirs()
    path = blas.find_blas_libraries(dirs).get("mkl")
    return blas.ldflags_for(path) if path else None


def variant_table(cpus, mkl_dir=None):
    """name -> (THEANO_FLAGS additions, environment additions, code patch or None, note)."""
    table = {
        "base": ({}, {}, None, "unchanged set-up"),
        "allow_gc": ({"allow_gc": "True"}, {}, None,
                     "Theano's default: free intermediate buffers after every call "
                     "(dltut sets allow_gc=False)"),
        "openmp": ({"openmp": "True"}, {"OMP_NUM_THREADS": str(cpus)}, None,
                   "OpenMP in Elemwise and CorrMM (CorrMM: one image per thread, BLAS 1 thread)"),
        "blas1": ({}, {"OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}, None,
                  "single-threaded BLAS"),
        "fastmath": ({"gcc.cxxflags": "-ffast-math"}, {}, None,
                     "-ffast-math on Theano's C code (may change rounding)"),
        "legacy_conv": ({"optimizer_excluding": "conv_gemm"}, {}, "theano_conv",
                        "Theano's conv2d as its old ConvOp instead of CorrMM (LeNet only)"),
        "theano_conv": ({}, {}, "theano_conv",
                        "LeNetConvPoolLayer(implementation='theano'): Theano's conv2d (CorrMM, "
                        "one product per image), max_pool, bias and tanh as separate nodes, "
                        "instead of dltut.ops.conv's ConvPool Ops"),
        "conv_threads1": ({}, {"DLTUT_CONV_THREADS": "1"}, None,
                          "dltut.ops.conv's blocks of images on one thread (the BLAS then threads "
                          "each product)"),
        "trust_input": ({}, {}, "trust_input", "train_model.trust_input + prebuilt 0-d index "
                                              "arrays in the loop (a train.py change)"),
        "batched_conv": ({}, {}, "batched_conv",
                         "theano_conv with the convolution as shifted slices + one T.dot over "
                         "the whole minibatch (the graph-level prototype of dltut.ops.conv)"),
        "pool_2d": ({}, {}, "pool_2d",
                    "theano_conv with Theano's pool_2d and MaxPoolGrad (the tutorial's call) "
                    "instead of dltut.layers.max_pool's reshape + max"),
        "slice_pool": ({}, {}, "slice_pool",
                       "theano_conv with max-pooling as T.maximum of the 4 strided slices"),
    }
    mkl = _mkl_ldflags(mkl_dir)
    if mkl:
        table["mkl"] = ({"blas.ldflags": mkl}, {"MKL_THREADING_LAYER": "GNU"}, None,
                        "Intel MKL (%s)" % mkl)
        table["mkl+openmp"] = ({"blas.ldflags": mkl, "openmp": "True"},
                               {"MKL_THREADING_LAYER": "GNU", "OMP_NUM_THREADS": str(cpus)},
                               None, "")
    return table


def params_hash(params):
    h = hashlib.sha1()
    for p in params:
        h.update(numpy_bytes(p.get_value(borrow=True)))
    return h.hexdigest()[:16]


def numpy_bytes(value):
    import numpy
    return numpy.ascontiguousarray(value).tobytes()


def variant_child(args):
    """One variant in this process (THEANO_FLAGS/environment set by the parent)."""
    import dltut  # noqa: F401
    import numpy
    import theano
    from dltut.training import evaluate
    patches = apply_patches(args.patch)
    splits, _ = load_splits()
    out = {"ldflags": theano.config.blas.ldflags, "openmp": theano.config.openmp}
    for name in args.models:
        _, fns = build(name, splits)
        f = fns.train_model
        n = min(args.batches or fns.n_train_batches, fns.n_train_batches)
        initial = [p.get_value() for p in fns.params]
        for i in range(min(3, n)):
            f(i)
        for p, v in zip(fns.params, initial):
            p.set_value(v.copy())
        if "trust_input" in patches:
            indices = [numpy.asarray(i, dtype="int64") for i in range(n)]
            f.trust_input = True
            start = time.perf_counter()
            for index in indices:
                f(index)
            seconds = time.perf_counter() - start
            f.trust_input = False
        else:
            start = time.perf_counter()
            for i in range(n):
                f(i)
            seconds = time.perf_counter() - start
        out[name] = {"seconds": seconds, "batches": n, "per_epoch": seconds * fns.n_train_batches / n,
                     "valid_error": evaluate(fns, "valid")[1], "hash": params_hash(fns.params)}
    print(json.dumps(out))
    return 0


def apply_patches(spec):
    """Install the code patches named in ``spec`` ("a+b"); returns their names."""
    patches = [p for p in (spec or "").split("+") if p]
    if THEANO_CONV_PATCHES.intersection(patches):
        from dltut import layers
        layers.CONV_IMPLEMENTATION = "theano"
    for patch in patches:
        if patch == "theano_conv":
            pass
        elif patch == "batched_conv":
            install_batched_conv()
        elif patch == "pool_2d":
            install_theano_pool()
        elif patch == "slice_pool":
            install_slice_pool()
        elif patch != "trust_input":
            sys.exit("unknown patch %r" % patch)
    return patches


def install_batched_conv():
    """Patch LeNetConvPoolLayer so its convolution is one im2col and one GEMM per minibatch.

    The fh * fw shifted views ``input[:, :, dy:dy+oh, dx:dx+ow]`` are stacked and laid out as
    (batch * oh * ow, c * fh * fw), in the order (c, dy, dx) CorrMM uses, and multiplied by the
    flipped filters (c * fh * fw, k) in one ``T.dot``; the result goes back to (batch, k, oh, ow).
    CorrMM makes one small GEMM per image instead.  The forward sums are over the same terms
    in the same order, but the filter gradient sums over the whole minibatch in one GEMM
    (CorrMM: image by image), so rounding differs.
    """
    import theano.tensor as T
    from dltut import layers

    def conv2d(input, filters, filter_shape, input_shape, **kwargs):
        k, c, fh, fw = filter_shape
        h, w = input_shape[2], input_shape[3]
        oh, ow = h - fh + 1, w - fw + 1
        batch = input.shape[0]
        # (batch, c, fh*fw, oh, ow): shifted views of the input
        cols = T.stack([input[:, :, dy:dy + oh, dx:dx + ow]
                        for dy in range(fh) for dx in range(fw)], axis=2)
        # -> (batch, oh, ow, c, fh*fw) -> (batch*oh*ow, c*fh*fw)
        cols = cols.dimshuffle(0, 3, 4, 1, 2).reshape((batch * oh * ow, c * fh * fw))
        # true convolution flips the filters: (k, c, fh, fw) -> (c*fh*fw, k)
        flipped = filters[:, :, ::-1, ::-1].reshape((k, c * fh * fw)).T
        out = T.dot(cols, flipped)                     # (batch*oh*ow, k)
        return out.reshape((batch, oh, ow, k)).dimshuffle(0, 3, 1, 2)

    layers.conv2d = conv2d


def install_theano_pool():
    """Patch LeNetConvPoolLayer's max-pooling back to Theano's ``pool_2d(ignore_border=True)``
    (the tutorial's call; its gradient is ``MaxPoolGrad``).  Same values and gradients as
    :func:`dltut.layers.max_pool`, the default."""
    from theano.tensor.signal.pool import pool_2d
    from dltut import layers

    layers.max_pool = lambda x, poolsize: pool_2d(x, ws=poolsize, ignore_border=True)


def install_slice_pool():
    """Patch max-pooling into an elementwise maximum of the ph * pw strided slices
    ``x[:, :, i::ph, j::pw]`` (border dropped).  ``T.maximum``'s gradient goes to every input
    equal to the output, so ties are treated as MaxPoolGrad treats them."""
    import theano.tensor as T
    from dltut import layers

    def max_pool(input, poolsize):
        ph, pw = poolsize
        h, w = input.shape[2], input.shape[3]
        oh, ow = h // ph, w // pw
        out = None
        for i in range(ph):
            for j in range(pw):
                part = input[:, :, i:i + oh * ph:ph, j:j + ow * pw:pw]
                out = part if out is None else T.maximum(out, part)
        return out

    layers.max_pool = max_pool


def cmd_variants(args):
    cpus = os.cpu_count() or 1
    table = variant_table(cpus, args.mkl_dir)
    names = args.variants or [v for v in table if v != "legacy_conv" or "lenet" in args.models]
    unknown = [v for v in names if v not in table]
    if unknown:
        sys.exit("unknown variants %s; known: %s" % (unknown, ", ".join(table)))
    if "base" not in names:
        names.insert(0, "base")
    results = {v: [] for v in names}
    for r in range(args.rounds):
        order = names if r % 2 == 0 else names[::-1]
        for v in order:
            flags, env_add, patch, _ = table[v]
            env = dict(os.environ)
            env.update(env_add)
            base_flags = env.get("THEANO_FLAGS", "").strip(",")
            env["THEANO_FLAGS"] = ",".join(([base_flags] if base_flags else []) + ["floatX=float32"] +
                                           ["%s=%s" % kv for kv in flags.items()])
            models = [m for m in args.models if v not in LENET_ONLY or m == "lenet"]
            if not models:
                continue
            cmd = [sys.executable, os.path.abspath(__file__), "_child", "--models", ",".join(models)]
            if patch:
                cmd += ["--patch", patch]
            if args.batches:
                cmd += ["--batches", str(args.batches)]
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
            if proc.returncode:
                err = (proc.stderr.strip().splitlines() or ["exit %d" % proc.returncode])[-1]
                print("round %d %-20s failed: %s" % (r + 1, v, err), file=sys.stderr, flush=True)
                results[v].append({"error": err})
                continue
            res = json.loads(proc.stdout.strip().splitlines()[-1])
            results[v].append(res)
            print("round %d %-20s %s" % (r + 1, v, "  ".join(
                "%s %.3f s/epoch (valid %.2f %%, %s)" % (m, res[m]["per_epoch"],
                                                        100 * res[m]["valid_error"], res[m]["hash"])
                for m in models if m in res)), file=sys.stderr, flush=True)
    # summary: min per-epoch time per model, ratio to base, same params as base?
    print("\n| variant | " + " | ".join("%s s/epoch (x base)" % m for m in args.models) +
          " | bit-identical to base | what |")
    print("| --- | " + " | ".join("---" for _ in args.models) + " | --- | --- |")
    base = {m: summarize(results["base"], m) for m in args.models}
    out = {}
    for v in names:
        cells, same = [], []
        for m in args.models:
            s = summarize(results[v], m)
            if s is None:
                cells.append("-")
                continue
            b = base[m]
            cells.append("%.3f (%.2f)" % (s["min"], s["min"] / b["min"]) if b else "%.3f" % s["min"])
            if b:
                same.append("%s %s" % (m, "yes" if s["hash"] == b["hash"] else
                                       "NO (valid %.2f vs %.2f %%)" % (100 * s["valid"],
                                                                       100 * b["valid"])))
            out.setdefault(v, {})[m] = s
        print("| %s | %s | %s | %s |" % (v, " | ".join(cells), "; ".join(same), table[v][3]))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"results": results, "summary": out}, handle, indent=2)
    return 0


def summarize(runs, model):
    ok = [r[model] for r in runs if model in r]
    if not ok:
        return None
    hashes = {r["hash"] for r in ok}
    return {"min": min(r["per_epoch"] for r in ok),
            "median": statistics.median(r["per_epoch"] for r in ok),
            "hash": ok[0]["hash"] if len(hashes) == 1 else "varies:" + ",".join(sorted(hashes)),
            "valid": ok[0]["valid_error"]}


# --------------------------------------------------------------------------- command line
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p, batches_help):
        p.add_argument("--models", default="logreg,mlp,lenet",
                       type=lambda s: [m for m in s.split(",") if m],
                       help="comma-separated subset of logreg,mlp,lenet (profile and "
                            "overhead also: %s)" % ",".join(LATER))
        p.add_argument("--batches", type=int, default=0, help=batches_help)

    p = sub.add_parser("profile", help="Theano's profile of each train_model")
    common(p, "minibatches to profile (0: logreg 83, mlp 1000, lenet 10)")
    p.add_argument("--top", type=int, default=12, help="op classes and apply nodes to list")
    p.add_argument("--patch", default=None,
                   help="code patches to profile instead: theano_conv (the convolution "
                        "before dltut.ops.conv), pool_2d, slice_pool, batched_conv (a+b)")
    p = sub.add_parser("variants", help="flag and code variants vs the unchanged set-up")
    common(p, "minibatches per model (0: one full epoch)")
    p.add_argument("--variants", type=lambda s: [v for v in s.split(",") if v],
                   help="comma-separated variant names (default: all)")
    p.add_argument("--rounds", type=int, default=2, help="round-robin repetitions")
    p.add_argument("--mkl-dir", help="a directory holding libmkl_rt (adds the mkl variants)")
    p.add_argument("--json", metavar="PATH")
    p = sub.add_parser("overhead", help="Python work per train_model call")
    common(p, "calls to time (0: 500 or the epoch)")
    p.add_argument("--rounds", type=int, default=3)
    p = sub.add_parser("_child")
    common(p, "")
    p.add_argument("--patch", default=None)
    args = parser.parse_args(argv)
    known = list(EXPERIMENTS) + (list(LATER) if args.command in ("profile", "overhead") else [])
    for m in args.models:
        if m not in known:
            parser.error("unknown model %r; choose from %s" % (m, ",".join(known)))
    if args.command == "_child":
        set_theano_flags({})
        return variant_child(args)
    return {"profile": cmd_profile, "variants": cmd_variants, "overhead": cmd_overhead}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
