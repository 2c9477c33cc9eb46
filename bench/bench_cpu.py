#!/usr/bin/env python
"""dltut against PyTorch on the CPU: seconds per training epoch of every chapter, in one run.

    python bench/bench_cpu.py                      # all eight models, 3 epochs each, compile times
    python bench/bench_cpu.py --quick              # fewer minibatches per epoch, no compile timing
    python bench/bench_cpu.py --models mlp,rbm --epochs 5 --json bench.json
    python bench/bench_cpu.py --models lenet --theano-conv   # LeNet5 before dltut.conv too

What is timed, for each model (float32) with its script's defaults (batch size, learning rate,
L1/L2, corruption, k, seed, initial weights):

* **dltut**, through what its script trains with:

  - ``logreg``, ``mlp``, ``lenet``: ``train_model(i)`` from
    :func:`dltut.training.compile_functions` (``dltut.cli.supervised``'s model).
  - ``dA`` (the 30 % corruption dA of ``scripts/dA.py``), ``cA``, ``rbm`` (PCD-15), the layer
    0 pre-training of ``SdA`` (a dA 784-1000, 10 % corruption, batch 1) and of ``DBN`` (an
    RBM 784-1000, CD-1, batch 10): the :class:`dltut.training.PretrainLayer` its recipe in
    :mod:`dltut.cli.pretrain` builds, trained by :class:`dltut.training.Pretrainer` (the
    scripts' loop, without a run folder) for one epoch.
  - ``SdA-finetune``, ``DBN-finetune`` (run with ``--models SdA`` / ``DBN``): ``train_model(i)``
    of the fine-tuning functions the recipe compiles (the 784-1000-1000-1000-10 sigmoid MLP,
    batch 1 / 10), from the initial (not pre-trained) weights.

* **PyTorch** (a benchmark-only dependency, ``pip install torch==2.13.0``): the same step
  written plainly (``bench/torch_models.py``), from dltut's initial parameter values, the data
  as whole float32 tensors sliced per minibatch, run eagerly (``eager``) and through
  ``torch.compile`` of the whole step function (``compile``: forward, backward, SGD update;
  the compile time, i.e. the warm-up calls, is reported apart and never counted in an
  epoch), each with ``os.cpu_count()`` threads and with one (``--torch-threads``): on a
  machine with any other load, two OpenMP threads make each small operation wait for a
  descheduled thread.  The ratio is against the fastest of these settings.
* **dltut with one OpenBLAS thread** (``--dltut-threads 1``, the default): the same dltut
  side again, ``openblas_set_num_threads(1)`` during its epochs: an extra row, not used for
  the targets (which take dltut as its scripts run it).
* **dltut's opt-in variants** (:data:`OPT_INS`): the same side built from the script with an
  opt-in flag that rounds otherwise than the tutorial: the cA with ``--jacobian factorised``,
  the SdA's pre-training and fine-tuning with ``--batch-one gemv`` (each minibatch a row:
  gemv and ger instead of one-row gemm).  Extra rows, not used for the targets.

Long epochs (the SdA's 50 000 single-example steps, the cA's Jacobians, PCD-15) are timed
over a fixed number of minibatches (``--quick``: fewer) and scaled up to the whole epoch;
the output says so.  Epochs alternate (dltut, the PyTorch settings, then backwards) so that
load from other processes disturbs every side alike; min and median are reported.

**Agreement.**  Before timing, both sides start from the same parameters and the first
minibatch costs are printed and compared: the costs themselves for the deterministic models;
for the dA and the SdA's pre-training the same functions with corruption 0 (dA: the script's
0 % dA, which starts from the same weights; SdA: its compiled pre-training function called
with ``corruption=0``); for the RBM the first pseudo-likelihood cost (computed from the
initial parameters, before any sample matters) and the mean free energy of the first
minibatch, each side through its own graph; for the DBN's RBM that free energy.  After the
timed epochs each side's parameters give a statistic: the validation error (classifiers),
the noise-free reconstruction cross-entropy (autoencoders) or the mean free energy (RBMs) of
the first 1000 training images.  Sampling models agree there only in distribution: each
PyTorch setting draws with its own seed, and dltut's value must lie within 3 standard
deviations of theirs (said so in the output).

Work: the dense products' multiply-adds x 2 (the classifiers: 3 x the forward pass; the
autoencoders: 3 x encoder + decoder; an RBM update: one product per Gibbs half-step, the
data's and the chain end's hidden activations, two outer products for the gradient, and
for PCD the pseudo-likelihood's two free energies), over the examples an epoch uses.  The
peak is the best of a 2048^3 float32 matrix product through ``torch.mm`` and through
Theano's ``T.dot``, measured in the same run.
"""
import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

#: name -> what is timed: ``kind`` (supervised: a dltut.cli.supervised script; pretrain /
#: finetune: a dltut.cli.pretrain recipe's layer 0 / fine-tuning), a label, the minibatches
#: timed per epoch (None: all) and under --quick.
MODELS = {
    "logreg": dict(kind="supervised", experiment="logistic_sgd", label="logreg (batch 600)",
                   batches=None, quick_batches=20),
    "mlp": dict(kind="supervised", experiment="mlp", label="MLP 784-500-10 (batch 20)",
                batches=None, quick_batches=150),
    "lenet": dict(kind="supervised", experiment="convolutional_mlp",
                  label="LeNet5 20/50/500 (batch 500)", batches=None, quick_batches=10),
    "dA": dict(kind="pretrain", recipe="dA", label="dA 784-500, 30 % corruption (batch 20)",
               batches=None, quick_batches=150),
    "cA": dict(kind="pretrain", recipe="cA", label="cA 784-500 (batch 10)",
               batches=1000, quick_batches=60),
    "SdA": dict(kind="pretrain", recipe="SdA",
                label="SdA pre-training, layer 0: dA 784-1000, 10 % (batch 1)",
                batches=3000, quick_batches=200),
    "SdA-finetune": dict(kind="finetune", recipe="SdA",
                         label="SdA fine-tuning 784-1000x3-10 (batch 1)",
                         batches=3000, quick_batches=200),
    "rbm": dict(kind="pretrain", recipe="rbm", label="RBM 784-500 PCD-15 (batch 20)",
                batches=300, quick_batches=20),
    "DBN": dict(kind="pretrain", recipe="DBN",
                label="DBN pre-training, layer 0: RBM 784-1000 CD-1 (batch 10)",
                batches=1500, quick_batches=100),
    "DBN-finetune": dict(kind="finetune", recipe="DBN",
                         label="DBN fine-tuning 784-1000x3-10 (batch 10)",
                         batches=1500, quick_batches=100),
}
#: What --models accepts: each name and what it times (the stacks: pre-training and fine-tuning).
#: dltut's opt-in variants timed beside a model (not its default, which the targets take):
#: side label -> the script's flags.
OPT_INS = {"cA": {"dltut_factorised": ["--jacobian", "factorised"]},
           "SdA": {"dltut_gemv": ["--batch-one", "gemv"]},
           "SdA-finetune": {"dltut_gemv": ["--batch-one", "gemv"]}}
