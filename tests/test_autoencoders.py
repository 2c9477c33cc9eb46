"""dA, cA and SdA against independent references: numpy forward passes and costs, the
corruption mask's rate, hand-derived and numerical gradients (verify_grad), a
finite-difference Jacobian, the tutorial's order of random draws, and weight sharing."""
import numpy
import pytest

import dltut  # noqa: F401  (Theano set-up before anything imports theano)
import theano
import theano.tensor as T
from theano.sandbox.rng_mrg import MRG_RandomStreams

from dltut.autoencoders import SdA, cA, cross_entropy, dA, random_state_variables
from dltut.data import shared_dataset
from dltut.training import TrainConfig, Trainer, compile_functions

N_VISIBLE, N_HIDDEN = 12, 5


def floatX(value):
    return numpy.asarray(value, dtype=theano.config.floatX)


def sigmoid(z):
    return 1.0 / (1.0 + numpy.exp(-z))


def np_cross_entropy(x, z):
    return -numpy.sum(x * numpy.log(z) + (1 - x) * numpy.log(1 - z), axis=1)


def inputs(n=7, n_visible=N_VISIBLE, seed=0):
    """Inputs in [0, 1], like MNIST's pixel intensities."""
    return floatX(numpy.random.RandomState(seed).uniform(0, 1, size=(n, n_visible)))


def f64(shared):
    return numpy.asarray(shared.get_value(), dtype=numpy.float64)


@pytest.fixture
def tol():
    if theano.config.floatX == "float32":
        return {"rtol": 2e-5, "atol": 1e-5}
    return {"rtol": 1e-12, "atol": 1e-12}


# ------------------------------------------------------------------ construction and draws
def test_dA_draws_its_stream_seed_then_its_weights_as_the_tutorial_does():
    da = dA(numpy.random.RandomState(123), n_visible=N_VISIBLE, n_hidden=N_HIDDEN)
    rng = numpy.random.RandomState(123)
    seed = rng.randint(2 ** 30)
    bound = 4 * numpy.sqrt(6.0 / (N_HIDDEN + N_VISIBLE))
    expected = numpy.asarray(rng.uniform(low=-bound, high=bound, size=(N_VISIBLE, N_HIDDEN)),
                             dtype=theano.config.floatX)
    numpy.testing.assert_array_equal(da.W.get_value(), expected)
    assert not da.b.get_value().any() and not da.b_prime.get_value().any()
    assert [p.name for p in da.params] == ["W", "b", "b_prime"]
    # the stream is seeded with the first draw: it makes the masks a fresh stream of that seed makes
    x = T.matrix("x")
    mask_a = theano.function([x], da.get_corrupted_input(x, 0.5))(numpy.ones((4, 9), dtype=x.dtype))
    other = MRG_RandomStreams(seed).binomial(size=x.shape, n=1, p=0.5, dtype=theano.config.floatX)
    mask_b = theano.function([x], other * x)(numpy.ones((4, 9), dtype=x.dtype))
    numpy.testing.assert_array_equal(mask_a, mask_b)


def test_given_weights_are_shared_not_copied():
    W = theano.shared(floatX(numpy.zeros((N_VISIBLE, N_HIDDEN))), name="W")
    da = dA(numpy.random.RandomState(1), theano_rng=MRG_RandomStreams(1), W=W,
            n_visible=N_VISIBLE, n_hidden=N_HIDDEN)
    assert da.W is W
    with pytest.raises(ValueError, match=r"W has shape \(12, 5\) but this layer needs \(12, 6\)"):
        dA(numpy.random.RandomState(1), W=W, n_visible=N_VISIBLE, n_hidden=6)


