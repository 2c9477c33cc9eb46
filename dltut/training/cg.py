"""The tutorial's conjugate-gradient training (``logistic_cg.py``) of a
:class:`dltut.cg.LogisticRegressionCG`: :class:`CGOptimizer` hands ``scipy.optimize.fmin_cg``
the training cost, its gradient and a callback that validates after each iteration, inside
the same loop shell as the other loops (:mod:`dltut.training.loop`: the run folder, Ctrl-C,
the final checkpoint, resume).

``fmin_cg`` cannot hand back its search direction, so a resumed run restarts conjugate
gradients from the saved ``theta`` (a steepest-descent step first): it continues from where
the run was, not along the exact path an uninterrupted run would have taken.
"""
import dataclasses
import math
import time
from dataclasses import dataclass
from typing import Optional

import numpy
import theano
import theano.tensor as T

from ..runs import checkpoint as ckpt
from ..runs.rundir import CHECKPOINT, as_run_dir
from .config import TrainConfig
from .functions import compile_functions, evaluate
from .loop import CheckpointedLoop, checked_state
from .trainer import TrainResult, TrainState

__all__ = ["CG_STOP_REASONS", "CGState", "CGOptimizer"]

#: How a conjugate-gradient run ends.
CG_STOP_REASONS = ("n_epochs", "converged", "interrupted", "diverged")


@dataclass
class CGState:
    """Where a conjugate-gradient run stands (besides ``theta`` and its history)."""

    iterations: int = 0                # CG iterations done (callbacks seen), all sessions
    best_validation_loss: float = math.inf
    best_validation_loss_all: float = math.inf
    best_iteration: Optional[int] = None
    test_score: float = math.inf
    test_score_all: float = math.inf
    elapsed: float = 0.0
    stopped_by: Optional[str] = None   # one of CG_STOP_REASONS
    divergence: Optional[str] = None

    def to_dict(self):
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values):
        """A CGState from :meth:`to_dict`'s dict, every field checked (ValueError)."""
        return cls(**checked_state(cls, values, CG_STOP_REASONS, ("iterations",),
                                   ("best_iteration",), TrainState._LOSSES))


class _Stop(Exception):
    """Raised from the callback to end fmin_cg early (a Ctrl-C or a non-finite value)."""


