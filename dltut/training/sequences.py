"""The training loop of the LSTM chapter (:class:`SequenceTrainer`): minibatches of
variable-length sentences, padded per minibatch, validated every ``validFreq`` updates with
the tutorial's patience rule, on the shell every dltut loop shares
(:class:`~dltut.training.loop.CheckpointedLoop`: run folder, checkpoints, Ctrl-C, resume,
divergence).
"""
import dataclasses
import math
import sys
import time
from dataclasses import dataclass, field
from typing import Optional

import numpy
import theano

from .. import checks
from ..runs import checkpoint as ckpt
from ..runs.rundir import CHECKPOINT, as_run_dir
from .loop import (CHECKPOINT_SECONDS, CheckpointedLoop, Progress, StopReason, checked,
                   checked_state)

__all__ = ["SEQUENCE_STOP_REASONS", "SequenceState", "SequenceResult", "SequenceTrainer"]

#: What stops a run: patience ran out ("Early Stop!"), max_epochs, a Ctrl-C, a non-finite cost.
SEQUENCE_STOP_REASONS = ("patience", "max_epochs", "interrupted", "diverged")


@dataclass
class SequenceState:
    """Where a run stands, besides the shared variables, the best parameters and the
    history of validation errors."""

    epoch: int = 0                   # the tutorial's eidx: epochs begun before this one
    position: int = 0                # minibatches done of the epoch in progress (0: none yet)
    uidx: int = 0                    # updates done in all
    n_samples: int = 0               # sentences seen in the epoch in progress
    bad_counter: int = 0
    elapsed: float = 0.0             # training seconds, all sessions together
    epoch_seconds: list = field(default_factory=list)
    order: list = field(default_factory=list)     # the epoch in progress's shuffled indices
    rng_state: list = field(default_factory=list)  # the shuffler's MT19937 keys, pos, has_gauss
    rng_gauss: float = 0.0
    stopped_by: Optional[str] = None
    divergence: Optional[str] = None

    _INTS = ("epoch", "position", "uidx", "n_samples", "bad_counter")

    def to_dict(self):
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values):
        got = checked_state(cls, values, SEQUENCE_STOP_REASONS, cls._INTS)
        checked(got["rng_gauss"], "rng_gauss", "number")
        for name in ("order", "rng_state"):
            if not isinstance(got[name], list) or not all(
                    isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in got[name]):
                raise ValueError("%s must be a list of integers >= 0" % name)
        return cls(**got)


@dataclass
class SequenceResult(StopReason):
    """What a run found: the tutorial's final errors (of the best parameters), and more."""

    train_err: float
    valid_err: float
    test_err: float
    epochs: int                      # epochs begun (the tutorial's eidx + 1)
    updates: int
    stopped_by: str
    wall_seconds: float
    history: list = field(default_factory=list)   # one record per validation
    divergence: Optional[str] = None