def test_bad_levels_are_refused():
    da = dA(numpy.random.RandomState(1), n_visible=N_VISIBLE, n_hidden=N_HIDDEN)
    # the command line's checks (dltut.checks): --corruption-level, --contraction-level
    with pytest.raises(ValueError, match=r"corruption_level must be in \[0, 1\], got 1.5; "):
        da.get_cost_updates(1.5, 0.1)
    ca = cA(numpy.random.RandomState(1), n_visible=N_VISIBLE, n_hidden=N_HIDDEN)
    with pytest.raises(ValueError, match="contraction_level must be >= 0, got -0.1; "):
        ca.get_cost_updates(-0.1, 0.1)
    with pytest.raises(ValueError, match="contraction_level must be a finite number, got nan"):
        ca.get_cost_updates(float("nan"), 0.1)
    with pytest.raises(ValueError, match="one level per hidden layer: 2 layers"):
        SdA(numpy.random.RandomState(1), n_ins=N_VISIBLE, hidden_layers_sizes=[4, 3],
            corruption_levels=[0.1])


# ------------------------------------------------------------------ the dA
def test_dA_forward_pass_and_cost_match_numpy(tol):
    x = T.matrix("x")
    da = dA(numpy.random.RandomState(5), input=x, n_visible=N_VISIBLE, n_hidden=N_HIDDEN)
    da.b.set_value(floatX(numpy.linspace(-1, 1, N_HIDDEN)))
    da.b_prime.set_value(floatX(numpy.linspace(0.5, -0.5, N_VISIBLE)))
    hidden = da.get_hidden_values(x)
    cost, updates = da.get_cost_updates(corruption_level=0.0, learning_rate=0.1)
    f = theano.function([x], [hidden, da.get_reconstructed_input(hidden), cost])
    data = inputs()
    h, z, c = f(data)
    W, b, bp = f64(da.W), f64(da.b), f64(da.b_prime)
    h_ref = sigmoid(data.astype(numpy.float64).dot(W) + b)
    z_ref = sigmoid(h_ref.dot(W.T) + bp)
    numpy.testing.assert_allclose(h, h_ref, **tol)
    numpy.testing.assert_allclose(z, z_ref, **tol)
    numpy.testing.assert_allclose(c, np_cross_entropy(data, z_ref).mean(), **tol)
    assert [u[0] for u in updates] == da.params


def test_dA_corrupted_cost_uses_the_mask_its_stream_draws(tol):
    """With 30 % corruption the cost is the cross-entropy between x and the reconstruction
    of mask * x; the mask is the one a second stream of the same seed draws first."""
    x = T.matrix("x")
    da = dA(numpy.random.RandomState(9), input=x, n_visible=N_VISIBLE, n_hidden=N_HIDDEN)
    twin = dA(numpy.random.RandomState(9), input=x, n_visible=N_VISIBLE, n_hidden=N_HIDDEN)
    cost, _ = da.get_cost_updates(0.3, 0.1)
    data = inputs(n=40)
    c = theano.function([x], cost)(data)
    masked = theano.function([x], twin.get_corrupted_input(x, 0.3))(data)
    assert 0 < numpy.mean(masked == 0) < 1
    W, b, bp = f64(da.W), f64(da.b), f64(da.b_prime)
    z = sigmoid(sigmoid(masked.astype(numpy.float64).dot(W) + b).dot(W.T) + bp)
    numpy.testing.assert_allclose(c, np_cross_entropy(data, z).mean(), **tol)


@pytest.mark.parametrize("level", [0.0, 0.1, 0.3, 0.9])
def test_the_corruption_mask_zeroes_the_asked_fraction(level):
    x = T.matrix("x")
    da = dA(numpy.random.RandomState(3), input=x, n_visible=500, n_hidden=2)
    corrupt = theano.function([x], da.get_corrupted_input(x, level))
    data = floatX(numpy.random.RandomState(1).uniform(0.5, 1.0, size=(400, 500)))
    first, second = corrupt(data), corrupt(data)
    for out in (first, second):
        kept = out != 0
        numpy.testing.assert_array_equal(out[kept], data[kept])  # kept entries unchanged
        # 200,000 Bernoulli draws: the rate is within 5 standard errors of the level
        se = numpy.sqrt(level * (1 - level) / data.size)
        assert abs((1 - kept.mean()) - level) <= 5 * se + 1e-12, (level, 1 - kept.mean())
    if 0 < level:
        assert (first != second).any()  # the stream moves on: each call draws a new mask
    assert len(random_state_variables(corrupt)) == 1


