"""Tests for dltut.models (MLP, LeNet5, build_model) against independent numpy references.

Forward passes are composed in numpy from the layers' math, initial weights are redrawn
independently from ``numpy.random.RandomState`` in the tutorial's order, and the
regularisers are summed in numpy over the weights only.  Runs under both floatX modes.
"""
import json
import math

import numpy
import pytest
import theano
import theano.tensor as T

from dltut.init import floatX
from dltut.models import LeNet5, MLP, build_model
from dltut.layers import LogisticRegression
from _helpers import assert_one_error

FLOATX = theano.config.floatX


def random_params(model, seed, scale=0.5):
    """Random floatX values for every parameter (biases and the output layer included)."""
    rng = numpy.random.RandomState(seed)
    return [floatX(scale * rng.randn(*p.get_value(borrow=True).shape)) for p in model.params]


def as64(values):
    return [numpy.asarray(v, dtype="float64") for v in values]


def glorot(fan_in, fan_out):
    return math.sqrt(6.0 / (fan_in + fan_out))


def shapes(model):
    return [p.get_value(borrow=True).shape for p in model.params]


# ---------------------------------------------------------------------------------------
# public names


def test_public_names_import_from_package():
    from dltut import HiddenLayer, LeNet5 as L5, LeNetConvPoolLayer, LogisticRegression as LR, MLP as M
    from dltut import layers, models
    assert (HiddenLayer, LeNetConvPoolLayer, LR) == (
        layers.HiddenLayer, layers.LeNetConvPoolLayer, layers.LogisticRegression)
    assert (M, L5) == (models.MLP, models.LeNet5)


# ---------------------------------------------------------------------------------------
# MLP


@pytest.fixture(scope="module")
def mlps():
    """A one-hidden-layer tanh MLP and a two-hidden-layer ReLU MLP on one input, compiled once."""
    x = T.matrix("x")
    one = MLP(numpy.random.RandomState(1), x, n_in=6, n_hidden=5, n_out=4)
    two = MLP(numpy.random.RandomState(2), x, n_in=6, n_hidden=[5, 3], n_out=4, activation="relu")
    forward = theano.function([x], [one.p_y_given_x, one.y_pred, two.p_y_given_x, two.y_pred])
    return one, two, forward


def test_mlp_params_in_order(mlps):
    one, two, _ = mlps
    assert shapes(one) == [(6, 5), (5,), (5, 4), (4,)]
    assert one.params == one.hidden_layer.params + one.log_regression_layer.params
    assert shapes(two) == [(6, 5), (5,), (5, 3), (3,), (3, 4), (4,)]
    assert two.params == (two.hidden_layers[0].params + two.hidden_layers[1].params
                          + two.log_regression_layer.params)
    assert two.hidden_layer is two.hidden_layers[0]
    assert [layer.activation_name for layer in two.hidden_layers] == ["relu", "relu"]


def test_mlp_forward_matches_numpy(mlps, ref, tol):
    one, two, forward = mlps
    one.set_params_values(random_params(one, 3))
    two.set_params_values(random_params(two, 4))
    x = floatX(numpy.random.RandomState(5).randn(8, 6))
    p1, y1, p2, y2 = forward(x)
    x64 = x.astype("float64")

    W1, b1, W2, b2 = as64(one.get_params_values())
    expected1 = ref.softmax(numpy.tanh(x64 @ W1 + b1) @ W2 + b2)
    assert p1.shape == (8, 4) and y1.shape == (8,) and p1.dtype == FLOATX
    numpy.testing.assert_allclose(p1, expected1, **tol)
    numpy.testing.assert_array_equal(y1, expected1.argmax(axis=1))

    V1, c1, V2, c2, V3, c3 = as64(two.get_params_values())
    h1 = numpy.maximum(x64 @ V1 + c1, 0)
    h2 = numpy.maximum(h1 @ V2 + c2, 0)
    expected2 = ref.softmax(h2 @ V3 + c3)
    assert p2.shape == (8, 4) and y2.shape == (8,)
    numpy.testing.assert_allclose(p2, expected2, **tol)
    numpy.testing.assert_array_equal(y2, expected2.argmax(axis=1))


