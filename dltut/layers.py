"""The tutorial's three layers: ``LogisticRegression``, ``HiddenLayer``, ``LeNetConvPoolLayer``.

Each layer takes a *symbolic* input, builds its parameters as Theano shared variables and
its symbolic ``output`` when it is constructed, and lists its parameters in ``params``
(``[W, b]``), exactly as the tutorial's classes do.  Random draws come from the caller's
``numpy.random.RandomState``, in the order the tutorial makes them.
"""
import numpy
import theano
import theano.tensor as T
from theano.tensor.nnet import conv2d
from theano.tensor.signal.pool import pool_2d

from . import checks
from .ops import conv
from .init import floatX, init_bound, zeros

__all__ = ["ACTIVATIONS", "DEFAULT_INIT", "CONV_IMPLEMENTATIONS", "CONV_IMPLEMENTATION",
           "default_conv_implementation", "resolve_activation", "check_ndim", "as_shared_param",
           "ParamsMixin", "LogisticRegression", "check_labels", "HiddenLayer", "draw_weights",
           "conv_pool_output_shape", "max_pool", "LeNetConvPoolLayer"]

#: Activations that may be given by name.  ``None``/"linear" means the identity.
ACTIVATIONS = {
    "tanh": T.tanh,
    "sigmoid": T.nnet.sigmoid,
    "relu": T.nnet.relu,
    "linear": None,
}

#: The initialisation each activation gets by default (see :data:`dltut.init.INIT_BOUNDS`).
DEFAULT_INIT = {"tanh": "glorot", "sigmoid": "glorot_sigmoid", "relu": "he", "linear": "glorot"}

#: How :class:`LeNetConvPoolLayer` computes: "dltut" (the Ops of :mod:`dltut.ops.conv`: one matrix
#: product per block of images, pooling, bias and tanh in the same Op) or "theano" (Theano's
#: ``conv2d``, then :func:`max_pool`, the bias and the activation as separate nodes: the
#: tutorial's graph, whose convolution Theano runs one image at a time on the CPU).
CONV_IMPLEMENTATIONS = ("dltut", "theano")

#: The implementation layers use when not told; None: "dltut" on the CPU, "theano" on a GPU
#: (Theano moves its own convolution there; dltut's Ops are CPU code).
CONV_IMPLEMENTATION = None


def default_conv_implementation():
    """The implementation a :class:`LeNetConvPoolLayer` built now uses when not told."""
    if CONV_IMPLEMENTATION is not None:
        return CONV_IMPLEMENTATION
    return "dltut" if theano.config.device.startswith("cpu") else "theano"


def resolve_activation(activation):
    """``(callable_or_None, name)`` for an activation given as a name, a callable or None."""
    if activation is None:
        return None, "linear"
    if isinstance(activation, str):
        if activation not in ACTIVATIONS:
            raise ValueError("unknown activation %r; choose one of %s, or pass a callable"
                             % (activation, ", ".join(sorted(ACTIVATIONS))))
        return ACTIVATIONS[activation], activation
    if not callable(activation):
        raise TypeError("activation must be a name, a callable or None, not %r" % (activation,))
    for name, fn in ACTIVATIONS.items():
        if fn is activation:
            return fn, name
    return activation, getattr(activation, "__name__", repr(activation))


def check_ndim(variable, ndim, what):
    """Raise a ValueError unless the symbolic ``variable`` has ``ndim`` dimensions."""
    if getattr(variable, "ndim", None) != ndim:
        raise ValueError("%s must be a %d-D symbolic tensor, got %r with ndim=%s; pass e.g. %s"
                         % (what, ndim, variable, getattr(variable, "ndim", None),
                            {2: 'T.matrix("x")', 4: 'T.tensor4("x")'}.get(ndim, "a tensor")))