OPT_IN_LABELS = {"dltut_factorised": "dltut with --jacobian factorised (opt-in)",
                 "dltut_gemv": "dltut with --batch-one gemv (opt-in)"}
CHOICES = {"logreg": ["logreg"], "mlp": ["mlp"], "lenet": ["lenet"], "dA": ["dA"], "cA": ["cA"],
           "SdA": ["SdA", "SdA-finetune"], "rbm": ["rbm"], "DBN": ["DBN", "DBN-finetune"],
           "SdA-finetune": ["SdA-finetune"], "DBN-finetune": ["DBN-finetune"]}
DEFAULT_MODELS = "logreg,mlp,lenet,dA,cA,SdA,rbm,DBN"

#: Targets (issue 26): dltut's epoch <= these x the fastest PyTorch setting's epoch (eager or
#: torch.compile, any thread count): the floor and the goal.  Compile seconds (build +
#: compile of one supervised script's functions, import excluded) with an empty cache and in
#: a second process (issue 18); the peak share is issue 6's.
TARGET_FLOOR, TARGET_GOAL = 1.0, 0.5
TARGET_LENET_PEAK = 0.40      # LeNet5 at >= this share of the sgemm peak
TARGET_COLD_COMPILE = 20.0    # seconds, build + compile of one script's functions, empty cache
TARGET_WARM_COMPILE = 1.0     # seconds, the same in a second process (cache filled)

PEAK_N = 2048
WARMUP_BATCHES = 3
AGREE_BATCHES = 5             # minibatch costs compared from the same start
STAT_EXAMPLES = 1000          # training images the after-epoch statistic is computed on
RTOL_COSTS = 2e-3             # float32, different summation orders, a few steps
RTOL_STAT = 2e-2              # deterministic models after the timed epoch


# --------------------------------------------------------------------------- set-up
def use_float32():
    """Make Theano run in float32 (refusing a different floatX the user asked for)."""
    flags = os.environ.get("THEANO_FLAGS", "")
    for item in flags.split(","):
        key, _, value = item.partition("=")
        if key.strip() == "floatX" and value.strip() != "float32":
            sys.exit("bench_cpu.py compares float32 runs; THEANO_FLAGS asks for floatX=%s"
                     % value.strip())
    os.environ["THEANO_FLAGS"] = (flags.strip(",") + "," if flags.strip(",") else "") + \
        "floatX=float32"


def import_torch():
    try:
        import torch
    except ImportError:
        sys.exit("bench_cpu.py needs PyTorch (a benchmark-only dependency): "
                 "pip install torch==2.13.0   (or: make bench)")
    torch.set_num_threads(os.cpu_count() or 1)
    return torch


def load_data(which, seed=0):
    """``(splits, description)``: MNIST from data/mnist.pkl.gz, or synthetic of the same shapes."""
    from dltut import data
    if which in ("auto", "mnist"):
        path = data.default_mnist_path()
        if path.is_file():
            return data.load_mnist(path), "MNIST (%s)" % os.path.relpath(str(path), ROOT)
        if which == "mnist":
            sys.exit("%s not found (python -m dltut.data fetch)" % path)
    import numpy
    splits = data.synthetic_dataset(numpy.random.RandomState(seed), 50000, 10000, 10000)
    return splits, "synthetic (MNIST shapes: 50000/10000/10000 x 784; no MNIST file found)"


def best_seconds(fn, repeats):
    fn()
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def measure_peak(torch, repeats=8):
    """GFLOP/s of a 2048^3 float32 product: ``{"torch.mm": r, "theano T.dot": r}``."""
    import numpy
    import theano
    import theano.tensor as T
    rng = numpy.random.RandomState(0)
    a = rng.rand(PEAK_N, PEAK_N).astype("float32")
    b = rng.rand(PEAK_N, PEAK_N).astype("float32")
    flop = 2.0 * PEAK_N ** 3
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    out = torch.empty(PEAK_N, PEAK_N)
    rates = {"torch.mm": flop / best_seconds(lambda: torch.mm(ta, tb, out=out), repeats) / 1e9}
    sa, sb = theano.shared(a), theano.shared(b)
    f = theano.function([], T.dot(sa, sb))
    rates["theano T.dot"] = flop / best_seconds(f, repeats) / 1e9
    return rates


# --------------------------------------------------------------------------- the models
def dense_flop_per_example(model):
    """Multiply-adds x 2 of one example's forward pass through the dltut classifier ``model``
    (logistic regression, an MLP, an SdA or DBN as its MLP, LeNet5)."""
    from dltut.layers import LogisticRegression
    from dltut.models import LeNet5
    if isinstance(model, LogisticRegression):
        return 2 * model.n_in * model.n_out
    if isinstance(model, LeNet5):
        total = 0
        for layer in (model.layer0, model.layer1):
            k, c, fh, fw = layer.filter_shape
            _, _, h, w = layer.image_shape
            total += 2 * k * (h - fh + 1) * (w - fw + 1) * c * fh * fw
        for layer in (model.layer2, model.layer3):
            total += 2 * layer.n_in * layer.n_out
        return total
    hidden = getattr(model, "hidden_layers", None) or getattr(model, "sigmoid_layers", None)
    top = getattr(model, "log_regression_layer", None) or getattr(model, "logLayer", None)
    if hidden is not None and top is not None:
        dense = [(layer.n_in, layer.n_out) for layer in hidden] + [(top.n_in, top.n_out)]
        return sum(2 * i * o for i, o in dense)
    raise TypeError("no FLOP count for %r" % (model,))


#: Kept for callers of the three-model bench.
forward_flop_per_example = dense_flop_per_example


class Data:
    """The splits, their shared variables (made once, shared by every dltut side) and the
    PyTorch tensors."""

    def __init__(self, splits):
        self.splits = splits
        self._shared = None
        (tx, ty), (vx, vy), _ = splits
        self.n_in = tx.shape[1]
        self.n_train = len(ty)
        self.train_np = tx

    @property
    def shared(self):
        if self._shared is None:
            from dltut.data import shared_datasets
            self._shared = shared_datasets(self.splits)
        return self._shared

    def tensors(self, torch):
        (tx, ty), (vx, vy), _ = self.splits
        return (torch.from_numpy(tx), torch.from_numpy(ty.astype("int64")),
                torch.from_numpy(vx), torch.from_numpy(vy.astype("int64")))


def snapshot(variables):
    return [v.get_value(borrow=False) for v in variables]


def restore(variables, values):
    for variable, value in zip(variables, values):
        variable.set_value(value.copy())


