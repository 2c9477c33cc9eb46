"""Tests for dltut.training: update rules, compiled functions, Patience, schedules, the loop.

Every expectation comes from somewhere other than the code under test: numbers worked by
hand (written out in the comments), a numpy forward pass / gradient, or the tutorial's
early-stopping loop transcribed literally from the tutorial notes.
"""
import math
import re

import numpy
import pytest

import _tiny
import dltut  # noqa: F401  (Theano set-up before anything imports theano)
import theano
import theano.tensor as T
from dltut.layers import LogisticRegression
from dltut.training import (ConstantRate, InverseDecay, Patience, PlateauHalving, TrainConfig,
                         Trainer, compile_functions, evaluate, momentum_updates, sgd_updates)

HISTORY_KEYS = {"iteration", "epoch", "minibatch", "learning_rate", "train_cost",
                "validation_error", "validation_error_all", "test_error", "test_error_all",
                "elapsed"}

VALIDATION_LINE = re.compile(r"^epoch (\d+), minibatch (\d+)/(\d+), validation error (\d+\.\d{6}) %$")
TEST_LINE = re.compile(
    r"^     epoch (\d+), minibatch (\d+)/(\d+), test error of best model (\d+\.\d{6}) %$")


def assert_close(got, expected, scale=1.0):
    rtol, atol = _tiny.tolerance()
    numpy.testing.assert_allclose(numpy.asarray(got, numpy.float64), expected, rtol=rtol,
                                  atol=atol * scale)


def config(**kwargs):
    """A TrainConfig that never stops by patience unless asked to."""
    kwargs.setdefault("patience", 10 ** 9)
    return TrainConfig(**kwargs)


def two_example_problem():
    """The hand-worked problem: 2 features, 2 classes, 2 examples, both labelled 0.

    x = [[1, 0],      y = [0, 0]
         [0, 2]]
    """
    x = numpy.array([[1.0, 0.0], [0.0, 2.0]])
    y = numpy.array([0, 0])
    return x, y


def compile_logreg(x_np, y_np, n_out=2, valid=None, test=None, **cfg):
    """A zero-initialised LogisticRegression and its compiled functions on the given data."""
    model, x, y = _tiny.logreg(n_in=x_np.shape[1], n_out=n_out)
    valid = valid if valid is not None else (x_np, y_np)
    test = test if test is not None else (x_np, y_np)
    cfg = config(**cfg)
    return model, compile_functions(model, x, y, _tiny.shared([(x_np, y_np), valid, test]), cfg), cfg


# ======================================================================= 1. one SGD step
def test_one_hand_worked_sgd_step():
    x_np, y_np = two_example_problem()
    model, fns, _ = compile_logreg(x_np, y_np, learning_rate=0.5, batch_size=2)
    # W = 0, b = 0: every score is 0, softmax of [0, 0] = [1/2, 1/2] for both examples.
    # mean NLL = -log(1/2) = log 2.
    # p - onehot(y) = [[1/2 - 1, 1/2], [1/2 - 1, 1/2]] = [[-1/2, 1/2], [-1/2, 1/2]]
    # dW = x^T (p - onehot) / 2 = [[-1/2, 1/2], [-1, 1]] / 2 = [[-1/4, 1/4], [-1/2, 1/2]]
    # db = mean over rows of (p - onehot) = [-1/2, 1/2]
    # W <- 0 - 0.5 dW = [[1/8, -1/8], [1/4, -1/4]];   b <- 0 - 0.5 db = [1/4, -1/4]
    cost = fns.train_model(0)
    W, b = model.get_params_values()
    assert W.dtype == b.dtype == theano.config.floatX
    numpy.testing.assert_array_equal(W, [[0.125, -0.125], [0.25, -0.25]])  # exact in binary
    numpy.testing.assert_array_equal(b, [0.25, -0.25])
    # the returned cost is the cost *before* the update
    assert_close(cost, math.log(2))
    # ... so the second call returns the cost at the new parameters (numpy), which is lower
    p = _tiny.softmax(x_np.dot(W.astype(numpy.float64)) + b)
    expected_second = -numpy.mean(numpy.log(p[numpy.arange(2), y_np]))
    second = fns.train_model(0)
    assert_close(second, expected_second)
    assert second < math.log(2)