def test_mlp_cost_and_errors(mlps, ref, tol):
    one, _, _ = mlps
    one.set_params_values(random_params(one, 6))
    y = T.ivector("y")
    f = theano.function([one.input, y], [one.negative_log_likelihood(y), one.errors(y)])
    x = floatX(numpy.random.RandomState(7).randn(5, 6))
    labels = numpy.array([0, 3, 1, 2, 3], dtype="int32")
    nll, err = f(x, labels)
    W1, b1, W2, b2 = as64(one.get_params_values())
    p = ref.softmax(numpy.tanh(x.astype("float64") @ W1 + b1) @ W2 + b2)
    numpy.testing.assert_allclose(nll, -numpy.log(p[numpy.arange(5), labels]).mean(), **tol)
    numpy.testing.assert_allclose(err, (p.argmax(axis=1) != labels).mean(), **tol)


def test_mlp_tutorial_initial_weights():
    """The tutorial's MLP: RandomState(1234), 784-500-10; one draw for the hidden layer."""
    model = MLP(numpy.random.RandomState(1234), T.matrix("x"), n_in=784, n_hidden=500, n_out=10)
    W, b, W_out, b_out = model.get_params_values()
    bound = glorot(784, 500)
    expected = numpy.asarray(numpy.random.RandomState(1234).uniform(
        low=-bound, high=bound, size=(784, 500)), dtype=FLOATX)
    numpy.testing.assert_array_equal(W, expected)
    assert W.dtype == FLOATX
    assert not b.any() and not W_out.any() and not b_out.any()
    assert W_out.shape == (500, 10) and b_out.shape == (10,)


def test_mlp_hidden_layers_draw_in_order():
    model = MLP(numpy.random.RandomState(8), T.matrix("x"), n_in=7, n_hidden=(6, 5), n_out=3,
                activation="sigmoid")
    rng = numpy.random.RandomState(8)
    first = 4 * floatX(rng.uniform(-glorot(7, 6), glorot(7, 6), (7, 6)))
    second = 4 * floatX(rng.uniform(-glorot(6, 5), glorot(6, 5), (6, 5)))
    values = model.get_params_values()
    numpy.testing.assert_array_equal(values[0], first)
    numpy.testing.assert_array_equal(values[2], second)
    assert model.init == "glorot_sigmoid"


def test_mlp_same_seed_identical_other_seed_differs():
    x = T.matrix("x")
    a = MLP(numpy.random.RandomState(9), x, 6, (5, 4), 3).get_params_values()
    b = MLP(numpy.random.RandomState(9), x, 6, (5, 4), 3).get_params_values()
    c = MLP(numpy.random.RandomState(10), x, 6, (5, 4), 3).get_params_values()
    for u, v in zip(a, b):
        numpy.testing.assert_array_equal(u, v)
    assert not numpy.array_equal(a[0], c[0]) and not numpy.array_equal(a[2], c[2])


@pytest.mark.parametrize("n_hidden", [[], (), 0, [5, 0], -3])
def test_mlp_bad_n_hidden(n_hidden):
    with pytest.raises(ValueError, match="n_hidden"):
        MLP(numpy.random.RandomState(0), T.matrix("x"), 6, n_hidden, 3)


def test_mlp_repr():
    model = MLP(numpy.random.RandomState(0), T.matrix("x"), 784, [500, 300], 10, activation="relu")
    text = repr(model)
    for piece in ("784", "500", "300", "10", "relu"):
        assert piece in text


# ---------------------------------------------------------------------------------------
# LeNet5

# (id, LeNet5 keyword arguments, layer shapes for the reference)
LENET_CASES = {
    # 17x15 -> conv3 15x13 -> pool 7x6 (odd: last row dropped) -> conv3 5x4 -> pool 2x2 -> 12
    "odd-1ch": dict(nkerns=(2, 3), n_hidden=7, image_shape=(17, 15), filter_size=3),
    # 3x32x32 -> conv5 28x28 -> pool 14x14 -> conv5 10x10 -> pool 5x5 -> 3*25 = 75
    "rgb-32": dict(nkerns=(2, 3), n_hidden=8, image_shape=(32, 32), n_channels=3),
}


