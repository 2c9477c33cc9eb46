#!/usr/bin/env python
"""The small-batch chapters' training steps (issue 26): where the time of one minibatch goes.

    python bench/small_batch.py                          # every chapter, 300 minibatches a round
    python bench/small_batch.py --chapters SdA,DBN --batches 500 --rounds 4

Each chapter's compiled steps are built the way its script builds them (``dltut.cli.pretrain``'s
recipes, the tutorial's defaults, MNIST): dA (30 % corruption, batch 20), cA (batch 10), the
RBM (PCD-15, batch 20), the SdA (pre-training layers 0 and 1 and fine-tuning, batch 1), the DBN
(CD-1 layers 0 and 1 and fine-tuning, batch 10).  For each step it alternates, ``--rounds``
times, ``--batches`` minibatches of:

* ``plain``: ``train_fn(index)`` as the loops call it (``Function.__call__``; the SdA's and
  the DBN's keyword arguments through ``functools.partial``);
* ``fast``: :func:`dltut.training.fast_step`, the call path the loops now take by default
  (the VM run directly, the inputs set by dltut; bit for bit the same computation);
* ``vm``: the compiled VM alone (the input cells set directly, no ``Function.__call__``): the
  floor of any call path, so ``plain - vm`` is the whole per-call Python overhead that a
  faster call path or K steps per call could remove;

under one and two OpenBLAS threads (``openblas_set_num_threads``), and prints the best round's
CPU and wall milliseconds per minibatch.  CPU time is the figure to compare on a shared
machine (wall time includes waiting for the cores; with two threads CPU time also counts the
BLAS threads' spinning).  Alternating on the same model is fine for timing: both paths train
the same parameters.

``--gemv`` adds, for the batch-1 SdA steps, the same steps built by the recipe with
``--batch-one gemv`` (``SdA(row_input=True)``: each minibatch a broadcastable row, so Theano
computes the products with gemv and ger instead of gemm with one row), timed through the fast
path as ``gemv`` (to compare with ``fast``).  It prints whether their costs and parameters
after 20 minibatches equal the default steps' bit for bit (they do not: gemv sums in another
order) and by how much they differ.  The projected SdA and DBN pre-training times at the end
multiply the CPU milliseconds per minibatch by the tutorial's minibatches per epoch and epochs
(layer 1's step stands for layer 2's; the validation passes of fine-tuning are not counted).
"""
import argparse
import ctypes
import ctypes.util
import functools
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

CHAPTERS = ("dA", "cA", "rbm", "SdA", "DBN")
#: Minibatches per epoch and epochs of each chapter's full run (the tutorial's defaults):
#: projected times come from these.
RUNS = {"SdA": dict(pretraining=[("layer 0", 50000), ("layer 1", 50000), ("layer 2", 50000)],
                    pretraining_epochs=15, finetune=50000),
        "DBN": dict(pretraining=[("layer 0", 5000), ("layer 1", 5000), ("layer 2", 5000)],
                    pretraining_epochs=100, finetune=5000)}


def openblas():
    for name in ("libopenblas.so.0", ctypes.util.find_library("openblas")):
        if name:
            try:
                lib = ctypes.CDLL(name)
                lib.openblas_set_num_threads
                return lib
            except (OSError, AttributeError):
                pass
    return None


def steps(chapter, splits, datasets, which, argv=()):
    """``[(label, train_fn)]`` of one chapter, built by its script's recipe from the script's
    flags ``argv`` (none: the defaults)."""
    import theano.tensor as T
    from dltut.cli import pretrain
    from dltut.cli.layerwise import sda_train_config
    _, args = pretrain.parse(chapter, list(argv))
    recipe = pretrain.RECIPES[chapter]
    x = T.matrix("x")
    n_in = splits[0][0].shape[1]
    if chapter in ("dA", "cA"):
        if chapter == "dA":
            args.corruption_level = [0.3]
        _, layers = recipe.layers(args, x, datasets[0][0], n_in)
        return [(layer.name, layer.train_fn) for layer in layers]
    if chapter == "rbm":
        _, _, layer = recipe.layer(args, x, datasets[0][0], n_in)
        return [("PCD-15", layer.train_fn)]
    n_batches = len(splits[0][1]) // args.batch_size
    config = sda_train_config(args, n_batches, recipe.patience_epochs)
    _, layers, compiled = recipe.build(args, datasets, n_in, 10, config, lambda line: None)
    found = [(layer.name, layer.train_fn) for layer in layers] + [
        ("finetune", compiled.train_model)]
    return [(label, fn) for label, fn in found if label in which]


def vm_only(step):
    """The VM alone: the inputs set once (by a plain call), then only the index cell."""
    import numpy
    function = step.func if isinstance(step, functools.partial) else step
    step(0)
    cells, vm = function.input_storage, function.fn
    keywords = step.keywords if isinstance(step, functools.partial) else {}
    for k, inp in enumerate(function.maker.inputs):
        if inp.name in keywords:
            cells[k].storage[0] = cells[k].type.filter(keywords[inp.name], allow_downcast=True)
    indices = [numpy.asarray(i, dtype="int64") for i in range(100000)]
    cell = cells[0].storage

    def run(index):
        cell[0] = indices[index]
        vm()
    return run


def measure(paths, n, rounds, n_batches):
    """``{path: (cpu ms, wall ms)}``, the best of ``rounds`` alternated rounds."""
    best = {}
    for r in range(rounds):
        for label, fn in paths:
            start_cpu, start = time.process_time(), time.perf_counter()
            for i in range(n):
                fn((r * n + i) % n_batches)
            cpu = (time.process_time() - start_cpu) / n * 1e3
            wall = (time.perf_counter() - start) / n * 1e3
            old = best.get(label, (float("inf"), float("inf")))
            best[label] = (min(old[0], cpu), min(old[1], wall))
    return best