@pytest.mark.parametrize("kind, lam", [("L2", 0.1), ("L1", 0.1), ("L2", 0.003), ("L1", 0.25)])
def test_regularised_step_differs_from_plain_by_the_penalty_gradient(kind, lam):
    x_np, y_np = two_example_problem()
    W0 = numpy.array([[0.5, -1.0], [2.0, 0.25]])
    b0 = numpy.array([0.1, -0.1])
    lr = 0.5
    model, x, y = _tiny.logreg(n_in=2, n_out=2)
    data = _tiny.shared([(x_np, y_np)] * 3)
    # two compiled function sets on the same model: plain SGD and the regularised cost
    plain = compile_functions(model, x, y, data, config(learning_rate=lr, batch_size=2))
    regularised = compile_functions(model, x, y, data, config(learning_rate=lr, batch_size=2,
                                                              **{kind + "_reg": lam}))

    def step(fns):
        model.set_params_values([_tiny.floatX(W0), _tiny.floatX(b0)])
        cost = float(fns.train_model(0))
        return cost, [v.astype(numpy.float64) for v in model.get_params_values()]

    cost_plain, (W_plain, b_plain) = step(plain)
    cost_reg, (W_reg, b_reg) = step(regularised)
    W0f = _tiny.floatX(W0).astype(numpy.float64)
    if kind == "L2":
        # d/dW lam * sum(W**2) = 2 lam W  -> the step moves W a further lr * 2 lam W
        penalty_step, penalty = lr * 2 * lam * W0f, lam * numpy.sum(W0f ** 2)
    else:
        # d/dW lam * sum(|W|) = lam sign(W)  (no zero entries in W0)
        penalty_step, penalty = lr * lam * numpy.sign(W0f), lam * numpy.sum(numpy.abs(W0f))
    assert_close(W_plain - W_reg, penalty_step, scale=10)
    assert numpy.abs(W_plain - W_reg).min() > 0  # the penalty really moved every weight
    # biases are not regularised
    assert_close(b_reg, b_plain)
    # the returned cost includes the penalty
    assert_close(cost_reg - cost_plain, penalty, scale=10)
    # and the plain step itself is the numpy gradient step
    dW, db = _tiny.logreg_grads(W0f, _tiny.floatX(b0).astype(numpy.float64), x_np, y_np)
    assert_close(W_plain, W0f - lr * dW)


def test_the_returned_l2_term_is_cheaper_but_the_updates_are_the_tutorials(monkeypatch):
    """train_model returns its L2 term through dot products (dltut.training.sum_of_squares);
    the updates must be bit for bit those of the tutorial's graph, which returns L2_sqr, and
    the returned cost the same to within float rounding."""
    from dltut.training import functions as train
    split_list = _tiny.splits((60, 20, 20), seed=3)
    runs = {}
    for name in ("tutorial", "dltut"):
        if name == "tutorial":
            monkeypatch.setattr(train, "sum_of_squares", lambda model: model.L2_sqr)
        else:
            monkeypatch.undo()
        model, x, y = _tiny.mlp(seed=7, n_hidden=16)
        fns = compile_functions(model, x, y, _tiny.shared(split_list),
                                config(learning_rate=0.1, batch_size=10, L2_reg=0.01))
        costs = [float(fns.train_model(i % 6)) for i in range(24)]
        runs[name] = costs, [v.copy() for v in model.get_params_values()], model
    (tut_costs, tut_params, _), (costs, params, model) = runs["tutorial"], runs["dltut"]
    for got, expected in zip(params, tut_params):
        assert got.dtype == expected.dtype and numpy.array_equal(got, expected)
    rtol = 1e-6 if theano.config.floatX == "float32" else 1e-13
    numpy.testing.assert_allclose(costs, tut_costs, rtol=rtol)
    # the returned term is the numpy sum of the squared weights (not the biases)
    weights = [p.get_value() for p in model.regularised_weights]
    assert len(weights) == 2 and all(w.ndim == 2 for w in weights)
    cheap = theano.function([], train.sum_of_squares(model))()
    numpy.testing.assert_allclose(cheap, sum(numpy.sum(w.astype(numpy.float64) ** 2)
                                             for w in weights), rtol=rtol * 10)


