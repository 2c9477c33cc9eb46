"""Models composed from the tutorial's layers: ``MLP`` and ``LeNet5``.

Both expose the tutorial's interface: ``input``, ``p_y_given_x``, ``y_pred``,
``negative_log_likelihood(y)``, ``errors(y)``, ``params``, and the regularisers ``L1``
(sum of absolute weights) and ``L2_sqr`` (sum of squared weights), taken over the weight
matrices/filters only, never the biases.  ``spec()`` describes a model in plain JSON-able
values and :func:`build_model` builds it again (for saved models and prediction).
"""
import numpy
import theano
import theano.tensor as T

from . import checks
from .layers import HiddenLayer, LeNetConvPoolLayer, LogisticRegression, ParamsMixin
from .updates import sgd_updates

__all__ = ["MNIST_IMAGE_SHAPE", "MNIST_N_IN", "MNIST_N_CLASSES", "Classifier", "MLP", "LeNet5",
           "check_spec", "size_of", "min_side", "training_bytes", "build_model", "image_shape_of",
           "finetune_functions", "minibatch_for"]

MNIST_IMAGE_SHAPE = (28, 28)
MNIST_N_IN = MNIST_IMAGE_SHAPE[0] * MNIST_IMAGE_SHAPE[1]
MNIST_N_CLASSES = 10


class Classifier(ParamsMixin):
    """What MLP and LeNet5 share: a top logistic regression layer and weight regularisers."""

    def _finish(self, log_regression_layer, weights):
        self.log_regression_layer = log_regression_layer
        self.p_y_given_x = log_regression_layer.p_y_given_x
        self.y_pred = log_regression_layer.y_pred
        self.output = self.p_y_given_x
        self.regularised_weights = list(weights)
        self.L1 = sum(abs(W).sum() for W in weights)
        self.L2_sqr = sum((W ** 2).sum() for W in weights)

    def negative_log_likelihood(self, y):
        """Mean negative log-likelihood of ``y`` (T.ivector) under the model."""
        return self.log_regression_layer.negative_log_likelihood(y)

    def errors(self, y):
        """Zero-one loss: the fraction of the minibatch that is misclassified."""
        return self.log_regression_layer.errors(y)


class MLP(Classifier):
    """A multi-layer perceptron: hidden layer(s) then logistic regression.

    Parameters
    ----------
    rng : numpy.random.RandomState
        The hidden layers draw their weights from it in order (the output layer starts at 0).
    input : T.matrix, shape (n_examples, n_in)
    n_in : int
    n_hidden : int or sequence of ints
        Units of the hidden layer, or of each hidden layer in order.
    n_out : int
    activation : callable or str
        The hidden layers' non-linearity (tanh by default, as in the tutorial).
    init : str, optional
        Weight initialisation of the hidden layers (see :class:`HiddenLayer`).

    Attributes
    ----------
    hidden_layers : list of HiddenLayer (``hidden_layer`` is the first)
    log_regression_layer : LogisticRegression
    p_y_given_x : T.matrix, shape (n_examples, n_out)
    params : list
        Hidden layers' ``[W, b]`` in order, then the output layer's.
    """

    def __init__(self, rng, input, n_in, n_hidden, n_out, activation=T.tanh, init=None):
        checks.random_state(rng, "rng")
        n_in, n_out = checks.positive_int(n_in, "n_in"), checks.positive_int(n_out, "n_out")
        sizes = list(checks.positive_ints(n_hidden, "n_hidden"))
        self.input = input
        self.n_in, self.n_hidden, self.n_out = n_in, sizes, n_out
        self.hidden_layers = []
        layer_input, layer_n_in = input, n_in
        for size in sizes:
            layer = HiddenLayer(rng, layer_input, layer_n_in, size, activation=activation, init=init)
            self.hidden_layers.append(layer)
            layer_input, layer_n_in = layer.output, size
        self.hidden_layer = self.hidden_layers[0]
        self.activation_name = self.hidden_layer.activation_name
        self.init = self.hidden_layer.init
        output_layer = LogisticRegression(layer_input, layer_n_in, n_out)
        self.params = [p for layer in self.hidden_layers for p in layer.params] + output_layer.params
        self._finish(output_layer, [layer.W for layer in self.hidden_layers] + [output_layer.W])

    def spec(self):
        return {"name": "MLP", "n_in": self.n_in, "n_hidden": self.n_hidden, "n_out": self.n_out,
                "activation": self.activation_name, "init": self.init}

    def __repr__(self):
        sizes = "-".join(str(n) for n in [self.n_in] + self.n_hidden + [self.n_out])
        return "MLP(%s, activation=%s)" % (sizes, self.activation_name)