def as_shared_param(value, shape, name):
    """A floatX shared variable of the given shape from an ndarray or a shared variable.

    A symbolic expression of ``len(shape)`` dimensions is taken as it is (a view of another
    parameter, e.g. a slice of one flat ``theta``); its shape is known only when it runs.
    """
    if isinstance(value, theano.compile.SharedVariable):
        shared = value
        actual = shared.get_value(borrow=True).shape
    elif isinstance(value, theano.Variable):
        if value.ndim != len(shape):
            raise ValueError("%s is a %d-D expression but this layer needs shape %s"
                             % (name, value.ndim, tuple(shape)))
        return value
    else:
        # a copy: the layer must not share memory with the caller's array (training
        # updates it in place)
        array = numpy.array(value, dtype=theano.config.floatX)
        actual = array.shape
        shared = theano.shared(array, name=name, borrow=True)
    if tuple(actual) != tuple(shape):
        raise ValueError("%s has shape %s but this layer needs %s; give one of that shape "
                         "(or leave it out)" % (name, tuple(actual), tuple(shape)))
    return shared


class ParamsMixin:
    """``get_params_values`` / ``set_params_values`` over a ``params`` list."""

    def get_params_values(self):
        """Copies of every parameter's value, in ``params`` order (a list of ndarrays)."""
        return [p.get_value(borrow=False) for p in self.params]

    def set_params_values(self, values):
        """Set every parameter from a list of arrays; shapes and dtypes must match exactly."""
        values = list(values)
        if len(values) != len(self.params):
            raise ValueError("%r has %d parameters but %d values were given"
                             % (self, len(self.params), len(values)))
        checked = []
        for param, value in zip(self.params, values):
            current = param.get_value(borrow=True)
            value = numpy.asarray(value)
            if value.shape != current.shape:
                raise ValueError("parameter %s of %r has shape %s, the value has shape %s"
                                 % (param.name, self, current.shape, value.shape))
            if value.dtype != current.dtype:
                raise ValueError("parameter %s of %r has dtype %s, the value has dtype %s "
                                 "(was it saved under another floatX?)"
                                 % (param.name, self, current.dtype, value.dtype))
            checked.append(value)
        for param, value in zip(self.params, checked):
            param.set_value(value.copy())


class LogisticRegression(ParamsMixin):
    r"""Multi-class logistic regression: ``p(y=i|x) = softmax(x W + b)_i``.

    Each class ``i`` has a column ``W[:, i]`` of weights and a bias ``b[i]``; an example
    ``x`` (a row) scores every class and the softmax turns the scores into probabilities:

    .. math::

        P(Y = i \mid x, W, b) = \mathrm{softmax}_i(x W + b)
            = \frac{e^{x W_{:, i} + b_i}}{\sum_j e^{x W_{:, j} + b_j}},
        \qquad y_{pred} = \operatorname{argmax}_i P(Y = i \mid x, W, b)

    Parameters
    ----------
    input : T.matrix, shape (n_examples, n_in)
        One example per row.
    n_in, n_out : int
        Number of input features and of classes.
    W : ndarray or shared variable, shape (n_in, n_out), optional
        Initial weights; zeros by default (the tutorial's choice: the problem is convex).
    b : ndarray or shared variable, shape (n_out,), optional
        Initial biases; zeros by default.

    Attributes
    ----------
    p_y_given_x : T.matrix, shape (n_examples, n_out)
        Class probabilities (each row sums to one).  Also available as ``output``.
    y_pred : T.lvector, shape (n_examples,)
        The most probable class of each example.
    params : list
        ``[W, b]``.
    """

    def __init__(self, input, n_in, n_out, W=None, b=None):
        check_ndim(input, 2, "LogisticRegression input")
        n_in, n_out = checks.positive_int(n_in, "n_in"), checks.positive_int(n_out, "n_out")
        self.n_in, self.n_out = n_in, n_out
        self.W = as_shared_param(zeros((n_in, n_out)) if W is None else W, (n_in, n_out), "W")
        self.b = as_shared_param(zeros((n_out,)) if b is None else b, (n_out,), "b")
        self.input = input
        # (n_examples, n_in) . (n_in, n_out) -> (n_examples, n_out)
        self.p_y_given_x = T.nnet.softmax(T.dot(input, self.W) + self.b)
        self.y_pred = T.argmax(self.p_y_given_x, axis=1)
        self.output = self.p_y_given_x
        self.params = [self.W, self.b]
        self.regularised_weights = [self.W]
        self.L1 = abs(self.W).sum()
        self.L2_sqr = (self.W ** 2).sum()

    def negative_log_likelihood(self, y):
        r"""Mean over the minibatch of ``-log p(y_i | x_i)``.

        The loss the tutorial minimises: over a minibatch :math:`\mathcal{D}` of examples
        :math:`(x^{(i)}, y^{(i)})`, the parameters :math:`\theta = \{W, b\}` are scored by

        .. math::

            \ell(\theta, \mathcal{D}) = -\frac{1}{|\mathcal{D}|}
                \sum_{i=0}^{|\mathcal{D}|-1} \log P(Y = y^{(i)} \mid x^{(i)}, W, b)

        ``y`` is a T.ivector of class indices, shape (n_examples,).  The mean (not the sum)
        keeps the learning rate independent of the minibatch size.

        How the code picks one probability per example: ``T.log(self.p_y_given_x)`` is a
        matrix with a row per example and a column per class.  ``T.arange(y.shape[0])`` is the
        vector of row numbers ``[0, 1, ..., n - 1]``; indexing the matrix with two integer
        vectors, ``M[rows, y]``, pairs them up element by element and takes ``M[i, y[i]]``
        for every ``i``: the log-probability each example gives its own label.  (``M[:, y]``
        would instead take whole columns, an n x n matrix.)  The mean of that vector, negated,
        is the loss.
        """
        check_labels(y, self.y_pred)
        # log-probabilities (n, n_out), pick column y[i] of row i -> (n,)
        return -T.mean(T.log(self.p_y_given_x)[T.arange(y.shape[0]), y])

    def errors(self, y):
        r"""Zero-one loss: the fraction of examples in the minibatch that are misclassified,
        :math:`\frac{1}{|\mathcal{D}|} \sum_i [y_{pred}^{(i)} \neq y^{(i)}]`."""
        check_labels(y, self.y_pred)
        return T.mean(T.neq(self.y_pred, y))

    def spec(self):
        """The layer as a model description (see :func:`dltut.models.build_model`)."""
        return {"name": "LogisticRegression", "n_in": self.n_in, "n_out": self.n_out}

    def __repr__(self):
        return "LogisticRegression(n_in=%d, n_out=%d)" % (self.n_in, self.n_out)