def numpy_reconstruction_cost(x, W, b, b_prime):
    """Mean over the rows of the noise-free reconstruction cross-entropy, float64."""
    import numpy
    x, W = numpy.asarray(x, "float64"), numpy.asarray(W, "float64")
    h = 1 / (1 + numpy.exp(-(x @ W + b)))
    a = h @ W.T + b_prime
    # -[x log s(a) + (1-x) log(1-s(a))] = softplus(a) - x a
    return float(numpy.mean((numpy.logaddexp(0, a) - x * a).sum(1)))


class DltutSide:
    """One model of dltut, built and compiled the way its script does it.

    Attributes: ``name``, ``label``, ``model`` (for the label and the work), ``batch_size``,
    ``n_batches`` (a whole epoch), ``gflop`` (per epoch), ``compile_seconds``, ``sampling``
    (its updates draw random numbers), ``initial`` (the trained parameters' values, in the
    order the PyTorch model takes them).
    """
    sampling = False

    def reset(self):
        restore(self.shared, self.initial_shared)

    def statistic(self, params):
        """The after-epoch figure from the trained parameters (numpy, dltut's order)."""
        raise NotImplementedError


class Supervised(DltutSide):
    """A classifier's ``train_model`` from ``compile_functions``: the first chapters' scripts
    (``conv_implementation``: LeNetConvPoolLayer's, None for the default) or an SdA's/DBN's
    fine-tuning (``stack``: the built :class:`Stack`)."""

    def __init__(self, name, data, conv_implementation=None, stack=None):
        import theano.tensor as T
        from dltut import layers
        from dltut.cli import supervised as experiment
        from dltut.training import compile_functions
        self.name, self.label = name, MODELS[name]["label"]
        if stack is not None:
            self.model, self.fns, self.config = stack.model, stack.compiled, stack.config
            self.compile_seconds = stack.compile_seconds
            self.activation = "sigmoid"
        else:
            exp = MODELS[name]["experiment"]
            _, args = experiment.parse(exp, [])
            self.config = experiment.train_config(args)
            side = int(round(data.n_in ** 0.5))
            x, y = T.matrix("x"), T.ivector("y")
            saved, layers.CONV_IMPLEMENTATION = layers.CONV_IMPLEMENTATION, conv_implementation
            try:
                self.model = experiment.build(exp, args, x, data.n_in, 10, (side, side))
            finally:
                layers.CONV_IMPLEMENTATION = saved
            self.fns = compile_functions(self.model, x, y, data.shared, self.config)
            self.compile_seconds = self.fns.compile_seconds
            self.activation = getattr(args, "activation", "tanh")
        self.kind = "LeNet5" if type(self.model).__name__ == "LeNet5" else (
            "LogisticRegression" if type(self.model).__name__ == "LogisticRegression" else "MLP")
        self.batch_size = self.fns.batch_size
        self.n_batches = self.fns.n_train_batches
        self.gflop = 3 * dense_flop_per_example(self.model) * self.n_batches * self.batch_size / 1e9
        self.shared = list(self.fns.params)
        self.initial_shared = snapshot(self.shared)
        self.initial = self.initial_shared

    def epoch(self, n_batches):
        train_model = self.fns.train_model
        start = time.perf_counter()
        for index in range(n_batches):
            train_model(index)
        return time.perf_counter() - start

    def first_costs(self, n):
        self.reset()
        costs = [[float(self.fns.train_model(i))] for i in range(n)]
        self.reset()
        return costs

    def agreement_note(self):
        return "minibatch costs"

    def torch_model(self, torch):
        import torch_models
        c = self.config
        return torch_models.Classifier(torch, self.initial, c.learning_rate, self.kind,
                                       activation=self.activation, L1=c.L1_reg, L2=c.L2_reg)

    def params_now(self):
        return [p.get_value(borrow=False) for p in self.fns.params]

    def validation_error(self):
        from dltut.training import evaluate
        return evaluate(self.fns, "valid")[1]

    def statistic_name(self):
        return "validation error"


class Stack:
    """An SdA or DBN built by its recipe (``Stack.build``) from the script's flags ``argv``
    (none: the defaults): the model, its pre-training layers and its compiled fine-tuning
    functions, once for both of its benchmarks."""
    _built = {}

    @classmethod
    def get(cls, name, data, argv=()):
        key = (name, tuple(argv))
        if key not in cls._built:
            cls._built[key] = cls(name, data, argv)
        return cls._built[key]

    def __init__(self, name, data, argv=()):
        from dltut.cli import pretrain
        from dltut.cli.layerwise import sda_train_config
        recipe = pretrain.RECIPES[name]
        _, self.args = pretrain.parse(name, list(argv))
        n_batches = data.n_train // self.args.batch_size
        self.config = sda_train_config(self.args, n_batches, recipe.patience_epochs)
        started = time.perf_counter()
        self.model, self.layers, self.compiled = recipe.build(
            self.args, data.shared, data.n_in, 10, self.config, lambda *a, **k: None)
        self.compile_seconds = time.perf_counter() - started


