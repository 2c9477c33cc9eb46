"""RBM and DBN (dltut.rbm) against independent references.

* numpy formulas for the free energy, the conditionals and the pseudo-likelihood;
* exact enumeration on a 4-visible, 3-hidden RBM: the log-likelihood gradient (all 16 x 8
  states) and the exact expectation of the CD-k estimate (the k-step transition matrix of
  the visible chain), against the estimate averaged over many chains;
* sampling rates against the sigmoid probabilities;
* a persistent chain made deterministic (weights of +-60 make every conditional 0 or 1) so
  its path can be followed in numpy from update to update;
* the tutorial's initial weights and seeding, and a DBN's weight sharing.
"""
import itertools
import os
import signal

import dltut  # noqa: F401  (Theano set-up first)
import numpy
import pytest
import theano
import theano.tensor as T
from theano.sandbox.rng_mrg import MRG_RandomStreams

from dltut.init import glorot_bound
from dltut.rbm import DBN, RBM, build_sampler, persistent_chain, random_streams
from dltut.runs.checkpoint import load_checkpoint
from dltut.runs.rundir import PRETRAINING_CHECKPOINT
from dltut.training import (PretrainLayer, Pretrainer, TrainConfig, Trainer, compile_functions,
                            updated_shared_variables)

from _helpers import softmax, tolerances
from _helpers import uses_compiled_scan as _uses_compiled_scan

FLOATX = theano.config.floatX


def sigmoid(a):
    return 1.0 / (1.0 + numpy.exp(-a))


def np_free_energy(v, W, hbias, vbias):
    """F(v) = -v.vbias - sum_j log(1 + exp(hbias_j + (v W)_j)), in float64."""
    v, W, hbias, vbias = (numpy.asarray(a, dtype=numpy.float64) for a in (v, W, hbias, vbias))
    return -v @ vbias - numpy.logaddexp(0.0, v @ W + hbias).sum(axis=1)


def all_states(n):
    """Every binary vector of length n, as rows (in binary counting order)."""
    return numpy.array(list(itertools.product((0.0, 1.0), repeat=n)))


def small_rbm(n_visible=4, n_hidden=3, seed=0, scale=1.0, theano_seed=42, x=None):
    rng = numpy.random.RandomState(seed)
    W = rng.normal(0.0, scale, (n_visible, n_hidden))
    hbias, vbias = rng.normal(0.0, 0.5, n_hidden), rng.normal(0.0, 0.5, n_visible)
    x = T.matrix("x") if x is None else x
    rbm = RBM(x, n_visible, n_hidden, W=W, hbias=hbias, vbias=vbias,
              theano_rng=MRG_RandomStreams(theano_seed))
    return rbm, [p.get_value() for p in rbm.params]


# --------------------------------------------------------------------------- deterministic parts
def test_free_energy_matches_numpy(tol):
    rbm, (W, hbias, vbias) = small_rbm(7, 5, scale=2.0)
    rng = numpy.random.RandomState(1)
    v = numpy.vstack([rng.rand(6, 7), (rng.rand(6, 7) > 0.5)]).astype(FLOATX)
    f = theano.function([rbm.input], rbm.free_energy(rbm.input))
    numpy.testing.assert_allclose(f(v), np_free_energy(v, W, hbias, vbias), **tol)


def test_propup_propdown_match_numpy(tol):
    rbm, (W, hbias, vbias) = small_rbm(6, 4)
    h = T.matrix("h")
    up = theano.function([rbm.input], rbm.propup(rbm.input))
    down = theano.function([h], rbm.propdown(h))
    rng = numpy.random.RandomState(2)
    v0, h0 = rng.rand(5, 6).astype(FLOATX), rng.rand(5, 4).astype(FLOATX)
    pre, mean = up(v0)
    numpy.testing.assert_allclose(pre, v0 @ W + hbias, **tol)
    numpy.testing.assert_allclose(mean, sigmoid(v0 @ W + hbias), **tol)
    pre, mean = down(h0)
    numpy.testing.assert_allclose(pre, h0 @ W.T + vbias, **tol)
    numpy.testing.assert_allclose(mean, sigmoid(h0 @ W.T + vbias), **tol)