def check_labels(y, y_pred):
    """Raise a clear error unless ``y`` is an integer vector like ``y_pred``."""
    if getattr(y, "ndim", None) != y_pred.ndim:
        raise TypeError("y must be a %d-D symbolic vector of class indices like y_pred, "
                        "got %r with ndim=%s" % (y_pred.ndim, y, getattr(y, "ndim", None)))
    if not str(y.dtype).startswith(("int", "uint")):
        raise TypeError("y must hold integer class indices (e.g. T.ivector), got dtype %s; "
                        "shared_dataset returns labels already cast to int32" % y.dtype)


class HiddenLayer(ParamsMixin):
    """A fully connected layer: ``output = activation(input W + b)``.

    Parameters
    ----------
    rng : numpy.random.RandomState
        Source of the initial weights (one ``uniform`` draw of shape (n_in, n_out)).
    input : T.matrix, shape (n_examples, n_in)
    n_in, n_out : int
    W : ndarray or shared variable, shape (n_in, n_out), optional
        Given weights; drawn from ``rng`` otherwise.
    b : ndarray or shared variable, shape (n_out,), optional
        Given biases; zeros otherwise.
    activation : callable, str or None
        ``T.tanh`` (default), ``T.nnet.sigmoid``, ``T.nnet.relu`` or their names, any other
        callable on symbolic tensors, or None / "linear" for no non-linearity.
    init : str, optional
        Weight initialisation: "glorot" (U(+-sqrt(6/(n_in+n_out))), the default for tanh),
        "glorot_sigmoid" (4x that, the default for sigmoid), "he" (U(+-sqrt(6/n_in)), the
        default for ReLU) or "fan_in" (the older U(+-1/sqrt(n_in))).

    Attributes
    ----------
    output : T.matrix, shape (n_examples, n_out)
    params : list
        ``[W, b]``.
    """

    def __init__(self, rng, input, n_in, n_out, W=None, b=None, activation=T.tanh, init=None):
        check_ndim(input, 2, "HiddenLayer input")
        n_in, n_out = checks.positive_int(n_in, "n_in"), checks.positive_int(n_out, "n_out")
        self.n_in, self.n_out = n_in, n_out
        self.activation, self.activation_name = resolve_activation(activation)
        self.init = init or DEFAULT_INIT.get(self.activation_name, "glorot")
        if W is None:
            checks.random_state(rng, "rng")
            W = draw_weights(rng, self.init, n_in, n_out, (n_in, n_out))
        self.W = as_shared_param(W, (n_in, n_out), "W")
        self.b = as_shared_param(zeros((n_out,)) if b is None else b, (n_out,), "b")
        self.input = input
        # (n_examples, n_in) . (n_in, n_out) -> (n_examples, n_out)
        lin_output = T.dot(input, self.W) + self.b
        self.output = lin_output if self.activation is None else self.activation(lin_output)
        self.params = [self.W, self.b]

    def __repr__(self):
        return "HiddenLayer(n_in=%d, n_out=%d, activation=%s, init=%s)" % (
            self.n_in, self.n_out, self.activation_name, self.init)