class Pretrain(DltutSide):
    """Layer 0 of a later chapter's pre-training, as its recipe builds it, trained by the
    scripts' :class:`dltut.training.Pretrainer` for one epoch."""

    def __init__(self, name, data, argv=()):
        import theano
        import theano.tensor as T
        from dltut.cli import pretrain
        self.name, self.label = name, MODELS[name]["label"]
        self.data = data
        recipe_name = MODELS[name]["recipe"]
        recipe = pretrain.RECIPES[recipe_name]
        started = time.perf_counter()
        self.exact_layer = None         # a noise-free function for the agreement, when needed
        self.fe_fn = None
        train_x = data.shared[0][0]
        if recipe_name in ("dA", "cA"):
            _, args = pretrain.parse(recipe_name, list(argv))
            x = T.matrix("x")
            models, layers = recipe.layers(args, x, train_x, data.n_in)
            if recipe_name == "dA":     # the tutorial's two dAs: 0 % and 30 %, same weights
                levels = list(args.corruption_level)
                timed = levels.index(max(levels))
                self.corruption = levels[timed]
                self.exact_layer = layers[levels.index(0.0)] if 0.0 in levels else None
            else:
                timed = 0
                self.contraction = args.contraction_level
            self.model, self.layer = models[timed], layers[timed]
            self.family = "autoencoder"
        elif recipe_name == "rbm":
            _, args = pretrain.parse(recipe_name, [])
            x = T.matrix("x")
            self.model, _, self.layer = recipe.layer(args, x, train_x, data.n_in)
            self.family, self.k, self.persistent = "rbm", args.k, not args.cd
        else:                           # SdA, DBN: layer 0 of the stack
            stack = Stack.get(recipe_name, data, argv)
            args = stack.args
            self.layer = stack.layers[0]
            if recipe_name == "SdA":
                self.model = stack.model.dA_layers[0]
                self.family = "autoencoder"
                self.corruption = args.corruption_levels[0]
                fn = self.layer.train_fn.func       # functools.partial(fn, corruption=, lr=)
                self.exact_fn = lambda i, fn=fn, lr=args.pretrain_lr: fn(i, corruption=0.0, lr=lr)
            else:
                self.model = stack.model.rbm_layers[0]
                self.family, self.k, self.persistent = "rbm", args.k, False
        self.args = args
        self.compile_seconds = time.perf_counter() - started
        self.batch_size = args.batch_size
        self.learning_rate = getattr(args, "pretrain_lr", None) or args.learning_rate
        self.n_batches = data.n_train // self.batch_size
        self.sampling = self.family == "rbm" or getattr(self, "corruption", 0) > 0
        nv, nh = self.model.n_visible, self.model.n_hidden
        if self.family == "autoencoder":
            per_example = 3 * 4 * nv * nh
        else:
            products = 4 + 2 * self.k + (2 if self.persistent else 0)
            per_example = products * 2 * nv * nh
        self.gflop = per_example * self.n_batches * self.batch_size / 1e9
        self.shared = list(self.layer.shared)
        self.initial_shared = snapshot(self.shared)
        self.initial = snapshot(self.layer.params)
        if self.exact_layer is not None:
            self.exact_initial = snapshot(self.exact_layer.shared)
        if self.family == "rbm":
            B = self.batch_size
            self.fe_fn = theano.function([], T.mean(self.model.free_energy(train_x[0:B])),
                                         name="first_minibatch_free_energy")

    def epoch(self, n_batches):
        from dltut.training import Pretrainer
        pretrainer = Pretrainer([self.layer], n_batches, 1, log=None, progress=False)
        start = time.perf_counter()
        result = pretrainer.run()
        seconds = time.perf_counter() - start
        if result.stopped_by != "n_epochs":
            raise RuntimeError("%s: the timed pre-training epoch stopped by %s (%s)"
                               % (self.name, result.stopped_by, result.divergence))
        return seconds

    @staticmethod
    def _floats(value):
        import numpy
        return [float(v) for v in numpy.atleast_1d(numpy.asarray(value))]

    def first_costs(self, n):
        """The first ``n`` minibatches' costs from the initial parameters, noise-free where
        the timed function corrupts (see :meth:`agreement_note`)."""
        self.reset()
        if self.exact_layer is not None:          # the 0 % dA, from the same weights
            restore(self.exact_layer.shared, self.exact_initial)
            costs = [self._floats(self.exact_layer.train_fn(i)) for i in range(n)]
            restore(self.exact_layer.shared, self.exact_initial)
        elif getattr(self, "exact_fn", None) is not None:
            costs = [self._floats(self.exact_fn(i)) for i in range(n)]
        else:
            costs = [self._floats(self.layer.train_fn(i)) for i in range(n)]
        self.reset()
        return costs

    @property
    def noise_free(self):
        """The agreement's costs come from a corruption-0 function (see first_costs)."""
        return self.exact_layer is not None or getattr(self, "exact_fn", None) is not None

    def agreement_note(self):
        if self.family == "rbm":
            return ("the first cost (pseudo-likelihood, from the initial parameters; later "
                    "ones are sampled)" if self.persistent else
                    "reconstruction costs (sampled: not compared)")
        if getattr(self, "exact_fn", None) is not None:
            return "minibatch costs of the same function with corruption=0"
        if self.exact_layer is not None:
            return "minibatch costs of the script's 0 % dA (same initial weights)"
        return "minibatch costs"

    def compared_costs(self):
        """How many of the first costs are deterministic on both sides."""
        if self.family == "rbm":
            return 1 if self.persistent else 0
        return AGREE_BATCHES

    def first_free_energy(self):
        self.reset()
        value = float(self.fe_fn())
        return value

    def torch_model(self, torch):
        import torch_models
        if self.family == "rbm":
            return torch_models.RBMModel(torch, self.initial, self.learning_rate, self.k,
                                         self.persistent, self.batch_size)
        if hasattr(self, "contraction"):
            return torch_models.ContractiveAutoencoder(torch, self.initial, self.learning_rate,
                                                       self.contraction)
        return torch_models.DenoisingAutoencoder(torch, self.initial, self.learning_rate,
                                                 self.corruption)

    def params_now(self):
        return [p.get_value(borrow=False) for p in self.layer.params]

    def statistic_name(self):
        return ("mean free energy" if self.family == "rbm"
                else "noise-free reconstruction cost") + \
            " of the first %d training images" % STAT_EXAMPLES

    def statistic(self, params):
        import torch_models
        x = self.data.train_np[:STAT_EXAMPLES]
        if self.family == "rbm":
            return float(torch_models.free_energy_numpy(x, *params).mean())
        return numpy_reconstruction_cost(x, *params)


def openblas_threads():
    """``(set, get)`` of the OpenBLAS that Theano's modules link (``-lopenblas``), or None."""
    import ctypes
    import ctypes.util
    for name in ("libopenblas.so.0", "libopenblas.so", ctypes.util.find_library("openblas")):
        if not name:
            continue
        try:
            lib = ctypes.CDLL(name)
            return lib.openblas_set_num_threads, lib.openblas_get_num_threads
        except (OSError, AttributeError):
            continue
    return None


class BlasThreads:
    """dltut's side again with its OpenBLAS limited to ``threads`` threads during its epochs
    (``openblas_set_num_threads``): what ``OPENBLAS_NUM_THREADS=1`` gives, in the same
    alternation.  It trains the same shared variables as the side it wraps."""

    def __init__(self, side, threads, setter):
        self.side, self.threads, (self.set, self.get) = side, threads, setter

    def epoch(self, n_batches):
        saved = self.get()
        self.set(self.threads)
        try:
            return self.side.epoch(n_batches)
        finally:
            self.set(saved)

    def reset(self):
        self.side.reset()


class TorchSide:
    """One PyTorch setting of a model: eager or ``torch.compile``d, with ``threads`` threads."""

    def __init__(self, torch, model, tensors, batch_size, threads, compiled):
        self.torch, self.model, self.threads, self.compiled = torch, model, threads, compiled
        self.train_x, self.train_y, self.valid_x, self.valid_y = tensors
        self.batch = batch_size
        self.compile_seconds = None
        torch.set_num_threads(threads)
        self.step = torch.compile(model.step) if compiled else model.step

    def warm_up(self, n_batches):
        """The first calls (for ``compile``: tracing and compiling, timed as its compile
        time), then back to the initial values."""
        self.reset()
        self.torch.set_num_threads(self.threads)
        start = time.perf_counter()
        self.run(n_batches)
        if self.compiled:
            self.compile_seconds = time.perf_counter() - start
        self.reset()

    def run(self, n_batches):
        step, B, x, y = self.step, self.batch, self.train_x, self.train_y
        for index in range(n_batches):
            step(x[index * B:(index + 1) * B], y[index * B:(index + 1) * B])

    def epoch(self, n_batches):
        self.torch.set_num_threads(self.threads)
        start = time.perf_counter()
        self.run(n_batches)
        return time.perf_counter() - start

    def reset(self):
        self.model.reset()

    def params_now(self):
        return self.model.numpy_params()

    def validation_error(self):
        return self.model.errors(self.valid_x, self.valid_y) / len(self.valid_y)


