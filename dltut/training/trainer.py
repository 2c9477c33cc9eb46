"""One minibatch SGD trainer for every model: compiled functions, patience, schedules.

The data path is the tutorial's: the six datasets live in shared variables, the compiled
``train_model(index)`` slices minibatch ``index`` out of them through ``givens`` and
applies ``param <- param - learning_rate * d cost / d param`` through ``updates``.  Only
the index crosses from Python into the compiled function.

The loop (:class:`Trainer`) keeps the tutorial's early-stopping semantics by default and
adds learning-rate schedules, momentum, checkpoints, resume, Ctrl-C handling, a stop on
divergence and a progress bar.  :class:`Patience`, the schedules and :class:`TrainState`
are plain Python, each with ``state_dict()``/``load_state()``; files are the run folder's
business (:mod:`dltut.runs.rundir`): the loop only hands it records, parameters and its state.
"""
import contextlib
import dataclasses
import math
import numbers
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Optional

import numpy
import theano
import theano.tensor as T

from .. import checks
from ..init import floatX
from ..runs import checkpoint as ckpt
from ..runs.rundir import CHECKPOINT, PRETRAINING_CHECKPOINT, PRETRAINING_HISTORY, as_run_dir

SCHEDULES = ("constant", "inverse", "plateau")


# --------------------------------------------------------------------------- configuration
@dataclass(frozen=True)
class TrainConfig:
    """Hyperparameters of a training run.  The defaults are the tutorial's logistic regression."""

    learning_rate: float = 0.13        # eta0: the starting step size
    batch_size: int = 600              # examples per minibatch: 1 = online SGD, n_train = full GD
    n_epochs: int = 1000               # upper bound on passes over the training set
    L1_reg: float = 0.0                # weight of sum(|W|) in the cost (weights only, not biases)
    L2_reg: float = 0.0                # weight of sum(W**2) in the cost
    momentum: float = 0.0              # classical momentum; 0 = the tutorial's plain SGD
    patience: int = 5000               # look at this many minibatches regardless
    patience_increase: float = 2       # on a significant new best: patience = max(patience, iteration * this)
    improvement_threshold: float = 0.995  # "significant" = below best * this
    validation_frequency: int = 0      # minibatches between validations; 0 = min(n_train_batches, patience // 2)
    schedule: str = "constant"         # "constant", "inverse" (eta0 / (1 + decay * epoch)) or "plateau"
    decay: float = 0.001               # d of the "inverse" schedule
    plateau_n: int = 10                # "plateau": validations without a new best before the rate is cut
    plateau_factor: float = 2.0        # "plateau": divide the rate by this (2 halves it; 10 is common too)
    min_lr_fraction: float = 1.0 / 1024  # "plateau": stop once the rate would fall below eta0 * this

    def __post_init__(self):
        for item in dataclasses.fields(self):
            rule = CONFIG_RULES[item.name]
            try:
                rule(getattr(self, item.name), item.name)
            except (TypeError, ValueError) as error:
                raise type(error)("invalid training setting: %s" % error) from None

    def to_dict(self):
        return dataclasses.asdict(self)


#: The check of each TrainConfig field (dltut.checks's, as the command line's flags use them).
CONFIG_RULES = {
    "learning_rate": checks.positive_float, "batch_size": checks.positive_int,
    "n_epochs": checks.positive_int, "L1_reg": checks.non_negative_float,
    "L2_reg": checks.non_negative_float,
    "momentum": checks.Rule("momentum", False, lambda v: 0 <= v < 1, "in [0, 1)",
                            "give e.g. 0.9 (0: the tutorial's plain SGD)"),
    "patience": checks.positive_int, "patience_increase": checks.finite_float,
    "improvement_threshold": checks.finite_float,
    "validation_frequency": checks.non_negative_int,
    "schedule": lambda value, name: checks.one_of(value, name, SCHEDULES),
    "decay": checks.non_negative_float, "plateau_n": checks.positive_int,
    "plateau_factor": checks.Rule("plateau_factor", False, lambda v: v > 1, "> 1",
                                  "give e.g. 2 (halve the rate) or 10"),
    "min_lr_fraction": checks.Rule("min_lr_fraction", False, lambda v: 0 < v <= 1,
                                   "in (0, 1]", "give e.g. 0.001 (1/1024 by default)"),
}


# --------------------------------------------------------------------------- update rules
def sgd_updates(params, grads, learning_rate):
    """Plain SGD: ``[(param, param - learning_rate * grad), ...]``."""
    return [(param, param - learning_rate * grad) for param, grad in zip(params, grads)]


def momentum_updates(params, grads, learning_rate, momentum, velocities):
    """Classical momentum: ``v <- momentum * v - learning_rate * grad``; ``param <- param + v``.

    ``velocities`` are shared variables shaped like ``params`` (see :func:`make_velocities`).
    """
    updates = []
    for param, grad, velocity in zip(params, grads, velocities):
        new_velocity = momentum * velocity - learning_rate * grad
        updates.append((velocity, new_velocity))
        updates.append((param, param + new_velocity))
    return updates


def make_velocities(params):
    """One zero shared variable per parameter, for :func:`momentum_updates`."""
    return [theano.shared(numpy.zeros_like(p.get_value(borrow=True)), name="v_" + str(p.name))
            for p in params]


# --------------------------------------------------------------------------- compiled functions
@dataclass
class Compiled:
    """The compiled functions and what the loop needs to know about the data."""

    train_model: object            # train_model(index) -> cost of minibatch index (before its update), then updates
    validate_model: object         # validate_model(index) -> error rate of validation minibatch index
    test_model: object             # test_model(index) -> error rate of test minibatch index
    count_errors: dict             # {"valid"/"test": f(start, stop) -> misclassified in [start, stop)}
    learning_rate: object          # shared scalar: schedules set it without recompiling
    params: list
    optimizer_state: list          # shared variables the update rule keeps (momentum velocities)
    batch_size: int
    n_examples: dict               # {"train": n, "valid": n, "test": n}
    compile_seconds: float

    @property
    def n_train_batches(self):
        return self.n_examples["train"] // self.batch_size

    def eval_batch_size(self, which):
        """Minibatch size used to score a set (the training one, or the whole set if smaller)."""
        return min(self.batch_size, self.n_examples[which])


def shared_length(variable):
    return variable.get_value(borrow=True).shape[0]


def sum_of_squares(model):
    """The model's ``L2_sqr`` (the sum of its squared weights) for *returning*, not for
    differentiating: one BLAS dot product per weight array instead of Theano's
    ``Sum(sqr(W))``, which writes a squared copy of every weight and then sums it in
    float64.  On the MLP's 784x500 weights that pair cost more than a third of a training
    step only to print the cost (one float32 epoch: 2.32 s with it, 1.43 s with the dot
    products, on this project's 2-core machine).  The gradient still comes from ``L2_sqr`` (its graph has no sum), so the updates
    are unchanged; the returned value differs only in rounding (a float32 dot product sums
    in float32).  Models without ``regularised_weights`` keep ``L2_sqr``.
    """
    weights = getattr(model, "regularised_weights", None)
    if not weights:
        return model.L2_sqr
    total = None
    for W in weights:
        flat = W.flatten()
        term = T.dot(flat, flat)
        total = term if total is None else total + term
    return total


def n_classes_of(model):
    """The number of classes ``model`` scores (its top layer's ``n_out``), or None."""
    top = getattr(model, "log_regression_layer", model)
    n_out = getattr(top, "n_out", None)
    return n_out if isinstance(n_out, numbers.Integral) else None


def label_values(y):
    """The labels a dataset's ``y`` holds (a shared variable, or a cast of one as
    :func:`dltut.data.shared_dataset` returns), or None for any other expression."""
    if isinstance(y, theano.compile.SharedVariable):
        return y.get_value(borrow=True)
    owner = getattr(y, "owner", None)
    if owner is not None and len(owner.inputs) == 1 and isinstance(
            owner.inputs[0], theano.compile.SharedVariable):
        return owner.inputs[0].get_value(borrow=True)
    return None


def check_labels_fit(model, datasets):
    """ValueError unless every label of the three ``datasets`` is a class ``model`` has
    (``0 <= y < n_out``): a label of 50 for ten classes would otherwise end in a long
    Theano error at the first minibatch that holds it."""
    n_classes = n_classes_of(model)
    for which, pair in zip(("train", "valid", "test"), datasets):
        values = label_values(pair[1]) if isinstance(pair, (tuple, list)) and len(pair) == 2 else None
        if values is not None:
            checks.labels(values, "the %s labels of %r" % (which, model), n_classes,
                          "give the model n_out >= %%(needed)d (it has n_out=%s), or relabel "
                          "the data" % n_classes)