@pytest.fixture(scope="module", params=sorted(LENET_CASES))
def lenet(request):
    """A small LeNet5 (batch_size=None) with random parameters, its forward pass compiled."""
    kwargs = LENET_CASES[request.param]
    x = T.matrix("x")
    model = LeNet5(numpy.random.RandomState(11), x, batch_size=None, **kwargs)
    model.set_params_values(random_params(model, 12))
    forward = theano.function([x], [model.p_y_given_x, model.y_pred])
    return model, forward, kwargs


def lenet_numpy(model, x, ref):
    """LeNet5's forward pass composed in numpy from the model's current parameters."""
    W0, b0, W1, b1, W2, b2, W3, b3 = as64(model.get_params_values())
    h, w = model.image_shape
    images = x.astype("float64").reshape(x.shape[0], model.n_channels, h, w)
    a0 = ref.conv_pool(images, W0, b0, model.poolsize, numpy.tanh)
    a1 = ref.conv_pool(a0, W1, b1, model.poolsize, numpy.tanh)
    a2 = numpy.tanh(a1.reshape(x.shape[0], -1) @ W2 + b2)
    return ref.softmax(a2 @ W3 + b3)


def test_lenet_forward_matches_numpy_for_any_batch_size(lenet, ref, tol):
    model, forward, kwargs = lenet
    channels = kwargs.get("n_channels", 1)
    n_in = channels * kwargs["image_shape"][0] * kwargs["image_shape"][1]
    for batch in (1, 5):  # batch_size=None: one compiled graph takes any batch size
        x = floatX(numpy.random.RandomState(batch).rand(batch, n_in))
        p, y_pred = forward(x)
        assert p.shape == (batch, 10) and y_pred.shape == (batch,) and p.dtype == FLOATX
        expected = lenet_numpy(model, x, ref)
        numpy.testing.assert_allclose(p, expected, **tol)
        numpy.testing.assert_array_equal(y_pred, expected.argmax(axis=1))


def test_lenet_layer_shapes(lenet):
    model, _, kwargs = lenet
    if kwargs["image_shape"] == (17, 15):
        assert model.layer0.output_shape == (None, 2, 7, 6)
        assert model.layer1.output_shape == (None, 3, 2, 2)
        assert model.layer2.n_in == 12
    else:
        assert model.layer0.output_shape == (None, 2, 14, 14)
        assert model.layer1.output_shape == (None, 3, 5, 5)
        assert model.layer2.n_in == 75
        assert model.layer0.filter_shape == (2, 3, 5, 5)
    assert model.layers == [model.layer0, model.layer1, model.layer2, model.layer3]
    assert model.params == [p for layer in model.layers for p in layer.params]


def test_lenet_fixed_batch_size():
    x = T.matrix("x")
    model = LeNet5(numpy.random.RandomState(13), x, batch_size=3, nkerns=(2, 2), n_hidden=4,
                   image_shape=(12, 12), filter_size=3)
    assert model.layer0.image_shape == (3, 1, 12, 12)
    assert model.layer1.image_shape == (3, 2, 5, 5)
    y = T.ivector("y")
    f = theano.function([x, y], [model.p_y_given_x, model.y_pred, model.negative_log_likelihood(y),
                                 model.errors(y)])
    p, y_pred, nll, err = f(floatX(numpy.random.RandomState(0).rand(3, 144)),
                            numpy.array([1, 2, 3], dtype="int32"))
    assert p.shape == (3, 10) and y_pred.shape == (3,)
    # the output layer starts at zero: uniform probabilities, NLL = ln 10
    numpy.testing.assert_allclose(p, 0.1, rtol=1e-6)
    numpy.testing.assert_allclose(nll, math.log(10), rtol=1e-6)


