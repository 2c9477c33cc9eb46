"""Tests for dltut.layers against independent numpy references (DESIGN.md convention 11).

Forward passes are compared with numpy (and scipy's true 2-D convolution), gradients with
finite differences (``theano.gradient.verify_grad``, always on float64 graphs), initial
weights with independent ``RandomState(seed).uniform`` draws.  Everything runs under both
``floatX=float64`` (the default) and ``THEANO_FLAGS=floatX=float32``.
"""
import math

import numpy
import pytest
import theano
import theano.tensor as T

from dltut.init import floatX
from dltut.layers import HiddenLayer, LeNetConvPoolLayer, LogisticRegression
from _helpers import assert_one_error

FLOATX = theano.config.floatX


def shared64(value, name):
    """A float64 shared variable (to build float64 graphs whatever floatX is)."""
    return theano.shared(numpy.asarray(value, dtype="float64"), name=name)


def glorot(fan_in, fan_out):
    return math.sqrt(6.0 / (fan_in + fan_out))


def reference_draw(seed, bound, size):
    """The tutorial's draw, made here independently: one uniform draw cast to floatX."""
    return numpy.asarray(numpy.random.RandomState(seed).uniform(low=-bound, high=bound, size=size),
                         dtype=FLOATX)


# ---------------------------------------------------------------------------------------
# LogisticRegression


@pytest.fixture(scope="module")
def logreg():
    """A 4-input, 3-class LogisticRegression and its compiled forward pass."""
    x = T.matrix("x")
    layer = LogisticRegression(x, n_in=4, n_out=3)
    forward = theano.function([x], [layer.p_y_given_x, layer.y_pred])
    return layer, forward


def test_logistic_regression_forward_matches_numpy(logreg, ref, tol):
    layer, forward = logreg
    rng = numpy.random.RandomState(1)
    W, b = floatX(rng.randn(4, 3)), floatX(rng.randn(3))
    layer.set_params_values([W, b])
    x = floatX(rng.randn(7, 4))
    p, y_pred = forward(x)
    expected = ref.softmax(x.astype("float64") @ W.astype("float64") + b.astype("float64"))
    assert p.shape == (7, 3) and p.dtype == FLOATX
    numpy.testing.assert_allclose(p, expected, **tol)
    numpy.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=tol["rtol"], atol=10 * tol["atol"])
    assert y_pred.shape == (7,)
    numpy.testing.assert_array_equal(y_pred, expected.argmax(axis=1))
    # the random case really exercises more than one class
    assert len(set(y_pred.tolist())) > 1


def test_logistic_regression_starts_at_zero():
    layer = LogisticRegression(T.matrix("x"), n_in=5, n_out=4)
    W, b = layer.get_params_values()
    assert W.shape == (5, 4) and b.shape == (4,)
    assert W.dtype == FLOATX and b.dtype == FLOATX
    assert not W.any() and not b.any()
    assert layer.params == [layer.W, layer.b]


@pytest.fixture(scope="module")
def hand_case():
    """3 examples, 2 classes, parameters chosen so every probability is a simple fraction.

    W = [[0, ln 3], [ln 3, 0]], b = [ln 2, 0] and the rows of x are [0,0], [1,0], [0,1]:
      x0: logits [ln 2, 0]         -> p = [2/3, 1/3]
      x1: logits [ln 2, ln 3]      -> p = [2/5, 3/5]
      x2: logits [ln 2 + ln 3, 0]  -> p = [6/7, 1/7]
    so y_pred = [0, 1, 0].  For y = [0, 1, 1]:
      NLL = mean(-ln 2/3, -ln 3/5, -ln 1/7) = ln(3/2 * 5/3 * 7) / 3 = ln(35/2) / 3 ~ 0.9541
      errors = 1/3 (only x2 is wrong).
    """
    x = T.matrix("x")
    y = T.ivector("y")
    layer = LogisticRegression(x, n_in=2, n_out=2)
    ln2, ln3 = math.log(2.0), math.log(3.0)
    layer.set_params_values([floatX([[0.0, ln3], [ln3, 0.0]]), floatX([ln2, 0.0])])
    f = theano.function([x, y], [layer.p_y_given_x, layer.y_pred,
                                 layer.negative_log_likelihood(y), layer.errors(y)])
    return f, floatX([[0, 0], [1, 0], [0, 1]])


