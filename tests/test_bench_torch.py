"""bench/bench_cpu.py's PyTorch side (bench/torch_models.py) computes what dltut computes.

The benchmark's ratios mean something only if both sides do the same work: on tiny models,
from the same parameters, each PyTorch step must give dltut's cost and dltut's updated
parameters (the deterministic models), and the RBM its free energy and first
pseudo-likelihood cost (the parts of a sampling step that do not depend on the draws).
PyTorch is a benchmark-only dependency: skipped without it.  The PyTorch side is float32,
so the tolerances are float32's whatever floatX is.
"""
import importlib.util
import pathlib

import numpy
import pytest
import theano
import theano.tensor as T

torch = pytest.importorskip("torch")

BENCH = pathlib.Path(__file__).resolve().parent.parent / "bench"
RTOL, ATOL = 2e-4, 2e-5


def load(name):
    spec = importlib.util.spec_from_file_location("bench_" + name, BENCH / (name + ".py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def tm():
    return load("torch_models")


@pytest.fixture(scope="module")
def batch():
    rng = numpy.random.RandomState(7)
    return rng.uniform(0, 1, (6, 12)).astype(theano.config.floatX)


def values(params):
    return [p.get_value() for p in params]


def assert_close(a, b):
    numpy.testing.assert_allclose(numpy.asarray(a, "float64"), numpy.asarray(b, "float64"),
                                  rtol=RTOL, atol=ATOL)


def two_steps(f, model, x, n_out=1):
    """Two updates on ``x``: dltut's outputs, PyTorch's, then both sides' parameters."""
    xt = torch.from_numpy(numpy.asarray(x, "float32"))
    ours, theirs = [], []
    for _ in range(2):
        ours.append(numpy.atleast_1d(f(x)))
        out = model.step(xt, None)
        theirs.append([float(o) for o in (out if isinstance(out, tuple) else (out,))])
    return ours, theirs


def test_denoising_autoencoder_without_noise_matches_dA(tm, batch):
    from dltut.autoencoders import dA
    x = T.matrix("x")
    da = dA(numpy.random.RandomState(1), input=x, n_visible=12, n_hidden=5)
    start = values(da.params)
    cost, updates = da.get_cost_updates(corruption_level=0.0, learning_rate=0.1)
    f = theano.function([x], cost, updates=updates)
    model = tm.DenoisingAutoencoder(torch, start, 0.1, corruption=0.0)
    ours, theirs = two_steps(f, model, batch)
    assert_close(ours, theirs)
    for a, b in zip(values(da.params), model.numpy_params()):
        assert_close(a, b)
    assert not numpy.allclose(values(da.params)[0], start[0])     # it did train


def test_contractive_autoencoder_matches_cA(tm, batch):
    from dltut.autoencoders import cA
    x = T.matrix("x")
    ca = cA(numpy.random.RandomState(2), input=x, n_visible=12, n_hidden=5, n_batchsize=6)
    start = values(ca.params)
    cost, updates = ca.get_cost_updates(contraction_level=0.1, learning_rate=0.05)
    f = theano.function([x], [T.mean(ca.L_rec), ca.L_jacob], updates=updates)
    model = tm.ContractiveAutoencoder(torch, start, 0.05, contraction=0.1)
    ours, theirs = two_steps(f, model, batch)
    assert_close(ours, theirs)
    for a, b in zip(values(ca.params), model.numpy_params()):
        assert_close(a, b)


@pytest.mark.parametrize("activation", ["tanh", "sigmoid"])
def test_classifier_matches_mlp_with_l2(tm, batch, activation):
    from dltut.models import MLP
    x, y = T.matrix("x"), T.ivector("y")
    act = T.tanh if activation == "tanh" else T.nnet.sigmoid
    mlp = MLP(numpy.random.RandomState(3), x, 12, [7], 3, activation=act)
    start = values(mlp.params)
    l2 = 1e-3
    cost = mlp.negative_log_likelihood(y) + l2 * sum(T.sum(W ** 2) for W in mlp.params[0::2])
    updates = [(p, p - 0.1 * g) for p, g in zip(mlp.params, T.grad(cost, mlp.params))]
    f = theano.function([x, y], cost, updates=updates)
    labels = numpy.array([0, 1, 2, 2, 1, 0], dtype="int32")
    model = tm.Classifier(torch, start, 0.1, "MLP", activation=activation, L2=l2)
    yt = torch.from_numpy(labels.astype("int64"))
    xt = torch.from_numpy(numpy.asarray(batch, "float32"))
    for _ in range(2):
        assert_close(f(batch, labels), float(model.step(xt, yt)))
    for a, b in zip(values(mlp.params), model.numpy_params()):
        assert_close(a, b)


def test_rbm_free_energy_and_first_pseudo_likelihood_match(tm, batch):
    from dltut.rbm import RBM, persistent_chain
    x = T.matrix("x")
    rbm = RBM(input=x, n_visible=12, n_hidden=5, numpy_rng=numpy.random.RandomState(4))
    start = values(rbm.params)
    # a non-zero visible bias, so that every term of F is tested
    start[2] = numpy.linspace(-0.5, 0.5, 12).astype(start[2].dtype)
    rbm.vbias.set_value(start[2])
    model = tm.RBMModel(torch, start, 0.1, k=1, persistent=True, batch_size=6)
    model.reset()
    xt = torch.from_numpy(numpy.asarray(batch, "float32"))
    fe = theano.function([x], rbm.free_energy(x))(batch)
    with torch.no_grad():
        assert_close(fe, model.free_energy(xt).numpy())
    assert_close(fe, tm.free_energy_numpy(batch, *start))
    # the first returned cost is computed from the initial parameters (bit 0): no draw in it
    cost, updates = rbm.get_cost_updates(lr=0.1, persistent=persistent_chain(6, 5), k=1)
    f = theano.function([x], cost, updates=updates)
    assert_close(f(batch), float(model.step(xt)))
    # and the bit index moved on as dltut's did
    assert int(model.bit) == int(rbm.bit_i_idx.get_value()) == 1


def test_after_epoch_rule():
    bench = load("bench_cpu")
    ok, _ = bench.after_epoch_agrees({"dltut": 100.0, "torch2": 100.5, "torch1": 100.4}, False)
    assert ok
    ok, _ = bench.after_epoch_agrees({"dltut": 110.0, "torch2": 100.5, "torch1": 100.4}, False)
    assert not ok
    draws = {"dltut": -201.0, "torch2": -161.0, "torch1": -194.0, "torch2_compile": -187.0,
             "torch1_compile": -147.0}
    assert bench.after_epoch_agrees(draws, True)[0]
    assert not bench.after_epoch_agrees(dict(draws, dltut=-400.0), True)[0]