# ======================================================================= 2. momentum
def test_two_momentum_steps_follow_the_velocity_recursion():
    rng = numpy.random.RandomState(3)
    x_np = rng.normal(size=(4, 3))
    y_np = numpy.array([0, 2, 1, 1])
    W0 = rng.normal(size=(3, 3))
    b0 = rng.normal(size=3)
    lr, mu = 0.5, 0.9
    model, fns, _ = compile_logreg(x_np, y_np, n_out=3, learning_rate=lr, batch_size=2,
                                   momentum=mu)
    assert len(fns.optimizer_state) == 2  # one velocity per parameter
    model.set_params_values([_tiny.floatX(W0), _tiny.floatX(b0)])
    W, b = [v.astype(numpy.float64) for v in model.get_params_values()]
    # v1 = -lr g1 (velocities start at 0);  param1 = param0 + v1
    gW1, gb1 = _tiny.logreg_grads(W, b, x_np[0:2], y_np[0:2])
    vW1, vb1 = -lr * gW1, -lr * gb1
    W1, b1 = W + vW1, b + vb1
    # v2 = mu v1 - lr g2, g2 at param1 on the second minibatch;  param2 = param1 + v2
    gW2, gb2 = _tiny.logreg_grads(W1, b1, x_np[2:4], y_np[2:4])
    vW2, vb2 = mu * vW1 - lr * gW2, mu * vb1 - lr * gb2
    W2, b2 = W1 + vW2, b1 + vb2

    fns.train_model(0)
    got_W1, got_b1 = model.get_params_values()
    assert_close(got_W1, W1, scale=10)
    assert_close(got_b1, b1, scale=10)
    fns.train_model(1)
    got_W2, got_b2 = model.get_params_values()
    assert_close(got_W2, W2, scale=10)
    assert_close(got_b2, b2, scale=10)
    assert_close(fns.optimizer_state[0].get_value(), vW2, scale=10)
    assert_close(fns.optimizer_state[1].get_value(), vb2, scale=10)
    # plain SGD from the same start would land elsewhere: momentum matters here
    assert numpy.abs(W2 - (W1 - lr * gW2)).max() > 1e-3


def test_update_rules_are_pure_pairs():
    import theano.tensor as T
    p = theano.shared(_tiny.floatX([1.0, -2.0]), name="p")
    v = theano.shared(_tiny.floatX([0.5, 0.5]), name="v")
    g = T.vector("g")
    lr = theano.shared(_tiny.floatX(0.1))
    (param, new), = sgd_updates([p], [g], lr)
    assert param is p
    f = theano.function([g], new)
    assert_close(f(_tiny.floatX([1.0, 2.0])), [1.0 - 0.1, -2.0 - 0.2])
    pairs = momentum_updates([p], [g], lr, 0.9, [v])
    assert [target for target, _ in pairs] == [v, p]
    f = theano.function([g], [expr for _, expr in pairs])
    new_v, new_p = f(_tiny.floatX([1.0, 2.0]))
    assert_close(new_v, [0.9 * 0.5 - 0.1, 0.9 * 0.5 - 0.2])
    assert_close(new_p, [1.0 + 0.35, -2.0 + 0.25])
    assert p.get_value()[0] == 1.0  # building updates changes nothing


# ======================================================================= 3. shared rate
def test_learning_rate_is_a_shared_scalar_set_without_recompiling():
    x_np, y_np = two_example_problem()
    model, fns, _ = compile_logreg(x_np, y_np, learning_rate=0.5, batch_size=2)
    assert isinstance(fns.learning_rate, theano.compile.SharedVariable)
    assert fns.learning_rate.ndim == 0
    train_model = fns.train_model
    start = [_tiny.floatX([[0.5, -1.0], [2.0, 0.25]]), _tiny.floatX([0.1, -0.1])]

    def step():
        model.set_params_values(start)
        train_model(0)
        return model.get_params_values()[0].astype(numpy.float64) - start[0]

    at_half = step()
    fns.learning_rate.set_value(_tiny.floatX(0.125))
    at_eighth = step()
    assert fns.train_model is train_model  # nothing was recompiled
    assert numpy.abs(at_half).max() > 0.01
    assert_close(at_eighth, at_half / 4)
    fns.learning_rate.set_value(_tiny.floatX(0.0))
    assert_close(step(), numpy.zeros((2, 2)))


# ======================================================================= 4. batch sizes
def test_online_sgd_batch_of_one_matches_numpy_steps_and_trains():
    (x_np, y_np), valid, test = _tiny.splits(sizes=(30, 30, 30))
    lr = 0.1
    model, fns, cfg = compile_logreg(x_np, y_np, n_out=3, valid=valid, test=test,
                                     learning_rate=lr, batch_size=1, n_epochs=3)
    assert fns.n_train_batches == 30
    # three online steps, one example each, against numpy
    W, b = numpy.zeros((16, 3)), numpy.zeros(3)
    for i in range(3):
        dW, db = _tiny.logreg_grads(W, b, x_np[i:i + 1], y_np[i:i + 1])
        W, b = W - lr * dW, b - lr * db
        fns.train_model(i)
    got_W, got_b = model.get_params_values()
    assert_close(got_W, W, scale=10)
    assert_close(got_b, b, scale=10)
    model.set_params_values([_tiny.floatX(numpy.zeros((16, 3))), _tiny.floatX(numpy.zeros(3))])
    result = Trainer(fns, cfg, model=model, log=None, progress=False).run()
    assert result.iterations == 90 and result.epochs == 3 and result.stopped_by == "n_epochs"
    assert [r["iteration"] for r in result.history] == [30, 60, 90]  # one validation an epoch
    assert result.best_validation_loss < 0.2