class LeNet5(Classifier):
    """The tutorial's LeNet: two conv/pool layers, a tanh hidden layer, logistic regression.

    ``(batch, n_in) -> reshape (batch, channels, h, w) -> conv 5x5, pool 2x2 -> conv 5x5,
    pool 2x2 -> flatten -> HiddenLayer(n_hidden, tanh) -> LogisticRegression(n_out)``.
    Layers are created, and their weights drawn from ``rng``, in that order.

    Parameters
    ----------
    rng : numpy.random.RandomState
    input : T.matrix, shape (batch, channels * h * w)
        Flattened images, one per row (as stored in the shared datasets).
    batch_size : int or None
        The minibatch size, when fixed (the tutorial fixes it); None lets the same compiled
        graph take batches of any size (used to score a partial last batch).
    nkerns : pair of ints
        Filters in the first and second convolutional layers.
    n_hidden : int
    image_shape : pair of ints
        (h, w) of the input images; (28, 28) for MNIST.
    n_channels, n_out, filter_size, poolsize :
        Input channels (1 for MNIST), classes, square filter size, pooling window.

    Attributes
    ----------
    layer0, layer1 : LeNetConvPoolLayer; layer2 : HiddenLayer; layer3 : LogisticRegression
    params : list
        ``[W0, b0, W1, b1, W2, b2, W3, b3]`` (input side first).
    """

    def __init__(self, rng, input, batch_size=None, nkerns=(20, 50), n_hidden=500,
                 image_shape=MNIST_IMAGE_SHAPE, n_channels=1, n_out=MNIST_N_CLASSES,
                 filter_size=5, poolsize=(2, 2)):
        checks.random_state(rng, "rng")
        nkerns = checks.positive_ints(nkerns, "nkerns", 2)
        height, width = checks.shape(image_shape, "image_shape", 2)
        n_hidden, n_out = checks.positive_int(n_hidden, "n_hidden"), checks.positive_int(n_out, "n_out")
        n_channels = checks.positive_int(n_channels, "n_channels")
        filter_size = checks.positive_int(filter_size, "filter_size")
        poolsize = checks.shape(poolsize, "poolsize", 2)
        if batch_size is not None:
            batch_size = checks.positive_int(batch_size, "batch_size")
        self.input = input
        self.batch_size = batch_size
        self.nkerns, self.n_hidden, self.n_out = nkerns, int(n_hidden), int(n_out)
        self.image_shape, self.n_channels = (height, width), int(n_channels)
        self.filter_size, self.poolsize = int(filter_size), tuple(poolsize)

        rows = input.shape[0] if batch_size is None else batch_size
        # (batch, c*h*w) -> (batch, c, h, w)
        layer0_input = input.reshape((rows, n_channels, height, width))
        self.layer0 = LeNetConvPoolLayer(
            rng, layer0_input, image_shape=(batch_size, n_channels, height, width),
            filter_shape=(nkerns[0], n_channels, filter_size, filter_size), poolsize=poolsize)
        # e.g. (batch, 1, 28, 28) -> (batch, 20, 12, 12)
        self.layer1 = LeNetConvPoolLayer(
            rng, self.layer0.output, image_shape=self.layer0.output_shape,
            filter_shape=(nkerns[1], nkerns[0], filter_size, filter_size), poolsize=poolsize)
        # e.g. (batch, 20, 12, 12) -> (batch, 50, 4, 4) -> flatten -> (batch, 800)
        _, k, h1, w1 = self.layer1.output_shape
        self.layer2 = HiddenLayer(rng, self.layer1.output.flatten(2), n_in=k * h1 * w1,
                                  n_out=n_hidden, activation=T.tanh)
        # (batch, 500) -> (batch, 10)
        self.layer3 = LogisticRegression(self.layer2.output, n_in=n_hidden, n_out=n_out)
        self.layers = [self.layer0, self.layer1, self.layer2, self.layer3]
        self.params = [p for layer in self.layers for p in layer.params]
        self._finish(self.layer3, [layer.W for layer in self.layers])

    def spec(self):
        return {"name": "LeNet5", "nkerns": list(self.nkerns), "n_hidden": self.n_hidden,
                "image_shape": list(self.image_shape), "n_channels": self.n_channels,
                "n_out": self.n_out, "filter_size": self.filter_size,
                "poolsize": list(self.poolsize)}

    def __repr__(self):
        return "LeNet5(image=%dx%dx%d, nkerns=%s, n_hidden=%d, n_out=%d)" % (
            self.n_channels, self.image_shape[0], self.image_shape[1], self.nkerns,
            self.n_hidden, self.n_out)