def test_reconstruction_cost_matches_numpy_and_stays_finite(tol):
    """The cross-entropy of the input under sigmoid(pre_sigmoid), finite even where the
    sigmoid saturates to 0 or 1 in floating point (|a| = 100: log(sigmoid) -> -softplus)."""
    rbm, _ = small_rbm(5, 3)
    pre = T.matrix("pre")
    f = theano.function([rbm.input, pre], rbm.get_reconstruction_cost({}, pre))
    rng = numpy.random.RandomState(3)
    x = rng.rand(4, 5).astype(FLOATX)
    a = rng.normal(0, 3, (4, 5)).astype(FLOATX)
    a64, x64 = a.astype(numpy.float64), x.astype(numpy.float64)
    expected = numpy.mean(numpy.sum(-x64 * numpy.logaddexp(0, -a64)
                                    - (1 - x64) * numpy.logaddexp(0, a64), axis=1))
    numpy.testing.assert_allclose(f(x, a), expected, **tol)
    extreme = numpy.array([[100.0, -100.0, 0.0, 40.0, -40.0]], dtype=FLOATX)
    x1 = numpy.array([[0.0, 1.0, 0.5, 0.0, 1.0]], dtype=FLOATX)
    value = f(x1, extreme)
    assert numpy.isfinite(value)
    numpy.testing.assert_allclose(value, -(100 + 100 + numpy.log(2) + 40 + 40), rtol=1e-5)


def test_initial_weights_and_streams_are_the_tutorials():
    """RandomState(123): one randint(2**30) seeds the MRG streams, then one uniform draw in
    +-4 sqrt(6 / (n_visible + n_hidden)) gives W; biases are zeros."""
    rng = numpy.random.RandomState(123)
    theano_rng = random_streams(rng)
    rbm = RBM(n_visible=20, n_hidden=7, numpy_rng=rng, theano_rng=theano_rng)
    reference = numpy.random.RandomState(123)
    seed = reference.randint(2 ** 30)
    bound = 4 * numpy.sqrt(6. / (7 + 20))
    expected = numpy.asarray(reference.uniform(low=-bound, high=bound, size=(20, 7)), dtype=FLOATX)
    assert numpy.array_equal(rbm.W.get_value(), expected)
    assert bound == 4 * glorot_bound(20, 7)
    assert not rbm.hbias.get_value().any() and not rbm.vbias.get_value().any()
    assert numpy.array_equal(theano_rng.rstate, MRG_RandomStreams(seed).rstate)
    # without generators: RandomState(1234) for both, in the same order
    default = RBM(n_visible=20, n_hidden=7)
    again = numpy.random.RandomState(1234)
    again.randint(2 ** 30)
    assert numpy.array_equal(default.W.get_value(), numpy.asarray(
        again.uniform(low=-bound, high=bound, size=(20, 7)), dtype=FLOATX))


@pytest.mark.parametrize("kwargs, message", [
    (dict(n_visible=0), "n_visible must be a positive integer"),
    (dict(n_hidden=2.5), "n_hidden must be a positive integer"),
    (dict(W=numpy.zeros((3, 3))), "W has shape (3, 3) but this layer needs (4, 3)"),
    (dict(input=T.vector()), "RBM input must be a 2-D symbolic tensor"),
    (dict(n_hidden="3"), "n_hidden must be a positive integer, got '3' (str); "),
])
def test_bad_arguments_are_named(kwargs, message):
    args = dict(n_visible=4, n_hidden=3)
    args.update(kwargs)
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        RBM(**args)


def test_bad_chain_arguments_are_named():
    rbm, _ = small_rbm()
    with pytest.raises(ValueError, match="k \\(Gibbs steps\\) must be a positive integer, got 0"):
        rbm.get_cost_updates(k=0)
    with pytest.raises(ValueError, match=r"\(n_chains, n_hidden=3\), got \(5, 4\)"):
        rbm.get_cost_updates(persistent=persistent_chain(5, 4))


