"""The compiled functions of the tutorial's supervised training: ``train_model(index)``,
``validate_model(index)``, ``test_model(index)`` (:func:`compile_functions`) and the
error rates they give (:func:`evaluate`).

The data path is the tutorial's: the six datasets live in shared variables, the compiled
``train_model(index)`` slices minibatch ``index`` out of them through ``givens`` and
applies ``param <- param - learning_rate * d cost / d param`` through ``updates``.  Only
the index crosses from Python into the compiled function.
"""
import functools
import numbers
import time
from dataclasses import dataclass

import numpy
import theano
import theano.tensor as T

from .. import checks
from ..init import floatX
from ..models import minibatch_for
from ..updates import make_velocities, momentum_updates, sgd_updates
from .config import TrainConfig

__all__ = ["Compiled", "shared_length", "sum_of_squares", "n_classes_of", "label_values",
           "check_labels_fit", "compile_functions", "evaluate", "short", "FastStep",
           "supports_fast_step", "fast_step"]


def short(value):
    """``value`` for a message: its type and a repr cut to 60 characters."""
    text = repr(value)
    return "%s %s" % (type(value).__name__, text if len(text) <= 60 else text[:57] + "...")


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
    float64.  On the MLP's 784x500 weights that pair was a large share of a training step
    spent only on printing the cost (bench/README.md has the measurement).  The gradient
    still comes from ``L2_sqr`` (its graph has no sum), so the updates are unchanged; the returned value differs only in rounding (a float32 dot product sums
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
        (A ``T.row`` input, one example per minibatch as in ``SdA(row_input=True)``, gets
        its minibatches as rows and needs ``config.batch_size`` 1: see
        :func:`dltut.models.minibatch_for`.)
    datasets : [(train_x, train_y), (valid_x, valid_y), (test_x, test_y)]
        Shared variables (x) and int32 casts of shared variables (y), as
        :func:`dltut.data.shared_dataset` returns them.
    config : TrainConfig
    """
    if not isinstance(config, TrainConfig):
        raise TypeError("config must be a dltut.training.TrainConfig, got %s; pass e.g. "
                        "TrainConfig(learning_rate=0.1, batch_size=20)" % short(config))
    if not isinstance(datasets, (list, tuple)) or len(datasets) != 3:
        raise ValueError("datasets must be [(train_x, train_y), (valid_x, valid_y), (test_x, test_y)], "
                         "got %s; pass what dltut.data.shared_datasets(splits) returns"
                         % short(datasets))
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
        givens={x: minibatch_for(x, batch(train_x, batch_size), batch_size),
                y: batch(train_y, batch_size)},
        name="train_model")
    errors = model.errors(y)
    scorers, counters = {}, {}
    first, last = T.lscalar("start"), T.lscalar("stop")
    for which, (set_x, set_y) in (("valid", (valid_x, valid_y)), ("test", (test_x, test_y))):
        size = min(batch_size, n_examples[which])
        scorers[which] = theano.function(
            [index], errors, givens={x: minibatch_for(x, batch(set_x, size), size),
                                     y: batch(set_y, size)},
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


# --------------------------------------------------------------------------- the fast call path
class FastStep:
    """``step(index)``: the compiled ``function(index, **fixed)`` run through its virtual
    machine directly, without ``theano.function``'s per-call bookkeeping.

    A training loop calls its step tens of thousands of times an epoch.  Around the compiled
    work, ``Function.__call__`` filters every argument, checks the inputs for aliasing and
    for missing values, looks keyword arguments up, puts the inputs' defaults back and counts
    for the profiler: 70 to 230 us of CPU a call at the later chapters' steps, 5 to 9 % of
    the SdA's and the DBN's (bench/small_batch.py measures it).  ``FastStep`` sets the input
    cells itself -- the index, converted as ``Function.__call__`` converts it, and the
    ``fixed`` inputs (e.g. the SdA's ``corruption`` and ``lr``), converted once -- and runs
    the same compiled VM: the same Ops on the same storage, so the parameters, the random
    streams' states and the returned costs are those of ``function(index, **fixed)``, bit
    for bit.  The values are set again at every call, so a plain ``function(...)`` call in
    between (which restores the inputs' defaults) changes nothing.

    Use :func:`fast_step`, which falls back to the plain call where this path does not apply.
    """

    def __init__(self, function, fixed=None):
        if not supports_fast_step(function):
            raise ValueError("%s cannot take the fast call path (it needs a compiled "
                             "theano.function run by the C VM, without profiling); call it "
                             "directly" % short(function))
        fixed = dict(fixed or {})
        self.function = function
        inputs, cells = function.maker.inputs, function.input_storage
        index = cells[0]
        self._index_cell = index.storage
        self._index_filter = functools.partial(index.type.filter, strict=index.strict,
                                               allow_downcast=index.allow_downcast)
        self._index_dtype = numpy.dtype(getattr(index.type, "dtype", "object"))
        self._integer_index = (self._index_dtype.kind == "i"
                               and getattr(index.type, "ndim", None) == 0)
        positions = {inp.name: k for k, inp in enumerate(inputs) if inp.name}
        self._fixed = []
        for name, value in fixed.items():
            if positions.get(name, 0) == 0:
                raise ValueError("%s has no input named %r to fix (its inputs: %s)" % (
                    short(function), name, ", ".join(sorted(positions))))
            cell = cells[positions[name]]
            self._fixed.append((cell.storage, cell.type.filter(
                value, strict=cell.strict, allow_downcast=cell.allow_downcast)))
        missing = [inp.name for k, (inp, cell) in enumerate(zip(inputs, cells))
                   if k > 0 and cell.required and inp.name not in fixed]
        if missing:
            raise ValueError("%s needs a value for %s besides the index" % (
                short(function), ", ".join(map(repr, missing))))
        self._vm = function.fn
        self._outputs = [c.storage for c in function.output_storage[:function.n_returned_outputs]]
        self._single = function.unpack_single and len(self._outputs) == 1

    def _convert(self, index):
        # a Python or numpy integer that fits: what the input's filter returns for it
        if self._integer_index and isinstance(index, (int, numpy.integer)) and not isinstance(
                index, bool):
            try:
                value = numpy.asarray(index, dtype=self._index_dtype)
            except OverflowError:
                value = None
            if value is not None and value == index:
                return value
        return self._index_filter(index)

    def __call__(self, index):
        self._index_cell[0] = self._convert(index)
        for storage, value in self._fixed:
            storage[0] = value
        vm = self._vm
        try:
            vm()
        except Exception:
            if hasattr(vm, "position_of_error"):  # Theano's own report of the failing Op
                from theano.gof import link
                position = vm.position_of_error
                thunks = getattr(vm, "thunks", None)
                link.raise_with_op(node=vm.nodes[position],
                                   thunk=thunks[position] if thunks else None,
                                   storage_map=getattr(vm, "storage_map", None))
            raise
        if self._single:
            return self._outputs[0][0]
        return [storage[0] for storage in self._outputs]

    def __repr__(self):
        return "FastStep(%s)" % getattr(self.function, "name", None)


def supports_fast_step(function):
    """True when ``function`` is a ``theano.function`` that :class:`FastStep` can run: its
    VM applies the updates itself (Theano's C VM does) and keeps its buffers, it is not
    profiled, its first input is the index and it returns its outputs."""
    if not isinstance(function, theano.compile.function_module.Function):
        return False
    vm = function.fn
    return bool(not getattr(vm, "need_update_inputs", True)
                and not getattr(vm, "allow_gc", True)
                and not function.profile and not function.return_none
                and function.input_storage and function.maker.inputs[0].update is None
                and function.output_storage is not None
                and getattr(function, "n_returned_outputs", None) is not None)


def fast_step(step):
    """``step`` (a training loop's ``train_fn(index)``) on the fast call path where it can
    take it, else ``step`` itself.

    ``step`` may be a compiled ``theano.function([index, ...], ...)`` or a
    ``functools.partial`` of one with keyword arguments only (the SdA's
    ``partial(fn, corruption=0.1, lr=0.001)``); anything else (a Python callable, a
    profiled function, a function whose VM leaves the updates to ``Function.__call__``) is
    returned unchanged.  The result computes exactly what ``step(index)`` computes: see
    :class:`FastStep`.
    """
    function, fixed = step, {}
    if isinstance(step, functools.partial):
        if step.args:
            return step
        function, fixed = step.func, step.keywords
    if not supports_fast_step(function):
        return step
    try:
        return FastStep(function, fixed)
    except (ValueError, TypeError):
        return step