def test_negative_log_likelihood_and_errors_by_hand(hand_case, tol):
    f, x = hand_case
    p, y_pred, nll, err = f(x, numpy.array([0, 1, 1], dtype="int32"))
    numpy.testing.assert_allclose(p, [[2 / 3, 1 / 3], [2 / 5, 3 / 5], [6 / 7, 1 / 7]], **tol)
    numpy.testing.assert_array_equal(y_pred, [0, 1, 0])
    numpy.testing.assert_allclose(nll, math.log(35 / 2) / 3, **tol)  # the mean, not the sum
    numpy.testing.assert_allclose(err, 1 / 3, **tol)


def test_errors_zero_and_all(hand_case, tol):
    f, x = hand_case
    _, _, nll, err = f(x, numpy.array([0, 1, 0], dtype="int32"))
    assert err == 0
    # -ln(2/3) - ln(3/5) - ln(6/7) = ln(3/2 * 5/3 * 7/6) = ln(35/12)
    numpy.testing.assert_allclose(nll, math.log(35 / 12) / 3, **tol)
    _, _, _, err = f(x, numpy.array([1, 0, 1], dtype="int32"))
    assert err == 1


@pytest.mark.parametrize("y", [T.vector("y"), T.dvector("y"), T.fvector("y")],
                         ids=["floatX", "float64", "float32"])
def test_float_labels_are_a_type_error(y):
    layer = LogisticRegression(T.matrix("x"), n_in=2, n_out=2)
    with pytest.raises(TypeError, match="integer"):
        layer.errors(y)
    with pytest.raises(TypeError, match="integer"):
        layer.negative_log_likelihood(y)


def test_matrix_labels_are_a_type_error():
    layer = LogisticRegression(T.matrix("x"), n_in=2, n_out=2)
    with pytest.raises(TypeError, match="vector") as info:
        layer.errors(T.imatrix("y"))
    assert "ndim=2" in str(info.value)
    with pytest.raises(TypeError, match="vector"):
        layer.negative_log_likelihood(T.imatrix("y"))


def test_logistic_regression_rejects_non_matrix_input():
    with pytest.raises(ValueError, match="2-D"):
        LogisticRegression(T.tensor4("x"), n_in=2, n_out=2)


def test_logistic_regression_gradient():
    """d NLL / d(W, b, x) against finite differences, on a float64 graph."""
    rng = numpy.random.RandomState(2)
    x = T.dmatrix("x")
    layer = LogisticRegression(x, n_in=4, n_out=3, W=shared64(numpy.zeros((4, 3)), "W"),
                               b=shared64(numpy.zeros(3), "b"))
    y = T.constant(numpy.array([0, 2, 1, 2, 0], dtype="int32"))
    cost = layer.negative_log_likelihood(y)
    assert cost.dtype == "float64"

    def fn(x_value, W_value, b_value):
        return theano.clone(cost, replace={x: x_value, layer.W: W_value, layer.b: b_value})

    theano.gradient.verify_grad(fn, [rng.randn(5, 4), rng.randn(4, 3), rng.randn(3)], rng=rng)


# ---------------------------------------------------------------------------------------
# HiddenLayer

HIDDEN_CASES = [
    # (id, activation argument, expected name, numpy reference)
    ("tanh-name", "tanh", "tanh", numpy.tanh),
    ("tanh-callable", T.tanh, "tanh", numpy.tanh),
    ("sigmoid-name", "sigmoid", "sigmoid", lambda z: 1.0 / (1.0 + numpy.exp(-z))),
    ("sigmoid-callable", T.nnet.sigmoid, "sigmoid", lambda z: 1.0 / (1.0 + numpy.exp(-z))),
    ("relu-name", "relu", "relu", lambda z: numpy.maximum(z, 0.0)),
    ("relu-callable", T.nnet.relu, "relu", lambda z: numpy.maximum(z, 0.0)),
    ("linear-name", "linear", "linear", lambda z: z),
    ("linear-none", None, "linear", lambda z: z),
    ("custom-callable", lambda z: z ** 2 - z, "<lambda>", lambda z: z ** 2 - z),
]