# --------------------------------------------------------------------------- sampling
def test_sampling_rates_match_the_sigmoid_probabilities():
    """Bernoulli samples of h | v and v | h: binary floatX values whose frequencies over
    20,000 draws per unit are within 5 standard errors of the probabilities."""
    rbm, (W, hbias, vbias) = small_rbm(5, 4, scale=1.5)
    n = 20000
    rows = numpy.array([[1, 0, 1, 0, 1], [0, 1, 1, 0, 0]], dtype=FLOATX)
    v = numpy.repeat(rows, n, axis=0)
    _, mean_h, sample_h = theano.function([rbm.input], rbm.sample_h_given_v(rbm.input))(v)
    h_in = T.matrix("h")
    hidden = numpy.repeat(numpy.array([[1, 0, 0, 1], [0, 1, 1, 1]], dtype=FLOATX), n, axis=0)
    _, mean_v, sample_v = theano.function([h_in], rbm.sample_v_given_h(h_in))(hidden)
    for sample, probabilities in ((sample_h, sigmoid(rows @ W + hbias)),
                                  (sample_v, sigmoid(hidden[::n] @ W.T + vbias))):
        assert sample.dtype == FLOATX and set(numpy.unique(sample)) <= {0.0, 1.0}
        rates = sample.reshape(2, n, -1).mean(axis=1)
        standard_error = numpy.sqrt(probabilities * (1 - probabilities) / n)
        assert (numpy.abs(rates - probabilities) < 5 * standard_error + 1e-12).all(), \
            (rates, probabilities)
    numpy.testing.assert_allclose(mean_h[::n], sigmoid(rows @ W + hbias), rtol=1e-4)


# --------------------------------------------------------------------------- exact gradients
def exact_gradients(W, hbias, vbias, data, k=None):
    """The expected parameter step (minus the gradient of the mean negative log-likelihood)
    as ``[dW, dhbias, dvbias]``, by enumerating every state of a tiny RBM.

    k None: the true gradient, ``E_data[v p(h|v)'] - E_model[v p(h|v)']``.  k an int: the
    expectation of the CD-k estimate, whose negative phase is ``v_k`` after k h->v->h steps
    from a hidden sample of the data: ``v_k ~ row of T^k`` with ``T[v, v'] = sum_h
    p(h|v) p(v'|h)``, the visible chain's transition matrix.
    """
    V, H = all_states(W.shape[0]), all_states(W.shape[1])
    ph_data = sigmoid(data @ W + hbias)
    positive = (data.T @ ph_data / len(data), ph_data.mean(axis=0), data.mean(axis=0))
    if k is None:
        log_p = -np_free_energy(V, W, hbias, vbias)
        weights = numpy.exp(log_p - log_p.max())
        weights /= weights.sum()
    else:
        def bernoulli(states, probabilities):   # p(states | ...) for each (row, state)
            return numpy.prod(numpy.where(states[None], probabilities[:, None, :],
                                          1 - probabilities[:, None, :]), axis=2)
        transition = bernoulli(H, sigmoid(V @ W + hbias)) @ bernoulli(V, sigmoid(H @ W.T + vbias))
        rows = [int("".join("%d" % bit for bit in row), 2) for row in data]
        weights = numpy.linalg.matrix_power(transition, k)[rows].mean(axis=0)
    ph_model = sigmoid(V @ W + hbias)
    negative = ((V * weights[:, None]).T @ ph_model, weights @ ph_model, weights @ V)
    return [p - n for p, n in zip(positive, negative)]


def cd_estimate(rbm, data, k, n_chains_per_example):
    """The mean parameter step of one CD-k update with lr=1 over many chains (the data
    repeated), read from the update expressions without applying them."""
    _, updates = rbm.get_cost_updates(lr=1.0, persistent=None, k=k)
    steps = [updates[p] - p for p in rbm.params]
    others = [(var, value) for var, value in updates.items() if var not in rbm.params]
    f = theano.function([rbm.input], steps, updates=others)
    if k > 1:   # (Theano inlines a scan of one step)
        assert _uses_compiled_scan(f)
    return f(numpy.tile(data, (n_chains_per_example, 1)).astype(FLOATX))


