"""One minibatch SGD trainer for every model: compiled functions, patience, schedules.

The data path is the tutorial's: the six datasets live in shared variables, the compiled
``train_model(index)`` slices minibatch ``index`` out of them through ``givens`` and
applies ``param <- param - learning_rate * d cost / d param`` through ``updates``.  Only
the index crosses from Python into the compiled function.

The loop (:class:`Trainer`) keeps the tutorial's early-stopping semantics by default and
adds learning-rate schedules, momentum, checkpoints, resume, Ctrl-C handling and a
progress bar.  :class:`Patience` and the schedules are plain Python.
"""
import dataclasses
import json
import math
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

from . import checkpoint as ckpt
from .init import floatX

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
        def need(ok, what):
            if not ok:
                raise ValueError("invalid training setting: %s" % what)
        need(self.learning_rate > 0, "learning_rate must be > 0, got %r" % self.learning_rate)
        need(int(self.batch_size) == self.batch_size and self.batch_size >= 1,
             "batch_size must be a positive integer, got %r" % self.batch_size)
        need(self.n_epochs >= 1, "n_epochs must be >= 1, got %r" % self.n_epochs)
        need(self.L1_reg >= 0 and self.L2_reg >= 0,
             "L1_reg and L2_reg must be >= 0, got %r and %r" % (self.L1_reg, self.L2_reg))
        need(0 <= self.momentum < 1, "momentum must be in [0, 1), got %r" % self.momentum)
        need(self.patience >= 1, "patience must be >= 1, got %r" % self.patience)
        need(self.validation_frequency >= 0,
             "validation_frequency must be >= 0 (0 = automatic), got %r" % self.validation_frequency)
        need(self.schedule in SCHEDULES,
             "schedule must be one of %s, got %r" % (", ".join(SCHEDULES), self.schedule))
        need(self.plateau_n >= 1, "plateau_n must be >= 1, got %r" % self.plateau_n)
        need(self.plateau_factor > 1, "plateau_factor must be > 1, got %r" % self.plateau_factor)
        need(0 < self.min_lr_fraction <= 1,
             "min_lr_fraction must be in (0, 1], got %r" % self.min_lr_fraction)

    def to_dict(self):
        return dataclasses.asdict(self)


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
    if len(datasets) != 3:
        raise ValueError("datasets must be [(train_x, train_y), (valid_x, valid_y), (test_x, test_y)], "
                         "got %d entries" % len(datasets))
    start = time.perf_counter()
    (train_x, train_y), (valid_x, valid_y), (test_x, test_y) = datasets
    n_examples = {"train": shared_length(train_x), "valid": shared_length(valid_x),
                  "test": shared_length(test_x)}
    batch_size = int(config.batch_size)
    if batch_size > n_examples["train"]:
        raise ValueError("batch_size %d is larger than the training set (%d examples)"
                         % (batch_size, n_examples["train"]))

    cost = model.negative_log_likelihood(y)
    if config.L1_reg:
        cost = cost + config.L1_reg * model.L1
    if config.L2_reg:
        cost = cost + config.L2_reg * model.L2_sqr
    learning_rate = theano.shared(floatX(config.learning_rate), name="learning_rate")
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
        [index], cost, updates=updates,
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
        self.patience = state["patience"]
        self.best_loss = state["best_loss"]
        self.best_iteration = state["best_iteration"]


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
        self.rate = state["rate"]


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
        self.rate, self.since_best = state["rate"], state["since_best"]


def make_schedule(config):
    if config.schedule == "inverse":
        return InverseDecay(config.learning_rate, config.decay)
    if config.schedule == "plateau":
        return PlateauHalving(config.learning_rate, config.plateau_n, config.plateau_factor,
                              config.min_lr_fraction)
    return ConstantRate(config.learning_rate)