def test_full_batch_is_one_minibatch_per_epoch_and_a_full_gradient_step():
    (x_np, y_np), valid, test = _tiny.splits()
    lr = 0.5
    model, fns, cfg = compile_logreg(x_np, y_np, n_out=3, valid=valid, test=test,
                                     learning_rate=lr, batch_size=300, n_epochs=30)
    assert fns.n_train_batches == 1
    assert fns.eval_batch_size("valid") == 100  # the whole validation set in one batch
    fns.train_model(0)
    dW, db = _tiny.logreg_grads(numpy.zeros((16, 3)), numpy.zeros(3), x_np, y_np)
    got_W, got_b = model.get_params_values()
    assert_close(got_W, -lr * dW, scale=10)
    assert_close(got_b, -lr * db, scale=10)
    result = Trainer(fns, cfg, model=model, log=None, progress=False).run()
    assert result.iterations == 30 and len(result.history) == 30
    assert result.best_validation_loss < 0.1


def test_batch_larger_than_training_set_is_refused():
    (x_np, y_np), valid, test = _tiny.splits(sizes=(30, 10, 10))
    with pytest.raises(ValueError, match=r"batch_size 31 .*30"):
        compile_logreg(x_np, y_np, n_out=3, valid=valid, test=test, batch_size=31)
    with pytest.raises(ValueError, match="batch_size"):
        TrainConfig(batch_size=0)


def test_evaluate_tutorial_number_skips_the_partial_batch():
    rng = numpy.random.RandomState(7)
    x_train, y_train = rng.normal(size=(9, 4)), rng.randint(0, 3, size=9)
    x_valid, x_test = rng.normal(size=(7, 4)), rng.normal(size=(5, 4))
    W = rng.normal(size=(4, 3))
    b = rng.normal(size=3)
    # predictions of the model on each set (numpy), then labels chosen around them:
    # valid: example 0 (first whole batch) and example 6 (the partial batch) wrong.
    pred_valid = _tiny.forward([W, b], x_valid).argmax(axis=1)
    y_valid = pred_valid.copy()
    y_valid[[0, 6]] = (y_valid[[0, 6]] + 1) % 3
    # test (batches [0:3], partial [3:5]): examples 3 and 4 wrong, the whole batch all right
    pred_test = _tiny.forward([W, b], x_test).argmax(axis=1)
    y_test = pred_test.copy()
    y_test[[3, 4]] = (y_test[[3, 4]] + 1) % 3
    model, fns, _ = compile_logreg(x_train, y_train, n_out=3, valid=(x_valid, y_valid),
                                   test=(x_test, y_test), batch_size=3)
    model.set_params_values([_tiny.floatX(W), _tiny.floatX(b)])
    # numpy, from the model's own predictions (the float32 weights)
    values = model.get_params_values()
    for which, x_set, y_set, expected in (("valid", x_valid, y_valid, (1 / 6, 2 / 7)),
                                          ("test", x_test, y_test, (0.0, 2 / 5))):
        wrong = _tiny.forward(values, x_set).argmax(axis=1) != y_set
        whole = len(y_set) // 3
        tutorial = numpy.mean([wrong[3 * i:3 * (i + 1)].mean() for i in range(whole)])
        assert (tutorial, wrong.mean()) == pytest.approx(expected)
        got = evaluate(fns, which)
        assert got == pytest.approx((tutorial, wrong.mean()), abs=1e-12)
        assert got[0] != pytest.approx(got[1])


def test_evaluate_set_smaller_than_a_batch_is_one_batch():
    rng = numpy.random.RandomState(8)
    x_train, y_train = rng.normal(size=(10, 4)), rng.randint(0, 3, size=10)
    x_valid = rng.normal(size=(4, 4))
    W, b = rng.normal(size=(4, 3)), rng.normal(size=3)
    y_valid = _tiny.forward([W, b], x_valid).argmax(axis=1)
    y_valid[1] = (y_valid[1] + 1) % 3
    model, fns, _ = compile_logreg(x_train, y_train, n_out=3, valid=(x_valid, y_valid),
                                   test=(x_valid, y_valid), batch_size=10)
    model.set_params_values([_tiny.floatX(W), _tiny.floatX(b)])
    assert fns.eval_batch_size("valid") == 4
    assert evaluate(fns, "valid") == pytest.approx((0.25, 0.25))