@pytest.fixture(scope="module")
def hidden_layers():
    """One HiddenLayer per activation case on a shared input, compiled as one function."""
    rng = numpy.random.RandomState(3)
    x = T.matrix("x")
    W, b = floatX(rng.randn(5, 4)), floatX(rng.randn(4))
    layers = [HiddenLayer(None, x, 5, 4, W=W, b=b, activation=case[1]) for case in HIDDEN_CASES]
    forward = theano.function([x], [layer.output for layer in layers])
    return layers, forward, W, b


def test_hidden_layer_forward_matches_numpy(hidden_layers, tol):
    layers, forward, W, b = hidden_layers
    x = floatX(numpy.random.RandomState(4).randn(6, 5))
    outputs = forward(x)
    z = x.astype("float64") @ W.astype("float64") + b.astype("float64")
    assert (z > 0).any() and (z < 0).any()  # relu's two branches are both exercised
    for (case_id, _, name, np_fn), layer, out in zip(HIDDEN_CASES, layers, outputs):
        assert layer.activation_name == name, case_id
        assert out.shape == (6, 4) and out.dtype == FLOATX, case_id
        numpy.testing.assert_allclose(out, np_fn(z), err_msg=case_id, **tol)


def test_hidden_layer_params_are_given_values(hidden_layers):
    layers, _, W, b = hidden_layers
    layer = layers[0]
    assert layer.params == [layer.W, layer.b]
    numpy.testing.assert_array_equal(layer.W.get_value(), W)
    numpy.testing.assert_array_equal(layer.b.get_value(), b)


@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "relu", "linear"])
def test_hidden_layer_gradient(activation):
    """d sum(output) / d(x, W, b) against finite differences, on a float64 graph."""
    rng = numpy.random.RandomState(5)
    x = T.dmatrix("x")
    layer = HiddenLayer(None, x, 4, 3, W=shared64(numpy.zeros((4, 3)), "W"),
                        b=shared64(numpy.zeros(3), "b"), activation=activation)
    cost = layer.output.sum()
    assert cost.dtype == "float64"

    def fn(x_value, W_value, b_value):
        return theano.clone(cost, replace={x: x_value, layer.W: W_value, layer.b: b_value})

    theano.gradient.verify_grad(fn, [rng.randn(5, 4), rng.randn(4, 3), rng.randn(3)], rng=rng)


def test_hidden_layer_glorot_bound_and_draw():
    x = T.matrix("x")
    layer = HiddenLayer(numpy.random.RandomState(11), x, 60, 40)
    W, b = layer.get_params_values()
    bound = glorot(60, 40)
    assert layer.init == "glorot" and W.dtype == FLOATX
    assert numpy.abs(W).max() <= bound
    # the draw spans the interval (60*40 uniform values: both ends are reached closely)
    assert W.max() > 0.95 * bound and W.min() < -0.95 * bound
    numpy.testing.assert_array_equal(W, reference_draw(11, bound, (60, 40)))
    assert not b.any() and b.shape == (40,)


def test_hidden_layer_sigmoid_is_four_times_tanh():
    x = T.matrix("x")
    tanh = HiddenLayer(numpy.random.RandomState(12), x, 30, 20, activation="tanh")
    sigmoid = HiddenLayer(numpy.random.RandomState(12), x, 30, 20, activation=T.nnet.sigmoid)
    assert sigmoid.init == "glorot_sigmoid"
    W_tanh, W_sigmoid = tanh.W.get_value(), sigmoid.W.get_value()
    numpy.testing.assert_array_equal(W_sigmoid, 4 * W_tanh)
    numpy.testing.assert_array_equal(W_sigmoid, 4 * reference_draw(12, glorot(30, 20), (30, 20)))
    assert numpy.abs(W_sigmoid).max() > 0.9 * 4 * glorot(30, 20)
    assert not sigmoid.b.get_value().any()