# --------------------------------------------------------------------------- the loop
@dataclass
class TrainResult:
    """What a training run found.  Errors are fractions (0.075 = 7.5 %)."""

    best_validation_loss: float          # the tutorial's way (whole minibatches only)
    best_validation_loss_all: float      # over every validation example
    best_iteration: Optional[int]        # minibatches done when the best was seen (1-based, as printed)
    best_epoch: Optional[int]
    test_score: float                    # test error of the best model, the tutorial's way
    test_score_all: float                # ... over every test example
    epochs: int                          # epochs run (the last may be partial)
    iterations: int                      # minibatches done
    stopped_by: str                      # "patience", "n_epochs", "schedule" or "interrupted"
    wall_seconds: float                  # training time, compilation excluded
    seconds_per_epoch: float             # mean over completed epochs, validation included
    compile_seconds: float
    learning_rate: float                 # the rate at the end
    history: list = field(default_factory=list)

    @property
    def interrupted(self):
        return self.stopped_by == "interrupted"

    def summary(self):
        return ("best validation error %f %% (all examples: %f %%) at iteration %s, epoch %s; "
                "test error %f %% (all examples: %f %%); %d epochs, %.3f s/epoch, compile %.1f s, "
                "stopped by %s" % (
                    self.best_validation_loss * 100, self.best_validation_loss_all * 100,
                    self.best_iteration, self.best_epoch, self.test_score * 100,
                    self.test_score_all * 100, self.epochs, self.seconds_per_epoch,
                    self.compile_seconds, self.stopped_by))


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

    def start_epoch(self, epoch, first_batch):
        self.epoch, self.first, self.t0 = epoch, first_batch, time.perf_counter()

    def update(self, done):
        if not self.enabled or done % self.every:
            return
        elapsed = time.perf_counter() - self.t0
        rate = (done - self.first) / elapsed if elapsed > 0 else 0.0
        eta = (self.n - done) / rate if rate > 0 else 0.0
        filled = int(30 * done / self.n)
        self.stream.write("\repoch %d [%s%s] %d/%d  %.0f minibatches/s  ETA %ds " % (
            self.epoch, "#" * filled, "." * (30 - filled), done, self.n, rate, eta))
        self.stream.flush()

    def clear(self):
        if self.enabled:
            self.stream.write("\r" + " " * 79 + "\r")
            self.stream.flush()