def test_dA_gradient_matches_the_hand_derived_one(tol):
    """For tied sigmoid layers and cross-entropy, dL/d(output pre-activation) = z - x:
    grad b' = mean(z - x), delta = (z - x) W * h (1 - h), grad b = mean(delta),
    grad W = (x~^T delta + (z - x)^T h) / n."""
    x = T.matrix("x")
    da = dA(numpy.random.RandomState(2), input=x, n_visible=N_VISIBLE, n_hidden=N_HIDDEN)
    cost, updates = da.get_cost_updates(0.0, learning_rate=0.5)
    step = theano.function([x], cost, updates=updates)
    data = inputs(n=6).astype(numpy.float64)
    W, b, bp = f64(da.W), f64(da.b), f64(da.b_prime)
    h = sigmoid(data.dot(W) + b)
    z = sigmoid(h.dot(W.T) + bp)
    out = z - data
    delta = out.dot(W) * h * (1 - h)
    grads = [(data.T.dot(delta) + out.T.dot(h)) / len(data), delta.mean(axis=0), out.mean(axis=0)]
    step(floatX(data))
    for param, before, grad in zip(da.params, (W, b, bp), grads):
        numpy.testing.assert_allclose(f64(param), before - 0.5 * grad, **tol)


def _cost_of_params(model, cost):
    """``fun(W, b, b_prime) -> cost``: the cost graph with the shared parameters replaced by
    symbolic inputs (for verify_grad)."""
    def fun(W, b, bp):
        return theano.clone(cost, replace={model.W: W, model.b: b, model.b_prime: bp})
    return fun


def _verify_grad(fun, model):
    rng = numpy.random.RandomState(42)
    if theano.config.floatX == "float32":
        theano.gradient.verify_grad(fun, [p.get_value() for p in model.params], rng=rng,
                                    abs_tol=5e-2, rel_tol=5e-2, eps=1e-2)
    else:
        theano.gradient.verify_grad(fun, [p.get_value() for p in model.params], rng=rng)


def test_dA_gradient_passes_verify_grad():
    data = theano.shared(inputs(n=5), name="data")
    da = dA(numpy.random.RandomState(4), input=data, n_visible=N_VISIBLE, n_hidden=N_HIDDEN)
    cost, _ = da.get_cost_updates(0.0, 0.1)
    _verify_grad(_cost_of_params(da, cost), da)


# ------------------------------------------------------------------ the cA
def np_jacobian_fd(W, b, x, eps=1e-6):
    """dh/dx of h(x) = sigmoid(x W + b) by central differences: (n, n_visible, n_hidden)."""
    n, n_visible = x.shape
    J = numpy.zeros((n, n_visible, W.shape[1]))
    for i in range(n_visible):
        step = numpy.zeros(n_visible)
        step[i] = eps
        J[:, i, :] = (sigmoid((x + step).dot(W) + b) - sigmoid((x - step).dot(W) + b)) / (2 * eps)
    return J


def test_cA_jacobian_and_contraction_penalty_match_finite_differences(tol):
    x = T.matrix("x")
    ca = cA(numpy.random.RandomState(8), input=x, n_visible=N_VISIBLE, n_hidden=N_HIDDEN,
            n_batchsize=7)
    ca.b.set_value(floatX(numpy.linspace(-0.5, 0.5, N_HIDDEN)))
    cost, _ = ca.get_cost_updates(contraction_level=0.1, learning_rate=0.01)
    hidden = ca.get_hidden_values(x)
    f = theano.function([x], [ca.get_jacobian(hidden, ca.W), ca.L_jacob, T.mean(ca.L_rec), cost])
    data = inputs(n=7)
    J, L_jacob, L_rec, c = f(data)
    W, b, bp = f64(ca.W), f64(ca.b), f64(ca.b_prime)
    J_fd = np_jacobian_fd(W, b, data.astype(numpy.float64))
    numpy.testing.assert_allclose(J, J_fd, rtol=1e-4 if tol["rtol"] < 1e-6 else 1e-3, atol=1e-6)
    penalty = (J_fd ** 2).sum() / len(data)
    numpy.testing.assert_allclose(L_jacob, penalty, rtol=1e-6 if tol["rtol"] < 1e-6 else 1e-4)
    # the whole cost, from a plain forward pass
    h = sigmoid(data.astype(numpy.float64).dot(W) + b)
    z = sigmoid(h.dot(W.T) + bp)
    exact = ((h * (1 - h)) ** 2).dot((W ** 2).sum(axis=0)).sum() / len(data)  # sum_kj (h(1-h))^2 |W_.j|^2
    numpy.testing.assert_allclose(L_rec, np_cross_entropy(data, z).mean(), **tol)
    numpy.testing.assert_allclose(c, np_cross_entropy(data, z).mean() + 0.1 * exact, **tol)