# ======================================================================= 5. Patience
def tutorial_loop(losses, n_iterations, patience, patience_increase, improvement_threshold):
    """The tutorial's early-stopping loop, transcribed from the notes (losses: {iter: loss}).

    Returns ``(stop_iteration or None, best_validation_loss, best_iter, patience_trace)``.
    """
    best_validation_loss = numpy.inf
    best_iter = None
    trace = {}
    for iter in range(n_iterations):  # noqa: A001  (the tutorial's name)
        if iter in losses:
            this_validation_loss = losses[iter]
            if this_validation_loss < best_validation_loss:
                if this_validation_loss < best_validation_loss * improvement_threshold:
                    patience = max(patience, iter * patience_increase)
                best_validation_loss = this_validation_loss
                best_iter = iter
        trace[iter] = patience
        if patience <= iter:
            return iter, best_validation_loss, best_iter, trace
    return None, best_validation_loss, best_iter, trace


def replay(losses, n_iterations, **kwargs):
    """The same loop driven by dltut's Patience."""
    p = Patience(**kwargs)
    trace = {}
    for iteration in range(n_iterations):
        if iteration in losses:
            p.update(iteration, losses[iteration])
        trace[iteration] = p.patience
        if p.should_stop(iteration):
            return iteration, p, trace
    return None, p, trace


def test_patience_on_a_made_up_curve():
    rules = dict(patience=10, patience_increase=2, improvement_threshold=0.995)
    p = Patience(**rules)
    assert p.update(3, 0.50) is True        # first loss: a new best; 3*2=6 < 10 -> stays 10
    assert p.patience == 10 and p.best_iteration == 3
    assert p.update(9, 0.40) is True        # 0.40 < 0.50*0.995: significant -> max(10, 18)
    assert p.patience == 18
    assert p.update(12, 0.40 * 0.999) is True   # a new best, but not below 0.40*0.995
    assert p.patience == 18 and p.best_loss == pytest.approx(0.3996) and p.best_iteration == 12
    assert p.update(15, 0.45) is False      # worse: nothing changes
    assert (p.patience, p.best_iteration) == (18, 12)
    assert not p.should_stop(17)
    assert p.should_stop(18)                # patience <= iteration

    curve = {3: 0.50, 9: 0.40, 12: 0.40 * 0.999, 15: 0.45}
    stop, p, trace = replay(curve, 100, **rules)
    assert stop == 18 and trace[8] == 10 and trace[9] == 18 and trace[17] == 18
    assert tutorial_loop(curve, 100, 10, 2, 0.995)[0] == 18


def test_patience_stops_at_the_initial_patience_without_significant_gains():
    # improvements only by 0.999x: best keeps moving, patience never grows
    curve = {i: 0.5 * 0.999 ** i for i in range(0, 50, 2)}
    stop, p, _ = replay(curve, 50, patience=10, patience_increase=2, improvement_threshold=0.995)
    assert stop == 10 and p.patience == 10 and p.best_iteration == 10


def test_patience_matches_the_tutorial_loop_on_random_curves():
    rng = numpy.random.RandomState(0)
    for trial in range(200):
        frequency = rng.randint(1, 8)
        n = 400
        losses = {}
        level = 1.0
        for it in range(frequency - 1, n, frequency):
            level *= rng.choice([1.02, 1.0, 0.999, 0.99, 0.9])
            losses[it] = level
        patience = int(rng.randint(1, 60))
        increase = float(rng.choice([1.5, 2, 3]))
        threshold = float(rng.choice([0.995, 0.98, 1.0]))
        stop, p, trace = replay(losses, n, patience=patience, patience_increase=increase,
                                improvement_threshold=threshold)
        t_stop, t_best, t_best_iter, t_trace = tutorial_loop(losses, n, patience, increase, threshold)
        assert (stop, p.best_loss, p.best_iteration) == (t_stop, t_best, t_best_iter), trial
        assert trace == t_trace, trial


def test_patience_state_round_trip():
    p = Patience(10, 2, 0.995)
    p.update(9, 0.4)
    q = Patience(10, 2, 0.995)
    q.load_state(p.state_dict())
    assert (q.patience, q.best_loss, q.best_iteration) == (18, 0.4, 9)


# ======================================================================= 6. schedules
def test_constant_rate():
    s = ConstantRate(0.13)
    assert [s.epoch_start(e) for e in (1, 2, 500)] == [0.13] * 3
    assert [s.after_validation(flag) for flag in (True, False, False)] == [(0.13, False)] * 3
    assert s.replaces_patience is False


def test_inverse_decay():
    s = InverseDecay(0.1, decay=0.001)
    # eta = eta0 / (1 + d * t), t = completed epochs
    assert s.epoch_start(1) == pytest.approx(0.1, rel=1e-15)
    assert s.epoch_start(2) == pytest.approx(0.1 / 1.001, rel=1e-15)
    assert s.epoch_start(11) == pytest.approx(0.1 / 1.01, rel=1e-15)
    assert s.after_validation(False) == (pytest.approx(0.1 / 1.01), False)