class SequenceTrainer(CheckpointedLoop):
    """The tutorial's ``train_lstm`` loop, with dltut's checkpoints and resume.

    Each epoch shuffles the training set with ``rng`` into minibatches of ``batch_size``
    (:func:`~dltut.recurrent.lstm.get_minibatches_idx`); each minibatch is padded
    (``prepare_data``) and trained on (``f_train(x, mask, y) -> cost`` with dropout on).
    Every ``dispFreq`` updates it logs ``Epoch  e Update  u Cost  c``; every ``validFreq``
    updates, with dropout off, it computes the error on the training set (by the epoch's
    own minibatches, as the tutorial), the validation and the test set (by minibatches of
    ``valid_batch_size``) and logs ``Train  t Valid  v Test  s``; the parameters of the
    lowest validation error so far (the latest of equals) are kept.  Once more than
    ``patience`` validations are done, a validation error not below the best of all but
    the last ``patience`` ones counts as bad; ``patience + 1`` bad ones since the last best
    stop the run (``Early Stop!``).  At the end the best parameters are put back and the
    three errors computed again (the training set in its sorted order).

    Parameters
    ----------
    f_train, f_pred : compiled functions ``(x, mask, y) -> cost`` and ``(x, mask) -> labels``
    use_noise : shared floatX scalar switching dropout
    prepare_data : callable ``(sentences, labels) -> (x, mask, labels)``
    pred_error : callable ``(f_pred, prepare_data, data, iterator) -> error``
    get_minibatches_idx : callable ``(n, size, shuffle, rng) -> [(i, indices), ...]``
    train, valid, test : ``(sentences, labels)``
    tparams : OrderedDict of the model's shared variables (saved as the best parameters)
    state : list of shared variables ``f_train``/``f_pred`` change besides ``tparams``
        (the optimiser's accumulators, the dropout's random streams).
    rng : numpy.random.RandomState drawing the shuffles.
    run_dir, log, progress, checkpoint_seconds : as for :class:`~dltut.training.Trainer`.
    """

    def __init__(self, f_train, f_pred, use_noise, prepare_data, pred_error,
                 get_minibatches_idx, train, valid, test, tparams, state, rng,
                 batch_size=16, valid_batch_size=64, max_epochs=5000, dispFreq=10,
                 validFreq=370, patience=10, run_dir=None, log=print, progress=None,
                 meta=None, checkpoint_seconds=CHECKPOINT_SECONDS):
        self.f_train, self.f_pred, self.use_noise = f_train, f_pred, use_noise
        self.prepare_data, self.pred_error = prepare_data, pred_error
        self.minibatches = get_minibatches_idx
        self.train, self.valid, self.test = train, valid, test
        self.tparams = tparams
        self.shared = list(tparams.values()) + [v for v in state if not any(
            v is p for p in tparams.values())]
        self.rng = checks.random_state(rng)
        self.batch_size = checks.positive_int(batch_size, "batch_size")
        self.valid_batch_size = checks.positive_int(valid_batch_size, "valid_batch_size")
        self.max_epochs = checks.positive_int(max_epochs, "max_epochs")
        self.dispFreq = checks.positive_int(dispFreq, "dispFreq")
        n_batches = -(-len(train[0]) // self.batch_size)
        self.validFreq = n_batches if validFreq == -1 else checks.positive_int(validFreq, "validFreq")
        self.patience = checks.non_negative_int(patience, "patience")
        self.n_batches = n_batches
        self.run_dir = as_run_dir(run_dir)
        self.log = log or (lambda *args, **kwargs: None)
        self.show_progress = sys.stderr.isatty() if progress is None else progress
        self.meta = dict(meta or {})
        self.checkpoint_seconds = checkpoint_seconds
        self.state = SequenceState()
        self.history = []        # validation records
        self.best_p = None       # the tutorial's best_p: arrays of tparams' order
        self.kf_valid = get_minibatches_idx(len(valid[0]), self.valid_batch_size)
        self.kf_test = get_minibatches_idx(len(test[0]), self.valid_batch_size)

    # ----------------------------------------------------------------- the loop
    def _say(self, *values):
        self.log(" ".join(str(v) for v in values))  # what print(*values) prints

    def _epoch_batches(self):
        order = numpy.asarray(self.state.order, dtype="int32")
        return [(i, order[start:start + self.batch_size])
                for i, start in enumerate(range(0, len(order), self.batch_size))]

    def _new_epoch(self):
        """Shuffle the next epoch's minibatches; keep its order and the generator's state."""
        kf = self.minibatches(len(self.train[0]), self.batch_size, shuffle=True, rng=self.rng)
        st = self.state
        st.order = [int(i) for _, batch in kf for i in batch]
        _, keys, pos, has_gauss, gauss = self.rng.get_state()
        st.rng_state = [int(v) for v in keys] + [int(pos), int(has_gauss)]
        st.rng_gauss = float(gauss)
        st.position, st.n_samples = 0, 0
        return kf

    def _rng_tuple(self):
        st = self.state
        return ("MT19937", numpy.array(st.rng_state[:624], dtype=numpy.uint32),
                st.rng_state[624], st.rng_state[625], st.rng_gauss)

    def run(self):
        """Train until patience runs out, ``max_epochs`` end, a Ctrl-C or divergence;
        return a :class:`SequenceResult` (with the final errors of the best parameters,
        except after a Ctrl-C or divergence)."""
        st = self.state
        if st.stopped_by == "patience" or (st.stopped_by == "max_epochs"
                                           and st.epoch >= self.max_epochs):
            self.log("training already finished (%s)" % st.stopped_by)
            return self._finish()
        st.stopped_by = st.divergence = None
        progress = Progress(self.n_batches, self.show_progress)
        started = self._started = time.perf_counter() - st.elapsed
        with self.session() as interrupt:
            while st.stopped_by is None:
                if st.epoch >= self.max_epochs:
                    st.stopped_by = "max_epochs"
                    break
                kf = self._epoch_batches() if st.position else self._new_epoch()
                first = st.position
                epoch_started = time.perf_counter()
                progress.start_epoch(st.epoch, first)
                for _, train_index in kf[first:]:
                    self._update(kf, train_index)
                    if st.stopped_by == "diverged":
                        break
                    st.position += 1
                    if st.stopped_by == "patience":
                        break
                    if interrupt.requested:
                        st.stopped_by = "interrupted"
                        break
                    if st.position < len(kf) and self.checkpoint_if_due(started):
                        break
                    progress.update(st.position)
                progress.clear()
                if st.stopped_by == "patience" or (st.stopped_by is None
                                                   and st.position == len(kf)):
                    self.log("Seen %d samples" % st.n_samples)
                    if first == 0 and st.position == len(kf):
                        st.epoch_seconds.append(time.perf_counter() - epoch_started)
                    st.epoch += 1
                    st.position = 0
                    st.elapsed = time.perf_counter() - started
                    if st.stopped_by is None:
                        self.save_checkpoint()
            self.end_session(started)
        if st.stopped_by == "interrupted":
            if self.run_dir is not None:
                self.log(self.interrupted_line())
            else:
                self.log("Training interupted")
        if st.stopped_by in ("interrupted", "diverged"):
            return self._result(math.nan, math.nan, math.nan)
        return self._finish()

    def _update(self, kf, train_index):
        """One update on ``train_index``, and the display and validation due after it."""
        st = self.state
        st.uidx += 1
        self.use_noise.set_value(1.)
        y = [self.train[1][t] for t in train_index]
        x = [self.train[0][t] for t in train_index]
        x, mask, y = self.prepare_data(x, y)
        st.n_samples += x.shape[1]
        cost = self.f_train(x, mask, y)
        if numpy.isnan(cost) or numpy.isinf(cost):
            self._say("bad cost detected: ", cost)
            self.mark_diverged("the cost became %s at update %d (epoch %d)"
                               % (cost, st.uidx, st.epoch))
            return
        if numpy.mod(st.uidx, self.dispFreq) == 0:
            self._say("Epoch ", st.epoch, "Update ", st.uidx, "Cost ", cost)
        if numpy.mod(st.uidx, self.validFreq) == 0:
            self._validate(kf)

    def _errors(self, train_batches):
        self.use_noise.set_value(0.)
        return (self.pred_error(self.f_pred, self.prepare_data, self.train, train_batches),
                self.pred_error(self.f_pred, self.prepare_data, self.valid, self.kf_valid),
                self.pred_error(self.f_pred, self.prepare_data, self.test, self.kf_test))

    def _validate(self, kf):
        st = self.state
        train_err, valid_err, test_err = self._errors(kf)
        dtype = numpy.asarray(valid_err).dtype
        record = {"epoch": st.epoch, "update": st.uidx, "train_err": float(train_err),
                  "valid_err": float(valid_err), "test_err": float(test_err),
                  "elapsed": round(time.perf_counter() - self._started, 3)}
        self.history.append(record)
        valids = numpy.array([r["valid_err"] for r in self.history], dtype=dtype)
        if self.best_p is None or valid_err <= valids.min():
            self.best_p = [p.get_value() for p in self.tparams.values()]
            st.bad_counter = 0
            record["best"] = True
        if self.run_dir is not None:
            self.run_dir.append_history(record)
        self._say("Train ", train_err, "Valid ", valid_err, "Test ", test_err)
        if len(self.history) > self.patience and valid_err >= valids[:-self.patience].min():
            st.bad_counter += 1
            if st.bad_counter > self.patience:
                self.log("Early Stop!")
                st.stopped_by = "patience"

    def _finish(self):
        st = self.state
        if self.best_p is not None:
            for p, value in zip(self.tparams.values(), self.best_p):
                p.set_value(value)
        else:
            self.best_p = [p.get_value() for p in self.tparams.values()]
        kf_train_sorted = self.minibatches(len(self.train[0]), self.batch_size)
        train_err, valid_err, test_err = self._errors(kf_train_sorted)
        self._say("Train ", train_err, "Valid ", valid_err, "Test ", test_err)
        epochs = max(st.epoch, 1)
        self.log("The code run for %d epochs, with %f sec/epochs"
                 % (epochs, st.elapsed / (1. * epochs)))
        if self.run_dir is not None:
            self.run_dir.save_best_model(self.best_p, dict(
                self._meta(), train_err=float(train_err), valid_err=float(valid_err),
                test_err=float(test_err)))
        return self._result(float(train_err), float(valid_err), float(test_err))

    def _result(self, train_err, valid_err, test_err):
        st = self.state
        return SequenceResult(train_err=train_err, valid_err=valid_err, test_err=test_err,
                              epochs=st.epoch, updates=st.uidx, stopped_by=st.stopped_by,
                              wall_seconds=st.elapsed, history=list(self.history),
                              divergence=st.divergence)

    # ----------------------------------------------------------------- state
    def _config(self):
        return {"batch_size": self.batch_size, "valid_batch_size": self.valid_batch_size,
                "dispFreq": self.dispFreq, "validFreq": self.validFreq,
                "patience": self.patience, "n_train": len(self.train[0]),
                "n_valid": len(self.valid[0]), "n_test": len(self.test[0]),
                "shared": [v.name for v in self.shared]}

    def _meta(self):
        return dict(self.meta, config=self._config(), floatX=theano.config.floatX)

    def state_dict(self):
        return {"state": self.state.to_dict(), "history": list(self.history),
                "config": self._config(),
                "shared": [v.get_value(borrow=True) for v in self.shared],
                "best_params": list(self.best_p or [])}

    def _non_finite(self):
        for i, variable in enumerate(self.shared):
            value = variable.get_value(borrow=True)
            if value.dtype.kind in "fc" and not numpy.isfinite(value).all():
                return variable.name or "shared variable #%d" % i
        return None

    def load_state(self, state, source="the saved state"):
        """Continue from :meth:`state_dict`'s dict; everything checked first (the same
        settings, data sizes and shared variables); CheckpointError naming ``source``."""
        def fail(problem):
            raise ckpt.CheckpointError("%s: %s" % (source, problem))

        if not isinstance(state, dict) or not isinstance(state.get("state"), dict):
            fail("it is not an LSTM checkpoint (no state object)")
        saved, mine = state.get("config"), self._config()
        if not isinstance(saved, dict):
            fail("its config is missing or not an object")
        for key in mine:
            if saved.get(key) != mine[key]:
                fail("it was saved with %s = %s, this run has %s; resume with the same "
                     "settings and data" % (key, saved.get(key), mine[key]))
        try:
            new = SequenceState.from_dict(state["state"])
        except ValueError as error:
            fail("its state is damaged: %s" % error)
        if new.position and sorted(new.order) != list(range(len(self.train[0]))):
            fail("its state is damaged: the epoch's order is not a permutation of the "
                 "training set")
        if new.rng_state and len(new.rng_state) != 626:
            fail("its state is damaged: the generator's state has %d numbers, not 626"
                 % len(new.rng_state))
        values = state.get("shared") or []
        best = state.get("best_params") or []
        if len(values) != len(self.shared):
            fail("it holds %d shared arrays, the model has %d" % (len(values), len(self.shared)))
        if best and len(best) != len(self.tparams):
            fail("it holds %d best parameters, the model has %d" % (len(best), len(self.tparams)))
        for var, value in list(zip(self.shared, values)) + list(zip(self.tparams.values(), best)):
            current = var.get_value(borrow=True)
            if value.shape != current.shape or value.dtype != current.dtype:
                fail("shared variable %s is %s %s in the file but %s %s here"
                     % (var.name, value.shape, value.dtype, current.shape, current.dtype))
            if value.dtype.kind in "fc" and not numpy.isfinite(value).all():
                fail("shared variable %s holds NaN or infinite values" % var.name)
        history = state.get("history", [])
        if not isinstance(history, list) or not all(isinstance(r, dict) for r in history):
            fail("its history must be a list of objects")
        for var, value in zip(self.shared, values):
            var.set_value(value)
        self.state, self.history = new, list(history)
        self.best_p = [numpy.array(v) for v in best] or None
        if new.rng_state:
            self.rng.set_state(self._rng_tuple())

    @property
    def checkpoint_path(self):
        return self.run_dir.file(CHECKPOINT) if self.run_dir is not None else None

    def save_checkpoint(self, path=None):
        """Write the state (atomically) to the run folder's ``checkpoint.npz`` or ``path``;
        nothing non-finite is written (the run is marked diverged instead)."""
        if path is None and self.run_dir is None:
            return None
        bad = self._non_finite()
        if bad:
            self.mark_diverged("%s became non-finite by update %d" % (bad, self.state.uidx))
            return None
        self.mark_saved()
        if path is not None:
            ckpt.save_checkpoint(path, self.state_dict(), self._meta())
            return path
        return self.run_dir.save_checkpoint(self.state_dict(), self._meta())

    def load_checkpoint(self, path=None):
        """Restore from a checkpoint (default: the run folder's); the run folder's
        ``history.jsonl`` is rewritten to match it."""
        meta = self.restore_checkpoint(path)
        if self.run_dir is not None:
            self.run_dir.write_history(self.history)
        return meta
