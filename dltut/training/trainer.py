"""The supervised training loop (:class:`Trainer`, and :func:`train` to build one and run it).

:class:`Trainer` keeps the tutorial's early-stopping semantics by default and adds
learning-rate schedules, momentum, checkpoints, resume, Ctrl-C handling, a stop on
divergence and a progress bar.  :class:`~dltut.training.Patience`, the schedules and
:class:`TrainState` are plain Python, each with ``state_dict()``/``load_state()``; files are
the run folder's business (:mod:`dltut.runs.rundir`): the loop only hands it records,
parameters and its state.
"""
import dataclasses
import math
import sys
import time
from dataclasses import dataclass, field
from typing import Optional

import numpy
import theano

from ..init import floatX
from ..runs import checkpoint as ckpt
from ..runs.rundir import CHECKPOINT, as_run_dir
from .config import TrainConfig
from .functions import Compiled, evaluate, fast_step, short
from .loop import (CHECKPOINT_SECONDS, CheckpointedLoop, Closing, Progress, StopReason, checked,
                   checked_state)
from .stopping import Patience, make_schedule

__all__ = ["STOP_REASONS", "TrainResult", "TrainState", "Trainer", "train"]

# --------------------------------------------------------------------------- the loop
#: What stops a run (``TrainResult.stopped_by``).
STOP_REASONS = ("patience", "n_epochs", "schedule", "interrupted", "diverged")


@dataclass
class TrainResult(StopReason):
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
        checked(got["cost_sum"], "cost_sum", "number")
        return cls(**got)


def _notebook():
    from .. import notebook
    return notebook


class Trainer(CheckpointedLoop):
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
        last one (default ``CHECKPOINT_SECONDS``; 0: only at the end of each epoch).
    fast_calls : bool, optional
        Call ``train_model`` through :func:`dltut.training.fast_step` (its virtual machine
        directly, without ``theano.function``'s per-call bookkeeping): the same computation
        bit for bit, less Python work per minibatch.  Default True.

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
                 meta=None, checkpoint_seconds=CHECKPOINT_SECONDS, live_plot=False,
                 fast_calls=True):
        if not isinstance(compiled, Compiled):
            raise TypeError("compiled must be what compile_functions(model, x, y, datasets, "
                            "config) returns (a dltut.training.Compiled), got %s; compile the "
                            "model's functions first" % short(compiled))
        if not isinstance(config, TrainConfig):
            raise TypeError("config must be a dltut.training.TrainConfig, got %s; pass e.g. "
                            "TrainConfig(learning_rate=0.1, batch_size=20)" % short(config))
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
        self.fast_calls = bool(fast_calls)
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
        train_model = fast_step(fns.train_model) if self.fast_calls else fns.train_model
        started = time.perf_counter() - st.elapsed
        with self.session() as interrupt, Closing(progress) as closing:
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
                        self.mark_diverged("the training cost became %s at iteration %d (epoch %d, "
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
                    if minibatch_index + 1 < n_batches and self.checkpoint_if_due(started):
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
            self.end_session(started)
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
        return Progress(n_batches, sys.stderr.isatty() if wanted is None else bool(wanted))

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

    def _validate(self, iteration, minibatch_index, n_batches, elapsed):
        st, fns = self.state, self.fns
        bad = self._non_finite()
        if bad:
            self.mark_diverged("parameter %s became non-finite by iteration %d (epoch %d)"
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
            rate = checked(state["state"].get("learning_rate"), "learning_rate", "number", 0)
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

    def save_best_model(self):
        if self.run_dir is not None and self.best_params is not None:
            self.run_dir.save_best_model(self.best_params, self.best_meta())

    def save_checkpoint(self, path=None):
        """Write everything needed to resume (atomically) to the run folder, or to ``path``;
        a no-op without either.  Parameters that are not finite are never written: the run
        is marked diverged instead (and None returned)."""
        if path is None and self.run_dir is None:
            return None
        bad = self._non_finite(optimizer_state=True)
        if bad:
            self.mark_diverged("%s became non-finite by iteration %d (epoch %d)"
                           % (bad, self.state.iterations, self.state.epoch))
            return None
        self.mark_saved()
        if path is not None:
            ckpt.save_checkpoint(path, self.state_dict(), self._meta())
            return path
        return self.run_dir.save_checkpoint(self.state_dict(), self._meta())

    def load_checkpoint(self, path=None):
        """Restore parameters and loop state from a checkpoint file (default: the run
        folder's); returns the file's meta.  With a run folder, its ``history.jsonl`` and
        ``best_model.npz`` are rewritten to match the checkpoint (a crash may have left
        records or a best model from after it)."""
        meta = self.restore_checkpoint(path)
        if self.run_dir is not None:
            self.run_dir.write_history(self.history)
            self.save_best_model()
        return meta


def train(compiled, config, **kwargs):
    """Build a :class:`Trainer` and run it (see its parameters); returns a TrainResult."""
    return Trainer(compiled, config, **kwargs).run()