def compile_functions(model, x, y, datasets, config):
    """Compile ``train_model``, ``validate_model`` and ``test_model`` for ``model``.

    Parameters
    ----------
    model : object with ``negative_log_likelihood(y)``, ``errors(y)``, ``y_pred``, ``params``
        and, when L1/L2 regularisation is asked for, ``L1`` and ``L2_sqr``.
    x : T.matrix, the model's symbolic input;  y : T.ivector of labels.
    datasets : [(train_x, train_y), (valid_x, valid_y), (test_x, test_y)]
        Shared variables (x) and int32 casts of shared variables (y), as
        :func:`dltut.data.shared_dataset` returns them.
    config : TrainConfig
    """
    if not isinstance(config, TrainConfig):
        raise TypeError("config must be a dltut.training.TrainConfig, got %s; pass e.g. "
                        "TrainConfig(learning_rate=0.1, batch_size=20)" % _short(config))
    if not isinstance(datasets, (list, tuple)) or len(datasets) != 3:
        raise ValueError("datasets must be [(train_x, train_y), (valid_x, valid_y), (test_x, test_y)], "
                         "got %s; pass what dltut.data.shared_datasets(splits) returns"
                         % _short(datasets))
    start = time.perf_counter()
    (train_x, train_y), (valid_x, valid_y), (test_x, test_y) = datasets
    n_examples = {"train": shared_length(train_x), "valid": shared_length(valid_x),
                  "test": shared_length(test_x)}
    check_labels_fit(model, datasets)
    batch_size = int(config.batch_size)
    if batch_size > n_examples["train"]:
        raise ValueError("batch_size %d is larger than the training set (%d examples); choose "
                         "batch_size %d or less" % (batch_size, n_examples["train"],
                                                    n_examples["train"]))

    nll = model.negative_log_likelihood(y)
    cost = reported = nll
    if config.L1_reg:
        cost = cost + config.L1_reg * model.L1
        reported = reported + config.L1_reg * model.L1
    if config.L2_reg:
        cost = cost + config.L2_reg * model.L2_sqr
        reported = reported + config.L2_reg * sum_of_squares(model)
    learning_rate = theano.shared(floatX(config.learning_rate), name="learning_rate")
    # the updates follow the tutorial's cost; train_model returns the same value, with its
    # L2 term computed more cheaply (below)
    grads = [T.grad(cost, param) for param in model.params]
    if config.momentum:
        velocities = make_velocities(model.params)
        updates = momentum_updates(model.params, grads, learning_rate, floatX(config.momentum),
                                   velocities)
    else:
        velocities = []
        updates = sgd_updates(model.params, grads, learning_rate)

    index = T.lscalar("index")

    def batch(data, size):
        return data[index * size:(index + 1) * size]

    train_model = theano.function(
        [index], reported, updates=updates,
        givens={x: batch(train_x, batch_size), y: batch(train_y, batch_size)},
        name="train_model")
    errors = model.errors(y)
    scorers, counters = {}, {}
    first, last = T.lscalar("start"), T.lscalar("stop")
    for which, (set_x, set_y) in (("valid", (valid_x, valid_y)), ("test", (test_x, test_y))):
        size = min(batch_size, n_examples[which])
        scorers[which] = theano.function(
            [index], errors, givens={x: batch(set_x, size), y: batch(set_y, size)},
            name=which + "_model")
        if n_examples[which] % size:
            # only for a partial last batch: errors among examples [start, stop)
            counters[which] = theano.function(
                [first, last], T.sum(T.neq(model.y_pred, y)),
                givens={x: set_x[first:last], y: set_y[first:last]}, name="count_" + which)
    return Compiled(train_model=train_model, validate_model=scorers["valid"],
                    test_model=scorers["test"], count_errors=counters,
                    learning_rate=learning_rate, params=list(model.params),
                    optimizer_state=velocities, batch_size=batch_size, n_examples=n_examples,
                    compile_seconds=time.perf_counter() - start)