def _positive_ints(spec, key, count=None):
    """``spec[key]`` as a tuple of positive ints (``count`` of them, or any number >= 1);
    ValueError (a TypeError's message too: a spec comes from a file) naming ``key``."""
    try:
        return checks.positive_ints(spec[key], key, count)
    except TypeError as error:
        raise ValueError(str(error)) from None


def check_spec(spec):
    """Check a ``spec()`` dict (read back from a file) before anything is built from it;
    ValueError names the first bad entry."""
    if not isinstance(spec, dict):
        raise ValueError("a model spec must be an object, got %s" % type(spec).__name__)
    name = spec.get("name")
    need = {"LogisticRegression": ("n_in", "n_out"), "MLP": ("n_in", "n_hidden", "n_out"),
            "LeNet5": ("nkerns", "n_hidden", "image_shape", "n_out")}.get(name)
    if need is None:
        raise ValueError("unknown model %r in spec; expected LogisticRegression, MLP or LeNet5"
                         % (name,))
    missing = [key for key in need if key not in spec]
    if missing:
        raise ValueError("the %s spec lacks %s" % (name, ", ".join(missing)))
    counts = {"nkerns": 2, "image_shape": 2, "poolsize": 2, "n_hidden": 1 if name == "LeNet5"
              else None}
    for key in ("n_in", "n_out", "n_hidden", "nkerns", "image_shape", "n_channels",
                "filter_size", "poolsize"):
        if key in spec:
            _positive_ints(spec, key, counts.get(key, 1))
    for key in ("activation", "init"):
        if spec.get(key) is not None and not isinstance(spec[key], str):
            raise ValueError("%s must be a name, got %r" % (key, spec[key]))