def test_plateau_halving_down_to_eta0_over_1024_then_stop():
    eta0 = 0.8
    s = PlateauHalving(eta0, n=2, factor=2)
    assert s.replaces_patience is True
    rates = []
    # an improvement resets the count: F, T, F never makes two misses in a row
    for flag in (False, True, False, True):
        rate, stop = s.after_validation(flag)
        assert (rate, stop) == (eta0, False)
    for k in range(1, 11):
        first = s.after_validation(False)
        second = s.after_validation(False)
        assert first == (eta0 / 2 ** (k - 1), False)    # one miss: no cut yet
        assert second[1] is False
        rates.append(second[0])
    assert rates == pytest.approx([eta0 / 2 ** k for k in range(1, 11)], rel=1e-15)
    assert rates[-1] == pytest.approx(eta0 / 1024)
    assert s.after_validation(False) == (pytest.approx(eta0 / 1024), False)
    assert s.after_validation(False) == (pytest.approx(eta0 / 1024), True)  # next plateau: stop


def test_plateau_factor_ten_stops_after_eta0_over_1000():
    s = PlateauHalving(1.0, n=1, factor=10)
    seen = [s.after_validation(False) for _ in range(4)]
    assert seen[:3] == [(pytest.approx(0.1), False), (pytest.approx(0.01), False),
                        (pytest.approx(0.001), False)]
    assert seen[3] == (pytest.approx(0.001), True)


def test_plateau_state_round_trip():
    s = PlateauHalving(1.0, n=3, factor=2)
    for flag in (False, False, False, False):
        s.after_validation(flag)
    t = PlateauHalving(1.0, n=3, factor=2)
    t.load_state(s.state_dict())
    assert (t.rate, t.since_best) == (0.5, 1)
    assert t.after_validation(False) == s.after_validation(False)
    assert t.after_validation(False) == s.after_validation(False) == (0.25, False)


# ======================================================================= 7. the loop
@pytest.fixture(scope="module")
def blob_data():
    return _tiny.splits()


def run_model(kind, blob_data, tmp_path=None, log=None, **cfg):
    model, x, y = getattr(_tiny, kind)()
    cfg = config(**cfg)
    fns = compile_functions(model, x, y, _tiny.shared(blob_data), cfg)
    trainer = Trainer(fns, cfg, model=model, run_dir=None if tmp_path is None else str(tmp_path),
                      log=log, progress=False)
    return model, fns, trainer, trainer.run()


def check_history(result):
    best = numpy.inf
    for record in result.history:
        assert set(record) == HISTORY_KEYS
        if record["validation_error"] < best:
            best = record["validation_error"]
            assert record["test_error"] is not None and record["test_error_all"] is not None
        else:  # test error only on a new best
            assert record["test_error"] is None and record["test_error_all"] is None
    firsts = [r for r in result.history if r["validation_error"] == best]
    assert result.best_validation_loss == best
    assert result.best_iteration == firsts[0]["iteration"]
    assert result.best_epoch == firsts[0]["epoch"]
    assert result.test_score == firsts[0]["test_error"]
    assert result.best_validation_loss_all == firsts[0]["validation_error_all"]


@pytest.mark.parametrize("kind, lr", [("logreg", 0.13), ("mlp", 0.1)])
def test_training_learns_and_leaves_the_best_parameters_in_the_model(kind, lr, blob_data, tmp_path):
    from dltut.runs import checkpoint
    model, fns, trainer, result = run_model(kind, blob_data, tmp_path, learning_rate=lr,
                                            batch_size=20, n_epochs=20)
    (x_valid, y_valid), (x_test, y_test) = blob_data[1], blob_data[2]
    # chance is 2/3 wrong; the blobs are nearly separable
    assert result.best_validation_loss < 0.1 and result.test_score < 0.15
    assert result.stopped_by == "n_epochs"
    assert (result.epochs, result.iterations) == (20, 20 * 15)
    check_history(result)
    # the model now holds the best parameters: a numpy forward pass reproduces the best error
    values = model.get_params_values()
    assert _tiny.error_rate(values, x_valid, y_valid) == pytest.approx(
        result.best_validation_loss_all, abs=1e-12)
    assert _tiny.error_rate(values, x_test, y_test) == pytest.approx(result.test_score_all, abs=1e-12)
    # ... which are not the last parameters trained (the best came early on this data)
    assert result.best_iteration < result.iterations
    arrays, meta = checkpoint.load_arrays(tmp_path / "checkpoint.npz")
    last = checkpoint.unnumbered(arrays, "param")
    best = checkpoint.unnumbered(arrays, "best")
    for value, b, l in zip(values, best, last):
        numpy.testing.assert_array_equal(value, b)
    assert any(numpy.abs(v - l).max() > 0 for v, l in zip(values, last))
    assert _tiny.error_rate(last, x_valid, y_valid) == pytest.approx(
        result.history[-1]["validation_error_all"], abs=1e-12)
    saved, _ = checkpoint.load_params(tmp_path / "best_model.npz")
    for value, s in zip(values, saved):
        numpy.testing.assert_array_equal(value, s)


