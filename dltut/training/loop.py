"""The one loop shell that :class:`~dltut.training.Trainer`, :class:`~dltut.training.Pretrainer`
and :class:`~dltut.training.CGOptimizer` share: the run folder held while a run trains, the
first Ctrl-C turned into a stop after the current step (:class:`InterruptFlag`), a checkpoint
when one is due and at the end, the progress bar (:class:`Progress`), the "diverged" stop,
and reading a checkpoint back (:class:`CheckpointedLoop`); also the checks of a state read
back from a file (:func:`checked`, :func:`checked_state`).
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

from ..runs import checkpoint as ckpt

__all__ = ["CHECKPOINT_SECONDS", "StopReason", "checked", "checked_state", "InterruptFlag",
           "Progress", "Closing", "CheckpointedLoop"]

CHECKPOINT_SECONDS = 300.0


class StopReason:
    """``interrupted`` and ``diverged`` for a result with a ``stopped_by``."""

    @property
    def interrupted(self):
        return self.stopped_by == "interrupted"

    @property
    def diverged(self):
        return self.stopped_by == "diverged"


def checked(value, name, kind, minimum=None, none=False):
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
        checked(got[name], name, "int", 0)
    for name in nullable_ints:
        checked(got[name], name, "int", 0, none=True)
    for name in losses:
        got[name] = math.inf if got[name] is None else checked(got[name], name, "number", 0)
    checked(got["elapsed"], "elapsed", "number", 0)
    if "epoch_seconds" in got:
        if not isinstance(got["epoch_seconds"], list):
            raise ValueError("epoch_seconds must be a list, got %r" % (got["epoch_seconds"],))
        for seconds in got["epoch_seconds"]:
            checked(seconds, "epoch_seconds", "number", 0)
    if got["stopped_by"] not in tuple(stop_reasons) + (None,):
        raise ValueError("stopped_by must be one of %s or null, got %r"
                         % (", ".join(stop_reasons), got["stopped_by"]))
    if got["divergence"] is not None and not isinstance(got["divergence"], str):
        raise ValueError("divergence must be text or null, got %r" % (got["divergence"],))
    return got


class InterruptFlag:
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


class Progress:
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


class Closing:
    """Closes a progress display when the run ends, with its result (None if it raised)."""

    def __init__(self, display):
        self.display, self.result = display, None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.display.close(self.result)
        return False


class CheckpointedLoop:
    """The loop shell: what every training loop of dltut does around its steps.

    A subclass has ``run_dir`` (a :class:`dltut.runs.rundir.RunDir` or None), ``state``
    (with ``stopped_by``, ``divergence`` and ``elapsed``), ``log``, ``checkpoint_seconds``,
    ``checkpoint_path``, ``save_checkpoint()`` and ``load_state(state, source)``; its
    ``run()`` trains inside :meth:`session` and uses the rest.
    """

    checkpoint_seconds = 0
    _last_save = 0.0

    @contextlib.contextmanager
    def session(self):
        """The run folder held (locked) and Ctrl-C caught for one ``run()``; yields the
        :class:`InterruptFlag` (``requested`` once a Ctrl-C came); the checkpoint clock
        starts."""
        held = self.run_dir.held() if self.run_dir is not None else contextlib.nullcontext()
        with held, InterruptFlag() as interrupt:
            self._last_save = time.perf_counter()
            yield interrupt

    def checkpoint_due(self):
        """True when ``checkpoint_seconds`` have passed since the last checkpoint."""
        return bool(self.run_dir is not None and self.checkpoint_seconds
                    and time.perf_counter() - self._last_save >= self.checkpoint_seconds)

    def checkpoint_if_due(self, started):
        """Inside an epoch: write a checkpoint when one is due (the training time so far,
        from ``started``, with it); True when writing it stopped the run (a non-finite value
        found instead)."""
        if not self.checkpoint_due():
            return False
        self.state.elapsed = time.perf_counter() - started
        self.save_checkpoint()
        return self.state.stopped_by is not None

    def mark_saved(self):
        """A checkpoint was just written: the next timed one is due ``checkpoint_seconds``
        from now."""
        self._last_save = time.perf_counter()

    def mark_diverged(self, what):
        """Stop the run as "diverged" because of ``what`` (a non-finite cost or value)."""
        self.state.stopped_by = "diverged"
        self.state.divergence = what

    def end_session(self, started):
        """The run's loop is over: its training time, and the final checkpoint unless it
        diverged (nothing non-finite is ever written)."""
        self.state.elapsed = time.perf_counter() - started
        if self.state.stopped_by != "diverged":
            self.save_checkpoint()

    def interrupted_line(self):
        """What a Ctrl-C'd run logs about its checkpoint (None without a run folder)."""
        if self.run_dir is None:
            return None
        return ("interrupted: checkpoint written to %s; resume with --resume %s"
                % (self.checkpoint_path, self.run_dir))

    def restore_checkpoint(self, path=None):
        """Load the checkpoint at ``path`` (default: the run folder's) into the loop
        (through ``load_state``); returns the file's meta."""
        if path is None:
            if self.run_dir is None:
                raise ValueError("load_checkpoint needs a path when the %s has no run_dir"
                                 % type(self).__name__)
            path = self.checkpoint_path
        state, meta = ckpt.load_checkpoint(path)
        self.load_state(state, source=os.fspath(path))
        return meta

    def best_meta(self):
        """The metadata saved beside the best parameters: the loop's ``_meta()`` and the
        best validation's errors, iteration and epoch (:meth:`best_epoch`)."""
        st = self.state
        return dict(self._meta(), validation_error=st.best_validation_loss,
                    validation_error_all=st.best_validation_loss_all,
                    test_error=st.test_score, test_error_all=st.test_score_all,
                    iteration=st.best_iteration, epoch=self.best_epoch())

    def best_epoch(self):
        return self.state.best_epoch