def test_lenet_tutorial_initial_weights():
    """The tutorial's LeNet (RandomState(23455), nkerns 20/50, 500 hidden, batch 500) draws
    layer0, layer1, layer2 in that order from one RandomState; the output layer is zero."""
    model = LeNet5(numpy.random.RandomState(23455), T.matrix("x"), batch_size=500)
    rng = numpy.random.RandomState(23455)
    expected = [
        # fan_in = 1*5*5, fan_out = 20*5*5 // 4 = 125
        floatX(rng.uniform(-glorot(25, 125), glorot(25, 125), (20, 1, 5, 5))),
        # fan_in = 20*5*5 = 500, fan_out = 50*5*5 // 4 = 312 (integer division, as the tutorial)
        floatX(rng.uniform(-glorot(500, 312), glorot(500, 312), (50, 20, 5, 5))),
        # HiddenLayer 50*4*4 = 800 -> 500, tanh
        floatX(rng.uniform(-glorot(800, 500), glorot(800, 500), (800, 500))),
    ]
    values = model.get_params_values()
    assert shapes(model) == [(20, 1, 5, 5), (20,), (50, 20, 5, 5), (50,), (800, 500), (500,),
                             (500, 10), (10,)]
    for got, want in zip(values[0:6:2], expected):
        numpy.testing.assert_array_equal(got, want)
    assert not values[6].any()
    for bias in values[1::2]:
        assert not bias.any()


def test_lenet_same_seed_identical_other_seed_differs():
    def build(seed):
        return LeNet5(numpy.random.RandomState(seed), T.matrix("x"), nkerns=(2, 3), n_hidden=6,
                      image_shape=(12, 12), filter_size=3).get_params_values()

    a, b, c = build(14), build(14), build(15)
    for u, v in zip(a, b):
        numpy.testing.assert_array_equal(u, v)
    for i in (0, 2, 4):
        assert not numpy.array_equal(a[i], c[i])


@pytest.mark.parametrize("nkerns", [(20,), (20, 50, 70), (20, 0)])
def test_lenet_bad_nkerns(nkerns):
    with pytest.raises(ValueError, match="nkerns") as info:
        LeNet5(numpy.random.RandomState(0), T.matrix("x"), nkerns=nkerns)
    assert str(nkerns) in str(info.value)


def test_lenet_too_small_image():
    with pytest.raises(ValueError, match="too small"):
        LeNet5(numpy.random.RandomState(0), T.matrix("x"), nkerns=(2, 3), image_shape=(12, 12))


def test_lenet_repr():
    model = LeNet5(numpy.random.RandomState(0), T.matrix("x"), nkerns=(2, 3), n_hidden=6,
                   image_shape=(32, 32), n_channels=3)
    text = repr(model)
    assert "3x32x32" in text and "(2, 3)" in text and "6" in text and "10" in text


# ---------------------------------------------------------------------------------------
# regularisers: weights only


def test_l1_l2_over_weights_only(tol):
    x = T.matrix("x")
    models = {
        "logreg": LogisticRegression(x, 5, 3),
        "mlp": MLP(numpy.random.RandomState(0), x, 5, (4, 3), 3),
        "lenet": LeNet5(numpy.random.RandomState(0), x, nkerns=(2, 3), n_hidden=4,
                        image_shape=(12, 12), filter_size=3),
    }
    outputs = []
    for seed, model in enumerate(models.values()):
        model.set_params_values(random_params(model, 20 + seed, scale=1.0))
        outputs += [model.L1, model.L2_sqr]
    values = theano.function([], outputs)()
    for i, (name, model) in enumerate(models.items()):
        params = as64(model.get_params_values())
        weights, biases = params[0::2], params[1::2]
        assert all(w.ndim >= 2 for w in weights) and all(b.ndim == 1 for b in biases)
        l1, l2 = values[2 * i], values[2 * i + 1]
        numpy.testing.assert_allclose(l1, sum(numpy.abs(w).sum() for w in weights),
                                      err_msg=name, **tol)
        numpy.testing.assert_allclose(l2, sum((w ** 2).sum() for w in weights),
                                      err_msg=name, **tol)


# ---------------------------------------------------------------------------------------
# spec() and build_model


