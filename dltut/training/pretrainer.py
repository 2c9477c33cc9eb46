"""The unsupervised, greedy layer-wise training loop (:class:`Pretrainer`) of the dA, the cA,
the SdA's and the DBN's layers and the RBM: each :class:`PretrainLayer` trained in turn, epoch
by epoch, with the same checkpoints, resume and Ctrl-C handling as the supervised loop
(the shell of :mod:`dltut.training.loop`).
"""
import dataclasses
import string
import sys
import time
from dataclasses import dataclass, field
from typing import Optional

import numpy
import theano

from .. import checks
from ..runs import checkpoint as ckpt
from ..runs.rundir import PRETRAINING_CHECKPOINT, PRETRAINING_HISTORY, as_run_dir
from .functions import fast_step
from .loop import CHECKPOINT_SECONDS, CheckpointedLoop, Progress, StopReason, checked_state

__all__ = ["PRETRAIN_STOP_REASONS", "PretrainLayer", "PretrainState", "PretrainResult",
           "Pretrainer"]

#: What stops a pre-training run (``PretrainResult.stopped_by``): every layer trained, a
#: Ctrl-C, a non-finite cost or parameter.
PRETRAIN_STOP_REASONS = ("n_epochs", "interrupted", "diverged")


def _format_fields(template):
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
        (:func:`dltut.updates.updated_shared_variables` lists what a compiled function updates).
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
class PretrainResult(StopReason):
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


class Pretrainer(CheckpointedLoop):
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
    fast_calls : bool, optional
        Call each compiled ``train_fn`` through :func:`dltut.training.fast_step` (its
        virtual machine directly, without ``theano.function``'s per-call bookkeeping): the
        same computation bit for bit, less Python work per minibatch.  Default True; False
        calls ``train_fn(index)`` as written.

    Attributes
    ----------
    state : PretrainState
    history : list of dict, the per-epoch records
    on_epoch_end : callable(layer_index, epochs_done) or None
    on_layer_end : callable(layer_index) or None
        Called once a layer has finished training (after ``layers/NN.npz`` is written).
    """

    def __init__(self, layers, n_batches, n_epochs, model=None, run_dir=None, log=print,
                 progress=None, meta=None, checkpoint_seconds=CHECKPOINT_SECONDS,
                 fast_calls=True):
        self.fast_calls = bool(fast_calls)
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
        progress = Progress(self.n_batches, self.show_progress)
        started = time.perf_counter() - st.elapsed
        with self.session() as interrupt:
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
                train_fn = fast_step(layer.train_fn) if self.fast_calls else layer.train_fn
                for minibatch_index in range(first, self.n_batches):
                    cost = numpy.asarray(train_fn(minibatch_index))
                    if not numpy.isfinite(cost).all():
                        self.mark_diverged("the cost of %s became %s at minibatch %d of epoch %d"
                                       % (layer.name, cost.tolist(), minibatch_index + 1,
                                          st.epoch + 1))
                        break
                    self.costs.append(cost)
                    st.minibatch_index = minibatch_index + 1
                    st.iterations += 1
                    if interrupt.requested:
                        st.stopped_by = "interrupted"
                        break
                    if minibatch_index + 1 < self.n_batches and self.checkpoint_if_due(started):
                        break
                    progress.update(minibatch_index + 1)
                progress.clear()
                if st.minibatch_index == self.n_batches and st.stopped_by != "diverged":
                    st.elapsed = time.perf_counter() - started
                    self._end_epoch(index, layer, time.perf_counter() - epoch_started
                                    if first == 0 else None)
                    if st.stopped_by is None:
                        self.save_checkpoint()
            self.end_session(started)
        if st.stopped_by == "interrupted" and self.run_dir is not None:
            self.log(self.interrupted_line())
        return self._result()

    def _end_epoch(self, index, layer, seconds):
        st = self.state
        costs = numpy.asarray(self.costs)
        summary = layer.summary(costs)
        bad = self._non_finite()
        if bad:
            self.mark_diverged("%s became non-finite in epoch %d of %s" % (bad, st.epoch + 1, layer.name))
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
            self.mark_diverged("%s became non-finite by minibatch %d" % (bad, self.state.iterations))
            return None
        self.mark_saved()
        if path is not None:
            ckpt.save_checkpoint(path, self.state_dict(), self._meta())
            return path
        return self.run_dir.save_checkpoint(self.state_dict(), self._meta(),
                                            name=PRETRAINING_CHECKPOINT)

    def load_checkpoint(self, path=None):
        """Restore from a checkpoint file (default: the run folder's ``pretraining.npz``);
        returns the file's meta.  With a run folder, ``pretraining.jsonl`` is rewritten to
        match the checkpoint (a crash may have left records from after it)."""
        meta = self.restore_checkpoint(path)
        if self.run_dir is not None:
            self.run_dir.write_history(self.history, PRETRAINING_HISTORY)
        return meta