def test_hidden_layer_fan_in_init():
    layer = HiddenLayer(numpy.random.RandomState(13), T.matrix("x"), 50, 7, init="fan_in")
    bound = 1.0 / math.sqrt(50)
    W = layer.W.get_value()
    assert numpy.abs(W).max() <= bound and numpy.abs(W).max() > 0.9 * bound
    numpy.testing.assert_array_equal(W, reference_draw(13, bound, (50, 7)))


def test_hidden_layer_relu_defaults_to_he():
    layer = HiddenLayer(numpy.random.RandomState(14), T.matrix("x"), 50, 30, activation="relu")
    assert layer.init == "he"
    bound = math.sqrt(6.0 / 50)
    W = layer.W.get_value()
    assert numpy.abs(W).max() <= bound and numpy.abs(W).max() > 0.95 * bound
    numpy.testing.assert_array_equal(W, reference_draw(14, bound, (50, 30)))
    assert not layer.b.get_value().any()


def test_hidden_layer_same_seed_same_weights_other_seed_differs():
    x = T.matrix("x")
    a = HiddenLayer(numpy.random.RandomState(15), x, 8, 6).W.get_value()
    b = HiddenLayer(numpy.random.RandomState(15), x, 8, 6).W.get_value()
    c = HiddenLayer(numpy.random.RandomState(16), x, 8, 6).W.get_value()
    numpy.testing.assert_array_equal(a, b)
    assert not numpy.array_equal(a, c)


def test_hidden_layer_given_W_does_not_draw():
    rng = numpy.random.RandomState(17)
    HiddenLayer(rng, T.matrix("x"), 3, 2, W=numpy.ones((3, 2)))
    # rng untouched: its next draw is the first draw of a fresh RandomState(17)
    assert rng.uniform() == numpy.random.RandomState(17).uniform()


def test_given_ndarray_params_are_copied_not_aliased():
    W, b = floatX(numpy.ones((3, 2))), floatX(numpy.zeros(2))
    layer = HiddenLayer(None, T.matrix("x"), 3, 2, W=W, b=b)
    W[:] = 5
    b[:] = 5
    assert (layer.W.get_value() == 1).all() and not layer.b.get_value().any()


def test_hidden_layer_wrong_W_shape_names_shapes():
    with pytest.raises(ValueError, match=r"\(3, 4\).*\(4, 3\)"):
        HiddenLayer(None, T.matrix("x"), 4, 3, W=numpy.zeros((3, 4)))
    with pytest.raises(ValueError, match=r"\(4,\).*\(3,\)"):
        HiddenLayer(None, T.matrix("x"), 4, 3, W=numpy.zeros((4, 3)), b=numpy.zeros(4))
    with pytest.raises(ValueError, match=r"\(2, 3\)"):
        HiddenLayer(None, T.matrix("x"), 4, 3, W=theano.shared(numpy.zeros((2, 3))))


def test_unknown_activation_name():
    with pytest.raises(ValueError, match="softsign") as info:
        HiddenLayer(numpy.random.RandomState(0), T.matrix("x"), 4, 3, activation="softsign")
    assert "tanh" in str(info.value)  # lists the valid names
    with pytest.raises(TypeError):
        HiddenLayer(numpy.random.RandomState(0), T.matrix("x"), 4, 3, activation=3)


def test_unknown_init_name():
    with pytest.raises(ValueError, match="xavier"):
        HiddenLayer(numpy.random.RandomState(0), T.matrix("x"), 4, 3, init="xavier")


def test_hidden_layer_repr():
    text = repr(HiddenLayer(numpy.random.RandomState(0), T.matrix("x"), 17, 9, activation="relu"))
    assert "17" in text and "9" in text and "relu" in text and "he" in text