#: 3 x 20,000 chains.  Each chain's contribution to a statistic is a difference of two
#: numbers in [0, 1], so its standard deviation is at most 1 and the standard error of the
#: mean at most 1 / sqrt(60000) = 0.0041; 0.012 is three of those (the measured errors are
#: about 0.002, in float32 and float64).
CD_TOLERANCE = 0.012
DATA = numpy.array([[1, 0, 1, 0], [1, 1, 0, 0], [0, 0, 1, 1]], dtype=numpy.float64)


def test_cd1_estimate_averages_to_its_exact_expectation_and_is_biased():
    rbm, (W, hbias, vbias) = small_rbm()
    estimate = cd_estimate(rbm, DATA, k=1, n_chains_per_example=20000)
    expected = exact_gradients(W, hbias, vbias, DATA, k=1)
    true_gradient = exact_gradients(W, hbias, vbias, DATA)
    for got, want in zip(estimate, expected):
        numpy.testing.assert_allclose(got, want, atol=CD_TOLERANCE, rtol=0)
    # CD-1's bias on this model (0.037 on W) is well beyond the tolerance: the comparison
    # with the true gradient below could fail if the chain were too short
    bias = max(numpy.abs(a - b).max() for a, b in zip(expected, true_gradient))
    assert bias > 2.5 * CD_TOLERANCE, bias


def test_cd_k_estimate_approaches_the_exact_log_likelihood_gradient():
    """With k = 20 steps the chain has mixed (the exact CD-20 expectation equals the true
    gradient to 1e-12 here), so the estimate averages to the exact gradient of the data's
    log-likelihood, computed by enumerating all 16 x 8 states."""
    rbm, (W, hbias, vbias) = small_rbm()
    true_gradient = exact_gradients(W, hbias, vbias, DATA)
    mixed = exact_gradients(W, hbias, vbias, DATA, k=20)
    for a, b in zip(mixed, true_gradient):
        numpy.testing.assert_allclose(a, b, atol=1e-10)
    estimate = cd_estimate(rbm, DATA, k=20, n_chains_per_example=20000)
    for got, want in zip(estimate, true_gradient):
        numpy.testing.assert_allclose(got, want, atol=CD_TOLERANCE, rtol=0)


# --------------------------------------------------------------------------- PCD
def deterministic_rbm(x):
    """Weights of +-60 and biases of -30 (+30 for hidden unit 2): every pre-activation is at
    least 30 away from 0, so each unit is on exactly when its integer input is >= 1
    (hidden unit 2: >= 0, i.e. always) and Gibbs sampling is a deterministic map."""
    M = numpy.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, -1, 0]], dtype=numpy.float64)
    hbias = numpy.array([-30.0, -30.0, 30.0])
    rbm = RBM(x, 4, 3, W=60 * M, hbias=hbias, vbias=numpy.full(4, -30.0),
              theano_rng=MRG_RandomStreams(7))
    v_given_h = lambda h: (h @ M.T >= 1).astype(float)                     # noqa: E731
    h_given_v = lambda v: (v @ M + numpy.array([0, 0, 1]) >= 1).astype(float)  # noqa: E731
    return rbm, M, v_given_h, h_given_v