class CGOptimizer(CheckpointedLoop):
    """The tutorial's conjugate-gradient training of a :class:`LogisticRegressionCG`.

    Parameters
    ----------
    model : LogisticRegressionCG
    x, y : the model's symbolic input (T.matrix) and labels (T.ivector)
    datasets : [(train_x, train_y), (valid_x, valid_y), (test_x, test_y)]
        The shared datasets (:func:`dltut.data.shared_datasets`).
    batch_size : int
        Examples per minibatch for the cost, the gradient and the error rates (600).
    n_epochs : int
        The most CG iterations (``fmin_cg``'s ``maxiter``).
    run_dir, log, meta : as for :class:`dltut.training.Trainer`.

    Attributes
    ----------
    state : CGState;  history : list of dict (one per iteration)
    fns : the :class:`dltut.training.Compiled` error-rate functions (``validate_model``, ...)
    """

    def __init__(self, model, x, y, datasets, batch_size=600, n_epochs=50, run_dir=None,
                 log=print, meta=None):
        if not isinstance(n_epochs, int) or isinstance(n_epochs, bool) or n_epochs < 1:
            raise ValueError("n_epochs must be a positive integer, got %r" % (n_epochs,))
        self.model, self.n_epochs = model, n_epochs
        self.batch_size = int(batch_size)
        # the error-rate functions and the example counts, as every dltut model has them
        self.fns = compile_functions(model, x, y, datasets,
                                     TrainConfig(batch_size=self.batch_size, n_epochs=n_epochs))
        started = time.perf_counter()
        train_x, train_y = datasets[0]
        offset = T.lscalar("minibatch_offset")  # the first example of a minibatch
        cost = model.negative_log_likelihood(y)
        givens = {x: train_x[offset:offset + self.batch_size],
                  y: train_y[offset:offset + self.batch_size]}
        self.batch_cost = theano.function([offset], cost, givens=givens, name="batch_cost")
        self.batch_grad = theano.function([offset], T.grad(cost, model.theta), givens=givens,
                                          name="batch_grad")
        self.fns.compile_seconds += time.perf_counter() - started
        self.n_train_batches = self.fns.n_train_batches
        self.run_dir = as_run_dir(run_dir)
        self.log = log or (lambda *args, **kwargs: None)
        self.meta = dict(meta or {})
        self.state = CGState()
        self.history = []
        self.best_theta = None
        self._last = (None, None)  # (theta, train_fn(theta)) of the last cost evaluated

    # ----------------------------------------------------------------- the tutorial's functions
    def _set_theta(self, theta_value):
        """Put ``fmin_cg``'s point into the model.  Under numpy 2's promotion rules (NEP 50)
        the line search's float64 step makes the point float64 in a float32 model; numpy 1
        kept it float32, so there the cast changes nothing."""
        self.model.theta.set_value(numpy.asarray(theta_value, dtype=self.model.theta.dtype),
                                   borrow=True)

    def train_fn(self, theta_value):
        """The mean over the training minibatches of their mean negative log-likelihood."""
        self._set_theta(theta_value)
        train_losses = [self.batch_cost(i * self.batch_size) for i in range(self.n_train_batches)]
        value = numpy.mean(train_losses)
        self._last = (theta_value, value)
        return value

    def train_fn_grad(self, theta_value):
        """The mean over the training minibatches of the gradient of their cost (flat)."""
        self._set_theta(theta_value)
        grad = self.batch_grad(0)
        for i in range(1, self.n_train_batches):
            grad += self.batch_grad(i * self.batch_size)
        return grad / self.n_train_batches

    def callback(self, theta_value):
        """After a CG iteration: validate, test at a new best, record, checkpoint."""
        st = self.state
        st.iterations += 1
        self._set_theta(theta_value)
        if not numpy.isfinite(theta_value).all():
            self.mark_diverged("theta became non-finite in iteration %d" % st.iterations)
            raise _Stop()
        loss, loss_all = evaluate(self.fns, "valid")
        self.log("validation error %f %%" % (loss * 100.0,))
        last_theta, last_cost = self._last
        record = {"iteration": st.iterations, "epoch": st.iterations,
                  "train_cost": float(last_cost) if last_theta is not None
                  and numpy.array_equal(last_theta, theta_value) else None,
                  "validation_error": loss, "validation_error_all": loss_all,
                  "test_error": None, "test_error_all": None,
                  "elapsed": round(time.perf_counter() - self._started, 3)}
        if loss < st.best_validation_loss:
            test, test_all = evaluate(self.fns, "test")
            st.best_validation_loss, st.best_validation_loss_all = loss, loss_all
            st.test_score, st.test_score_all = test, test_all
            st.best_iteration = st.iterations
            record["test_error"], record["test_error_all"] = test, test_all
            self.best_theta = numpy.array(theta_value, dtype=self.model.theta.dtype)
            if self.run_dir is not None:
                self.run_dir.save_best_model(self.model.unflatten(self.best_theta),
                                             self.best_meta())
        self.history.append(record)
        st.elapsed = time.perf_counter() - self._started
        if self.run_dir is not None:
            self.run_dir.append_history(record)
            self.save_checkpoint()
        if self._interrupt.requested:
            st.stopped_by = "interrupted"
            raise _Stop()

    # ----------------------------------------------------------------- the run
    def finished(self):
        return self.state.stopped_by in ("converged", "diverged") or (
            self.state.stopped_by == "n_epochs" and self.state.iterations >= self.n_epochs)

    def run(self):
        """Run ``fmin_cg`` for at most ``n_epochs`` iterations in all (a resumed run does
        the rest); returns a :class:`dltut.training.TrainResult`.  The model then holds the
        best theta seen (by validation error), except after a Ctrl-C."""
        import scipy.optimize
        st = self.state
        if self.finished() or st.iterations >= self.n_epochs:
            self.log("this run already finished (stopped by %s); nothing to do"
                     % (st.stopped_by or "n_epochs"))
            return self._finish()
        st.stopped_by = st.divergence = None
        theta0 = numpy.array(self.model.theta.get_value(), dtype=self.model.theta.dtype)
        before = st.iterations
        self._started = time.perf_counter() - st.elapsed
        with self.session() as self._interrupt:
            try:
                scipy.optimize.fmin_cg(f=self.train_fn, x0=theta0, fprime=self.train_fn_grad,
                                       callback=self.callback, disp=0,
                                       maxiter=self.n_epochs - before)
            except _Stop:
                pass
            if st.stopped_by is None:
                st.stopped_by = "n_epochs" if st.iterations >= self.n_epochs else "converged"
            self.end_session(self._started)
        if st.stopped_by == "interrupted":
            if self.run_dir is not None:
                self.log(self.interrupted_line())
            return self._result()
        return self._finish()

    def _finish(self):
        if self.best_theta is not None:
            self.model.theta.set_value(numpy.array(self.best_theta))
        return self._result()

    def _result(self):
        st = self.state
        return TrainResult.of(
            st, best_epoch=st.best_iteration, epochs=st.iterations,
            seconds_per_epoch=st.elapsed / st.iterations if st.iterations else float("nan"),
            compile_seconds=self.fns.compile_seconds, learning_rate=float("nan"),
            history=list(self.history))

    # ----------------------------------------------------------------- state and files
    def _meta(self):
        return dict(self.meta, model=self.model.spec(), floatX=theano.config.floatX,
                    config={"batch_size": self.batch_size, "n_epochs": self.n_epochs,
                            "optimizer": "fmin_cg"})

    def best_epoch(self):
        return self.state.best_iteration   # one fmin_cg iteration is one pass: an epoch

    def state_dict(self):
        return {"state": self.state.to_dict(), "history": list(self.history),
                "config": {"batch_size": self.batch_size, "optimizer": "fmin_cg"},
                "model": self.model.spec(),
                "params": [self.model.theta.get_value(borrow=True)],
                "best_params": None if self.best_theta is None else [self.best_theta]}

    @property
    def checkpoint_path(self):
        return self.run_dir.file(CHECKPOINT) if self.run_dir is not None else None

    def save_checkpoint(self, path=None):
        """Write the state (atomically) to the run folder's ``checkpoint.npz`` or to
        ``path``; a no-op without either."""
        self.mark_saved()
        if path is not None:
            ckpt.save_checkpoint(path, self.state_dict(), self._meta())
            return path
        if self.run_dir is None:
            return None
        return self.run_dir.save_checkpoint(self.state_dict(), self._meta())

    def load_checkpoint(self, path=None):
        """Continue from a checkpoint (default: the run folder's); everything is checked
        before anything changes (:class:`dltut.runs.checkpoint.CheckpointError` names the file).
        With a run folder, its ``history.jsonl`` and ``best_model.npz`` are rewritten to match
        the checkpoint.  Returns the file's meta."""
        meta = self.restore_checkpoint(path)
        if self.run_dir is not None:
            self.run_dir.write_history(self.history)
            if self.best_theta is not None:
                self.run_dir.save_best_model(self.model.unflatten(self.best_theta),
                                             self.best_meta())
        return meta

    def load_state(self, state, source="the saved state"):
        """Continue from :meth:`state_dict`'s dict (as read back from a checkpoint), every
        value checked before anything changes (CheckpointError naming ``source``)."""
        def fail(problem):
            raise ckpt.CheckpointError("%s: %s" % (source, problem))
        config = state.get("config") or {}
        if config.get("optimizer") != "fmin_cg":
            fail("it is not a conjugate-gradient checkpoint")
        if config.get("batch_size") != self.batch_size:
            fail("it was trained with batch_size %s, this run has %d; resume with the same "
                 "settings" % (config.get("batch_size"), self.batch_size))
        if state.get("model") != self.model.spec():
            fail("it was saved from model %s, not %s" % (state.get("model"), self.model.spec()))
        current = self.model.theta.get_value(borrow=True)
        arrays = list(state.get("params") or []) + list(state.get("best_params") or [])
        if not state.get("params") or len(state["params"]) != 1:
            fail("it holds no theta")
        for value in arrays:
            if value.shape != current.shape or value.dtype != current.dtype:
                fail("theta is %s %s in the file but %s %s in the model"
                     % (value.shape, value.dtype, current.shape, current.dtype))
            if not numpy.isfinite(value).all():
                fail("theta holds NaN or infinite values")
        history = state.get("history", [])
        if not isinstance(history, list) or not all(isinstance(r, dict) for r in history):
            fail("its history must be a list of objects")
        try:
            cg_state = CGState.from_dict(state.get("state"))
        except ValueError as error:
            fail("its state is damaged: %s" % error)
        self.model.theta.set_value(numpy.array(state["params"][0]))
        self.best_theta = numpy.array(state["best_params"][0]) if state.get("best_params") else None
        self.state, self.history = cg_state, list(history)

