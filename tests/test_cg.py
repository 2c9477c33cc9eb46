"""logistic_cg: the flat-theta logistic regression and its conjugate-gradient training,
against numpy (costs, gradients, error rates) and against the layer it reuses."""
import json

import numpy
import pytest

import _tiny
import dltut  # noqa: F401  (Theano set-up before anything imports theano)
import theano

from dltut.cg import LogisticRegressionCG
from dltut.training import CGOptimizer
from dltut.layers import LogisticRegression
from dltut.runs import checkpoint as ckpt
from dltut.runs import rundir
from dltut.runs.checkpoint import CheckpointError

from _processes import CtrlCAt

BATCH = 20
N_IN, N_OUT = _tiny.N_FEATURES, _tiny.N_CLASSES


@pytest.fixture(scope="module")
def data():
    return _tiny.splits(sizes=(110, 50, 50))   # 5 whole training minibatches, 10 examples left over


def optimizer(data, run_dir=None, n_epochs=5, log=None):
    x, y = _tiny.symbols()
    model = LogisticRegressionCG(x, N_IN, N_OUT)
    return model, CGOptimizer(model, x, y, _tiny.shared(data), batch_size=BATCH,
                              n_epochs=n_epochs, run_dir=run_dir, log=log)


def theta_of(W, b):
    return numpy.concatenate([W.ravel(), b]).astype(theano.config.floatX)


def nll(W, b, x, y):
    p = _tiny.softmax(numpy.asarray(x, numpy.float64).dot(W) + b)
    return -numpy.mean(numpy.log(p[numpy.arange(len(y)), y]))


@pytest.fixture
def point():
    rng = numpy.random.RandomState(3)
    return rng.normal(0, 0.3, (N_IN, N_OUT)), rng.normal(0, 0.3, N_OUT)


def test_theta_holds_W_then_b_and_the_layer_computes_with_them(data, point):
    model, cg = optimizer(data)
    W, b = point
    model.theta.set_value(theta_of(W, b))
    assert model.params == [model.theta]
    assert model.theta.get_value().shape == (N_IN * N_OUT + N_OUT,)
    x, _ = _tiny.symbols()
    plain = LogisticRegression(x, N_IN, N_OUT, W=model.unflatten(model.theta.get_value())[0],
                               b=model.unflatten(model.theta.get_value())[1])
    probs = theano.function([model.input], model.p_y_given_x)(_tiny.floatX(data[0][0]))
    plain_probs = theano.function([x], plain.p_y_given_x)(_tiny.floatX(data[0][0]))
    numpy.testing.assert_array_equal(probs, plain_probs)
    assert model.spec() == plain.spec()