@pytest.mark.parametrize("make", [
    lambda rng, x: LogisticRegression(x, 7, 4),
    lambda rng, x: MLP(rng, x, 7, 5, 4),
    lambda rng, x: MLP(rng, x, 7, [5, 3], 4, activation="sigmoid"),
    lambda rng, x: MLP(rng, x, 7, 5, 4, activation="relu", init="fan_in"),
    lambda rng, x: LeNet5(rng, x, nkerns=(2, 3), n_hidden=6, image_shape=(17, 15), filter_size=3),
    lambda rng, x: LeNet5(rng, x, nkerns=(2, 3), n_hidden=6, image_shape=(32, 32), n_channels=3,
                          poolsize=(3, 3)),
], ids=["logreg", "mlp", "mlp-2-sigmoid", "mlp-relu-fan_in", "lenet", "lenet-rgb-pool3"])
def test_spec_round_trip(make):
    original = make(numpy.random.RandomState(30), T.matrix("x"))
    spec = json.loads(json.dumps(original.spec()))  # plain JSON-able values
    rebuilt = build_model(spec, numpy.random.RandomState(30), T.matrix("x2"))
    assert type(rebuilt) is type(original)
    assert rebuilt.spec() == original.spec()
    assert repr(rebuilt) == repr(original)
    assert shapes(rebuilt) == shapes(original)
    # the same seed draws the same initial weights
    for u, v in zip(rebuilt.get_params_values(), original.get_params_values()):
        numpy.testing.assert_array_equal(u, v)
    if isinstance(original, MLP):
        assert [l.init for l in rebuilt.hidden_layers] == [l.init for l in original.hidden_layers]
        assert rebuilt.activation_name == original.activation_name


def test_build_model_unknown_name():
    with pytest.raises(ValueError, match="ConvNet"):
        build_model({"name": "ConvNet"}, numpy.random.RandomState(0), T.matrix("x"))


def test_logistic_regression_repr_and_shapes():
    x = T.matrix("x")
    layer = LogisticRegression(x, 784, 10)
    assert "784" in repr(layer) and "10" in repr(layer)
    f = theano.function([x], [layer.p_y_given_x, layer.y_pred])
    p, y_pred = f(floatX(numpy.zeros((3, 784))))
    assert p.shape == (3, 10) and y_pred.shape == (3,)


@pytest.mark.parametrize("build, kind, fragments", [
    (lambda x, rng: MLP(rng, x, 0, 5, 3), ValueError, ["n_in", "got 0"]),
    (lambda x, rng: MLP(rng, x, 4, [5, 0], 3), ValueError, ["n_hidden=[5, 0]", "got 0"]),
    (lambda x, rng: MLP(rng, x, 4, [], 3), ValueError, ["n_hidden", "[]"]),
    (lambda x, rng: MLP(rng, x, 4, 5, 0), ValueError, ["n_out", "got 0"]),
    (lambda x, rng: MLP(None, x, 4, 5, 3), TypeError, ["rng", "None", "RandomState(1234)"]),
    (lambda x, rng: LeNet5(rng, x, nkerns=(0, 5)), ValueError, ["nkerns=(0, 5)"]),
    (lambda x, rng: LeNet5(rng, x, poolsize=(0, 0)), ValueError, ["poolsize=(0, 0)"]),
    (lambda x, rng: LeNet5(rng, x, n_hidden=0), ValueError, ["n_hidden", "got 0"]),
    (lambda x, rng: LeNet5(rng, x, image_shape=(28, -28)), ValueError,
     ["image_shape=(28, -28)"]),
    (lambda x, rng: LeNet5(rng, x, filter_size=0), ValueError, ["filter_size", "got 0"]),
    (lambda x, rng: LeNet5(rng, x, batch_size=0), ValueError, ["batch_size", "got 0"]),
    (lambda x, rng: LeNet5(None, x), TypeError, ["rng", "None"]),
], ids=["MLP n_in=0", "MLP n_hidden=[5, 0]", "MLP n_hidden=[]", "MLP n_out=0", "MLP rng=None",
        "LeNet5 nkerns=(0, 5)", "LeNet5 poolsize=(0, 0)", "LeNet5 n_hidden=0",
        "LeNet5 image_shape", "LeNet5 filter_size=0", "LeNet5 batch_size=0", "LeNet5 rng=None"])
def test_bad_model_arguments_are_one_error_naming_the_argument(build, kind, fragments):
    assert_one_error(kind, lambda: build(T.matrix("x"), numpy.random.RandomState(0)), fragments)