def torch_first_costs(side, dltut_side, n):
    """The eager model's first ``n`` costs from the initial values, noise-free where the
    dltut side's are (corruption 0)."""
    model = side.model
    model.reset()
    saved = getattr(model, "corruption", None)
    if saved is not None and getattr(dltut_side, "noise_free", False):
        model.corruption = 0.0
    B = side.batch
    try:
        costs = []
        for i in range(n):
            out = model.step(side.train_x[i * B:(i + 1) * B], side.train_y[i * B:(i + 1) * B])
            out = out if isinstance(out, tuple) else (out,)
            costs.append([float(o) for o in out])
    finally:
        if saved is not None:
            model.corruption = saved
        model.reset()
    return costs


def close(a, b, rtol):
    return abs(a - b) <= rtol * max(abs(a), abs(b), 1e-12)


def agreement(dltut_side, eager, n):
    """The first numbers of both sides: ``{"what", "dltut", "torch", "compared", "agree"}``
    (and, for the RBMs, the first minibatch's free energy through each side's graph)."""
    d = dltut_side.first_costs(n)
    t = torch_first_costs(eager, dltut_side, n)
    compared = dltut_side.compared_costs() if hasattr(dltut_side, "compared_costs") else n
    ok = all(close(a, b, RTOL_COSTS) for row_d, row_t in zip(d[:compared], t[:compared])
             for a, b in zip(row_d, row_t))
    out = {"what": dltut_side.agreement_note(), "dltut": d, "torch": t, "compared": compared,
           "rtol": RTOL_COSTS, "agree": bool(ok)}
    if getattr(dltut_side, "fe_fn", None) is not None:
        fe_d = dltut_side.first_free_energy()
        model = eager.model
        model.reset()
        with eager.torch.no_grad():
            fe_t = float(model.free_energy(eager.train_x[:dltut_side.batch_size]).mean())
        out["free_energy_first_minibatch"] = {"dltut": fe_d, "torch": fe_t,
                                              "agree": close(fe_d, fe_t, RTOL_COSTS)}
        out["agree"] = out["agree"] and out["free_energy_first_minibatch"]["agree"]
        dltut_side.reset()
    return out


def after_epoch_agrees(stats, sampled):
    """``(ok, rule)``: the after-epoch statistic of dltut against the PyTorch settings'.
    Deterministic models: each (and each of dltut's opt-in variants) within RTOL_STAT of
    dltut's (a validation error: within 0.5 % of the examples).  Sampling models: every PyTorch setting draws with its own
    seed, so their values are a small sample of the statistic's distribution; dltut's must
    lie within 3 standard deviations of their mean (at least RTOL_STAT of it)."""
    d = stats["dltut"]
    others = [v for k, v in stats.items() if k.startswith("torch")]
    if not sampled:     # dltut's opt-in variants (e.g. dltut_factorised) must agree too
        others += [v for k, v in stats.items() if k.startswith("dltut_")]
        if all(0 <= v <= 1 for v in stats.values()):   # error rates
            return all(abs(d - v) <= 0.005 for v in others), "within 0.5 % of the examples"
        return all(close(d, v, RTOL_STAT) for v in others), "within %g %%" % (100 * RTOL_STAT)
    mean = statistics.mean(others)
    spread = statistics.stdev(others) if len(others) > 1 else 0.0
    width = max(3 * spread, RTOL_STAT * abs(mean))
    return abs(d - mean) <= width, ("sampled: within 3 sd of the PyTorch seeds' mean, "
                                    "%.4g +- %.3g" % (mean, width))