def size_of(spec):
    """``(parameters, activations)``: how many numbers the model a spec describes holds in
    its parameters, and computes per example (layer outputs), without building it."""
    check_spec(spec)
    if spec["name"] == "LeNet5":
        k0, k1 = _positive_ints(spec, "nkerns", 2)
        height, width = _positive_ints(spec, "image_shape", 2)
        channels = spec.get("n_channels", 1)
        f = spec.get("filter_size", 5)
        ph, pw = tuple(spec.get("poolsize", (2, 2)))
        conv0 = (height - f + 1, width - f + 1)
        pool0 = (conv0[0] // ph, conv0[1] // pw)
        conv1 = (pool0[0] - f + 1, pool0[1] - f + 1)
        pool1 = (conv1[0] // ph, conv1[1] // pw)
        if min(pool1) < 1:
            raise ValueError("images of %dx%d are too small for LeNet5's two %dx%d convolutions "
                             "and %dx%d poolings; train logistic_sgd.py or mlp.py on them, or "
                             "use images of at least %dx%d"
                             % (height, width, f, f, ph, pw, min_side(f, ph), min_side(f, pw)))
        hidden, n_out = _positive_ints(spec, "n_hidden", 1)[0], spec["n_out"]
        flat = k1 * pool1[0] * pool1[1]
        parameters = (k0 * channels * f * f + k0 + k1 * k0 * f * f + k1
                      + flat * hidden + hidden + hidden * n_out + n_out)
        activations = (k0 * (conv0[0] * conv0[1] + pool0[0] * pool0[1])
                       + k1 * (conv1[0] * conv1[1]) + flat + hidden + n_out)
        return parameters, activations
    sizes = [spec["n_in"]] + list(_positive_ints(spec, "n_hidden") if "n_hidden" in spec
                                  else ()) + [spec["n_out"]]
    parameters = sum(a * b + b for a, b in zip(sizes, sizes[1:]))
    return parameters, sum(sizes[1:])


def min_side(filter_size, pool):
    """The smallest image side LeNet5's two convolutions and poolings leave a pixel of."""
    return (filter_size - 1 + pool) * pool + filter_size - 1


def training_bytes(spec, batch_size, itemsize):
    """A lower bound on the memory training the model takes: parameters about four times
    over (values, gradients, updates, the best copy) and a minibatch's layer outputs three
    times over (forward values, gradients, a temporary), ``itemsize`` bytes each."""
    parameters, activations = size_of(spec)
    return itemsize * (4 * parameters + 3 * batch_size * activations)


def build_model(spec, rng, input, batch_size=None):
    """Build the model a ``spec()`` dict describes, on the symbolic ``input`` matrix."""
    check_spec(spec)
    spec = dict(spec)
    name = spec.pop("name", None)
    if name == "LogisticRegression":
        return LogisticRegression(input, spec["n_in"], spec["n_out"])
    if name == "MLP":
        return MLP(rng, input, spec["n_in"], spec["n_hidden"], spec["n_out"],
                   activation=spec.get("activation", "tanh"), init=spec.get("init"))
    if name == "LeNet5":
        return LeNet5(rng, input, batch_size=batch_size, **spec)
    raise ValueError("unknown model %r in spec; expected LogisticRegression, MLP or LeNet5" % name)


def image_shape_of(spec):
    """(channels, h, w) of the images a model spec expects (MNIST's for dense models)."""
    if spec.get("name") == "LeNet5":
        return (spec.get("n_channels", 1),) + tuple(spec.get("image_shape", MNIST_IMAGE_SHAPE))
    side = int(round(numpy.sqrt(spec["n_in"])))
    if side * side == spec["n_in"]:
        return (1, side, side)
    return None


def minibatch_for(x, rows, batch_size):
    """``rows`` (a slice of a shared dataset, ``batch_size`` examples) as the ``givens``
    value of the symbolic input ``x``.

    For a ``T.matrix`` input, ``rows`` itself.  For a ``T.row`` input (broadcastable
    ``(True, False)``, one example: e.g. ``SdA(row_input=True)``), the same slice declared a
    row with ``T.patternbroadcast``, which Theano accepts in place of ``x``; a row holds one
    example, so ``batch_size`` must be 1 (ValueError otherwise).
    """
    if not x.broadcastable[0]:
        return rows
    if batch_size != 1:
        raise ValueError("batch_size %s does not fit the model's input %s, a T.row (one example "
                         "per minibatch, e.g. SdA(row_input=True)); use batch_size 1, or build "
                         "the model on a T.matrix (row_input=False)"
                         % (batch_size, x.name or "x"))
    return T.patternbroadcast(rows, x.broadcastable)


def finetune_functions(model, datasets, batch_size, learning_rate):
    """The tutorial's fine-tuning functions ``(train_fn, valid_score, test_score)`` of a
    pre-trained stack (:class:`dltut.autoencoders.SdA`, :class:`dltut.rbm.DBN`).

    ``model`` has the symbolic ``x`` and ``y`` it was built on, ``finetune_cost`` (the mean
    negative log-likelihood of ``y``), ``errors(y)`` and ``params``.  ``train_fn(index)`` is
    one SGD step ``param <- param - learning_rate * d finetune_cost / d param`` on training
    minibatch ``index`` (sliced out of the shared data by ``givens``) and returns its cost;
    ``valid_score()`` and ``test_score()`` return the error rate of every whole minibatch of
    the validation and test sets (of ``min(batch_size, n)`` examples).  Plain Theano, as in
    the tutorial: the :class:`dltut.training.Trainer` compiles its own functions with
    :func:`dltut.training.compile_functions`.  A model built on a ``T.row`` (one example per
    minibatch, e.g. ``SdA(row_input=True)``) gets its minibatches as rows and needs
    ``batch_size`` 1 (:func:`minibatch_for`).

    datasets : [(train_x, train_y), (valid_x, valid_y), (test_x, test_y)]
        Shared variables, as :func:`dltut.data.shared_datasets` returns them.
    """
    if not isinstance(datasets, (list, tuple)) or len(datasets) != 3:
        raise ValueError("datasets must be [(train_x, train_y), (valid_x, valid_y), "
                         "(test_x, test_y)], got %s; pass what dltut.data.shared_datasets"
                         "(splits) returns" % checks.shown_value(datasets)[:60])
    batch_size = checks.positive_int(batch_size, "batch_size")
    learning_rate = checks.positive_float(learning_rate, "learning_rate")
    (train_x, train_y), (valid_x, valid_y), (test_x, test_y) = datasets
    n_train = train_x.get_value(borrow=True).shape[0]
    if batch_size > n_train:
        raise ValueError("batch_size %d is larger than the training set (%d examples); choose "
                         "batch_size %d or less" % (batch_size, n_train, n_train))
    index = T.lscalar("index")
    grads = T.grad(model.finetune_cost, model.params)
    updates = sgd_updates(model.params, grads, learning_rate)

    def batch(data, size):
        return data[index * size:(index + 1) * size]

    train_fn = theano.function(
        [index], model.finetune_cost, updates=updates,
        givens={model.x: minibatch_for(model.x, batch(train_x, batch_size), batch_size),
                model.y: batch(train_y, batch_size)},
        name="train")

    def scorer(set_x, set_y, name):
        n = set_x.get_value(borrow=True).shape[0]
        size = min(batch_size, n)
        score_i = theano.function(
            [index], model.errors(model.y),
            givens={model.x: minibatch_for(model.x, batch(set_x, size), size),
                     model.y: batch(set_y, size)}, name=name)
        return lambda: [score_i(i) for i in range(n // size)]

    return (train_fn, scorer(valid_x, valid_y, "valid"), scorer(test_x, test_y, "test"))