def test_cA_gradient_passes_verify_grad_and_the_penalty_pulls_on_W():
    data = theano.shared(inputs(n=4), name="data")
    ca = cA(numpy.random.RandomState(6), input=data, n_visible=N_VISIBLE, n_hidden=N_HIDDEN,
            n_batchsize=4)
    cost, _ = ca.get_cost_updates(0.5, 0.01)
    _verify_grad(_cost_of_params(ca, cost), ca)
    # the contraction term has a gradient (a floor division, as in the tutorial's Python 3
    # port, would make it zero): it differs from the reconstruction-only gradient
    g_with = theano.function([], T.grad(cost, ca.W))()
    twin = cA(numpy.random.RandomState(6), input=data, n_visible=N_VISIBLE, n_hidden=N_HIDDEN,
              n_batchsize=4)
    plain, _ = twin.get_cost_updates(0.0, 0.01)
    g_without = theano.function([], T.grad(plain, twin.W))()
    numpy.testing.assert_array_equal(twin.W.get_value(), ca.W.get_value())
    assert numpy.abs(g_with - g_without).max() > 1e-4


def test_cA_factorised_penalty_is_the_tutorials_function_and_gradient(tol):
    """jacobian="factorised" computes sum(J**2)/n without the Jacobian tensor: the same
    penalty, cost and gradients as the tutorial's graph (to rounding), on a minibatch of any
    size, and a finite-difference Jacobian's penalty."""
    x = T.matrix("x")
    built = {}
    for how in cA.JACOBIANS:
        ca = cA(numpy.random.RandomState(9), input=x, n_visible=N_VISIBLE, n_hidden=N_HIDDEN,
                n_batchsize=6, jacobian=how)
        ca.b.set_value(floatX(numpy.linspace(-1, 1, N_HIDDEN)))
        cost, updates = ca.get_cost_updates(contraction_level=0.3, learning_rate=0.05)
        grads = T.grad(cost, ca.params)
        built[how] = (ca, theano.function([x], [ca.L_jacob, cost] + grads))
    data = inputs(n=6, seed=3)
    tutorial, factorised = (built[how][1](data) for how in cA.JACOBIANS)
    for a, b in zip(tutorial, factorised):
        numpy.testing.assert_allclose(b, a, **tol)
    assert "factorised" == built["factorised"][0].jacobian
    # the gradient of the penalty alone is not negligible here: it differs from the
    # reconstruction-only gradient, so the comparison above covers it
    ca = built["factorised"][0]
    J_fd = np_jacobian_fd(f64(ca.W), f64(ca.b), data.astype(numpy.float64))
    numpy.testing.assert_allclose(factorised[0], (J_fd ** 2).sum() / len(data),
                                  rtol=1e-6 if tol["rtol"] < 1e-6 else 1e-4)
    # any number of rows: the mean over the rows given (the tutorial's graph needs n_batchsize)
    fewer = inputs(n=4, seed=5)
    J_fd = np_jacobian_fd(f64(ca.W), f64(ca.b), fewer.astype(numpy.float64))
    numpy.testing.assert_allclose(built["factorised"][1](fewer)[0], (J_fd ** 2).sum() / 4,
                                  rtol=1e-6 if tol["rtol"] < 1e-6 else 1e-4)