def bench_model(name, data, torch, thread_counts, epochs, quick, say, theano_conv=False,
                compile_torch=True, batches=None, dltut_threads=()):
    import theano
    spec = MODELS[name]
    if spec["kind"] == "supervised":
        dl = Supervised(name, data)
    elif spec["kind"] == "finetune":
        dl = Supervised(name, data, stack=Stack.get(spec["recipe"], data))
    else:
        dl = Pretrain(name, data)
    sides = [("dltut", dl)]
    if theano_conv and getattr(dl, "kind", None) == "LeNet5":
        sides.append(("dltut_theano_conv", Supervised(name, data, "theano")))
    for label, argv in OPT_INS.get(name, {}).items():   # dltut's opt-in variants
        sides.append((label, Supervised(name, data, stack=Stack.get(spec["recipe"], data, argv))
                      if spec["kind"] == "finetune" else Pretrain(name, data, argv)))
    setter = openblas_threads() if dltut_threads else None
    for threads in dltut_threads if setter else ():
        sides.append(("dltut_blas%d" % threads, BlasThreads(dl, threads, setter)))
    tensors = data.tensors(torch)
    torch_sides = []
    for compiled in ((False, True) if compile_torch else (False,)):
        for threads in thread_counts:
            label = "torch%d%s" % (threads, "_compile" if compiled else "")
            model = dl.torch_model(torch)
            model.seed += len(torch_sides)      # each setting its own draws (see after_epoch)
            side = TorchSide(torch, model, tensors, dl.batch_size, threads, compiled)
            torch_sides.append((label, side))
    sides += torch_sides
    n_full = dl.n_batches
    cap = batches or (spec["quick_batches"] if quick else spec["batches"])
    n_batches = min(n_full, cap) if cap else n_full
    scale = n_full / n_batches
    say("%s: %s, %d minibatches of %d%s; dltut built and compiled in %.1f s; "
        "%.2f GFLOP per epoch" % (name, dl.label, n_full, dl.batch_size,
                                  " (timing %d, scaled up x%.1f)" % (n_batches, scale)
                                  if n_batches < n_full else "", dl.compile_seconds, dl.gflop))
    # the first numbers, from the same start
    agree = agreement(dl, torch_sides[0][1], min(AGREE_BATCHES, n_batches))
    say("  first costs (%s): dltut %s | PyTorch %s -> %s" % (
        agree["what"], fmt_rows(agree["dltut"]), fmt_rows(agree["torch"]),
        "agree" if agree["agree"] else "DIFFER"))
    if "free_energy_first_minibatch" in agree:
        fe = agree["free_energy_first_minibatch"]
        say("  free energy of the first minibatch, initial parameters: dltut %.6g, PyTorch "
            "%.6g" % (fe["dltut"], fe["torch"]))
    warm = min(WARMUP_BATCHES, n_batches)
    compile_seconds = {}
    for label, side in sides:       # first-call costs (and torch.compile) out of the way
        if isinstance(side, TorchSide):
            side.warm_up(warm)
            if side.compiled:
                compile_seconds[label] = side.compile_seconds
                say("  %s: torch.compile + %d steps: %.1f s" % (label, warm, side.compile_seconds))
        else:
            side.epoch(warm)
            side.reset()
    times = {label: [] for label, _ in sides}
    errors = {}
    for e in range(epochs):
        for label, side in (sides if e % 2 == 0 else sides[::-1]):
            side.reset()
            times[label].append(side.epoch(n_batches) * scale)
        if e == 0 and isinstance(dl, Supervised):
            errors = {label: side.validation_error() for label, side in sides
                      if not isinstance(side, BlasThreads)}
            errors["epoch_batches"] = n_batches
        say("  epoch %d: %s" % (e + 1, ", ".join("%s %.3f s" % (label, times[label][-1])
                                                  for label, _ in sides)))
    # after the last epoch each side holds the parameters of one (timed) epoch from the start
    owners = [(label, side) for label, side in sides if not isinstance(side, BlasThreads)]
    if len(owners) < len(sides):    # dltut's parameters may hold a BlasThreads epoch: redo it
        dl.reset()
        dl.epoch(n_batches)
    if isinstance(dl, Supervised):
        stats = {label: side.validation_error() for label, side in owners}
    else:
        stats = {label: dl.statistic(side.params_now()) for label, side in owners}
    stat_ok, stat_rule = after_epoch_agrees(stats, dl.sampling)
    say("  after the epoch, %s: %s -> %s (%s)" % (dl.statistic_name(), ", ".join(
        "%s %.6g" % kv for kv in stats.items()), "agree" if stat_ok else "DIFFER", stat_rule))
    for _, side in sides:
        side.reset()
    res = {"label": dl.label, "model": repr(dl.model), "batch_size": dl.batch_size,
           "n_batches": n_full, "timed_batches": n_batches, "scaled_by": scale,
           "gflop_per_epoch": dl.gflop, "compile_seconds_in_process": dl.compile_seconds,
           "floatX": theano.config.floatX, "torch_threads": list(thread_counts),
           "torch_compile_seconds": compile_seconds, "first_costs": agree,
           "after_epoch": {"statistic": dl.statistic_name(), "values": stats,
                           "rule": stat_rule, "sampled": dl.sampling, "agree": stat_ok}}
    if errors:
        res["first_epoch_valid_error"] = errors
    for label in times:
        res[label] = {"epochs": times[label], "min": min(times[label]),
                      "median": statistics.median(times[label])}
    torch_labels = [label for label, _ in torch_sides]
    main_torch = "torch%d" % thread_counts[0]
    best_torch = min(torch_labels, key=lambda label: res[label]["min"])
    best_eager = min((l for l in torch_labels if not l.endswith("_compile")),
                     key=lambda label: res[label]["min"])
    res["best_torch"] = best_torch
    res["best_torch_eager"] = best_eager
    res["ratio_min"] = res["dltut"]["min"] / res[main_torch]["min"]
    res["ratio_best_torch"] = res["dltut"]["min"] / res[best_torch]["min"]
    res["ratio_best_torch_median"] = res["dltut"]["median"] / res[best_torch]["median"]
    res["ratio_best_torch_eager"] = res["dltut"]["min"] / res[best_eager]["min"]
    for label in times:         # e.g. ratio_best_torch_blas1: dltut with one OpenBLAS thread
        if label.startswith("dltut_"):
            res["ratio_best_torch_" + label[len("dltut_"):]] = \
                res[label]["min"] / res[best_torch]["min"]
    if compile_torch:
        torch._dynamo.reset()
    return res


def fmt_rows(rows):
    return " ".join("/".join("%.6g" % v for v in row) for row in rows)


# --------------------------------------------------------------------------- compile timing
def compile_child(experiment_name):
    """Child process: import dltut/Theano, build one script's model on small synthetic data of
    the script's shapes, compile its functions; print a JSON line of timings."""
    start = time.perf_counter()
    import dltut  # noqa: F401
    import theano
    import theano.tensor as T
    imported = time.perf_counter() - start
    import numpy
    from dltut.cli import supervised as experiment
    from dltut.data import shared_datasets, synthetic_dataset
    from dltut.training import compile_functions
    _, args = experiment.parse(experiment_name, [])
    config = experiment.train_config(args)
    # the compiled graph depends on the batch size and on whether the 10000-example sets end
    # in a partial batch, not on the number of training examples
    splits = synthetic_dataset(numpy.random.RandomState(0), 2 * config.batch_size, 10000, 10000)
    datasets = shared_datasets(splits)
    built = time.perf_counter()         # data making is not compiling: time from here
    x, y = T.matrix("x"), T.ivector("y")
    model = experiment.build(experiment_name, args, x, 784, 10, (28, 28))
    fns = compile_functions(model, x, y, datasets, config)
    build_and_compile = time.perf_counter() - built
    print(json.dumps({"import": imported, "compile": build_and_compile,
                      "compile_functions": fns.compile_seconds,
                      "total": imported + build_and_compile,
                      "compiledir": theano.config.compiledir}))


def time_compiles(names, say):
    """Cold (empty base_compiledir) and warm (the same again) compile of each script."""
    out = {}
    for name in names:
        with tempfile.TemporaryDirectory(prefix="dltut-compile-") as tmp:
            env = dict(os.environ)
            env["THEANO_FLAGS"] = env.get("THEANO_FLAGS", "").strip(",") + \
                ",base_compiledir=" + tmp
            row = {}
            for kind in ("cold", "warm"):
                proc = subprocess.run(
                    [sys.executable, os.path.abspath(__file__), "--compile-child",
                     MODELS[name]["experiment"]], env=env, capture_output=True, text=True)
                if proc.returncode:
                    tail = (proc.stderr.strip().splitlines() or ["exit %d" % proc.returncode])[-1]
                    row[kind] = {"error": tail}
                else:
                    row[kind] = json.loads(proc.stdout.strip().splitlines()[-1])
                say("  compile %s %s: %s" % (name, kind, row[kind]))
            out[name] = row
    return out


# --------------------------------------------------------------------------- report
def yes_no(ok):
    return "yes" if ok else "NO"


def torch_label(label):
    """'torch2_compile' -> 'compile 2t'."""
    threads, _, how = label[len("torch"):].partition("_")
    return "%s %st" % ("compile" if how else "eager", threads)