#: The script flags of each chapter's opt-in for batch-1 steps (``--gemv``).
GEMV_FLAGS = {"SdA": ["--batch-one", "gemv"]}


def _function(step):
    return step.func if isinstance(step, functools.partial) else step


def compare(chapter, label, matrix_step, row_step):
    """Whether the row (gemv) step gives the matrix step's numbers: 20 minibatches each,
    from the same start; the step's shared variables are copied back afterwards."""
    import numpy
    from dltut.updates import updated_shared_variables
    steps = (matrix_step, row_step)
    saved = [[v.get_value() for v in updated_shared_variables(_function(f))] for f in steps]
    costs = [[float(f(i)) for i in range(20)] for f in steps]
    after = [[v.get_value() for v in updated_shared_variables(_function(f))] for f in steps]
    same = costs[0] == costs[1] and all(numpy.array_equal(a, b) for a, b in zip(*after))
    largest = max(float(numpy.max(numpy.abs(a - b))) for a, b in zip(*after)
                  if a.dtype.kind == "f")
    for f, values in zip(steps, saved):
        for v, value in zip(updated_shared_variables(_function(f)), values):
            v.set_value(value)
    return ("%s %s: the gemv step %s the gemm step's costs and parameters after 20 minibatches "
            "(largest parameter difference %.3g; mean cost %.9f vs %.9f)" % (
                chapter, label, "gives" if same else "does NOT give", largest,
                numpy.mean(costs[0]), numpy.mean(costs[1])))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chapters", default=",".join(CHAPTERS))
    parser.add_argument("--steps", default="corruption 30%,cA,PCD-15,layer 0,layer 1,finetune",
                        help="which steps of the chapters (labels)")
    parser.add_argument("--batches", type=int, default=300, help="minibatches per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--gemv", action="store_true",
                        help="also time the batch-1 SdA steps built with --batch-one gemv (a row "
                             "minibatch: gemv and ger)")
    args = parser.parse_args(argv)
    import dltut  # noqa: F401  (Theano set-up)
    import theano
    from dltut import data
    from dltut.data import shared_datasets
    from dltut.training import fast_step
    lib = openblas()
    splits = data.load_mnist(data.default_mnist_path())
    datasets = shared_datasets(splits)
    which = set(args.steps.split(","))
    print("floatX %s; load average %s; %d minibatches a round, best of %d rounds; ms per "
          "minibatch, CPU / wall" % (theano.config.floatX, " ".join(
              "%.1f" % v for v in os.getloadavg()), args.batches, args.rounds), flush=True)
    results = {}
    for chapter in args.chapters.split(","):
        gemv_steps = {}
        if args.gemv and chapter in GEMV_FLAGS:
            gemv_steps = dict(steps(chapter, splits, datasets, which, GEMV_FLAGS[chapter]))
        chapter_steps = steps(chapter, splits, datasets, which)
        for label, fn in chapter_steps:     # from the same start, before any step is timed
            if label in gemv_steps:
                print(compare(chapter, label, fn, gemv_steps[label]), flush=True)
        for label, fn in chapter_steps:
            n_batches = len(splits[0][1]) // _batch_size(chapter)
            paths = [("plain", fn), ("fast", fast_step(fn)), ("vm", vm_only(fn))]
            if label in gemv_steps:
                paths.append(("gemv", fast_step(gemv_steps[label])))
            for threads in map(int, args.threads.split(",")):
                if lib is not None:
                    lib.openblas_set_num_threads(threads)
                best = measure(paths, args.batches, args.rounds, n_batches)
                results[(chapter, label, threads)] = best
                plain = best["plain"][0]
                print("%-4s %-15s %d thread%s: %s; Python work of a plain call %.0f us "
                      "(%.1f %%); fast path %.1f %% less CPU" % (
                          chapter, label, threads, " " if threads == 1 else "s",
                          ", ".join("%s %.3f / %.3f" % (k, v[0], v[1]) for k, v in best.items()),
                          1e3 * (plain - best["vm"][0]), 100 * (plain - best["vm"][0]) / plain,
                          100 * (plain - best["fast"][0]) / plain), flush=True)
    project(results)
    return 0


def _batch_size(chapter):
    from dltut.cli import pretrain
    return pretrain.RECIPES[chapter].defaults()["batch_size"]


def project(results):
    """The SdA's and the DBN's full runs, from the CPU ms per minibatch measured (layer 1's
    step stands for layer 2's, same sizes); validation and test passes not counted."""
    for chapter, run in RUNS.items():
        for threads in (1, 2):
            for path in ("plain", "fast", "gemv"):
                ms = {}
                for label, _ in run["pretraining"] + [("finetune", 0)]:
                    key = (chapter, "layer 1" if label == "layer 2" else label, threads)
                    if path in results.get(key, {}):
                        ms[label] = results[key][path][0]
                if len(ms) < 4:
                    continue
                pre = sum(ms[label] * n for label, n in run["pretraining"]) * \
                    run["pretraining_epochs"] / 1e3
                per_finetune_epoch = ms["finetune"] * run["finetune"] / 1e3
                print("%s, %d thread%s, %s: pre-training %.1f h (CPU time of the steps), "
                      "fine-tuning %.0f s an epoch" % (chapter, threads, "" if threads == 1 else "s",
                                                       path, pre / 3600, per_finetune_epoch))


if __name__ == "__main__":
    sys.exit(main())