def evaluate(compiled, which):
    """``(tutorial_error, all_examples_error)`` of the model on the "valid" or "test" set.

    The tutorial's number is the mean of the error rates of the ``n // batch_size`` whole
    minibatches (a partial last batch is skipped: with logistic regression's batch of 600
    only 9600 of the 10000 examples count).  The second number counts every example.
    """
    scorer = compiled.validate_model if which == "valid" else compiled.test_model
    size, n = compiled.eval_batch_size(which), compiled.n_examples[which]
    losses = [scorer(i) for i in range(n // size)]
    tutorial = float(numpy.mean(losses))
    wrong = sum(int(round(float(loss) * size)) for loss in losses)
    if n % size:
        wrong += int(compiled.count_errors[which]((n // size) * size, n))
    return tutorial, wrong / n


# --------------------------------------------------------------------------- early stopping
class Patience:
    """The tutorial's patience rule, in plain Python.

    Training looks at ``patience`` minibatches at least.  When a validation loss is a new
    best and beats the previous best by the ``improvement_threshold`` factor, patience
    grows to ``iteration * patience_increase`` (if that is more).  Training stops once
    ``patience <= iteration``.  Iterations count minibatches from 0, as the tutorial's
    ``iter`` does.
    """

    def __init__(self, patience=5000, patience_increase=2, improvement_threshold=0.995):
        self.patience = patience
        self.patience_increase = patience_increase
        self.improvement_threshold = improvement_threshold
        self.best_loss = numpy.inf
        self.best_iteration = None

    def update(self, iteration, loss):
        """Record a validation ``loss`` seen at ``iteration``; True if it is a new best."""
        if loss < self.best_loss:
            if loss < self.best_loss * self.improvement_threshold:
                self.patience = max(self.patience, iteration * self.patience_increase)
            self.best_loss = loss
            self.best_iteration = iteration
            return True
        return False

    def should_stop(self, iteration):
        return self.patience <= iteration

    def state_dict(self):
        return {"patience": self.patience, "best_loss": self.best_loss,
                "best_iteration": self.best_iteration}

    def load_state(self, state):
        """Restore :meth:`state_dict`'s values (``best_loss`` None means inf, as strict JSON
        writes it); ValueError if one is missing or not a number."""
        patience = _checked(state.get("patience"), "patience", "number", 0)
        best_loss = state.get("best_loss")
        best_loss = numpy.inf if best_loss is None else _checked(best_loss, "best_loss", "number")
        best_iteration = _checked(state.get("best_iteration"), "best_iteration", "int", 0, none=True)
        self.patience, self.best_loss, self.best_iteration = patience, best_loss, best_iteration


# --------------------------------------------------------------------------- schedules
class ConstantRate:
    """The tutorial's schedule: the learning rate never changes."""

    replaces_patience = False

    def __init__(self, eta0):
        self.eta0 = eta0
        self.rate = eta0

    def epoch_start(self, epoch):
        """The rate for epoch ``epoch`` (1-based)."""
        return self.rate

    def after_validation(self, improved):
        """``(rate, stop)`` after a validation; ``improved`` says if it was a new best."""
        return self.rate, False

    def state_dict(self):
        return {"rate": self.rate}

    def load_state(self, state):
        self.rate = _checked(state.get("rate"), "rate", "number", 0)


class InverseDecay(ConstantRate):
    """``eta = eta0 / (1 + decay * t)``, t the number of completed epochs (so epoch 1 uses eta0)."""

    def __init__(self, eta0, decay=0.001):
        super().__init__(eta0)
        self.decay = decay

    def epoch_start(self, epoch):
        self.rate = self.eta0 / (1.0 + self.decay * (epoch - 1))
        return self.rate


class PlateauHalving(ConstantRate):
    """"No improvement in n": cut the rate instead of stopping; stop at the floor.

    After ``n`` validations in a row without a new best, the rate is divided by ``factor``
    (2 halves it).  When a cut would take it below ``eta0 * min_fraction`` (eta0/1024 by
    default), training stops instead.  Patience does not stop training under this schedule.
    """

    replaces_patience = True

    def __init__(self, eta0, n=10, factor=2.0, min_fraction=1.0 / 1024):
        super().__init__(eta0)
        self.n, self.factor, self.floor = n, factor, eta0 * min_fraction
        self.since_best = 0

    def after_validation(self, improved):
        if improved:
            self.since_best = 0
            return self.rate, False
        self.since_best += 1
        if self.since_best < self.n:
            return self.rate, False
        self.since_best = 0
        if self.rate / self.factor < self.floor * (1 - 1e-9):
            return self.rate, True
        self.rate = self.rate / self.factor
        return self.rate, False

    def state_dict(self):
        return {"rate": self.rate, "since_best": self.since_best}

    def load_state(self, state):
        rate = _checked(state.get("rate"), "rate", "number", 0)
        self.since_best = _checked(state.get("since_best"), "since_best", "int", 0)
        self.rate = rate


def make_schedule(config):
    if config.schedule == "inverse":
        return InverseDecay(config.learning_rate, config.decay)
    if config.schedule == "plateau":
        return PlateauHalving(config.learning_rate, config.plateau_n, config.plateau_factor,
                              config.min_lr_fraction)
    return ConstantRate(config.learning_rate)


# --------------------------------------------------------------------------- the loop
#: What stops a run (``TrainResult.stopped_by``).
STOP_REASONS = ("patience", "n_epochs", "schedule", "interrupted", "diverged")
#: Seconds between checkpoints inside an epoch (an epoch's end always writes one).
CHECKPOINT_SECONDS = 300.0


class _StopReason:
    """``interrupted`` and ``diverged`` for a result with a ``stopped_by``."""

    @property
    def interrupted(self):
        return self.stopped_by == "interrupted"

    @property
    def diverged(self):
        return self.stopped_by == "diverged"


@dataclass
class TrainResult(_StopReason):
    """What a training run found.  Errors are fractions (0.075 = 7.5 %)."""

    best_validation_loss: float          # the tutorial's way (whole minibatches only)
    best_validation_loss_all: float      # over every validation example
    best_iteration: Optional[int]        # minibatches done when the best was seen (1-based, as printed)
    best_epoch: Optional[int]
    test_score: float                    # test error of the best model, the tutorial's way
    test_score_all: float                # ... over every test example
    epochs: int                          # epochs run (the last may be partial)
    iterations: int                      # minibatches done
    stopped_by: str                      # one of STOP_REASONS
    wall_seconds: float                  # training time, compilation excluded
    seconds_per_epoch: float             # mean over completed epochs, validation included
    compile_seconds: float
    learning_rate: float                 # the rate at the end
    history: list = field(default_factory=list)
    divergence: Optional[str] = None     # what went non-finite, and where, when stopped_by is "diverged"
    log: list = field(default_factory=list)  # the log lines of the run() that returned it

    @classmethod
    def of(cls, state, **fields):
        """A TrainResult whose scores, iterations, stop and time come from ``state`` (a
        :class:`TrainState` or anything with the same fields); the other fields are given."""
        return cls(best_validation_loss=float(state.best_validation_loss),
                   best_validation_loss_all=float(state.best_validation_loss_all),
                   best_iteration=state.best_iteration,
                   test_score=float(state.test_score), test_score_all=float(state.test_score_all),
                   iterations=state.iterations, stopped_by=state.stopped_by,
                   wall_seconds=state.elapsed, divergence=state.divergence, **fields)

    def summary(self):
        return ("best validation error %f %% (all examples: %f %%) at iteration %s, epoch %s; "
                "test error %f %% (all examples: %f %%); %d epochs, %.3f s/epoch, compile %.1f s, "
                "stopped by %s%s" % (
                    self.best_validation_loss * 100, self.best_validation_loss_all * 100,
                    self.best_iteration, self.best_epoch, self.test_score * 100,
                    self.test_score_all * 100, self.epochs, self.seconds_per_epoch,
                    self.compile_seconds, self.stopped_by,
                    " (%s)" % self.divergence if self.divergence else ""))


def _checked(value, name, kind, minimum=None, none=False):
    """``value`` if it is a ``kind`` ("int" or "number", finite, >= ``minimum``; None when
    ``none``); ValueError naming ``name`` otherwise."""
    if value is None and none:
        return value
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if ok and kind == "int":
        ok = isinstance(value, numbers.Integral)
    if ok:
        ok = math.isfinite(value) and (minimum is None or value >= minimum)
    if not ok:
        raise ValueError("%s must be %s%s%s, got %r" % (
            name, "an integer" if kind == "int" else "a finite number",
            "" if minimum is None else " >= %s" % minimum, " or null" if none else "", value))
    return value


def checked_state(cls, values, stop_reasons, ints=(), nullable_ints=(), losses=()):
    """The fields of dataclass ``cls`` from ``values`` (a dict read back from a file), each
    checked: ``ints`` are integers >= 0, ``nullable_ints`` the same or null, ``losses``
    numbers >= 0 (null is inf); ``elapsed``, ``epoch_seconds`` (when ``cls`` has them),
    ``stopped_by`` (one of ``stop_reasons`` or null) and ``divergence`` (text or null; it
    may be missing) are checked whenever present.  ValueError names the first field that is
    missing or of the wrong type."""
    if not isinstance(values, dict):
        raise ValueError("the state must be an object, got %s" % type(values).__name__)
    names = [f.name for f in dataclasses.fields(cls)]
    missing = [name for name in names if name not in values and name != "divergence"]
    if missing:
        raise ValueError("the state lacks %s" % ", ".join(missing))
    got = {name: values.get(name) for name in names}
    for name in ints:
        _checked(got[name], name, "int", 0)
    for name in nullable_ints:
        _checked(got[name], name, "int", 0, none=True)
    for name in losses:
        got[name] = math.inf if got[name] is None else _checked(got[name], name, "number", 0)
    _checked(got["elapsed"], "elapsed", "number", 0)
    if "epoch_seconds" in got:
        if not isinstance(got["epoch_seconds"], list):
            raise ValueError("epoch_seconds must be a list, got %r" % (got["epoch_seconds"],))
        for seconds in got["epoch_seconds"]:
            _checked(seconds, "epoch_seconds", "number", 0)
    if got["stopped_by"] not in tuple(stop_reasons) + (None,):
        raise ValueError("stopped_by must be one of %s or null, got %r"
                         % (", ".join(stop_reasons), got["stopped_by"]))
    if got["divergence"] is not None and not isinstance(got["divergence"], str):
        raise ValueError("divergence must be text or null, got %r" % (got["divergence"],))
    return got


@dataclass
class TrainState:
    """Where a run stands, besides its arrays, its :class:`Patience` and its schedule.

    Losses that are not known yet are ``inf`` (written as ``null`` in JSON).
    """

    epoch: int = 0                     # the epoch in progress (1-based); 0 before the first
    minibatch_index: int = 0           # next minibatch of that epoch; 0 = the epoch is done
    iterations: int = 0                # minibatches done in all
    best_validation_loss: float = math.inf
    best_validation_loss_all: float = math.inf
    best_iteration: Optional[int] = None
    best_epoch: Optional[int] = None
    test_score: float = math.inf
    test_score_all: float = math.inf
    cost_sum: float = 0.0              # training cost summed since the last validation
    cost_count: int = 0
    elapsed: float = 0.0               # training seconds, all sessions together
    epoch_seconds: list = field(default_factory=list)  # of each epoch run whole in one session
    stopped_by: Optional[str] = None   # one of STOP_REASONS, None while running
    divergence: Optional[str] = None   # what went non-finite, when stopped_by is "diverged"

    _INTS = ("epoch", "minibatch_index", "iterations", "cost_count")
    _LOSSES = ("best_validation_loss", "best_validation_loss_all", "test_score", "test_score_all")

    def to_dict(self):
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values):
        """A TrainState from :meth:`to_dict`'s dict (read back from a file), every field
        checked; ValueError names the first one that is missing or of the wrong type."""
        got = checked_state(cls, values, STOP_REASONS, cls._INTS,
                            ("best_iteration", "best_epoch"), cls._LOSSES)
        _checked(got["cost_sum"], "cost_sum", "number")
        return cls(**got)


class _InterruptFlag:
    """Turns the first Ctrl-C into a request to stop after the current minibatch."""

    def __init__(self):
        self.requested = False
        self._previous = None

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.requested:  # a second Ctrl-C: stop at once
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
        return False


class _Progress:
    """A one-line progress bar on stderr, redrawn every ``every`` minibatches."""

    def __init__(self, n_batches, enabled, stream=None):
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.n = n_batches
        self.every = max(1, n_batches // 50)
        self.t0 = time.perf_counter()
        self.first = 0
        self.label = ""

    def start_epoch(self, epoch, first_batch, label=None):
        """A new epoch begins at minibatch ``first_batch``; the bar is headed ``label``
        ("epoch N" by default)."""
        self.epoch, self.first, self.t0 = epoch, first_batch, time.perf_counter()
        self.label = label or "epoch %d" % epoch

    def update(self, done):
        if not self.enabled or done % self.every:
            return
        elapsed = time.perf_counter() - self.t0
        rate = (done - self.first) / elapsed if elapsed > 0 else 0.0
        eta = (self.n - done) / rate if rate > 0 else 0.0
        filled = int(30 * done / self.n)
        self.stream.write("\r%s [%s%s] %d/%d  %.0f minibatches/s  ETA %ds " % (
            self.label, "#" * filled, "." * (30 - filled), done, self.n, rate, eta))
        self.stream.flush()

    def clear(self):
        if self.enabled:
            self.stream.write("\r" + " " * 79 + "\r")
            self.stream.flush()

    def validated(self, record):
        """A validation's history record (a notebook display draws it; the bar does not)."""

    def close(self, result=None):
        """The run is over (``result``: its TrainResult, None if it raised)."""


class _Closing:
    """Closes a progress display when the run ends, with its result (None if it raised)."""

    def __init__(self, display):
        self.display, self.result = display, None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.display.close(self.result)
        return False


def _notebook():
    from .. import notebook
    return notebook


class _CheckpointedLoop:
    """What the supervised and the pre-training loop share about their checkpoints: when
    the next timed one is due, and reading one back into the loop (``load_state``)."""

    def _checkpoint_due(self):
        return (self.run_dir is not None and self.checkpoint_seconds
                and time.perf_counter() - self._last_save >= self.checkpoint_seconds)

    def _restore(self, path):
        """Load the checkpoint at ``path`` (default: the run folder's) into the loop;
        returns the file's meta."""
        if path is None:
            if self.run_dir is None:
                raise ValueError("load_checkpoint needs a path when the %s has no run_dir"
                                 % type(self).__name__)
            path = self.checkpoint_path
        state, meta = ckpt.load_checkpoint(path)
        self.load_state(state, source=os.fspath(path))
        return meta


def _short(value):
    """``value`` for a message: its type and a repr cut to 60 characters."""
    text = repr(value)
    return "%s %s" % (type(value).__name__, text if len(text) <= 60 else text[:57] + "...")


class Trainer(_CheckpointedLoop):
    """The one training loop.

    Parameters
    ----------
    compiled : Compiled
        From :func:`compile_functions`.
    config : TrainConfig
    model : optional
        Anything with ``spec()`` (saved with the parameters so a model can be rebuilt).
    run_dir : str or dltut.runs.rundir.RunDir, optional
        The run folder that receives ``checkpoint.npz``, ``best_model.npz`` and
        ``history.jsonl`` (through :class:`dltut.runs.rundir.RunDir`, which owns its files and
        locks it while :meth:`run` trains); nothing is written without it.
    log : callable
        Receives the tutorial's log lines (``print`` by default); ``None`` for silence.
        Every line is also kept in ``log_lines`` (and each run's in ``TrainResult.log``).
        In a notebook (:mod:`dltut.notebook`'s display) ``print`` prints only the run's end:
        the bar and the curves show the run, :meth:`print_log` prints its lines; pass
        another callable (``lambda line: print(line)``) to print each line as it comes.
    progress : bool or "notebook", optional
        Show progress: by default a bar that updates in place in a Jupyter notebook
        (:mod:`dltut.notebook`), else a bar on stderr when stderr is a terminal.  True asks
        for the one that fits where it runs, "notebook" for the notebook one, False for none.
    live_plot : bool, optional
        In a notebook, also draw the learning curves under the bar, redrawn at each
        validation (:class:`dltut.notebook.LiveCurves`).
    meta : dict, optional
        Extra JSON-able facts saved in the parameter files (dataset, command, ...).
    checkpoint_seconds : float, optional
        Also write a checkpoint inside an epoch once this many seconds have passed since the
        last one (default :data:`CHECKPOINT_SECONDS`; 0: only at the end of each epoch).

    Attributes
    ----------
    state : TrainState
    on_epoch_end : callable(epoch) or None
        Called after each completed epoch (e.g. to save snapshots for later plots).
    on_validation : callable(record) or None
        Called with each validation's history record (a dict, see ``history``).
    log_lines : list of str
        The log lines of every :meth:`run` so far, as ``log`` received them.

    A non-finite training cost or parameter stops the run ("diverged"): nothing
    non-finite is ever written, so the run folder keeps the last good checkpoint.
    """

    def __init__(self, compiled, config, model=None, run_dir=None, log=print, progress=None,
                 meta=None, checkpoint_seconds=CHECKPOINT_SECONDS, live_plot=False):
        if not isinstance(compiled, Compiled):
            raise TypeError("compiled must be what compile_functions(model, x, y, datasets, "
                            "config) returns (a dltut.training.Compiled), got %s; compile the "
                            "model's functions first" % _short(compiled))
        if not isinstance(config, TrainConfig):
            raise TypeError("config must be a dltut.training.TrainConfig, got %s; pass e.g. "
                            "TrainConfig(learning_rate=0.1, batch_size=20)" % _short(config))
        self.fns, self.config = compiled, config
        self.model_spec = model.spec() if model is not None and hasattr(model, "spec") else None
        self.run_dir = as_run_dir(run_dir)
        self.log = log or (lambda *args, **kwargs: None)
        self.log_lines = []
        self._run_lines = []  # the lines of the run in progress (TrainResult.log)
        self._kept = False    # in a notebook: print keeps the lines instead (see ``log``)
        self.show_progress, self.live_plot = progress, live_plot
        self.meta = dict(meta or {})
        self.checkpoint_seconds = checkpoint_seconds
        self.patience = Patience(config.patience, config.patience_increase,
                                 config.improvement_threshold)
        self.schedule = make_schedule(config)
        self.history = []
        self.best_params = None
        self.on_epoch_end = None
        self.on_validation = None
        self.state = TrainState()
        self._live_params = None  # the trained-so-far parameters while an interrupted run shows its best
        self._display = None
        self._last_save = time.perf_counter()

    # ----------------------------------------------------------------- the loop
    def finished(self):
        """True when the run has reached its end (a resumed finished run has nothing to do)."""
        st = self.state
        return st.stopped_by in ("patience", "schedule") or (
            st.stopped_by == "n_epochs" and st.epoch >= self.config.n_epochs)

    def run(self):
        """Train until patience, the schedule or ``n_epochs`` says stop; return a TrainResult.

        On return the model holds the best parameters seen.  A Ctrl-C (a notebook's kernel
        interrupt) stops after the current minibatch, writes a checkpoint (with ``run_dir``)
        and returns a result whose ``stopped_by`` is "interrupted"; the model then holds the
        best parameters too, and calling :meth:`run` again continues exactly where the
        interruption fell (a second Ctrl-C stops at once, with a KeyboardInterrupt).  A run
        that diverged returns with ``stopped_by`` "diverged" and writes nothing more.
        """
        self._take_back_live_params()
        cfg, fns, st = self.config, self.fns, self.state
        n_batches = fns.n_train_batches
        frequency = cfg.validation_frequency or max(1, min(n_batches, cfg.patience // 2))
        self._run_lines, self._kept = [], False
        if self.finished():
            self._say("this run already finished (stopped by %s); nothing to do" % st.stopped_by)
            return self._finish()
        st.stopped_by = st.divergence = None
        progress = self._display = self._make_display(n_batches)
        self._kept = self.log is print and isinstance(progress, _notebook().NotebookDisplay)
        train_model = fns.train_model
        started = time.perf_counter() - st.elapsed
        held = self.run_dir.held() if self.run_dir is not None else contextlib.nullcontext()
        with held, _InterruptFlag() as interrupt, _Closing(progress) as closing:
            self._last_save = time.perf_counter()
            while st.stopped_by is None:
                if st.minibatch_index == 0:
                    if st.epoch >= cfg.n_epochs:
                        st.stopped_by = "n_epochs"
                        break
                    st.epoch += 1
                    fns.learning_rate.set_value(floatX(self.schedule.epoch_start(st.epoch)))
                epoch, first = st.epoch, st.minibatch_index
                epoch_started = time.perf_counter()
                progress.start_epoch(epoch, first)
                for minibatch_index in range(first, n_batches):
                    iteration = (epoch - 1) * n_batches + minibatch_index  # the tutorial's `iter`
                    cost = float(train_model(minibatch_index))
                    if not math.isfinite(cost):
                        self._diverged("the training cost became %s at iteration %d (epoch %d, "
                                       "minibatch %d/%d)" % (cost, iteration + 1, epoch,
                                                             minibatch_index + 1, n_batches))
                        break
                    st.cost_sum += cost
                    st.cost_count += 1
                    st.minibatch_index = minibatch_index + 1
                    st.iterations = iteration + 1
                    if (iteration + 1) % frequency == 0:
                        progress.clear()
                        self._validate(iteration, minibatch_index, n_batches,
                                       time.perf_counter() - started)
                        if st.stopped_by == "diverged":
                            break
                    if not self.schedule.replaces_patience and self.patience.should_stop(iteration):
                        st.stopped_by = "patience"
                    elif interrupt.requested:
                        st.stopped_by = "interrupted"
                    if st.stopped_by:
                        break
                    if minibatch_index + 1 < n_batches and self._checkpoint_due():
                        st.elapsed = time.perf_counter() - started
                        self.save_checkpoint()
                        if st.stopped_by:
                            break
                    progress.update(minibatch_index + 1)
                progress.clear()
                if st.minibatch_index == n_batches and st.stopped_by != "diverged":
                    st.minibatch_index = 0
                    if first == 0:
                        st.epoch_seconds.append(time.perf_counter() - epoch_started)
                    st.elapsed = time.perf_counter() - started
                    if self.on_epoch_end is not None:
                        self.on_epoch_end(epoch)
                    if st.stopped_by is None:
                        self.save_checkpoint()
            st.elapsed = time.perf_counter() - started
            if st.stopped_by != "diverged":
                self.save_checkpoint()
            if st.stopped_by == "interrupted":
                self._show_best_params()
                self._say("interrupted at epoch %d, iteration %d%s; %s; calling run() again "
                          "continues%s" % (
                              st.epoch, st.iterations, "" if self.run_dir is None else
                              ": checkpoint written to %s" % self.checkpoint_path,
                              "the model holds its best parameters (validation error %f %%)"
                              % (st.best_validation_loss * 100) if self.best_params is not None
                              else "no validation yet: the model holds its parameters as trained",
                              "" if self.run_dir is None else
                              " (from a shell: --resume %s)" % self.run_dir))
                closing.result = self._result()
            else:
                closing.result = self._finish()
        if self._kept:
            print(self._kept_note(closing.result))
        return closing.result

    def _say(self, line):
        """Log ``line``: keep it, and hand it to ``log`` (unless a notebook keeps it)."""
        self.log_lines.append(line)
        self._run_lines.append(line)
        if not self._kept:
            self.log(line)

    def _kept_note(self, result):
        """The one line a notebook run prints at its end (instead of its log lines)."""
        lines = len(self._run_lines)
        more = "%d log line%s: trainer.print_log() prints them" % (lines, "" if lines == 1 else "s")
        if result.interrupted:  # its own line says where the model and the checkpoint are
            return "%s (%s)" % (self._run_lines[-1], more)
        if result.diverged:
            return "diverged: %s (%s)" % (result.divergence, more)
        best = ("" if result.best_iteration is None else
                "; best validation error %.2f %% at epoch %d, test error %.2f %%"
                % (result.best_validation_loss * 100, result.best_epoch, result.test_score * 100))
        return "done: %d epochs, stopped by %s%s (%s)" % (result.epochs, result.stopped_by, best, more)

    def print_log(self, file=None):
        """Print the log lines of every run so far (``log_lines``), as ``print`` would have."""
        for line in self.log_lines:
            print(line, file=file)

    def _make_display(self, n_batches):
        """The progress display :meth:`run` updates (see the ``progress`` parameter)."""
        wanted = self.show_progress
        in_kernel = "ipykernel" in sys.modules and _notebook().in_notebook()
        if wanted == "notebook" or (wanted in (None, True) and in_kernel) or self.live_plot:
            return _notebook().NotebookDisplay(
                n_batches, self.config.n_epochs, bar=wanted is not False,
                live_plot=self.live_plot, history=self.history)
        return _Progress(n_batches, sys.stderr.isatty() if wanted is None else bool(wanted))

    def _show_best_params(self):
        """Interrupted: keep the trained-so-far parameters aside and load the best ones."""
        if self.best_params is None:
            return
        self._live_params = [p.get_value(borrow=False) for p in self.fns.params]
        for param, value in zip(self.fns.params, self.best_params):
            param.set_value(value)

    def _take_back_live_params(self):
        if self._live_params is not None:
            for param, value in zip(self.fns.params, self._live_params):
                param.set_value(value)
            self._live_params = None

    def _non_finite(self, optimizer_state=False):
        """The name of the first parameter (or velocity) holding NaN or inf; None if none."""
        shared = self.fns.params + (self.fns.optimizer_state if optimizer_state else [])
        for i, variable in enumerate(shared):
            if not numpy.isfinite(variable.get_value(borrow=True)).all():
                return variable.name or "#%d" % i
        return None

    def _diverged(self, what):
        self.state.stopped_by = "diverged"
        self.state.divergence = what

    def _validate(self, iteration, minibatch_index, n_batches, elapsed):
        st, fns = self.state, self.fns
        bad = self._non_finite()
        if bad:
            self._diverged("parameter %s became non-finite by iteration %d (epoch %d)"
                           % (bad, iteration + 1, st.epoch))
            return
        loss, loss_all = evaluate(fns, "valid")
        record = {
            "iteration": iteration + 1, "epoch": st.epoch, "minibatch": minibatch_index + 1,
            "learning_rate": float(fns.learning_rate.get_value()),
            "train_cost": st.cost_sum / st.cost_count if st.cost_count else None,
            "validation_error": loss, "validation_error_all": loss_all,
            "test_error": None, "test_error_all": None, "elapsed": round(elapsed, 3),
        }
        st.cost_sum, st.cost_count = 0.0, 0
        self._say("epoch %i, minibatch %i/%i, validation error %f %%"
                  % (st.epoch, minibatch_index + 1, n_batches, loss * 100.0))
        improved = self.patience.update(iteration, loss)
        if improved:
            test, test_all = evaluate(fns, "test")
            record["test_error"], record["test_error_all"] = test, test_all
            st.best_validation_loss, st.best_validation_loss_all = loss, loss_all
            st.best_iteration, st.best_epoch = iteration + 1, st.epoch
            st.test_score, st.test_score_all = test, test_all
            self.best_params = [p.get_value(borrow=False) for p in fns.params]
            self._say("     epoch %i, minibatch %i/%i, test error of best model %f %%"
                      % (st.epoch, minibatch_index + 1, n_batches, test * 100.0))
            self.save_best_model()
        previous_rate = self.schedule.rate
        rate, stop = self.schedule.after_validation(improved)
        if rate != previous_rate:
            fns.learning_rate.set_value(floatX(rate))
            self._say("     learning rate now %g" % rate)
        if stop:
            st.stopped_by = "schedule"
        self.history.append(record)
        if self.run_dir is not None:
            self.run_dir.append_history(record)
        if self._display is not None:
            self._display.validated(record)
        if self.on_validation is not None:
            self.on_validation(record)

    def _finish(self):
        if self.best_params is not None:
            for param, value in zip(self.fns.params, self.best_params):
                param.set_value(value)
        return self._result()

    def _result(self):
        st = self.state
        seconds = st.epoch_seconds
        return TrainResult.of(
            st, best_epoch=st.best_epoch, epochs=st.epoch,
            seconds_per_epoch=float(numpy.mean(seconds)) if seconds else float("nan"),
            compile_seconds=self.fns.compile_seconds,
            learning_rate=float(self.fns.learning_rate.get_value()), history=list(self.history),
            log=list(self._run_lines))

    # ----------------------------------------------------------------- state
    def state_dict(self):
        """Everything a resumed run needs, as plain values and lists of arrays.

        ``{"state", "patience", "schedule", "history", "config", "model"}`` are JSON-able
        (``state`` holds the :class:`TrainState` and the current learning rate);
        ``"params"``, ``"optimizer_state"`` and ``"best_params"`` (None before the first
        validation) are lists of arrays.  The parameter arrays are the live ones (borrowed):
        copy them to keep them past the next minibatch.
        """
        return {
            "state": dict(self.state.to_dict(),
                          learning_rate=float(self.fns.learning_rate.get_value())),
            "patience": self.patience.state_dict(),
            "schedule": self.schedule.state_dict(),
            "history": list(self.history),
            "config": self.config.to_dict(),
            "model": self.model_spec,
            "params": self._live_params or [p.get_value(borrow=True) for p in self.fns.params],
            "optimizer_state": [v.get_value(borrow=True) for v in self.fns.optimizer_state],
            "best_params": None if self.best_params is None else list(self.best_params),
        }

    def load_state(self, state, source="the saved state"):
        """Continue from :meth:`state_dict`'s dict (as read back from a checkpoint).

        Everything is checked before anything changes: the model must be the same (spec,
        parameter shapes and dtypes), the configuration may differ only in ``n_epochs``,
        and every value must have its type.  A problem raises
        :class:`dltut.runs.checkpoint.CheckpointError` naming ``source``.
        """
        def fail(problem):
            raise ckpt.CheckpointError("%s: %s" % (source, problem))

        if not isinstance(state, dict):
            fail("expected a trainer state (an object), got %s" % type(state).__name__)
        for key in ("state", "patience", "schedule"):
            if not isinstance(state.get(key), dict):
                fail("its %r is %s; it must be an object (damaged or not a dltut checkpoint)"
                     % (key, "missing" if state.get(key) is None else "a %s"
                        % type(state[key]).__name__))
        spec = state.get("model")
        if self.model_spec is not None and spec not in (None, self.model_spec):
            fail("it was saved from model %s, not %s" % (spec, self.model_spec))
        saved = state.get("config") or {}
        if not isinstance(saved, dict):
            fail("its config is a %s, not an object" % type(saved).__name__)
        mine = self.config.to_dict()
        differing = sorted(k for k in mine if k != "n_epochs" and saved.get(k, mine[k]) != mine[k])
        if differing:
            fail("it was trained with different settings: %s; resume with the same settings "
                 "(only n_epochs may change)" % ", ".join(
                     "%s=%r (now %r)" % (k, saved[k], mine[k]) for k in differing))
        params, velocities = state.get("params") or [], state.get("optimizer_state") or []
        best = state.get("best_params")
        for kind, shared, values in (("parameter", self.fns.params, params),
                                     ("optimizer state", self.fns.optimizer_state, velocities),
                                     ("best parameter", self.fns.params, best)):
            if kind == "best parameter" and not best:
                continue
            if len(values) != len(shared):
                fail("it holds %d %s arrays, the model has %d" % (len(values), kind, len(shared)))
            for var, value in zip(shared, values):
                current = var.get_value(borrow=True)
                if value.shape != current.shape or value.dtype != current.dtype:
                    fail("%s %s is %s %s in the file but %s %s in the model"
                         % (kind, var.name, value.shape, value.dtype, current.shape, current.dtype))
                if not numpy.isfinite(value).all():
                    fail("%s %s holds NaN or infinite values" % (kind, var.name))
        history = state.get("history", [])
        if not isinstance(history, list) or not all(isinstance(r, dict) for r in history):
            fail("its history must be a list of objects")
        patience = Patience(self.config.patience, self.config.patience_increase,
                            self.config.improvement_threshold)
        schedule = make_schedule(self.config)
        try:
            train_state = TrainState.from_dict(
                {k: v for k, v in state["state"].items() if k != "learning_rate"})
            rate = _checked(state["state"].get("learning_rate"), "learning_rate", "number", 0)
            patience.load_state(state["patience"])
            schedule.load_state(state["schedule"])
        except ValueError as error:
            fail("its state is damaged: %s" % error)

        for var, value in zip(self.fns.params + self.fns.optimizer_state, params + velocities):
            var.set_value(value)
        self._live_params = None
        self.best_params = list(best) if best else None
        self.fns.learning_rate.set_value(floatX(rate))
        self.state, self.patience, self.schedule = train_state, patience, schedule
        self.history = list(history)

    # ----------------------------------------------------------------- files (through the run folder)
    @property
    def checkpoint_path(self):
        return self.run_dir.file(CHECKPOINT) if self.run_dir is not None else None

    def _meta(self):
        return dict(self.meta, model=self.model_spec, config=self.config.to_dict(),
                    floatX=theano.config.floatX)

    def _best_meta(self):
        st = self.state
        return dict(self._meta(), validation_error=st.best_validation_loss,
                    validation_error_all=st.best_validation_loss_all,
                    test_error=st.test_score, test_error_all=st.test_score_all,
                    iteration=st.best_iteration, epoch=st.best_epoch)

    def save_best_model(self):
        if self.run_dir is not None and self.best_params is not None:
            self.run_dir.save_best_model(self.best_params, self._best_meta())

    def save_checkpoint(self, path=None):
        """Write everything needed to resume (atomically) to the run folder, or to ``path``;
        a no-op without either.  Parameters that are not finite are never written: the run
        is marked diverged instead (and None returned)."""
        if path is None and self.run_dir is None:
            return None
        bad = self._non_finite(optimizer_state=True)
        if bad:
            self._diverged("%s became non-finite by iteration %d (epoch %d)"
                           % (bad, self.state.iterations, self.state.epoch))
            return None
        self._last_save = time.perf_counter()
        if path is not None:
            ckpt.save_checkpoint(path, self.state_dict(), self._meta())
            return path
        return self.run_dir.save_checkpoint(self.state_dict(), self._meta())

    def load_checkpoint(self, path=None):
        """Restore parameters and loop state from a checkpoint file (default: the run
        folder's); returns the file's meta.  With a run folder, its ``history.jsonl`` and
        ``best_model.npz`` are rewritten to match the checkpoint (a crash may have left
        records or a best model from after it)."""
        meta = self._restore(path)
        if self.run_dir is not None:
            self.run_dir.write_history(self.history)
            self.save_best_model()
        return meta


# --------------------------------------------------------------------------- the pre-training loop
#: What stops a pre-training run (``PretrainResult.stopped_by``): every layer trained, a
#: Ctrl-C, a non-finite cost or parameter.
PRETRAIN_STOP_REASONS = ("n_epochs", "interrupted", "diverged")


def updated_shared_variables(function):
    """The shared variables a compiled Theano ``function`` changes when it is called.

    Those in its ``updates`` and those with a default update: the state of every
    ``MRG_RandomStreams`` draw in its graph.  That is what a checkpoint of a layer trained by
    ``function`` must hold (besides the data, which never changes) for the run to continue
    exactly: a :class:`PretrainLayer`'s ``params`` plus ``state``.
    """
    maker = getattr(function, "maker", None)
    if maker is None:
        raise ValueError("%r is not a compiled Theano function" % (function,))
    return [item.variable for item in maker.inputs
            if item.update is not None
            and isinstance(item.variable, theano.compile.SharedVariable)]


def _format_fields(template):
    import string
    return {name.split(".")[0].split("[")[0]
            for _, name, _, _ in string.Formatter().parse(template) if name}


@dataclass
class PretrainLayer:
    """One layer of greedy layer-wise training, as :class:`Pretrainer` runs it.

    Attributes
    ----------
    name : str
        Shown in records and on the progress bar ("layer 0", "corruption 30%").
    train_fn : callable(index) -> cost
        One update on minibatch ``index`` (0 <= index < n_batches), returning that
        minibatch's cost: a number, or a sequence of numbers named by ``outputs`` (a compiled
        ``theano.function([index], cost, updates=...)``, or any callable wrapping one, e.g.
        ``functools.partial(fn, corruption=0.1, lr=0.001)``).
    params : list of shared variables
        The layer's parameters: saved as ``layers/NN.npz`` once the layer is trained, and in
        every checkpoint.
    state : list of shared variables
        Everything else ``train_fn`` changes that a resumed run needs: the state of its
        random streams, persistent Gibbs chains, momentum velocities
        (:func:`updated_shared_variables` lists what a compiled function updates).
    outputs : tuple of str
        Names of the numbers ``train_fn`` returns, in order.
    summarize : callable, optional
        ``summarize(costs) -> {name: float}``, where ``costs`` is the epoch's returned
        values as an array of shape (n_batches,) (one output) or (n_batches, len(outputs)),
        in the dtype ``train_fn`` returns.  Default: the mean of each output, accumulated in
        float64 (``numpy.mean(c, dtype="float64")``, the tutorial's way).
    log_format : str
        The line logged after each epoch, a ``str.format`` template over ``layer`` (the
        layer's index), ``name``, ``epoch`` (the 0-based epoch number the tutorials print)
        and the keys of the epoch's summary.
    """

    name: str
    train_fn: object
    params: list
    state: list = field(default_factory=list)
    outputs: tuple = ("cost",)
    summarize: object = None
    log_format: str = "Pre-training layer {layer}, epoch {epoch}, cost {cost:f}"

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise ValueError("a PretrainLayer needs a name, got %r" % (self.name,))
        if not callable(self.train_fn):
            raise ValueError("train_fn of layer %r must be callable, got %r"
                             % (self.name, self.train_fn))
        self.params, self.state = list(self.params), list(self.state)
        for variable in self.params + self.state:
            if not isinstance(variable, theano.compile.SharedVariable):
                raise ValueError("layer %r: params and state must be shared variables "
                                 "(theano.shared), got a %s.%s" % (
                                     self.name, type(variable).__module__.split(".")[0],
                                     type(variable).__name__))
        self.outputs = tuple(self.outputs)
        if not self.outputs or not all(isinstance(o, str) and o for o in self.outputs):
            raise ValueError("layer %r: outputs must be names, got %r" % (self.name, self.outputs))
        if self.summarize is None:
            unknown = _format_fields(self.log_format) - {"layer", "name", "epoch"} - set(self.outputs)
            if unknown:
                raise ValueError("layer %r: log_format %r names %s, which is not one of layer, "
                                 "name, epoch, %s" % (self.name, self.log_format,
                                                      ", ".join(sorted(unknown)),
                                                      ", ".join(self.outputs)))

    @property
    def shared(self):
        """``params + state``: what a checkpoint holds for this layer."""
        return self.params + self.state

    def summary(self, costs):
        """The epoch's figures from its minibatch ``costs`` (see ``summarize``)."""
        if self.summarize is not None:
            return {key: float(value) for key, value in dict(self.summarize(costs)).items()}
        costs = numpy.asarray(costs)
        if costs.ndim == 1:
            return {self.outputs[0]: float(numpy.mean(costs, dtype="float64"))}
        return {name: float(numpy.mean(costs[:, i], dtype="float64"))
                for i, name in enumerate(self.outputs)}

    def log_line(self, index, epoch, summary):
        return self.log_format.format(layer=index, name=self.name, epoch=epoch, **summary)


@dataclass
class PretrainState:
    """Where a pre-training run stands, besides its shared variables and history."""

    layer: int = 0                     # the layer being trained (index); len(layers) once all are done
    epoch: int = 0                     # epochs completed of that layer
    minibatch_index: int = 0           # next minibatch of the epoch in progress; 0 = between epochs
    iterations: int = 0                # minibatches done in all, every layer counted
    elapsed: float = 0.0               # training seconds, all sessions together
    epoch_seconds: list = field(default_factory=list)  # of each epoch run whole in one session
    stopped_by: Optional[str] = None   # one of PRETRAIN_STOP_REASONS, None while running
    divergence: Optional[str] = None   # what went non-finite, when stopped_by is "diverged"

    _INTS = ("layer", "epoch", "minibatch_index", "iterations")

    def to_dict(self):
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values):
        """A PretrainState from :meth:`to_dict`'s dict, every field checked; ValueError
        names the first one that is missing or of the wrong type."""
        return cls(**checked_state(cls, values, PRETRAIN_STOP_REASONS, cls._INTS))


@dataclass
class PretrainResult(_StopReason):
    """What a pre-training run did."""

    layers: list                         # the layers' names
    epochs: list                         # epochs completed per layer
    iterations: int                      # minibatches done, every layer counted
    stopped_by: str                      # one of PRETRAIN_STOP_REASONS
    wall_seconds: float                  # training time, compilation excluded
    seconds_per_epoch: float             # mean over epochs run whole in one session
    last: list                           # per layer: its last epoch's summary ({} if none yet)
    history: list = field(default_factory=list)
    divergence: Optional[str] = None

    def summary(self):
        parts = ["%s: %d epochs%s" % (name, epochs, "".join(
            ", %s %.6g" % item for item in last.items()))
            for name, epochs, last in zip(self.layers, self.epochs, self.last)]
        return ("pre-training: %s; %d minibatches, %.3f s/epoch, stopped by %s%s"
                % ("; ".join(parts), self.iterations, self.seconds_per_epoch, self.stopped_by,
                   " (%s)" % self.divergence if self.divergence else ""))


class Pretrainer(_CheckpointedLoop):
    """The one unsupervised (layer-wise pre-training) loop.

    Layer by layer, epoch by epoch, minibatch by minibatch::

        for layer in layers:                      # greedy: each layer trained to the end
            for epoch in range(n_epochs):
                costs = [layer.train_fn(index) for index in range(n_batches)]
                log(layer.log_format.format(layer=i, epoch=epoch, **layer.summary(costs)))

    It serves every model trained this way: a dA or cA alone (one layer), the dAs of an SdA
    or the RBMs of a DBN (one entry per layer, each ``train_fn`` compiled with the layers
    below it feeding it), an RBM with persistent chains, or several independent models
    trained one after the other.  All the loop needs of a layer is a name, a compiled
    ``train_fn(index) -> cost`` and the shared variables it changes (parameters, random
    stream states, persistent chains): see :class:`PretrainLayer`; a tuple ``(name,
    train_fn, shared)`` is taken as ``PretrainLayer(name, train_fn, params=shared)``.

    Like :class:`Trainer` it writes a checkpoint at the end of every epoch and, inside an
    epoch, every ``checkpoint_seconds``; a Ctrl-C stops after the current minibatch and
    writes one; a non-finite cost or parameter stops the run ("diverged") without writing
    anything non-finite.  A checkpoint holds every layer's shared variables (each once,
    even where layers share them), the minibatch costs of the epoch in progress and the
    history, so a resumed run continues exactly: the same random draws, the same printed
    means, bit for bit.  Files go through the run folder (:mod:`dltut.runs.rundir`):
    ``pretraining.npz`` (the checkpoint), ``pretraining.jsonl`` (one record per epoch:
    ``layer``, ``name``, ``epoch`` (1-based, epochs done), ``iteration`` and the epoch's
    summary, e.g. ``cost``) and ``layers/NN.npz`` (a layer's ``params`` once it is trained).

    Parameters
    ----------
    layers : sequence of PretrainLayer or (name, train_fn, shared) tuples
    n_batches : int
        Minibatches per epoch: ``train_fn(0)`` ... ``train_fn(n_batches - 1)``.
    n_epochs : int
        Epochs per layer.  A resumed run may change it while no layer but the last one
        trained has finished (a single-layer model can be trained further).
    model : optional
        Anything with ``spec()``, saved in the checkpoint and compared on resume.
    run_dir, log, progress, meta, checkpoint_seconds
        As for :class:`Trainer`.

    Attributes
    ----------
    state : PretrainState
    history : list of dict, the per-epoch records
    on_epoch_end : callable(layer_index, epochs_done) or None
    on_layer_end : callable(layer_index) or None
        Called once a layer has finished training (after ``layers/NN.npz`` is written).
    """

    def __init__(self, layers, n_batches, n_epochs, model=None, run_dir=None, log=print,
                 progress=None, meta=None, checkpoint_seconds=CHECKPOINT_SECONDS):
        self.layers = [layer if isinstance(layer, PretrainLayer) else PretrainLayer(
            layer[0], layer[1], params=layer[2]) for layer in layers]
        if not self.layers:
            raise ValueError("Pretrainer needs at least one layer")
        names = [layer.name for layer in self.layers]
        if len(set(names)) != len(names):
            raise ValueError("layer names must differ, got %s" % names)
        self.n_batches = checks.positive_int(n_batches, "n_batches")
        self.n_epochs = checks.positive_int(n_epochs, "n_epochs")
        self.model_spec = model.spec() if model is not None and hasattr(model, "spec") else None
        self.run_dir = as_run_dir(run_dir)
        self.log = log or (lambda *args, **kwargs: None)
        self.show_progress = sys.stderr.isatty() if progress is None else progress
        self.meta = dict(meta or {})
        self.checkpoint_seconds = checkpoint_seconds
        self.shared = []  # every layer's shared variables, each once, in layer order
        for layer in self.layers:
            for variable in layer.shared:
                if not any(variable is seen for seen in self.shared):
                    self.shared.append(variable)
        self.state = PretrainState()
        self.history = []
        self.costs = []  # what train_fn returned in the epoch in progress
        self.on_epoch_end = None
        self.on_layer_end = None
        self._last_save = time.perf_counter()

    # ----------------------------------------------------------------- the loop
    def finished(self):
        return self.state.layer >= len(self.layers)

    def run(self):
        """Train every layer in turn for ``n_epochs``; return a :class:`PretrainResult`.

        A Ctrl-C stops after the current minibatch, writes a checkpoint (with ``run_dir``)
        and returns with ``stopped_by`` "interrupted".
        """
        st = self.state
        if self.finished():
            self.log("pre-training already finished; nothing to do")
            st.stopped_by = "n_epochs"
            return self._result()
        st.stopped_by = st.divergence = None
        progress = _Progress(self.n_batches, self.show_progress)
        started = time.perf_counter() - st.elapsed
        held = self.run_dir.held() if self.run_dir is not None else contextlib.nullcontext()
        with held, _InterruptFlag() as interrupt:
            self._last_save = time.perf_counter()
            while st.stopped_by is None:
                if self.finished():
                    st.stopped_by = "n_epochs"
                    break
                index, layer = st.layer, self.layers[st.layer]
                first = st.minibatch_index
                if first == 0:
                    self.costs = []
                    if st.epoch >= self.n_epochs:  # resumed with fewer epochs than it had
                        self._finish_layer(index, layer)
                        continue
                epoch_started = time.perf_counter()
                progress.start_epoch(st.epoch + 1, first, "%s, epoch %d" % (layer.name, st.epoch + 1))
                train_fn = layer.train_fn
                for minibatch_index in range(first, self.n_batches):
                    cost = numpy.asarray(train_fn(minibatch_index))
                    if not numpy.isfinite(cost).all():
                        self._diverged("the cost of %s became %s at minibatch %d of epoch %d"
                                       % (layer.name, cost.tolist(), minibatch_index + 1,
                                          st.epoch + 1))
                        break
                    self.costs.append(cost)
                    st.minibatch_index = minibatch_index + 1
                    st.iterations += 1
                    if interrupt.requested:
                        st.stopped_by = "interrupted"
                        break
                    if minibatch_index + 1 < self.n_batches and self._checkpoint_due():
                        st.elapsed = time.perf_counter() - started
                        self.save_checkpoint()
                        if st.stopped_by:
                            break
                    progress.update(minibatch_index + 1)
                progress.clear()
                if st.minibatch_index == self.n_batches and st.stopped_by != "diverged":
                    st.elapsed = time.perf_counter() - started
                    self._end_epoch(index, layer, time.perf_counter() - epoch_started
                                    if first == 0 else None)
                    if st.stopped_by is None:
                        self.save_checkpoint()
            st.elapsed = time.perf_counter() - started
            if st.stopped_by != "diverged":
                self.save_checkpoint()
        if st.stopped_by == "interrupted" and self.run_dir is not None:
            self.log("interrupted: checkpoint written to %s; resume with --resume %s"
                     % (self.checkpoint_path, self.run_dir))
        return self._result()

    def _end_epoch(self, index, layer, seconds):
        st = self.state
        costs = numpy.asarray(self.costs)
        summary = layer.summary(costs)
        bad = self._non_finite()
        if bad:
            self._diverged("%s became non-finite in epoch %d of %s" % (bad, st.epoch + 1, layer.name))
            return
        self.log(layer.log_line(index, st.epoch, summary))
        st.epoch += 1
        st.minibatch_index = 0
        self.costs = []
        if seconds is not None:
            st.epoch_seconds.append(seconds)
        record = dict({"layer": index, "name": layer.name, "epoch": st.epoch,
                       "iteration": st.iterations}, **summary)
        record["elapsed"] = round(st.elapsed, 3)
        self.history.append(record)
        if self.run_dir is not None:
            self.run_dir.append_history(record, PRETRAINING_HISTORY)
        if self.on_epoch_end is not None:
            self.on_epoch_end(index, st.epoch)
        if st.epoch >= self.n_epochs:
            self._finish_layer(index, layer)

    def _finish_layer(self, index, layer):
        """Layer ``index`` is trained: save its parameters, go on to the next one."""
        st = self.state
        if self.run_dir is not None:
            self.run_dir.save_layer(index, [p.get_value(borrow=True) for p in layer.params],
                                    dict(self._meta(), layer=index, name=layer.name,
                                         epochs=st.epoch, summary=self._result().last[index]))
        st.layer, st.epoch = index + 1, 0
        if self.on_layer_end is not None:
            self.on_layer_end(index)

    def _non_finite(self):
        """The name of the first shared variable holding NaN or inf; None if none."""
        for i, variable in enumerate(self.shared):
            value = variable.get_value(borrow=True)
            if value.dtype.kind in "fc" and not numpy.isfinite(value).all():
                return variable.name or "shared variable #%d" % i
        return None

    def _diverged(self, what):
        self.state.stopped_by = "diverged"
        self.state.divergence = what

    def _result(self):
        st = self.state
        epochs = [self.n_epochs if i < st.layer else st.epoch if i == st.layer else 0
                  for i in range(len(self.layers))]
        last = [{}] * len(self.layers)
        for record in self.history:
            if 0 <= record.get("layer", -1) < len(self.layers):
                last[record["layer"]] = {k: v for k, v in record.items() if k not in
                                         ("layer", "name", "epoch", "iteration", "elapsed")}
        seconds = st.epoch_seconds
        return PretrainResult(
            layers=[layer.name for layer in self.layers], epochs=epochs,
            iterations=st.iterations, stopped_by=st.stopped_by, wall_seconds=st.elapsed,
            seconds_per_epoch=float(numpy.mean(seconds)) if seconds else float("nan"),
            last=last, history=list(self.history), divergence=st.divergence)

    # ----------------------------------------------------------------- state
    def _config(self):
        return {"n_epochs": self.n_epochs, "n_batches": self.n_batches,
                "layers": [layer.name for layer in self.layers],
                "outputs": [list(layer.outputs) for layer in self.layers]}

    def state_dict(self):
        """Everything a resumed run needs: ``state``, ``history``, ``config``, ``model``
        (JSON-able), ``shared`` (the values of every layer's shared variables, borrowed)
        and ``costs`` (``[array]`` of the epoch in progress's minibatch costs, or ``[]``)."""
        return {
            "state": self.state.to_dict(), "history": list(self.history),
            "config": self._config(), "model": self.model_spec,
            "shared": [v.get_value(borrow=True) for v in self.shared],
            "costs": [numpy.asarray(self.costs)] if self.costs else [],
        }

    def load_state(self, state, source="the saved state"):
        """Continue from :meth:`state_dict`'s dict (as read back from a checkpoint).

        Everything is checked before anything changes: the same layers (names, outputs),
        minibatches per epoch and model; shared variables of the same shapes and dtypes,
        finite; ``n_epochs`` may differ only while no layer but the last one trained has
        finished, and not below the epochs done.  A problem raises
        :class:`dltut.runs.checkpoint.CheckpointError` naming ``source``.
        """
        def fail(problem):
            raise ckpt.CheckpointError("%s: %s" % (source, problem))

        if not isinstance(state, dict) or not isinstance(state.get("state"), dict):
            fail("it is not a pre-training checkpoint (no state object)")
        spec = state.get("model")
        if self.model_spec is not None and spec not in (None, self.model_spec):
            fail("it was saved from model %s, not %s" % (spec, self.model_spec))
        saved, mine = state.get("config"), self._config()
        if not isinstance(saved, dict):
            fail("its config is missing or not an object")
        for key in ("layers", "n_batches", "outputs"):
            if saved.get(key) != mine[key]:
                fail("it was saved with %s = %s, this run has %s; resume with the same settings"
                     % (key, saved.get(key), mine[key]))
        try:
            train_state = PretrainState.from_dict(state["state"])
        except ValueError as error:
            fail("its state is damaged: %s" % error)
        n_layers = len(self.layers)
        if train_state.layer > n_layers or (train_state.layer == n_layers and (
                train_state.epoch or train_state.minibatch_index)):
            fail("its state is damaged: layer %d of %d" % (train_state.layer, n_layers))
        saved_epochs = saved.get("n_epochs")
        if saved_epochs != self.n_epochs:
            reopen = train_state.layer == n_layers and n_layers >= 1
            current = train_state.layer - 1 if reopen else train_state.layer
            done = saved_epochs if reopen else train_state.epoch
            if current > 0 or not isinstance(saved_epochs, int):
                fail("its layers were pre-trained for %s epochs each and %d of them are done; "
                     "resume with the same number of epochs, %s (a layer that is done keeps "
                     "its epochs)" % (saved_epochs, current, saved_epochs))
            if self.n_epochs < done + (1 if train_state.minibatch_index else 0):
                fail("%d epochs are done already; resume with at least that many" % done)
            if reopen:
                train_state.layer, train_state.epoch = n_layers - 1, saved_epochs
        values = state.get("shared") or []
        if len(values) != len(self.shared):
            fail("it holds %d shared arrays, the layers have %d" % (len(values), len(self.shared)))
        for var, value in zip(self.shared, values):
            current = var.get_value(borrow=True)
            if value.shape != current.shape or value.dtype != current.dtype:
                fail("shared variable %s is %s %s in the file but %s %s here"
                     % (var.name, value.shape, value.dtype, current.shape, current.dtype))
            if value.dtype.kind in "fc" and not numpy.isfinite(value).all():
                fail("shared variable %s holds NaN or infinite values" % var.name)
        costs = state.get("costs") or []
        costs = list(costs[0]) if costs else []
        if len(costs) != train_state.minibatch_index:
            fail("it holds %d minibatch costs for an epoch %d minibatches in"
                 % (len(costs), train_state.minibatch_index))
        history = state.get("history", [])
        if not isinstance(history, list) or not all(isinstance(r, dict) for r in history):
            fail("its history must be a list of objects")
        for var, value in zip(self.shared, values):
            var.set_value(value)
        self.state, self.history, self.costs = train_state, list(history), costs

    # ----------------------------------------------------------------- files
    @property
    def checkpoint_path(self):
        return self.run_dir.file(PRETRAINING_CHECKPOINT) if self.run_dir is not None else None

    def _meta(self):
        return dict(self.meta, model=self.model_spec, config=self._config(),
                    floatX=theano.config.floatX)

    def save_checkpoint(self, path=None):
        """Write the state (atomically) to the run folder's ``pretraining.npz`` or to
        ``path``; a no-op without either.  Nothing non-finite is written: the run is marked
        diverged instead (and None returned)."""
        if path is None and self.run_dir is None:
            return None
        bad = self._non_finite()
        if bad:
            self._diverged("%s became non-finite by minibatch %d" % (bad, self.state.iterations))
            return None
        self._last_save = time.perf_counter()
        if path is not None:
            ckpt.save_checkpoint(path, self.state_dict(), self._meta())
            return path
        return self.run_dir.save_checkpoint(self.state_dict(), self._meta(),
                                            name=PRETRAINING_CHECKPOINT)

    def load_checkpoint(self, path=None):
        """Restore from a checkpoint file (default: the run folder's ``pretraining.npz``);
        returns the file's meta.  With a run folder, ``pretraining.jsonl`` is rewritten to
        match the checkpoint (a crash may have left records from after it)."""
        meta = self._restore(path)
        if self.run_dir is not None:
            self.run_dir.write_history(self.history, PRETRAINING_HISTORY)
        return meta


def train(compiled, config, **kwargs):
    """Build a :class:`Trainer` and run it (see its parameters); returns a TrainResult."""
    return Trainer(compiled, config, **kwargs).run()