# ---------------------------------------------------------------------------------------
# set_params_values


def test_set_params_values_checks_count_shape_dtype():
    layer = HiddenLayer(numpy.random.RandomState(0), T.matrix("x"), 4, 3)
    W, b = layer.get_params_values()
    with pytest.raises(ValueError, match="2 parameters but 1"):
        layer.set_params_values([W])
    with pytest.raises(ValueError, match="2 parameters but 3"):
        layer.set_params_values([W, b, b])
    with pytest.raises(ValueError, match=r"\(4, 3\).*\(3, 4\)"):
        layer.set_params_values([W.T, b])
    other = "float32" if FLOATX == "float64" else "float64"
    with pytest.raises(ValueError, match="dtype.*%s.*%s" % (FLOATX, other)):
        layer.set_params_values([W.astype(other), b])
    # nothing was changed by the failed calls
    numpy.testing.assert_array_equal(layer.W.get_value(), W)
    # a good call copies the values in (later edits of the array do not leak in)
    new_W = W + 1
    layer.set_params_values([new_W, b])
    new_W[:] = 0
    numpy.testing.assert_array_equal(layer.W.get_value(), W + 1)


def test_get_params_values_are_copies():
    layer = HiddenLayer(numpy.random.RandomState(0), T.matrix("x"), 4, 3)
    W, _ = layer.get_params_values()
    W[:] = 123
    assert not (layer.W.get_value() == 123).any()


# ---------------------------------------------------------------------------------------
# LeNetConvPoolLayer

# odd sizes everywhere: 9x8 image, 3x2 filter -> 7x7 conv -> 3x3 pooled (last row/col dropped)
CONV_IMAGE = (2, 3, 9, 8)
CONV_FILTER = (4, 3, 3, 2)


@pytest.fixture(scope="module")
def conv_layers():
    """Two conv-pool layers on one input (2x2 pool with tanh, 3x2 pool linear), compiled once."""
    rng = numpy.random.RandomState(6)
    x = T.tensor4("x")
    W, b = floatX(rng.randn(*CONV_FILTER)), floatX(rng.randn(CONV_FILTER[0]))
    tanh_layer = LeNetConvPoolLayer(None, x, CONV_FILTER, CONV_IMAGE, W=W, b=b)
    linear_layer = LeNetConvPoolLayer(None, x, CONV_FILTER, (None,) + CONV_IMAGE[1:],
                                      poolsize=(3, 2), activation=None, W=W, b=b)
    forward = theano.function([x], [tanh_layer.output, linear_layer.output])
    return tanh_layer, linear_layer, forward, W, b


def test_conv_pool_forward_matches_numpy_convolution(conv_layers, ref, tol):
    tanh_layer, linear_layer, forward, W, b = conv_layers
    x = floatX(numpy.random.RandomState(7).randn(*CONV_IMAGE))
    out_tanh, out_linear = forward(x)
    x64, W64, b64 = x.astype("float64"), W.astype("float64"), b.astype("float64")

    assert tanh_layer.output_shape == (2, 4, 3, 3)
    assert out_tanh.shape == (2, 4, 3, 3) and out_tanh.dtype == FLOATX
    expected = ref.conv_pool(x64, W64, b64, (2, 2), numpy.tanh)
    numpy.testing.assert_allclose(out_tanh, expected, **tol)

    # 7x7 conv -> (7 // 3, 7 // 2) = (2, 3), no activation
    assert linear_layer.output_shape == (None, 4, 2, 3)
    assert out_linear.shape == (2, 4, 2, 3)
    numpy.testing.assert_allclose(out_linear, ref.conv_pool(x64, W64, b64, (3, 2), None), **tol)

    # the reference really discriminates: cross-correlation (unflipped kernel) is different
    correlation = ref.conv_pool(x64, W64[:, :, ::-1, ::-1], b64, (2, 2), numpy.tanh)
    assert not numpy.allclose(out_tanh, correlation, rtol=1e-3, atol=1e-3)