def test_persistent_chain_carries_over_between_updates():
    """PCD-1 starts each update's chain where the previous one ended: the chain state after
    each call is the last hidden sample, and the next call's negative phase (seen in the
    visible-bias step, lr * (mean data - mean chain end)) comes from that state, not from
    the data or from the start."""
    x = T.matrix("x")
    rbm, M, v_given_h, h_given_v = deterministic_rbm(x)
    start = numpy.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 1, 0]], dtype=FLOATX)
    chain = theano.shared(start.copy(), name="chain")
    _, updates = rbm.get_cost_updates(lr=1.0, persistent=chain, k=1)
    vbias_step = updates[rbm.vbias] - rbm.vbias
    others = [(var, value) for var, value in updates.items() if var not in rbm.params]
    f = theano.function([x], vbias_step, updates=others)   # parameters stay fixed
    data = numpy.array([[1, 1, 1, 1], [0, 0, 0, 0], [1, 0, 0, 0], [0, 1, 1, 0]], dtype=FLOATX)
    state = start.astype(numpy.float64)
    states = [state]
    for _ in range(3):
        v_end = v_given_h(state)
        numpy.testing.assert_array_equal(f(data), data.mean(axis=0) - v_end.mean(axis=0))
        state = h_given_v(v_end)
        numpy.testing.assert_array_equal(chain.get_value(), state)
        states.append(state)
    assert not numpy.array_equal(states[0], states[1])   # the chain did move


def test_pseudo_likelihood_cost_matches_numpy_and_cycles_through_the_bits(tol):
    """cost = mean_n n_visible * log sigmoid(F(x_n with bit i flipped) - F(x_n)) with x the
    rounded input and i = bit_i_idx, which each call advances modulo n_visible."""
    n_visible = 5
    x = T.matrix("x")
    rbm, _ = small_rbm(n_visible, 3, scale=1.5, x=x)
    chain = persistent_chain(6, 3)
    cost, updates = rbm.get_cost_updates(lr=0.05, persistent=chain, k=2)
    train = theano.function([x], cost, updates=updates)
    assert _uses_compiled_scan(train)
    data = numpy.random.RandomState(4).rand(6, n_visible).astype(FLOATX)
    rounded = numpy.round(data.astype(numpy.float64))
    for call in range(n_visible + 2):
        i = call % n_visible
        assert rbm.bit_i_idx.get_value() == i
        W, hbias, vbias = [p.get_value() for p in rbm.params]   # before this call's update
        flipped = rounded.copy()
        flipped[:, i] = 1 - flipped[:, i]
        expected = numpy.mean(n_visible * -numpy.logaddexp(
            0, -(np_free_energy(flipped, W, hbias, vbias) - np_free_energy(rounded, W, hbias, vbias))))
        numpy.testing.assert_allclose(train(data), expected, **tol)
    assert not numpy.array_equal(rbm.W.get_value(), small_rbm(n_visible, 3, scale=1.5)[1][0])


def test_sampler_runs_the_visible_chain_and_keeps_its_state():
    """build_sampler: plot_every v->h->v steps per call; with the deterministic RBM every
    step is the map v -> v_given_h(h_given_v(v)), followed in numpy."""
    x = T.matrix("x")
    rbm, M, v_given_h, h_given_v = deterministic_rbm(x)
    start = numpy.array([[0, 0, 0, 0], [1, 0, 0, 1], [0, 1, 0, 1]], dtype=FLOATX)
    chain = theano.shared(start.copy())
    sample_fn = build_sampler(rbm, chain, plot_every=3)
    state = start.astype(numpy.float64)
    for _ in range(2):
        vis_mf, vis_sample = sample_fn()
        for _ in range(3):
            h = h_given_v(state)
            mean = sigmoid(h @ (60 * M).T - 30)
            state = v_given_h(h)
        numpy.testing.assert_allclose(vis_mf, mean, atol=1e-6)
        numpy.testing.assert_array_equal(vis_sample, state)
        numpy.testing.assert_array_equal(chain.get_value(), state)