def report(results, peak, compiles, meta):
    peak_best = max(peak.values())
    lines = []
    lines.append("dltut vs PyTorch %s on %s (%d CPUs, load average %.1f at the start, %.1f at "
                 "the end); data: %s; float32; %d epochs each%s"
                 % (meta["torch"], meta["cpu"], meta["cpus"], meta["load_start"],
                    meta["load_end"], meta["data"], meta["epochs"],
                    ", QUICK (epochs cut to a few minibatches, scaled up)" if meta["quick"] else ""))
    lines.append("blas.ldflags=%r  %s  openmp=%s  sgemm 2048^3 peak: %s -> %.0f GFLOP/s"
                 % (meta["ldflags"], " ".join("%s=%s" % kv for kv in meta["blas_env"].items()),
                    meta["openmp"], ", ".join("%s %.0f" % kv for kv in peak.items()), peak_best))
    lines.append("")
    first = next(iter(results.values())) if results else {}
    torch_cols = [label for label in first if label.startswith("torch") and
                  isinstance(first[label], dict) and "min" in first[label]]
    lines.append("Seconds per epoch, min (median) of the alternated epochs; * = timed over part "
                 "of the epoch and scaled up")
    lines.append("")
    lines.append("| model | dltut | %s | best PyTorch | dltut / best | dltut GFLOP/s (%% peak) | "
                 "best PyTorch GFLOP/s (%% peak) | <= %.1fx (floor) | <= %.1fx (goal) |"
                 % (" | ".join("PyTorch %s" % torch_label(c) for c in torch_cols),
                    TARGET_FLOOR, TARGET_GOAL))
    lines.append("|" + " --- |" * (8 + len(torch_cols)))
    for name, r in results.items():
        best = r["best_torch"]
        d_rate = r["gflop_per_epoch"] / r["dltut"]["min"]
        t_rate = r["gflop_per_epoch"] / r[best]["min"]
        r["dltut_gflops"], r["best_torch_gflops"] = d_rate, t_rate
        r["dltut_peak_share"], r["best_torch_peak_share"] = d_rate / peak_best, t_rate / peak_best
        r["targets_met"] = {t: r["ratio_best_torch"] <= t for t in (TARGET_FLOOR, TARGET_GOAL)}
        cells = ["%.3f (%.3f)" % (r[c]["min"], r[c]["median"]) if c in r else "-"
                 for c in torch_cols]
        lines.append("| %s%s | %.3f (%.3f) | %s | %s | %.2f (%.2f) | %.1f (%.0f %%) | "
                     "%.1f (%.0f %%) | %s | %s |"
                     % (r["label"], " *" if r["timed_batches"] < r["n_batches"] else "",
                        r["dltut"]["min"], r["dltut"]["median"], " | ".join(cells),
                        torch_label(best), r["ratio_best_torch"], r["ratio_best_torch_median"],
                        d_rate, 100 * d_rate / peak_best, t_rate, 100 * t_rate / peak_best,
                        yes_no(r["targets_met"][TARGET_FLOOR]),
                        yes_no(r["targets_met"][TARGET_GOAL])))
        extra = [(k, "Theano's conv2d (before dltut.conv)" if k == "dltut_theano_conv" else
                  OPT_IN_LABELS[k] if k in OPT_IN_LABELS else
                  "dltut with %s OpenBLAS thread(s)" % k[len("dltut_blas"):])
                 for k in r if k.startswith("dltut_") and isinstance(r[k], dict) and "min" in r[k]]
        for key, what in extra:
            old = r[key]
            old_ratio = old["min"] / r[best]["min"]
            lines.append("| %s, %s | %.3f (%.3f) | %s | | "
                         "%.2f (%.2f) | %.1f (%.0f %%) | | %s | %s |"
                         % (r["label"], what, old["min"], old["median"],
                            " | ".join("" for _ in torch_cols), old_ratio,
                            old["median"] / r[best]["median"], r["gflop_per_epoch"] / old["min"],
                            100 * r["gflop_per_epoch"] / old["min"] / peak_best,
                            yes_no(old_ratio <= TARGET_FLOOR), yes_no(old_ratio <= TARGET_GOAL)))
    lines.append("")
    scaled = ["%s %d of %d" % (n, r["timed_batches"], r["n_batches"]) for n, r in results.items()
              if r["timed_batches"] < r["n_batches"]]
    if scaled:
        lines.append("* Minibatches timed per epoch, scaled up to the whole epoch: %s."
                     % ", ".join(scaled))
    lines.append("Work: dense products' multiply-adds x 2 per epoch (%s GFLOP). Ratios and "
                 "GFLOP/s from the min epochs (in brackets: from the medians); the targets are "
                 "checked against the fastest PyTorch setting (eager or torch.compile, any "
                 "thread count)." % ", ".join("%s %.2f" % (n, r["gflop_per_epoch"])
                                              for n, r in results.items()))
    met = [n for n, r in results.items() if r["targets_met"][TARGET_GOAL]]
    floor = [n for n, r in results.items() if r["targets_met"][TARGET_FLOOR]]
    lines.append("Targets: <= %.1fx (goal) %d of %d (%s); <= %.1fx (floor) %d of %d (%s)."
                 % (TARGET_GOAL, len(met), len(results), ", ".join(met) or "none",
                    TARGET_FLOOR, len(floor), len(results), ", ".join(floor) or "none"))
    opt_ins = ["%s %s %.2fx" % (n, OPT_IN_LABELS[k].replace("dltut with ", ""),
                                r[k]["min"] / r[r["best_torch"]]["min"])
               for n, r in results.items() for k in OPT_IN_LABELS if k in r]
    if opt_ins:
        lines.append("dltut's opt-in variants (not the tutorial's rounding; the targets take the "
                     "default): %s." % ", ".join(opt_ins))
    if "lenet" in results:
        share = results["lenet"]["dltut_peak_share"]
        lines.append("LeNet5 at >= %d %% of the sgemm peak: %s (%.0f %%)"
                     % (100 * TARGET_LENET_PEAK, yes_no(share >= TARGET_LENET_PEAK), 100 * share))
    compile_cols = [c for c in torch_cols if c.endswith("_compile")]
    if compile_cols:
        lines.append("")
        lines.append("| model | dltut build + compile s (in process) | %s |"
                     % " | ".join("torch.compile %s: compile + %d steps, s"
                                  % (torch_label(c).split()[1], WARMUP_BATCHES)
                                  for c in compile_cols))
        lines.append("|" + " --- |" * (2 + len(compile_cols)))
        for name, r in results.items():
            lines.append("| %s | %.1f | %s |" % (name, r["compile_seconds_in_process"], " | ".join(
                "%.1f" % r["torch_compile_seconds"].get(c, float("nan")) for c in compile_cols)))
    lines.append("")
    lines.append("| model | first numbers compared | dltut | PyTorch (eager) | agree | after the "
                 "timed epoch | dltut | PyTorch (each setting) | agree |")
    lines.append("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, r in results.items():
        a, s = r["first_costs"], r["after_epoch"]
        d_rows, t_rows = fmt_rows(a["dltut"][:3]), fmt_rows(a["torch"][:3])
        what = a["what"]
        if "free_energy_first_minibatch" in a:
            fe = a["free_energy_first_minibatch"]
            what += "; free energy of minibatch 1 at the start"
            d_rows += "; F %.6g" % fe["dltut"]
            t_rows += "; F %.6g" % fe["torch"]
        values = s["values"]
        lines.append("| %s | %s | %s | %s | %s | %s (%s) | %.6g | %s | %s |" % (
            name, what, d_rows, t_rows, yes_no(a["agree"]), s["statistic"], s["rule"],
            values["dltut"],
            ", ".join("%.6g" % v for k, v in values.items() if k.startswith("torch")),
            yes_no(s["agree"])))
    if compiles:
        lines.append("")
        lines.append("| script | cold: import + build/compile = total s | warm: import + build/compile = "
                     "total s | cold build/compile <= %.0f s | warm build/compile <= %.0f s |"
                     % (TARGET_COLD_COMPILE, TARGET_WARM_COMPILE))
        lines.append("| --- | --- | --- | --- | --- |")
        for name, row in compiles.items():
            cells = []
            for kind in ("cold", "warm"):
                c = row[kind]
                cells.append("failed: %s" % c["error"] if "error" in c else
                             "%.1f + %.1f = %.1f" % (c["import"], c["compile"], c["total"]))
            ok = [("error" not in row[k]) and row[k]["compile"] <= limit
                  for k, limit in (("cold", TARGET_COLD_COMPILE), ("warm", TARGET_WARM_COMPILE))]
            lines.append("| %s | %s | %s | %s | %s |" % (MODELS[name]["experiment"] + ".py",
                                                          cells[0], cells[1], yes_no(ok[0]),
                                                          yes_no(ok[1])))
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--models", default=DEFAULT_MODELS,
                        help="comma-separated subset of %s (SdA and DBN time their layer-0 "
                             "pre-training and their fine-tuning; SdA-finetune and DBN-finetune "
                             "alone also work)" % DEFAULT_MODELS)
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs of each side")
    parser.add_argument("--quick", action="store_true",
                        help="time only the first few minibatches of each epoch (scaled up to a "
                             "full epoch) and skip the compile timing unless --compile is given")
    parser.add_argument("--batches", type=int, default=None,
                        help="minibatches timed per epoch (scaled up), for every model; default: "
                             "each model's own (the whole epoch for the first chapters and the "
                             "dA, a part for the longer ones)")
    parser.add_argument("--compile", choices=("auto", "yes", "no"), default="auto",
                        help="time cold and warm compiles of the supervised scripts in "
                             "subprocesses (auto: unless --quick)")
    parser.add_argument("--torch-compile", choices=("yes", "no"), default="yes",
                        help="also time PyTorch through torch.compile of the step function")
    parser.add_argument("--data", choices=("auto", "mnist", "synthetic"), default="auto",
                        help="auto: data/mnist.pkl.gz if present, else synthetic data")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON here")
    parser.add_argument("--torch-threads", default="1",
                        help="PyTorch thread counts timed besides os.cpu_count() (comma-separated; "
                             "'' for none): with small operations and any other load on the "
                             "machine, one thread can be several times faster")
    parser.add_argument("--dltut-threads", default="1",
                        help="also time dltut with its OpenBLAS limited to these thread counts "
                             "(comma-separated, '' for none; openblas_set_num_threads), in the "
                             "same alternation: extra rows (what OPENBLAS_NUM_THREADS=1 would "
                             "give), not used for the targets, which take dltut as its scripts "
                             "run")
    parser.add_argument("--theano-conv", action="store_true",
                        help="also time LeNet5 with Theano's conv2d (LeNetConvPoolLayer's "
                             "implementation='theano', the graph before dltut.conv), in the same "
                             "alternation")
    parser.add_argument("--compile-child", metavar="EXPERIMENT", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    use_float32()
    if args.compile_child:
        compile_child(args.compile_child)
        return 0
    asked = [n.strip() for n in args.models.split(",") if n.strip()]
    unknown = [n for n in asked if n not in CHOICES]
    if unknown or not asked:
        parser.error("--models: unknown %s; choose from %s" % (unknown, ",".join(CHOICES)))
    names = []
    for n in asked:
        names += [m for m in CHOICES[n] if m not in names]
    if args.epochs < 1:
        parser.error("--epochs must be >= 1")
    if args.batches is not None and args.batches < 1:
        parser.error("--batches must be >= 1")

    import dltut  # noqa: F401  (BLAS set-up before numpy and Theano load)
    from dltut.runtime import setup
    from dltut.runtime.blas import BLAS_ENV_VARS
    import theano
    torch = import_torch()
    compile_torch = args.torch_compile == "yes"
    if compile_torch:
        import torch._dynamo
        # one compiled step per model and thread count: more than Dynamo's default keeps
        torch._dynamo.config.cache_size_limit = 64

    def say(text):
        print(text, file=sys.stderr, flush=True)

    load_start = os.getloadavg()[0]
    thread_counts = [os.cpu_count() or 1]
    for t in args.torch_threads.split(","):
        if t.strip() and int(t) not in thread_counts:
            thread_counts.append(int(t))
    splits, data_label = load_data(args.data)
    say("data: %s" % data_label)
    data = Data(splits)
    peak = measure_peak(torch)
    say("sgemm 2048^3: %s GFLOP/s" % ", ".join("%s %.0f" % kv for kv in peak.items()))
    results = {}
    for name in names:
        results[name] = bench_model(name, data, torch, thread_counts, args.epochs, args.quick,
                                    say, theano_conv=args.theano_conv,
                                    dltut_threads=[int(t) for t in args.dltut_threads.split(",")
                                                   if t.strip()],
                                    compile_torch=compile_torch, batches=args.batches)
    peak_after = measure_peak(torch)      # the load may change during the run: keep the best
    peak = {k: max(peak[k], peak_after[k]) for k in peak}
    do_compile = args.compile == "yes" or (args.compile == "auto" and not args.quick)
    supervised = [n for n in names if MODELS[n]["kind"] == "supervised"]
    compiles = time_compiles(supervised, say) if do_compile and supervised else {}

    cpu = setup.STATE["blas"]
    meta = {"torch": torch.__version__, "theano": theano.__version__,
            "cpu": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
            "data": data_label, "epochs": args.epochs, "quick": args.quick,
            "ldflags": theano.config.blas.ldflags, "openmp": theano.config.openmp,
            "blas_env": {k: os.environ[k] for k in BLAS_ENV_VARS if k in os.environ},
            "torch_threads": torch.get_num_threads(), "cpu_isa": cpu.cpu_isa,
            "torch_compile": compile_torch,
            "load_start": load_start, "load_end": os.getloadavg()[0],
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    try:
        from dltut.runtime.blas import parse_cpuinfo, read_cpuinfo
        meta["cpu"] = parse_cpuinfo(read_cpuinfo()).model_name or meta["cpu"]
    except Exception:       # only a label
        pass
    text = report(results, peak, compiles, meta)
    print(text)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"meta": meta, "peak_gflops": peak, "models": results,
                       "compile": compiles, "markdown": text}, handle, indent=2, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