def test_train_fn_is_the_mean_of_the_minibatch_costs(data, point, tol):
    model, cg = optimizer(data)
    W, b = point
    x, y = data[0]
    expected = numpy.mean([nll(W, b, x[i * BATCH:(i + 1) * BATCH], y[i * BATCH:(i + 1) * BATCH])
                           for i in range(110 // BATCH)])
    numpy.testing.assert_allclose(cg.train_fn(theta_of(W, b)), expected, **tol)


def test_train_fn_grad_is_the_mean_of_the_minibatch_gradients(data, point, tol):
    model, cg = optimizer(data)
    W, b = point
    x, y = data[0]
    grads = [_tiny.logreg_grads(W, b, x[i * BATCH:(i + 1) * BATCH], y[i * BATCH:(i + 1) * BATCH])
             for i in range(110 // BATCH)]
    expected = theta_of(numpy.mean([g[0] for g in grads], axis=0),
                        numpy.mean([g[1] for g in grads], axis=0)).astype(numpy.float64)
    got = cg.train_fn_grad(theta_of(W, b))
    assert got.shape == expected.shape and got.dtype == theano.config.floatX
    numpy.testing.assert_allclose(got, expected, **tol)


def test_callback_scores_validation_and_tests_at_a_new_best(data, point, tmp_path):
    lines = []
    model, cg = optimizer(data, run_dir=tmp_path, log=lines.append)
    cg._interrupt = type("NoInterrupt", (), {"requested": False})()
    cg._started = 0.0
    W, b = point
    cg.callback(theta_of(W, b))
    x, y = data[1]
    whole = (50 // BATCH) * BATCH   # the tutorial scores whole minibatches only
    errors = [numpy.mean(_tiny.softmax(x[i:i + BATCH].dot(W) + b).argmax(1) != y[i:i + BATCH])
              for i in range(0, whole, BATCH)]
    assert lines == ["validation error %f %%" % (numpy.mean(errors) * 100)]
    record = cg.history[0]
    assert record["iteration"] == 1 and record["test_error"] is not None
    assert record["validation_error_all"] == pytest.approx(
        _tiny.error_rate([W, b], x, y), abs=1e-12)
    values, meta = ckpt.load_params(tmp_path / rundir.BEST_MODEL)
    numpy.testing.assert_array_equal(values[0], theta_of(W, b)[:N_IN * N_OUT].reshape(N_IN, N_OUT))
    assert meta["model"] == {"name": "LogisticRegression", "n_in": N_IN, "n_out": N_OUT}


def test_a_run_lowers_the_cost_and_keeps_the_best_theta(data, tmp_path):
    lines = []
    model, cg = optimizer(data, run_dir=tmp_path, n_epochs=6, log=lines.append)
    start = cg.train_fn(numpy.zeros(N_IN * N_OUT + N_OUT, dtype=theano.config.floatX))
    result = cg.run()
    assert result.stopped_by in ("n_epochs", "converged") and result.iterations <= 6
    assert len([line for line in lines if line.startswith("validation error")]) == result.iterations
    assert cg.train_fn(cg.best_theta) < start
    records = [json.loads(line) for line in open(str(tmp_path / rundir.HISTORY))]
    assert len(records) == result.iterations
    best = min(records, key=lambda r: r["validation_error"])
    assert result.best_validation_loss == best["validation_error"]
    assert result.test_score == best["test_error"]
    numpy.testing.assert_array_equal(model.theta.get_value(), cg.best_theta)


def test_resume_continues_from_the_saved_theta_and_counts_on(data, tmp_path):
    model, first = optimizer(data, run_dir=tmp_path, n_epochs=2)
    first.run()
    saved = numpy.array(first.model.theta.get_value())
    _, meta = ckpt.load_arrays(tmp_path / rundir.CHECKPOINT)
    assert meta["state"]["iterations"] == 2
    model_b, second = optimizer(data, run_dir=tmp_path, n_epochs=4)
    second.load_checkpoint()
    assert second.state.iterations == 2 and len(second.history) == 2
    numpy.testing.assert_array_equal(numpy.asarray(model_b.theta.get_value()),
                                     numpy.asarray(ckpt.load_checkpoint(
                                         tmp_path / rundir.CHECKPOINT)[0]["params"][0]))
    result = second.run()
    assert result.iterations == 4
    assert [r["iteration"] for r in second.history] == [1, 2, 3, 4]
    assert saved.shape == model_b.theta.get_value().shape
    # settings that differ are refused, naming the file
    x, y = _tiny.symbols()
    other = CGOptimizer(LogisticRegressionCG(x, N_IN, N_OUT), x, y, _tiny.shared(data),
                        batch_size=10, n_epochs=4)
    with pytest.raises(CheckpointError, match="batch_size 20.*10"):
        other.load_checkpoint(tmp_path / rundir.CHECKPOINT)


def test_ctrl_c_stops_after_the_iteration_with_a_checkpoint(data, tmp_path):
    lines = []
    log = CtrlCAt(2).wrap(lines.append)
    model, cg = optimizer(data, run_dir=tmp_path, n_epochs=10, log=log)
    result = cg.run()
    assert result.interrupted and result.iterations == 2
    assert "resume" in lines[-1]
    state, _ = ckpt.load_checkpoint(tmp_path / rundir.CHECKPOINT)
    assert state["state"]["iterations"] == 2 and state["state"]["stopped_by"] == "interrupted"