# --------------------------------------------------------------------------- DBN
def test_dbn_shares_weights_between_rbms_and_hidden_layers(tol):
    rng = numpy.random.RandomState(123)
    dbn = DBN(numpy_rng=rng, n_ins=12, hidden_layers_sizes=[8, 6], n_outs=3)
    # the tutorial's draws: the streams' seed, then each sigmoid layer's Glorot x 4 weights
    reference = numpy.random.RandomState(123)
    seed = reference.randint(2 ** 30)
    assert numpy.array_equal(dbn.theano_rng.rstate, MRG_RandomStreams(seed).rstate)
    for layer, (n_in, n_out) in zip(dbn.sigmoid_layers, [(12, 8), (8, 6)]):
        bound = numpy.sqrt(6. / (n_in + n_out))
        expected = numpy.asarray(reference.uniform(-bound, bound, (n_in, n_out)), dtype=FLOATX) * 4
        assert numpy.array_equal(layer.W.get_value(), expected)
    for i, (layer, rbm) in enumerate(zip(dbn.sigmoid_layers, dbn.rbm_layers)):
        assert rbm.W is layer.W and rbm.hbias is layer.b and rbm.theano_rng is dbn.theano_rng
        assert rbm.vbias not in dbn.params
        assert rbm.input is (dbn.x if i == 0 else dbn.sigmoid_layers[i - 1].output)
    assert dbn.params == [p for layer in dbn.sigmoid_layers for p in layer.params] \
        + dbn.logLayer.params

    # pre-training layer 1 changes the MLP's second layer, and only it
    data = numpy.random.RandomState(5).rand(20, 12).astype(FLOATX)
    fns = dbn.pretraining_functions(theano.shared(data), batch_size=5, k=1)
    assert len(fns) == 2
    before = [p.get_value() for p in dbn.params]
    fns[1](index=0, lr=0.5)
    after = [p.get_value() for p in dbn.params]
    changed = [not numpy.array_equal(a, b) for a, b in zip(before, after)]
    assert changed == [False, False, True, True, False, False]
    # the MLP computes with the new weights
    hidden = theano.function([dbn.x], dbn.sigmoid_layers[1].output)(data)
    W0, b0, W1, b1 = after[:4]
    numpy.testing.assert_allclose(hidden, sigmoid(sigmoid(data @ W0 + b0) @ W1 + b1), **tol)


def test_dbn_pretraining_function_is_its_rbms_cd_k_update():
    """Layer 0's function is CD-k on minibatch `index` with learning rate `lr` (0.1 by
    default): the same update, and the same cost, as the RBM's own get_cost_updates compiled
    by hand on that minibatch (two DBNs built alike draw the same random numbers)."""
    data = numpy.random.RandomState(6).rand(10, 6).astype(FLOATX)

    def build():
        return DBN(numpy_rng=numpy.random.RandomState(9), n_ins=6, hidden_layers_sizes=[4],
                   n_outs=2)

    dbn = build()
    fn = dbn.pretraining_functions(theano.shared(data), batch_size=5, k=2)[0]
    reference = build()
    cost, updates = reference.rbm_layers[0].get_cost_updates(0.1, persistent=None, k=2)
    by_hand = theano.function([reference.x], cost, updates=updates)
    for index in (1, 0):
        assert numpy.array_equal(fn(index), by_hand(data[5 * index:5 * index + 5]))
        for p, q in zip(dbn.rbm_layers[0].params, reference.rbm_layers[0].params):
            assert numpy.array_equal(p.get_value(), q.get_value())


def _toy_splits(rng, sizes=(200, 100, 100)):
    from dltut.data import shared_datasets

    def split(n):
        y = rng.randint(0, 2, n)
        x = (rng.rand(n, 8) < numpy.where(y[:, None] == 1, 0.8, 0.2)).astype(numpy.float64)
        return x, y
    raw = [split(n) for n in sizes]
    return raw, shared_datasets(raw)


def test_dbn_fine_tunes_through_the_trainer():
    """compile_functions compiles the DBN's MLP for dltut.training.Trainer; a few epochs on a
    separable toy problem bring the error down, and spec() rebuilds the same network."""
    from dltut.models import build_model
    _, datasets = _toy_splits(numpy.random.RandomState(0))
    dbn = DBN(numpy_rng=numpy.random.RandomState(1), n_ins=8, hidden_layers_sizes=[6, 5],
              n_outs=2)
    config = TrainConfig(learning_rate=0.5, batch_size=10, n_epochs=15, patience=10000)
    compiled = compile_functions(dbn, dbn.x, dbn.y, datasets, config)
    result = Trainer(compiled, config, model=dbn, log=None, progress=False).run()
    assert result.best_validation_loss < 0.1, result.summary()
    assert compiled.params == dbn.params
    mlp = build_model(dbn.spec(), numpy.random.RandomState(0), T.matrix("x"))
    mlp.set_params_values(dbn.get_params_values())
    x = datasets[2][0].get_value()
    numpy.testing.assert_array_equal(
        theano.function([dbn.x], dbn.p_y_given_x)(x),
        theano.function([mlp.input], mlp.p_y_given_x)(x))