def test_cA_factorised_gradient_passes_verify_grad():
    data = theano.shared(inputs(n=3, seed=7), name="data")
    ca = cA(numpy.random.RandomState(2), input=data, n_visible=N_VISIBLE, n_hidden=N_HIDDEN,
            n_batchsize=3, jacobian="factorised")
    cost, _ = ca.get_cost_updates(0.5, 0.01)
    _verify_grad(_cost_of_params(ca, cost), ca)


# ------------------------------------------------------------------ the SdA
def small_sda(seed=89677, sizes=(6, 4), levels=(0.1, 0.2)):
    return SdA(numpy.random.RandomState(seed), n_ins=N_VISIBLE, hidden_layers_sizes=list(sizes),
               n_outs=3, corruption_levels=list(levels))


def test_SdA_draws_the_stream_seed_then_each_layers_weights():
    sda = small_sda()
    rng = numpy.random.RandomState(89677)
    rng.randint(2 ** 30)  # the stream's seed comes first
    n_in = N_VISIBLE
    for layer, n_out in zip(sda.sigmoid_layers, (6, 4)):
        bound = numpy.sqrt(6.0 / (n_in + n_out))
        W = numpy.asarray(rng.uniform(low=-bound, high=bound, size=(n_in, n_out)),
                          dtype=theano.config.floatX)
        W *= 4  # the tutorial's sigmoid rule, applied after the cast
        numpy.testing.assert_array_equal(layer.W.get_value(), W)
        n_in = n_out
    assert not sda.logLayer.W.get_value().any()
    assert sda.params == [p for layer in sda.sigmoid_layers for p in layer.params] + sda.logLayer.params
    assert sda.spec()["name"] == "MLP" and sda.spec()["activation"] == "sigmoid"


def test_SdA_dAs_share_weights_with_the_hidden_layers():
    sda = small_sda()
    for layer, da in zip(sda.sigmoid_layers, sda.dA_layers):
        assert da.W is layer.W and da.b is layer.b
        assert da.b_prime not in sda.params
    assert sda.dA_layers[1].x is sda.sigmoid_layers[0].output


def test_a_pretraining_step_changes_the_mlp_and_a_finetuning_step_changes_the_dAs():
    sda = small_sda()
    x_data = inputs(n=40)
    y_data = numpy.arange(40) % 3
    train = shared_dataset(x_data, y_data)
    datasets = [train, shared_dataset(x_data[:20], y_data[:20]),
                shared_dataset(x_data[20:], y_data[20:])]
    hidden_out = theano.function([sda.x], [layer.output for layer in sda.sigmoid_layers])
    reconstruct = theano.function([sda.x], sda.dA_layers[0].get_reconstructed_input(
        sda.dA_layers[0].get_hidden_values(sda.x)))
    before = hidden_out(x_data)
    fns = sda.pretraining_functions(train[0], batch_size=10)
    fns[1](index=0, corruption=0.0, lr=0.5)  # trains layer 1's dA: layer 0 is untouched
    after = hidden_out(x_data)
    numpy.testing.assert_array_equal(after[0], before[0])
    assert not numpy.allclose(after[1], before[1])
    # fine-tuning moves the shared W, so the dA reconstructs differently
    rec_before = reconstruct(x_data)
    train_fn, valid_score, test_score = sda.build_finetune_functions(datasets, 10, 0.5)
    train_fn(0)  # the top layer starts at zero: its first step sends no gradient down
    train_fn(1)
    assert not numpy.allclose(reconstruct(x_data), rec_before)
    assert len(valid_score()) == 2 and len(test_score()) == 2