def test_conv_pool_handles_a_batch_of_any_size_when_batch_is_none(conv_layers, ref, tol):
    _, linear_layer, forward, W, b = conv_layers
    linear_fn = theano.function([linear_layer.input], linear_layer.output)
    x = floatX(numpy.random.RandomState(8).randn(1, *CONV_IMAGE[1:]))
    expected = ref.conv_pool(x.astype("float64"), W.astype("float64"), b.astype("float64"),
                             (3, 2), None)
    numpy.testing.assert_allclose(linear_fn(x), expected, **tol)


def test_conv_pool_gradient():
    """d sum(output) / d(x, W, b) against finite differences, on a float64 graph."""
    rng = numpy.random.RandomState(9)
    x = T.dtensor4("x")
    filter_shape, image_shape = (3, 2, 3, 2), (2, 2, 6, 5)
    layer = LeNetConvPoolLayer(None, x, filter_shape, image_shape,
                               W=shared64(numpy.zeros(filter_shape), "W"),
                               b=shared64(numpy.zeros(3), "b"))
    cost = layer.output.sum()
    assert cost.dtype == "float64"

    def fn(x_value, W_value, b_value):
        return theano.clone(cost, replace={x: x_value, layer.W: W_value, layer.b: b_value})

    theano.gradient.verify_grad(
        fn, [rng.randn(*image_shape), rng.randn(*filter_shape), rng.randn(3)], rng=rng)


@pytest.mark.parametrize("filter_shape, poolsize, fan_in, fan_out", [
    ((20, 1, 5, 5), (2, 2), 25, 125),      # LeNet layer 0: 20*25/4 = 125 exactly
    ((50, 20, 5, 5), (2, 2), 500, 312),    # LeNet layer 1: 50*25/4 = 312.5 -> 312
    ((7, 2, 4, 4), (3, 3), 32, 12),        # 7*16/9 = 12.4 -> 12
])
def test_conv_pool_init_bound_uses_integer_fan_out(filter_shape, poolsize, fan_in, fan_out):
    image_shape = (None, filter_shape[1], 20, 20)
    layer = LeNetConvPoolLayer(numpy.random.RandomState(21), T.tensor4("x"), filter_shape,
                               image_shape, poolsize=poolsize)
    W = layer.W.get_value()
    bound = glorot(fan_in, fan_out)
    assert W.shape == filter_shape and W.dtype == FLOATX
    assert numpy.abs(W).max() <= bound and numpy.abs(W).max() > 0.9 * bound
    numpy.testing.assert_array_equal(W, reference_draw(21, bound, filter_shape))
    true_fan_out = filter_shape[0] * numpy.prod(filter_shape[2:]) / numpy.prod(poolsize)
    if true_fan_out != fan_out:
        # the check can tell the tutorial's integer division from true division
        assert not numpy.array_equal(W, reference_draw(21, glorot(fan_in, true_fan_out),
                                                       filter_shape))
    assert not layer.b.get_value().any() and layer.b.get_value().shape == (filter_shape[0],)
    assert layer.params == [layer.W, layer.b]


def test_conv_pool_channel_mismatch_names_shapes():
    with pytest.raises(ValueError, match=r"\(2, 3, 9, 9\).*\(4, 2, 3, 3\)"):
        LeNetConvPoolLayer(numpy.random.RandomState(0), T.tensor4("x"), (4, 2, 3, 3), (2, 3, 9, 9))


@pytest.mark.parametrize("image_hw, filter_hw", [((5, 9), (5, 5)), ((9, 3), (3, 3)),
                                                 ((3, 3), (5, 5))])
def test_conv_pool_too_small_image(image_hw, filter_hw):
    # conv output of height/width 1 pools to 0 (or the filter does not fit at all)
    image_shape, filter_shape = (1, 1) + image_hw, (2, 1) + filter_hw
    with pytest.raises(ValueError, match="too small") as info:
        LeNetConvPoolLayer(numpy.random.RandomState(0), T.tensor4("x"), filter_shape, image_shape)
    assert str(image_shape) in str(info.value) and str(filter_shape) in str(info.value)