def test_patience_stop_is_where_the_tutorial_loop_stops(blob_data):
    model, fns, trainer, result = run_model("logreg", blob_data, learning_rate=0.13,
                                            batch_size=20, n_epochs=200, patience=40,
                                            validation_frequency=5)
    assert result.stopped_by == "patience"
    assert result.epochs < 200
    check_history(result)
    # replay the recorded validation losses through the tutorial's own loop
    losses = {r["iteration"] - 1: r["validation_error"] for r in result.history}
    stop, best, best_iter, _ = tutorial_loop(losses, 200 * 15, 40, 2, 0.995)
    assert stop is not None and result.iterations == stop + 1
    assert (result.best_validation_loss, result.best_iteration) == (best, best_iter + 1)
    assert [r["iteration"] for r in result.history] == list(range(5, stop + 2, 5))


def test_inverse_schedule_sets_the_shared_rate_each_epoch(blob_data):
    model, fns, trainer, result = run_model("logreg", blob_data, learning_rate=0.2,
                                            batch_size=50, n_epochs=4, schedule="inverse",
                                            decay=0.5)
    rates = [r["learning_rate"] for r in result.history]
    expected = [float(_tiny.floatX(0.2 / (1 + 0.5 * t))) for t in range(4)]
    assert rates == expected
    assert result.learning_rate == expected[-1]


def test_plateau_schedule_cuts_the_rate_then_stops(blob_data):
    lines = []
    model, fns, trainer, result = run_model("logreg", blob_data, log=lines.append,
                                            learning_rate=0.4,
                                            batch_size=50, n_epochs=100, schedule="plateau",
                                            plateau_n=1, plateau_factor=2,
                                            min_lr_fraction=0.25, patience=2)
    # patience=2 would have stopped at iteration 2; the plateau schedule replaces it
    assert result.stopped_by == "schedule"
    # independent replay: a miss (no new best) cuts 0.4 -> 0.2 -> 0.1, the next miss stops
    rate, best, expected_rates = 0.4, numpy.inf, []
    for record in result.history:
        expected_rates.append(float(_tiny.floatX(rate)))
        if record["validation_error"] < best:
            best = record["validation_error"]
        elif rate > 0.1 * 1.0001:
            rate /= 2
        else:
            break
    assert [r["learning_rate"] for r in result.history] == expected_rates
    assert len(expected_rates) == len(result.history)
    assert result.learning_rate == pytest.approx(0.1)
    assert [line for line in lines if "learning rate" in line] == [
        "     learning rate now 0.2", "     learning rate now 0.1"]


# ======================================================================= 8. log lines
def test_log_line_formats_match_the_tutorial(blob_data):
    assert VALIDATION_LINE.match("epoch 3, minibatch 5/5, validation error 2.780000 %")
    assert TEST_LINE.match("     epoch 3, minibatch 5/5, test error of best model 2.850000 %")
    assert not TEST_LINE.match("epoch 3, minibatch 5/5, test error of best model 2.850000 %")
    lines = []
    model, fns, trainer, result = run_model("logreg", blob_data, log=lines.append,
                                            learning_rate=0.13, batch_size=20, n_epochs=6)
    validation = [line for line in lines if VALIDATION_LINE.match(line)]
    tests = [line for line in lines if TEST_LINE.match(line)]
    assert len(validation) == len(result.history) == 6
    assert len(tests) == sum(r["test_error"] is not None for r in result.history) >= 1
    records = iter(result.history)
    for i, line in enumerate(lines):
        m = VALIDATION_LINE.match(line)
        if m:
            record = next(records)
            assert (int(m.group(1)), int(m.group(2)), int(m.group(3))) == (
                record["epoch"], record["minibatch"], 15)
            assert m.group(4) == "%f" % (record["validation_error"] * 100)
            if record["test_error"] is not None:  # the test line follows at once
                t = TEST_LINE.match(lines[i + 1])
                assert t and t.group(1, 2, 3) == m.group(1, 2, 3)
                assert t.group(4) == "%f" % (record["test_error"] * 100)


@pytest.mark.parametrize("schedule", ["constant", "inverse"])
def test_only_plateau_cuts_are_logged_as_rate_changes(schedule, blob_data):
    # regression: with floatX=float32 the loop once compared 0.13 with float32(0.13) and
    # logged "learning rate now 0.13" after every validation of a constant schedule
    lines = []
    run_model("logreg", blob_data, log=lines.append, learning_rate=0.13, batch_size=20,
              n_epochs=3, schedule=schedule)
    assert len(lines) >= 3
    assert all(VALIDATION_LINE.match(line) or TEST_LINE.match(line) for line in lines), lines