def test_pretraining_functions_compute_each_dA_cost_on_the_layer_below(tol):
    sda = small_sda()
    x_data = inputs(n=20)
    train_x, _ = shared_dataset(x_data, numpy.zeros(20, dtype="int64"))
    fns = sda.pretraining_functions(train_x, batch_size=10)
    assert [f.name for f in fns] == ["pretrain_layer_0", "pretrain_layer_1"]
    W0, b0 = f64(sda.sigmoid_layers[0].W), f64(sda.sigmoid_layers[0].b)
    W1, b1 = f64(sda.sigmoid_layers[1].W), f64(sda.sigmoid_layers[1].b)
    bp1 = f64(sda.dA_layers[1].b_prime)
    cost = fns[1](index=1, corruption=0.0, lr=0.0)  # lr 0: nothing moves
    below = sigmoid(x_data[10:20].astype(numpy.float64).dot(W0) + b0)
    z = sigmoid(sigmoid(below.dot(W1) + b1).dot(W1.T) + bp1)
    numpy.testing.assert_allclose(cost, np_cross_entropy(below, z).mean(), **tol)
    numpy.testing.assert_array_equal(f64(sda.sigmoid_layers[1].W), W1)
    # the defaults are the tutorial's: corruption 0.2, lr 0.1
    assert [i.value for i in fns[0].maker.inputs[1:3]] == pytest.approx([0.2, 0.1])
    assert all(len(random_state_variables(f, sda.params + [d.b_prime for d in sda.dA_layers])) == 1
               for f in fns)


def test_an_SdA_finetunes_with_the_supervised_trainer():
    sda = small_sda(sizes=(8,), levels=(0.1,))
    x_data = inputs(n=60)
    y_data = (x_data[:, 0] > 0.5).astype("int64")
    datasets = [shared_dataset(x_data[:40], y_data[:40]), shared_dataset(x_data[40:50], y_data[40:50]),
                shared_dataset(x_data[50:], y_data[50:])]
    config = TrainConfig(learning_rate=0.5, batch_size=5, n_epochs=3, patience=10 ** 6)
    result = Trainer(compile_functions(sda, sda.x, sda.y, datasets, config), config, model=sda,
                     log=None, progress=False).run()
    assert result.epochs == 3 and result.iterations == 24
    assert len(result.history) == 3


def blas_ops(function):
    """The names of the BLAS-like ops in a compiled function's graph."""
    return {type(node.op).__name__ for node in function.maker.fgraph.toposort()
            if any(k in type(node.op).__name__ for k in ("Gemm", "Gemv", "Ger", "Dot22"))}


def test_SdA_row_input_trains_as_the_matrix_graph_does_but_with_gemv(tol):
    """row_input=True: the same pre-training and fine-tuning steps as the tutorial's
    T.matrix graph (costs and parameters to rounding), computed by gemv and ger; the
    default graph has none of them (so this fails if the opt-in silently does nothing)."""
    x_data = inputs(n=12, seed=4)
    y_data = numpy.arange(12) % 3
    built = []
    for row_input in (False, True):
        sda = SdA(numpy.random.RandomState(5), n_ins=N_VISIBLE, hidden_layers_sizes=[6, 4],
                  n_outs=3, corruption_levels=[0.1, 0.2], row_input=row_input)
        datasets = [shared_dataset(x_data, y_data), shared_dataset(x_data[:4], y_data[:4]),
                    shared_dataset(x_data[4:8], y_data[4:8])]
        pre = sda.pretraining_functions(datasets[0][0], batch_size=1)
        compiled = compile_functions(sda, sda.x, sda.y, datasets,
                                     TrainConfig(learning_rate=0.3, batch_size=1))
        tutorial_fn = sda.build_finetune_functions(datasets, 1, 0.3)[0]
        built.append((sda, pre, compiled, tutorial_fn))
    (gemm, gemm_pre, gemm_ft, gemm_tut), (gemv, gemv_pre, gemv_ft, gemv_tut) = built
    assert isinstance(gemv.x.type, T.TensorType) and gemv.x.broadcastable == (True, False)
    assert gemm.x.broadcastable == (False, False) and "row_input=True" in repr(gemv)
    for fn in gemv_pre + [gemv_ft.train_model, gemv_tut]:
        ops = blas_ops(fn)
        assert any("Gemv" in op for op in ops) and any("Ger" in op for op in ops), ops
        assert not any("Gemm" in op or "Dot22" in op for op in ops), ops
    for fn in gemm_pre + [gemm_ft.train_model, gemm_tut]:
        ops = blas_ops(fn)
        assert not any("Gemv" in op or "Ger" in op for op in ops), ops

    def run(sda, pre, compiled, tutorial_fn):
        costs = [float(pre[layer](index=k, corruption=0.3, lr=0.2))
                 for layer in (0, 1) for k in range(6)]
        costs += [float(compiled.train_model(k)) for k in range(6)]
        costs += [float(tutorial_fn(k)) for k in range(6, 12)]
        costs += [float(compiled.validate_model(k)) for k in range(4)]
        params = sda.params + [da.b_prime for da in sda.dA_layers]
        return costs, [p.get_value() for p in params]
    (costs_a, params_a), (costs_b, params_b) = run(*built[0]), run(*built[1])
    numpy.testing.assert_allclose(costs_b, costs_a, **tol)
    assert len(params_a) == 8 and abs(params_a[-2]).max() > 0    # the layers moved
    for a, b in zip(params_a, params_b):
        numpy.testing.assert_allclose(b, a, **tol)