def _numpy_forward(dbn, x):
    """The DBN's sigmoid layers and softmax top in float64 numpy."""
    h = x.astype(numpy.float64)
    for layer in dbn.sigmoid_layers:
        h = 1.0 / (1.0 + numpy.exp(-(h.dot(layer.W.get_value()) + layer.b.get_value())))
    top = dbn.logLayer
    return h, softmax(h.dot(top.W.get_value()) + top.b.get_value())


def test_dbn_build_finetune_functions_is_the_tutorials_sgd_step():
    """The tutorial's (train_fn, valid_score, test_score), in plain Theano: train_fn(i) returns
    minibatch i's negative log-likelihood and moves every parameter by -lr * gradient (the
    top layer's, worked by hand in numpy; the layers below get no gradient on the first step
    since the top weights start at zero); the scores are the error rates of each whole
    minibatch of the validation and test sets."""
    raw, datasets = _toy_splits(numpy.random.RandomState(0), sizes=(40, 25, 20))
    dbn = DBN(numpy_rng=numpy.random.RandomState(1), n_ins=8, hidden_layers_sizes=[6, 5],
              n_outs=2)
    train_fn, valid_score, test_score = dbn.build_finetune_functions(datasets, 10, 0.5)
    tol = tolerances()
    for step in range(3):
        index = step % 4
        x, y = raw[0][0][index * 10:(index + 1) * 10], raw[0][1][index * 10:(index + 1) * 10]
        before = [p.get_value().astype(numpy.float64) for p in dbn.params]
        h, p = _numpy_forward(dbn, x)
        cost = train_fn(index)
        numpy.testing.assert_allclose(cost, -numpy.mean(numpy.log(p[numpy.arange(10), y])), **tol)
        delta = p.copy()
        delta[numpy.arange(10), y] -= 1        # d NLL / d (h W + b), times the batch size
        W_top, b_top = [q.get_value() for q in dbn.logLayer.params]
        numpy.testing.assert_allclose(W_top, before[-2] - 0.5 * h.T.dot(delta) / 10, **tol)
        numpy.testing.assert_allclose(b_top, before[-1] - 0.5 * delta.mean(axis=0), **tol)
        if step == 0:
            for q, old in zip(dbn.params[:-2], before[:-2]):
                numpy.testing.assert_array_equal(q.get_value(), old)
    for which, score in ((1, valid_score), (2, test_score)):
        x, y = raw[which]
        predicted = _numpy_forward(dbn, x)[1].argmax(axis=1)
        expected = [numpy.mean(predicted[i * 10:(i + 1) * 10] != y[i * 10:(i + 1) * 10])
                    for i in range(len(y) // 10)]
        numpy.testing.assert_allclose(score(), expected)
    with pytest.raises(ValueError, match="batch_size 50 is larger than the training set "
                                         r"\(40 examples\); choose batch_size 40 or less"):
        dbn.build_finetune_functions(datasets, 50, 0.5)


@pytest.mark.parametrize("sizes, message", [
    ([], "hidden_layers_sizes must hold at least one layer size"),
    ([5, 0], "each hidden layer size must be a positive integer, got 0"),
])
def test_dbn_bad_sizes_are_named(sizes, message):
    with pytest.raises(ValueError, match=message):
        DBN(numpy.random.RandomState(0), n_ins=4, hidden_layers_sizes=sizes, n_outs=2)


def test_a_random_generator_that_is_none_is_named():
    """numpy_rng=None gave an AttributeError deep in the DBN; an RBM defaults it."""
    with pytest.raises(TypeError, match="numpy_rng must be a numpy.random.RandomState, got "
                                        "None; pass e.g. numpy.random.RandomState"):
        DBN(None, n_ins=4, hidden_layers_sizes=[3], n_outs=2)
    with pytest.raises(TypeError, match="numpy_rng must be .*, got 'seed'"):
        RBM(n_visible=4, n_hidden=3, numpy_rng="seed")
    assert RBM(n_visible=4, n_hidden=3, numpy_rng=None).n_hidden == 3


# --------------------------------------------------------------------------- PCD in the pre-training loop
class InterruptAt:
    """A train_fn that presses Ctrl-C (SIGINT to this process) after its ``at``-th call."""

    def __init__(self, fn, at):
        self.fn, self.at, self.calls = fn, at, 0

    def __call__(self, *args, **kwargs):
        out = self.fn(*args, **kwargs)
        self.calls += 1
        if self.calls == self.at:
            os.kill(os.getpid(), signal.SIGINT)
        return out


def pcd_layer(seed, n_train=80, batch=10):
    """An RBM trained by PCD-3 as the pre-training loop's one layer, all from ``seed``."""
    data = (numpy.random.RandomState(0).rand(n_train, 12) > 0.6).astype(FLOATX)
    train_x = theano.shared(data)
    rng = numpy.random.RandomState(seed)
    theano_rng = random_streams(rng)
    chain = persistent_chain(batch, 5)
    index, x = T.lscalar("index"), T.matrix("x")
    rbm = RBM(x, 12, 5, numpy_rng=rng, theano_rng=theano_rng)
    cost, updates = rbm.get_cost_updates(lr=0.1, persistent=chain, k=3)
    fn = theano.function([index], cost, updates=updates,
                         givens={x: train_x[index * batch:(index + 1) * batch]})
    state = [v for v in updated_shared_variables(fn) if v not in rbm.params]
    return rbm, chain, fn, state, n_train // batch


def test_pcd_checkpoint_holds_the_chain_and_resumes_bit_for_bit(tmp_path):
    """The persistent chain, the pseudo-likelihood's bit index and the random streams are
    what a PCD update changes besides the parameters; a checkpoint written by a Ctrl-C in
    the middle of an epoch holds them, and a run resumed from it in a freshly built model
    (other seed) ends exactly where a straight run ends: parameters, chain, streams and
    every epoch's cost."""
    rbm, chain, fn, state, n_batches = pcd_layer(seed=1)
    assert any(v is chain for v in state) and any(v is rbm.bit_i_idx for v in state)
    assert len(state) == 4   # + the two streams of the Gibbs step (h|v, v|h)
    straight = Pretrainer([PretrainLayer("rbm", fn, rbm.params, state=state)], n_batches, 3,
                          run_dir=str(tmp_path / "straight"), log=None, progress=False)
    expected = straight.run()
    final = [v.get_value() for v in rbm.params + state]

    rbm, chain, fn, state, _ = pcd_layer(seed=1)
    first = Pretrainer([PretrainLayer("rbm", InterruptAt(fn, 13), rbm.params, state=state)],
                       n_batches, 3, run_dir=str(tmp_path / "resumed"), log=None, progress=False)
    assert first.run().interrupted and first.state.epoch == 1 and first.state.minibatch_index == 5
    saved, _ = load_checkpoint(str(tmp_path / "resumed" / PRETRAINING_CHECKPOINT))
    stored = saved["shared"]
    assert any(value.shape == chain.get_value().shape
               and numpy.array_equal(value, chain.get_value()) for value in stored)
    assert any(value.shape == () and value == 13 % 12 for value in stored)   # bit index

    rbm, chain, fn, state, _ = pcd_layer(seed=99)
    second = Pretrainer([PretrainLayer("rbm", fn, rbm.params, state=state)], n_batches, 3,
                        run_dir=str(tmp_path / "resumed"), log=None, progress=False)
    second.load_checkpoint()
    result = second.run()
    for got, want in zip([v.get_value() for v in rbm.params + state], final):
        assert numpy.array_equal(got, want)
    assert [r["cost"] for r in result.history] == [r["cost"] for r in expected.history]