# --------------------------------------------------------------------------- bad arguments
def test_trainer_and_compile_functions_name_what_they_were_given():
    """Trainer({}) and a dict for config gave an AttributeError."""
    with pytest.raises(TypeError, match=r"compiled must be .*compile_functions.*got dict \{\}; "):
        Trainer({}, config())
    model, fns, _ = _tiny_compiled()
    with pytest.raises(TypeError, match=r"config must be a dltut.training.TrainConfig, got dict"):
        Trainer(fns, {"learning_rate": 0.1})
    x, y = T.matrix("x"), T.ivector("y")
    with pytest.raises(TypeError, match="config must be a dltut.training.TrainConfig"):
        compile_functions(LogisticRegression(x, 4, 3), x, y, _tiny.shared(_tiny.splits()), {})


def _tiny_compiled():
    x, y = T.matrix("x"), T.ivector("y")
    model = LogisticRegression(x, _tiny.splits()[0][0].shape[1], 3)
    fns = compile_functions(model, x, y, _tiny.shared(_tiny.splits()), config(batch_size=10))
    return model, fns, (x, y)


@pytest.mark.parametrize("which", [0, 1, 2])
def test_a_label_the_model_has_no_class_for_is_refused_before_compiling(which):
    """A label 50 with n_out=10 ended in a long Theano error at its first minibatch."""
    splits = [list(s) for s in _tiny.splits()]
    splits[which][1] = splits[which][1].copy()
    splits[which][1][2] = 50
    x, y = T.matrix("x"), T.ivector("y")
    model = LogisticRegression(x, splits[0][0].shape[1], 10)
    name = ("train", "valid", "test")[which]
    with pytest.raises(ValueError, match=r"the %s labels of LogisticRegression\(.*\): labels span "
                                         r"\[0, 50\]; expected 0 to 9 \(10 classes\): give the "
                                         r"model n_out >= 51" % name):
        compile_functions(model, x, y, _tiny.shared(splits), config(batch_size=10))


@pytest.mark.parametrize("field, value, fragment", [
    ("learning_rate", float("nan"), "learning_rate must be a finite number, got nan; "),
    ("decay", -1.0, "decay must be >= 0, got -1.0; "),
    ("momentum", 1.0, "momentum must be in [0, 1), got 1.0; "),
    ("schedule", "bogus", "schedule must be one of constant, inverse, plateau, got 'bogus'; "),
    ("batch_size", "20", "batch_size must be a positive integer, got '20' (str); "),
])
def test_train_config_checks_are_the_command_lines(field, value, fragment):
    with pytest.raises((TypeError, ValueError)) as info:
        TrainConfig(**{field: value})
    assert fragment in str(info.value)


#: The public names of dltut/train.py, the one module all of training was before issue 24
#: split it (read off that file), which users may have imported from dltut.train.
OLD_TRAIN_NAMES = (
    "SCHEDULES", "TrainConfig", "CONFIG_RULES", "sgd_updates", "momentum_updates",
    "make_velocities", "Compiled", "shared_length", "sum_of_squares", "n_classes_of",
    "label_values", "check_labels_fit", "compile_functions", "evaluate", "Patience",
    "ConstantRate", "InverseDecay", "PlateauHalving", "make_schedule", "STOP_REASONS",
    "CHECKPOINT_SECONDS", "TrainResult", "checked_state", "TrainState", "Trainer",
    "PRETRAIN_STOP_REASONS", "updated_shared_variables", "PretrainLayer", "PretrainState",
    "PretrainResult", "Pretrainer", "train")


def test_every_name_of_the_old_train_module_is_on_the_package_and_its_alias():
    import importlib
    import warnings
    import dltut.training
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        old = importlib.import_module("dltut.train")
    assert old is dltut.training
    missing = [name for name in OLD_TRAIN_NAMES if not hasattr(dltut.training, name)]
    assert missing == []
    assert set(dltut.training.__all__) >= set(OLD_TRAIN_NAMES)
    # the update rules are the models' leaf module's, the same functions
    import dltut.updates
    assert dltut.training.sgd_updates is dltut.updates.sgd_updates


def test_the_optimizer_moved_out_of_the_model_module_with_a_deprecated_old_name():
    import dltut.cg
    import dltut.training
    with pytest.warns(DeprecationWarning, match="dltut.training"):
        old = dltut.cg.CGOptimizer
    assert old is dltut.training.CGOptimizer is dltut.CGOptimizer
    with pytest.raises(AttributeError):
        dltut.cg.NoSuchName