def test_conv_pool_wrong_W_shape():
    with pytest.raises(ValueError, match=r"\(4, 3, 2, 3\).*\(4, 3, 3, 2\)"):
        LeNetConvPoolLayer(None, T.tensor4("x"), CONV_FILTER, CONV_IMAGE,
                           W=numpy.zeros((4, 3, 2, 3)))


def test_conv_pool_rejects_bad_input_and_shape_lengths():
    with pytest.raises(ValueError, match="4-D"):
        LeNetConvPoolLayer(None, T.matrix("x"), CONV_FILTER, CONV_IMAGE)
    with pytest.raises(ValueError, match="4 entries"):
        LeNetConvPoolLayer(None, T.tensor4("x"), CONV_FILTER, CONV_IMAGE[1:])


def test_conv_pool_repr():
    layer = LeNetConvPoolLayer(numpy.random.RandomState(0), T.tensor4("x"), CONV_FILTER,
                               CONV_IMAGE)
    text = repr(layer)
    assert str(CONV_FILTER) in text and str(CONV_IMAGE) in text and "tanh" in text


# --------------------------------------------------------------------------- bad arguments
@pytest.mark.parametrize("build, kind, fragments", [
    (lambda x, rng: LogisticRegression(x, 0, 10), ValueError, ["n_in", "got 0"]),
    (lambda x, rng: LogisticRegression(x, 4, -1), ValueError, ["n_out", "got -1"]),
    (lambda x, rng: LogisticRegression(x, "4", 3), TypeError, ["n_in", "'4'"]),
    (lambda x, rng: HiddenLayer(rng, x, 4, 0), ValueError, ["n_out", "got 0"]),
    (lambda x, rng: HiddenLayer(rng, x, 2.5, 3), ValueError, ["n_in", "2.5"]),
    (lambda x, rng: HiddenLayer(None, x, 4, 3), TypeError,
     ["rng must be a numpy.random.RandomState, got None",
      "numpy.random.RandomState(1234)"]),
    (lambda x, rng: LeNetConvPoolLayer(rng, T.tensor4(), (2, 1, 3, 3), (None, 1, 8, 8),
                                       poolsize=(0, 0)), ValueError, ["poolsize=(0, 0)"]),
    (lambda x, rng: LeNetConvPoolLayer(rng, T.tensor4(), (0, 1, 3, 3), (None, 1, 8, 8)),
     ValueError, ["filter_shape=(0, 1, 3, 3)"]),
    (lambda x, rng: LeNetConvPoolLayer(rng, T.tensor4(), (2, 1, 3, 3), (None, 1, 0, 8)),
     ValueError, ["image_shape=(None, 1, 0, 8)"]),
    (lambda x, rng: LeNetConvPoolLayer(None, T.tensor4(), (2, 1, 3, 3), (None, 1, 8, 8)),
     TypeError, ["rng", "None"]),
], ids=["LogisticRegression n_in=0", "LogisticRegression n_out=-1", "n_in a string",
        "HiddenLayer n_out=0", "HiddenLayer n_in=2.5", "HiddenLayer rng=None",
        "poolsize=(0, 0)", "no filters", "image height 0", "LeNetConvPoolLayer rng=None"])
def test_bad_sizes_and_rngs_are_one_error_naming_the_argument(build, kind, fragments):
    """Empty models, an AttributeError for rng=None and a ZeroDivisionError for a zero
    pooling window were what these gave before; the checks are dltut.checks's (the
    command line's)."""
    assert_one_error(kind, lambda: build(T.matrix("x"), numpy.random.RandomState(0)), fragments)


def test_a_given_W_needs_no_rng():
    """rng is checked only when weights are drawn from it."""
    layer = HiddenLayer(None, T.matrix("x"), 3, 2, W=numpy.ones((3, 2)))
    assert layer.W.get_value().sum() == 6