def test_SdA_row_input_needs_minibatches_of_one():
    x_data = inputs(n=10)
    data = shared_dataset(x_data, numpy.arange(10) % 3)
    sda = SdA(numpy.random.RandomState(1), n_ins=N_VISIBLE, hidden_layers_sizes=[4], n_outs=3,
              corruption_levels=[0.1], row_input=True)
    fix = "use batch_size 1, or build the model on a T.matrix (row_input=False)"
    for build in (lambda: sda.pretraining_functions(data[0], batch_size=2),
                  lambda: sda.build_finetune_functions([data] * 3, 5, 0.1),
                  lambda: compile_functions(sda, sda.x, sda.y, [data] * 3,
                                            TrainConfig(learning_rate=0.1, batch_size=5))):
        with pytest.raises(ValueError) as info:
            build()
        assert "batch_size " in str(info.value) and fix in str(info.value), str(info.value)
    with pytest.raises(TypeError, match="row_input must be True or False, got 'yes'"):
        SdA(numpy.random.RandomState(1), n_ins=4, hidden_layers_sizes=[3],
            corruption_levels=[0], row_input="yes")


def test_cross_entropy_is_per_example(tol):
    x, z = T.matrix("x"), T.matrix("z")
    f = theano.function([x, z], cross_entropy(x, z))
    a, b = inputs(n=3), floatX(numpy.full((3, N_VISIBLE), 0.25))
    numpy.testing.assert_allclose(f(a, b), np_cross_entropy(a, b.astype(numpy.float64)), **tol)


@pytest.mark.parametrize("build, kind, fragments", [
    (lambda rng: dA(rng, n_visible=0, n_hidden=3), ValueError, ["n_visible", "got 0"]),
    (lambda rng: dA(None, n_visible=4, n_hidden=3), TypeError,
     ["numpy_rng must be a numpy.random.RandomState, got None"]),
    (lambda rng: cA(rng, n_visible=4, n_hidden=-2), ValueError, ["n_hidden", "got -2"]),
    (lambda rng: cA(rng, n_visible=4, n_hidden=3, n_batchsize=0), ValueError,
     ["n_batchsize", "got 0"]),
    (lambda rng: cA(rng, n_visible=4, n_hidden=3, jacobian="fast"), ValueError,
     ["jacobian must be one of tutorial, factorised, got 'fast'"]),
    (lambda rng: SdA(rng, n_ins=4, hidden_layers_sizes=[3, 0], corruption_levels=[0, 0]),
     ValueError, ["hidden_layers_sizes=[3, 0]"]),
    (lambda rng: SdA(rng, n_ins=4, hidden_layers_sizes=[3], n_outs=0, corruption_levels=[0]),
     ValueError, ["n_out", "got 0"]),
    (lambda rng: SdA(None, n_ins=4, hidden_layers_sizes=[3], corruption_levels=[0]),
     TypeError, ["numpy_rng", "None"]),
], ids=["dA n_visible=0", "dA numpy_rng=None", "cA n_hidden=-2", "cA n_batchsize=0",
        "cA jacobian='fast'", "SdA a layer of 0", "SdA n_outs=0", "SdA numpy_rng=None"])
def test_bad_sizes_and_rngs_are_named(build, kind, fragments):
    with pytest.raises(kind) as info:
        build(numpy.random.RandomState(0))
    for fragment in fragments:
        assert fragment in str(info.value), str(info.value)
    assert "; " in str(info.value)