class Trainer:
    """The one training loop.

    Parameters
    ----------
    compiled : Compiled
        From :func:`compile_functions`.
    config : TrainConfig
    model : optional
        Anything with ``spec()`` (saved with the parameters so a model can be rebuilt).
    run_dir : str, optional
        Where ``checkpoint.npz``, ``best_model.npz`` and ``history.jsonl`` are written;
        nothing is written without it.
    log : callable
        Receives the tutorial's log lines (``print`` by default); ``None`` for silence.
    progress : bool, optional
        Show a progress bar on stderr (default: when stderr is a terminal).
    meta : dict, optional
        Extra JSON-able facts saved in the parameter files (dataset, command, ...).

    Attributes
    ----------
    on_epoch_end : callable(epoch) or None
        Called after each completed epoch (e.g. to save snapshots for later plots).
    """

    def __init__(self, compiled, config, model=None, run_dir=None, log=print, progress=None,
                 meta=None):
        self.fns, self.config = compiled, config
        self.model_spec = model.spec() if model is not None and hasattr(model, "spec") else None
        self.run_dir = run_dir
        self.log = log or (lambda *args, **kwargs: None)
        self.show_progress = sys.stderr.isatty() if progress is None else progress
        self.meta = dict(meta or {})
        self.patience = Patience(config.patience, config.patience_increase,
                                 config.improvement_threshold)
        self.schedule = make_schedule(config)
        self.history = []
        self.best_params = None
        self.on_epoch_end = None
        self.state = {
            "epoch": 0,               # the epoch in progress (1-based); 0 before the first
            "minibatch_index": 0,     # next minibatch of that epoch; 0 = the epoch is done
            "iterations": 0,          # minibatches done in all
            "best_validation_loss": numpy.inf, "best_validation_loss_all": numpy.inf,
            "best_iteration": None, "best_epoch": None,
            "test_score": numpy.inf, "test_score_all": numpy.inf,
            "cost_sum": 0.0, "cost_count": 0,
            "elapsed": 0.0, "epoch_seconds": [], "stopped_by": None,
        }

    # ----------------------------------------------------------------- the loop
    def finished(self):
        """True when the run has reached its end (a resumed finished run has nothing to do)."""
        st = self.state
        return st["stopped_by"] in ("patience", "schedule") or (
            st["stopped_by"] == "n_epochs" and st["epoch"] >= self.config.n_epochs)

    def run(self):
        """Train until patience, the schedule or ``n_epochs`` says stop; return a TrainResult.

        On return the model holds the best parameters seen.  A Ctrl-C stops after the
        current minibatch, writes a checkpoint (with ``run_dir``) and returns a result whose
        ``stopped_by`` is "interrupted"; the parameters are then left as trained so far.
        """
        cfg, fns, st = self.config, self.fns, self.state
        n_batches = fns.n_train_batches
        frequency = cfg.validation_frequency or max(1, min(n_batches, cfg.patience // 2))
        if self.finished():
            self.log("this run already finished (stopped by %s); nothing to do" % st["stopped_by"])
            return self._finish()
        st["stopped_by"] = None
        progress = _Progress(n_batches, self.show_progress)
        train_model = fns.train_model
        started = time.perf_counter() - st["elapsed"]
        with _InterruptFlag() as interrupt:
            while st["stopped_by"] is None:
                if st["minibatch_index"] == 0:
                    if st["epoch"] >= cfg.n_epochs:
                        st["stopped_by"] = "n_epochs"
                        break
                    st["epoch"] += 1
                    fns.learning_rate.set_value(floatX(self.schedule.epoch_start(st["epoch"])))
                epoch, first = st["epoch"], st["minibatch_index"]
                epoch_started = time.perf_counter()
                progress.start_epoch(epoch, first)
                for minibatch_index in range(first, n_batches):
                    st["cost_sum"] += float(train_model(minibatch_index))
                    st["cost_count"] += 1
                    iteration = (epoch - 1) * n_batches + minibatch_index  # the tutorial's `iter`
                    st["minibatch_index"] = minibatch_index + 1
                    st["iterations"] = iteration + 1
                    if (iteration + 1) % frequency == 0:
                        progress.clear()
                        self._validate(iteration, minibatch_index, n_batches,
                                       time.perf_counter() - started)
                    if not self.schedule.replaces_patience and self.patience.should_stop(iteration):
                        st["stopped_by"] = "patience"
                    elif interrupt.requested:
                        st["stopped_by"] = "interrupted"
                    if st["stopped_by"]:
                        break
                    progress.update(minibatch_index + 1)
                progress.clear()
                if st["minibatch_index"] == n_batches:
                    st["minibatch_index"] = 0
                    if first == 0:
                        st["epoch_seconds"].append(time.perf_counter() - epoch_started)
                    st["elapsed"] = time.perf_counter() - started
                    if self.on_epoch_end is not None:
                        self.on_epoch_end(epoch)
                    if st["stopped_by"] is None:
                        self.save_checkpoint()
        st["elapsed"] = time.perf_counter() - started
        self.save_checkpoint()
        if st["stopped_by"] == "interrupted":
            if self.run_dir:
                self.log("interrupted: checkpoint written to %s; resume with --resume %s"
                         % (self.checkpoint_path, self.run_dir))
            return self._result()
        return self._finish()

    def _validate(self, iteration, minibatch_index, n_batches, elapsed):
        st, fns = self.state, self.fns
        loss, loss_all = evaluate(fns, "valid")
        record = {
            "iteration": iteration + 1, "epoch": st["epoch"], "minibatch": minibatch_index + 1,
            "learning_rate": float(fns.learning_rate.get_value()),
            "train_cost": st["cost_sum"] / st["cost_count"] if st["cost_count"] else None,
            "validation_error": loss, "validation_error_all": loss_all,
            "test_error": None, "test_error_all": None, "elapsed": round(elapsed, 3),
        }
        st["cost_sum"], st["cost_count"] = 0.0, 0
        self.log("epoch %i, minibatch %i/%i, validation error %f %%"
                 % (st["epoch"], minibatch_index + 1, n_batches, loss * 100.0))
        improved = self.patience.update(iteration, loss)
        if improved:
            test, test_all = evaluate(fns, "test")
            record["test_error"], record["test_error_all"] = test, test_all
            st.update(best_validation_loss=loss, best_validation_loss_all=loss_all,
                      best_iteration=iteration + 1, best_epoch=st["epoch"],
                      test_score=test, test_score_all=test_all)
            self.best_params = [p.get_value(borrow=False) for p in fns.params]
            self.log("     epoch %i, minibatch %i/%i, test error of best model %f %%"
                     % (st["epoch"], minibatch_index + 1, n_batches, test * 100.0))
            self.save_best_model()
        previous_rate = self.schedule.rate
        rate, stop = self.schedule.after_validation(improved)
        if rate != previous_rate:
            fns.learning_rate.set_value(floatX(rate))
            self.log("     learning rate now %g" % rate)
        if stop:
            st["stopped_by"] = "schedule"
        self.history.append(record)
        self._append_history(record)

    def _finish(self):
        if self.best_params is not None:
            for param, value in zip(self.fns.params, self.best_params):
                param.set_value(value)
        return self._result()

    def _result(self):
        st = self.state
        seconds = st["epoch_seconds"]
        result = TrainResult(
            best_validation_loss=float(st["best_validation_loss"]),
            best_validation_loss_all=float(st["best_validation_loss_all"]),
            best_iteration=st["best_iteration"], best_epoch=st["best_epoch"],
            test_score=float(st["test_score"]), test_score_all=float(st["test_score_all"]),
            epochs=st["epoch"], iterations=st["iterations"], stopped_by=st["stopped_by"],
            wall_seconds=st["elapsed"],
            seconds_per_epoch=float(numpy.mean(seconds)) if seconds else float("nan"),
            compile_seconds=self.fns.compile_seconds,
            learning_rate=float(self.fns.learning_rate.get_value()),
            history=list(self.history))
        return result

    # ----------------------------------------------------------------- files
    @property
    def checkpoint_path(self):
        return os.path.join(self.run_dir, "checkpoint.npz") if self.run_dir else None

    def _meta(self):
        return dict(self.meta, model=self.model_spec, config=self.config.to_dict(),
                    floatX=theano.config.floatX)

    def save_best_model(self):
        if not self.run_dir:
            return
        st = self.state
        meta = dict(self._meta(), validation_error=st["best_validation_loss"],
                    validation_error_all=st["best_validation_loss_all"],
                    test_error=st["test_score"], test_error_all=st["test_score_all"],
                    iteration=st["best_iteration"], epoch=st["best_epoch"])
        ckpt.save_params(os.path.join(self.run_dir, "best_model.npz"), self.best_params, meta)

    def save_checkpoint(self, path=None):
        """Write everything needed to resume (atomically); a no-op without a run folder."""
        path = path or self.checkpoint_path
        if not path:
            return None
        arrays = ckpt.numbered("param", [p.get_value(borrow=True) for p in self.fns.params])
        arrays.update(ckpt.numbered("opt", [v.get_value(borrow=True) for v in self.fns.optimizer_state]))
        if self.best_params is not None:
            arrays.update(ckpt.numbered("best", self.best_params))
        meta = dict(self._meta(), format="dltut-checkpoint", version=1,
                    state=dict(self.state, learning_rate=float(self.fns.learning_rate.get_value())),
                    patience=self.patience.state_dict(), schedule=self.schedule.state_dict(),
                    history=self.history)
        ckpt.save_arrays(path, arrays, meta)
        return path

    def load_checkpoint(self, path):
        """Restore parameters and loop state from :meth:`save_checkpoint`'s file.

        The model must be the same (same spec, same parameter shapes and dtypes); the
        configuration may differ only in ``n_epochs`` (to train longer).
        """
        arrays, meta = ckpt.load_arrays(path)
        if meta.get("format") != "dltut-checkpoint":
            raise ckpt.CheckpointError("%s is not a dltut training checkpoint" % path)
        if self.model_spec is not None and meta.get("model") not in (None, self.model_spec):
            raise ckpt.CheckpointError("%s was saved from model %s, not %s"
                                       % (path, meta.get("model"), self.model_spec))
        saved = dict(meta.get("config", {}))
        mine = self.config.to_dict()
        differing = sorted(k for k in mine if k != "n_epochs" and saved.get(k, mine[k]) != mine[k])
        if differing:
            raise ckpt.CheckpointError(
                "%s was trained with different settings: %s; resume with the same settings "
                "(only n_epochs may change)" % (path, ", ".join(
                    "%s=%r (now %r)" % (k, saved[k], mine[k]) for k in differing)))
        params = ckpt.unnumbered(arrays, "param")
        velocities = ckpt.unnumbered(arrays, "opt")
        best = ckpt.unnumbered(arrays, "best")
        for kind, shared, values in (("parameter", self.fns.params, params),
                                     ("optimizer state", self.fns.optimizer_state, velocities)):
            if len(values) != len(shared):
                raise ckpt.CheckpointError("%s holds %d %s arrays, the model has %d"
                                           % (path, len(values), kind, len(shared)))
            for var, value in zip(shared, values):
                current = var.get_value(borrow=True)
                if value.shape != current.shape or value.dtype != current.dtype:
                    raise ckpt.CheckpointError(
                        "%s: %s %s is %s %s in the file but %s %s in the model"
                        % (path, kind, var.name, value.shape, value.dtype, current.shape, current.dtype))
        for var, value in zip(self.fns.params + self.fns.optimizer_state, params + velocities):
            var.set_value(value)
        self.best_params = best or None
        state = dict(meta["state"])
        self.fns.learning_rate.set_value(floatX(state.pop("learning_rate")))
        self.state.update(state)
        self.patience.load_state(meta["patience"])
        self.schedule.load_state(meta["schedule"])
        self.history = list(meta.get("history", []))
        if self.run_dir:  # the history file must match the checkpoint, not what came after it
            self._write_history()
        return meta

    def _append_history(self, record):
        if self.run_dir:
            with open(os.path.join(self.run_dir, "history.jsonl"), "a") as handle:
                handle.write(json.dumps(record) + "\n")

    def _write_history(self):
        text = "".join(json.dumps(record) + "\n" for record in self.history)
        ckpt.atomic_write_bytes(os.path.join(self.run_dir, "history.jsonl"), text.encode())


def train(compiled, config, **kwargs):
    """Build a :class:`Trainer` and run it (see its parameters); returns a TrainResult."""
    return Trainer(compiled, config, **kwargs).run()