def draw_weights(rng, scheme, fan_in, fan_out, size):
    """Initial weights: one ``rng.uniform`` draw of ``size``, as floatX.

    The sigmoid rule is applied as the tutorial applies it: draw with the tanh bound, cast to
    floatX, then multiply by 4 (so the values match the tutorial's to the last bit).
    """
    if scheme == "glorot_sigmoid":
        values = floatX(rng.uniform(low=-init_bound("glorot", fan_in, fan_out),
                                    high=init_bound("glorot", fan_in, fan_out), size=size))
        values *= 4
        return values
    bound = init_bound(scheme, fan_in, fan_out)
    return floatX(rng.uniform(low=-bound, high=bound, size=size))


def conv_pool_output_shape(image_shape, filter_shape, poolsize):
    """Shape after a valid convolution and non-overlapping pooling (border ignored).

    ``(batch, channels, h, w)`` -> ``(batch, n_filters, (h - fh + 1) // ph, (w - fw + 1) // pw)``.
    """
    batch, _, height, width = image_shape
    n_filters, _, fh, fw = filter_shape
    return (batch, n_filters, (height - fh + 1) // poolsize[0], (width - fw + 1) // poolsize[1])


def max_pool(x, poolsize):
    """Non-overlapping max-pooling of a 4-D tensor, borders that do not fill a window dropped.

    The same function as ``pool_2d(x, ws=poolsize, ignore_border=True)`` (the tutorial's
    call).  On the CPU it is written as a reshape and a max so that Theano compiles it to
    plain reductions: its gradient then costs a fraction of ``MaxPoolGrad``'s and goes to
    the same elements, so training is unchanged.  On a GPU device (CUDA or OpenCL) it is
    ``pool_2d`` itself, which Theano moves to the device (``GpuPool``, ``GpuMaxPoolGrad``);
    Theano 1.0.5 moves a max-reduction to an OpenCL device only for sums and products, so
    the reshape's max would run on the host there, with two copies per layer and step.
    """
    if not theano.config.device.startswith("cpu"):
        return pool_2d(x, ws=tuple(poolsize), ignore_border=True)
    ph, pw = poolsize
    rows, cols = x.shape[2] // ph, x.shape[3] // pw
    x = x[:, :, :rows * ph, :cols * pw]
    # (b, k, rows*ph, cols*pw) -> (b, k, rows, ph, cols, pw) -> max over ph, pw
    windows = x.reshape((x.shape[0], x.shape[1], rows, ph, cols, pw), ndim=6)
    return windows.max(axis=(3, 5))


class LeNetConvPoolLayer(ParamsMixin):
    """Convolution, max-pooling, bias and activation: the LeNet building block.

    ``output = activation(max_pool(conv2d(input, W)) + b)``, with ``b`` broadcast over the
    batch and the two image axes.

    Parameters
    ----------
    rng : numpy.random.RandomState
        Source of the initial filters (one ``uniform`` draw of ``filter_shape``).
    input : T.tensor4, shape image_shape
    filter_shape : tuple of 4 ints
        (number of filters, input channels, filter height, filter width).
    image_shape : tuple of 4 ints (the first may be None)
        (batch size, input channels, image height, image width).
    poolsize : tuple of 2 ints
        The pooling window (and stride); borders that do not fill a window are dropped.
    activation : callable, str or None
        As for :class:`HiddenLayer`; tanh by default.
    W, b : optional
        Given filters (shape ``filter_shape``) and biases (shape ``(filter_shape[0],)``).
    implementation : "dltut", "theano" or None
        How to compute (see :data:`CONV_IMPLEMENTATIONS`); None takes
        :func:`default_conv_implementation`.  Both compute the same function.

    Attributes
    ----------
    output : T.tensor4, shape (batch, n_filters, (h - fh + 1) // ph, (w - fw + 1) // pw)
    params : list
        ``[W, b]``.
    """

    def __init__(self, rng, input, filter_shape, image_shape, poolsize=(2, 2),
                 activation=T.tanh, W=None, b=None, implementation=None):
        check_ndim(input, 4, "LeNetConvPoolLayer input")
        filter_shape = checks.shape(filter_shape, "filter_shape", 4)
        image_shape = checks.shape(image_shape, "image_shape", 4, first_may_be_none=True)
        poolsize = checks.shape(poolsize, "poolsize", 2)
        if image_shape[1] != filter_shape[1]:
            raise ValueError("image_shape %s has %s channels but filter_shape %s expects %s; "
                             "give both the same number of input channels"
                             % (image_shape, image_shape[1], filter_shape, filter_shape[1]))
        out_shape = conv_pool_output_shape(image_shape, filter_shape, poolsize)
        if out_shape[2] < 1 or out_shape[3] < 1:
            raise ValueError("image_shape %s is too small for filter_shape %s and poolsize %s: "
                             "the pooled output would be %s; use smaller filters or pooling "
                             "windows" % (image_shape, filter_shape, poolsize, out_shape))
        self.filter_shape, self.image_shape, self.poolsize = filter_shape, image_shape, poolsize
        self.output_shape = out_shape
        self.activation, self.activation_name = resolve_activation(activation)
        self.implementation = implementation or default_conv_implementation()
        if self.implementation not in CONV_IMPLEMENTATIONS:
            raise ValueError("unknown convolution implementation %r; choose one of %s"
                             % (self.implementation, ", ".join(CONV_IMPLEMENTATIONS)))
        self.input = input

        if W is None:
            checks.random_state(rng, "rng")
            # each hidden unit sees n_channels * fh * fw inputs...
            fan_in = int(numpy.prod(filter_shape[1:]))
            # ...and sends gradient back from n_filters * fh * fw / pooling-area units.  The
            # integer division is the tutorial's (its Python 2 code divided two ints), which
            # matters for LeNet's second layer: 50*25/4 -> 312, not 312.5.
            fan_out = int(filter_shape[0] * numpy.prod(filter_shape[2:]) // numpy.prod(poolsize))
            W = draw_weights(rng, "glorot", fan_in, fan_out, filter_shape)
        self.W = as_shared_param(W, filter_shape, "W")
        self.b = as_shared_param(zeros((filter_shape[0],)) if b is None else b,
                                 (filter_shape[0],), "b")

        if self.implementation == "dltut":
            self.output = self._dltut_output(input, poolsize)
        else:
            # (batch, c, h, w) * (k, c, fh, fw) -> (batch, k, h - fh + 1, w - fw + 1)
            conv_out = conv2d(input=input, filters=self.W, filter_shape=filter_shape,
                              input_shape=image_shape)
            # (batch, k, H, W) -> (batch, k, H // ph, W // pw)
            pooled_out = max_pool(conv_out, poolsize)
            lin_output = pooled_out + self.b.dimshuffle("x", 0, "x", "x")
            self.output = lin_output if self.activation is None else self.activation(lin_output)
        self.params = [self.W, self.b]

    def _dltut_output(self, input, poolsize):
        """The same output from one :class:`dltut.ops.conv.ConvPool`: (batch, c, h, w) ->
        (batch, k, (h - fh + 1) // ph, (w - fw + 1) // pw), tanh (or no activation) included;
        any other activation is applied to its linear output."""
        if self.activation is T.tanh or self.activation is None:
            return conv.conv_pool(input, self.W, self.b, poolsize,
                                  "tanh" if self.activation is T.tanh else "linear")
        return self.activation(conv.conv_pool(input, self.W, self.b, poolsize, "linear"))

    def __repr__(self):
        return "LeNetConvPoolLayer(filter_shape=%s, image_shape=%s, poolsize=%s, activation=%s)" % (
            self.filter_shape, self.image_shape, self.poolsize, self.activation_name)
