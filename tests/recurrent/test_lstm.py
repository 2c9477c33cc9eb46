"""The LSTM sentiment chapter (dltut.recurrent.lstm, dltut.datasets.imdb, the optimisers of
dltut.updates, dltut.training.SequenceTrainer, scripts/lstm.py) against independent
references.

* a numpy forward pass of the masked LSTM (gates, cell, mean pooling, softmax) for given
  weights, a shorter sentence padded;
* the gradient of the cost against theano.gradient.verify_grad's finite differences;
* AdaDelta, RMSProp and SGD worked by hand in numpy over three steps;
* the imdb.pkl reader's refusals, load_data's semantics (maxlen, n_words, split, sorting);
* the script end to end on a tiny generated file, resumed after a Ctrl-C and at an epoch's
  end (the same lines as one straight run);
* the tutorial code's own numbers (test_first_updates_print_the_tutorial_codes_numbers).
"""
import gzip
import os
import pickle
import signal
import subprocess
import sys

import dltut  # noqa: F401  (Theano set-up first)
import numpy
import pytest
import theano
import theano.tensor as T

from dltut import updates
from dltut.cli import lstm as lstm_cli
from dltut.datasets import imdb
from dltut.datasets.formats import DatasetError
from dltut.recurrent import lstm

from _cli import child_env
from _helpers import tolerances, uses_compiled_scan

FLOATX = theano.config.floatX
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))


def sigmoid(a):
    return 1.0 / (1.0 + numpy.exp(-a))


def small_tparams(dim=3, n_words=7, ydim=2, seed=5, scale=0.7):
    """Random parameters (biases too) of a tiny model, as shared variables."""
    options = lstm.model_options(dim_proj=dim, n_words=n_words, ydim=ydim, use_dropout=True)
    params = lstm.init_params(options, numpy.random.RandomState(seed))
    rng = numpy.random.RandomState(seed + 1)
    for key in params:
        params[key] = rng.normal(0, scale, params[key].shape).astype(FLOATX)
    return options, lstm.init_tparams(params)


def np_forward(p, x, mask):
    """Class probabilities of the masked LSTM with mean pooling, float64, the dropout off
    (scaled by 0.5)."""
    dim = p["lstm_U"].shape[0]
    T_, n = x.shape
    h, c = numpy.zeros((n, dim)), numpy.zeros((n, dim))
    total = numpy.zeros((n, dim))
    for t in range(T_):
        a = p["Wemb"][x[t]] @ p["lstm_W"] + p["lstm_b"] + h @ p["lstm_U"]
        i, f, o = (sigmoid(a[:, k * dim:(k + 1) * dim]) for k in range(3))
        c_new = f * c + i * numpy.tanh(a[:, 3 * dim:])
        h_new = o * numpy.tanh(c_new)
        m = mask[t][:, None]
        c = m * c_new + (1 - m) * c
        h = m * h_new + (1 - m) * h
        total += m * h
    mean = total / mask.sum(axis=0)[:, None] * 0.5
    z = mean @ p["U"] + p["b"]
    e = numpy.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_forward_pass_with_a_mask_matches_numpy():
    options, tparams = small_tparams()
    x, mask, y = lstm.prepare_data([[2, 3, 4, 5], [6, 1]], [1, 0])
    assert x.shape == (4, 2) and x.dtype == numpy.int64 and mask.dtype == FLOATX
    assert mask[:, 1].tolist() == [1, 1, 0, 0] and x[2:, 1].tolist() == [0, 0]
    use_noise, xs, ms, ys, f_pred_prob, f_pred, cost = lstm.build_model(tparams, options)
    assert uses_compiled_scan(f_pred_prob)
    p = {k: v.get_value().astype("float64") for k, v in tparams.items()}
    want = np_forward(p, x, mask.astype("float64"))
    numpy.testing.assert_allclose(f_pred_prob(x, mask), want, **tolerances())
    assert f_pred(x, mask).tolist() == want.argmax(axis=1).tolist()
    # the padding changes nothing: the short sentence alone gives the same probabilities
    x1, m1, _ = lstm.prepare_data([[6, 1]], [0])
    numpy.testing.assert_allclose(f_pred_prob(x1, m1)[0], want[1], **tolerances())
    f_cost = theano.function([xs, ms, ys], cost)
    numpy.testing.assert_allclose(f_cost(x, mask, y),
                                  -numpy.log(want[[0, 1], y] + 1e-8).mean(), **tolerances())


@pytest.mark.skipif(FLOATX != "float64", reason="finite differences need float64 (make test "
                    "runs it in its float64 pass; 30-50 s of compiling scan's gradient)")
def test_cost_gradient_against_finite_differences():
    """verify_grad over the LSTM's and the classifier's weights (dropout off)."""
    options, tparams = small_tparams(dim=2, n_words=5, scale=0.5)
    x, mask, y = lstm.prepare_data([[2, 3, 4], [1, 4]], [1, 0])
    emb = tparams["Wemb"].get_value()

    def cost(W, U, b, Uc):
        tp = {"lstm_W": W, "lstm_U": U, "lstm_b": b}
        below = theano.shared(emb)[x.flatten()].reshape([x.shape[0], x.shape[1], 2])
        proj = lstm.lstm_layer(tp, below, options, mask=theano.shared(mask))
        proj = (proj * mask[:, :, None]).sum(axis=0) / mask.sum(axis=0)[:, None]
        pred = T.nnet.softmax(T.dot(proj, Uc))
        return -T.log(pred[T.arange(2), y]).mean()

    values = [tparams[k].get_value() for k in ("lstm_W", "lstm_U", "lstm_b", "U")]
    tol = 1e-2 if FLOATX == "float32" else 1e-5
    theano.gradient.verify_grad(cost, values, rng=numpy.random.RandomState(2),
                                abs_tol=tol, rel_tol=tol,
                                eps=1e-2 if FLOATX == "float32" else 1e-6)


# ------------------------------------------------------------------------------ optimisers
GRADS = [[numpy.array([0.5, -1.0, 2.0]), numpy.array([[0.3], [-0.2]])],
         [numpy.array([0.1, 0.4, -3.0]), numpy.array([[-0.6], [0.05]])],
         [numpy.array([-0.7, 0.0, 1.0]), numpy.array([[0.2], [0.9]])]]
START = [numpy.array([1.0, -2.0, 0.5]), numpy.array([[0.25], [-0.75]])]


def run_rule(rule, **kwargs):
    """The parameters after each of three steps of ``rule`` fed GRADS."""
    params = [theano.shared(v.astype(FLOATX), name="p%d" % i) for i, v in enumerate(START)]
    grads = [T.vector("g0"), T.matrix("g1")]
    step = theano.function(grads, [], updates=rule(grads, params, **kwargs))
    seen = []
    for g in GRADS:
        step(*[v.astype(FLOATX) for v in g])
        seen.append([p.get_value().copy() for p in params])
    return seen


def test_adadelta_by_hand():
    p = [v.copy() for v in START]
    eg2 = [numpy.zeros_like(v) for v in p]
    edx2 = [numpy.zeros_like(v) for v in p]
    got = run_rule(updates.adadelta)
    for step, grads in enumerate(GRADS):
        for k, g in enumerate(grads):
            eg2[k] = 0.95 * eg2[k] + 0.05 * g ** 2
            dx = -numpy.sqrt(edx2[k] + 1e-6) / numpy.sqrt(eg2[k] + 1e-6) * g
            edx2[k] = 0.95 * edx2[k] + 0.05 * dx ** 2
            p[k] = p[k] + dx
            numpy.testing.assert_allclose(got[step][k], p[k], **tolerances())
    # its first step moves each weight by about sqrt(1e-6 / 0.05) = 0.0045 against the gradient
    numpy.testing.assert_allclose(got[0][0] - START[0], -numpy.sign(GRADS[0][0]) * 0.0044721,
                                  rtol=1e-3)
    halved = run_rule(updates.adadelta, learning_rate=0.5)
    numpy.testing.assert_allclose(halved[0][0] - START[0], (got[0][0] - START[0]) / 2,
                                  **tolerances())


def test_rmsprop_by_hand():
    p = [v.copy() for v in START]
    eg = [numpy.zeros_like(v) for v in p]
    eg2 = [numpy.zeros_like(v) for v in p]
    vel = [numpy.zeros_like(v) for v in p]
    got = run_rule(updates.rmsprop)
    for step, grads in enumerate(GRADS):
        for k, g in enumerate(grads):
            eg[k] = 0.95 * eg[k] + 0.05 * g
            eg2[k] = 0.95 * eg2[k] + 0.05 * g ** 2
            vel[k] = 0.9 * vel[k] - 1e-4 * g / numpy.sqrt(eg2[k] - eg[k] ** 2 + 1e-4)
            p[k] = p[k] + vel[k]
            numpy.testing.assert_allclose(got[step][k], p[k], **tolerances())


def test_sgd_by_hand_and_the_old_signatures():
    got = run_rule(updates.sgd, learning_rate=0.1)
    want = START[0] - 0.1 * sum(g[0] for g in GRADS)
    numpy.testing.assert_allclose(got[-1][0], want, **tolerances())
    # a loss works as well as gradients; the older rules keep their signatures
    w = theano.shared(numpy.asarray([3.0], dtype=FLOATX), name="w")
    loss = (w ** 2).sum()
    theano.function([], [], updates=updates.sgd(loss, [w], 0.25))()
    assert w.get_value()[0] == pytest.approx(1.5)
    assert updates.sgd_updates([w], [w], 0.5)[0][0] is w
    with pytest.raises(ValueError, match="got 1 gradients for 2 params"):
        updates.adadelta([w], [w, w])


# ------------------------------------------------------------------------------ the data
def write_pickles(path, *objects):
    with open(path, "wb") as handle:
        for value in objects:
            pickle.dump(value, handle, 2)
    return path


GOOD = ([[2, 3], [4, 5, 6], [7]], [0, 1, 1])


@pytest.mark.parametrize("objects, fragment", [
    ((GOOD,), "fewer than 2 pickles"),
    ((GOOD, numpy.arange(3)), "refusing to load global"),
    ((GOOD, [1, 2, 3]), "test set: expected a pair"),
    ((([[2]], [0, 1]), GOOD), "1 sentences but 2 labels"),
    ((([[2], [0]], [0, 1]), GOOD), "sentence 1 must be a non-empty list of word indices"),
    ((([[2], []], [0, 1]), GOOD), "sentence 1 must be"),
    ((([[2], [3]], [0, -1]), GOOD), "label 1 must be an int >= 0"),
    ((([[2], [3]], [1, 1]), GOOD), "has only label 1"),
    ((([], []), GOOD), "no sentences"),
])
def test_read_imdb_refuses_bad_files_in_one_line(tmp_path, objects, fragment):
    path = write_pickles(tmp_path / "imdb.pkl", *objects)
    with pytest.raises(DatasetError) as info:
        imdb.read_imdb(path)
    message = str(info.value)
    assert fragment in message and str(path) in message and "\n" not in message, message


def test_read_imdb_refuses_missing_and_non_pickle_files(tmp_path):
    with pytest.raises(DatasetError, match="no such file.*fetch imdb-synthetic"):
        imdb.read_imdb(tmp_path / "absent.pkl")
    (tmp_path / "text.pkl").write_text("not a pickle")
    with pytest.raises(DatasetError, match="not a readable imdb.pkl-style pickle"):
        imdb.read_imdb(tmp_path / "text.pkl")


def test_load_data_semantics(tmp_path):
    """maxlen drops training sentences of maxlen words or more (not test ones), words >=
    n_words become 1, the permutation is the generator's, each split sorted by length."""
    train = ([[2] * n for n in (3, 8, 5, 4, 2, 6, 7, 9, 3, 2)] + [[30, 2, 31]],
             [n % 2 for n in range(11)])
    test = ([[2] * 12, [40, 2]], [0, 1])
    path = tmp_path / "imdb.pkl.gz"
    with open(path, "wb") as handle:
        handle.write(gzip.compress(pickle.dumps(train, 2) + pickle.dumps(test, 2)))
    got_train, got_valid, got_test = imdb.load_data(
        path, n_words=31, valid_portion=0.25, maxlen=8, rng=numpy.random.RandomState(4))
    kept = [i for i, s in enumerate(train[0]) if len(s) < 8]          # 9 of 11
    order = numpy.random.RandomState(4).permutation(len(kept))
    n_train = int(round(len(kept) * 0.75))
    want_valid = sorted((train[0][kept[i]] for i in order[n_train:]), key=len)
    assert [len(s) for s in got_valid[0]] == [len(s) for s in want_valid]
    assert len(got_train[0]) == n_train and len(got_valid[0]) == len(kept) - n_train
    lengths = [len(s) for s in got_train[0]]
    assert lengths == sorted(lengths)
    assert [30, 2, 1] in got_train[0] + got_valid[0]                  # 31 -> 1 (unknown)
    assert got_test == ([[1, 2], [2] * 12], [1, 0])                    # sorted, not cut
    with pytest.raises(ValueError, match="valid_portion must be in"):
        imdb.load_data(path, valid_portion=1.5)


def test_synthetic_file_round_trip_and_rule(tmp_path):
    path = imdb.fetch_imdb_synthetic(tmp_path, quiet=True, n_train=300, n_test=50)
    assert path.name == imdb.IMDB_SYNTHETIC_FILE
    (train_x, train_y), (test_x, test_y) = imdb.read_imdb(path)
    assert len(train_x) == 300 and len(test_y) == 50
    words = imdb.read_dictionary(imdb.dictionary_path(path))
    assert words["w2"] == 2 and len(words) == imdb.SYNTHETIC_DEFAULTS["n_vocabulary"]
    # the label is the sign of (positive - negative) words: even ids 12.. positive
    for sentence, label in zip(train_x, train_y):
        score = sum(1 if 12 <= w < 212 and w % 2 == 0 else -1 if 12 <= w < 212 else 0
                    for w in sentence)
        assert (score > 0) == (label == 1)
    assert max(map(len, train_x)) > 100                                 # maxlen=100 cuts some


# ------------------------------------------------------------------------------ the script
TINY = dict(n_train=200, n_test=60, n_vocabulary=100, n_polar=10, min_length=5,
            max_length=30, seed=7)
SMALL_FLAGS = ["--dim-proj", "16", "--n-words", "80", "--maxlen", "25", "--disp-freq", "1",
               "--valid-freq", "5", "--patience", "2", "--test-size", "-1"]


@pytest.fixture(scope="module")
def tiny_file(tmp_path_factory):
    train, test, words = imdb.make_synthetic_imdb(**TINY)
    return str(imdb.write_imdb(tmp_path_factory.mktemp("imdb") / "imdb.pkl", train, test, words))


def run_script(argv, capsys):
    code = lstm_cli.main(argv)
    captured = capsys.readouterr()
    return code, captured.out.splitlines(), captured.err


def training_lines(lines):
    return [line for line in lines if line.startswith(("Epoch ", "Train ", "Seen ", "Early"))]


@pytest.mark.slow
def test_script_trains_and_resumes_after_an_interrupt(tiny_file, tmp_path, capsys, monkeypatch):
    """A Ctrl-C at update 7 (mid-epoch) of a one-epoch run, then --resume for two epochs:
    the lines of a run never interrupted, which are the tutorial code's (TUTORIAL_CODE,
    below; test_first_updates_print_the_tutorial_codes_numbers runs that straight run)."""
    want = TUTORIAL_CODE[FLOATX]
    stopped = tmp_path / "stopped"
    from dltut.training import sequences

    original = sequences.SequenceTrainer._say

    def say_then_interrupt(self, *values):
        original(self, *values)
        if values[:1] == ("Epoch ",) and values[3] == 7:
            os.kill(os.getpid(), signal.SIGINT)
    monkeypatch.setattr(sequences.SequenceTrainer, "_say", say_then_interrupt)
    code, first, err = run_script(["--dataset", tiny_file, "--max-epochs", "1",
                                   "--out", str(stopped)] + SMALL_FLAGS, capsys)
    assert code == 130 and "--resume" in err and err.count("\n") == 1, err
    assert not (stopped / "summary.json").exists()
    monkeypatch.setattr(sequences.SequenceTrainer, "_say", original)
    code, second, err = run_script(["--resume", str(stopped), "--max-epochs", "2"], capsys)
    assert code == 0, err
    assert "Training took" in err
    assert "resumed at epoch 0, update 7" in second
    assert training_lines(first)[-1] == "Epoch  0 Update  7 Cost  " + want[7].split()[-1]
    assert training_lines(first) + training_lines(second) == want
    assert (stopped / "best_model.npz").is_file() and (stopped / "summary.json").is_file()


def test_script_refuses_bad_input_in_one_line(tmp_path, capsys):
    bad = write_pickles(tmp_path / "bad.pkl", ([[2]], [0]))
    for argv, fragment in ((["--dataset", str(bad)], "fewer than 2 pickles"),
                           (["--dataset", str(tmp_path / "none.pkl")], "no such file"),
                           (["--max-epochs", "0"], "--max-epochs"),
                           (["--valid-freq", "0", "--dataset", str(bad)], "--valid-freq"),
                           (["--n-words", "1", "--dataset", str(bad)], "--n-words"),
                           (["--maxlen", "1", "--dataset", str(bad)], "--maxlen")):
        code, _, err = run_script(argv + ["--out", str(tmp_path / "run")], capsys)
        assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, err
        assert fragment in err and "error:" in err, err
        assert not (tmp_path / "run").exists()


# ------------------------------------------------------------------------------ faithfulness
#: Printed by the tutorial's own lstm.py (DeepLearningTutorials, code/lstm.py and imdb.py),
#: run outside this repository with this venv's Theano, its get_minibatches_idx returning
#: list(zip(...)) as Python 2's zip did (nothing else changed), from the folder of the TINY
#: file written as imdb.pkl: train_lstm(dim_proj=16, n_words=80, maxlen=25, max_epochs=2,
#: dispFreq=1, validFreq=5, patience=2, saveto='', test_size=-1); one
#: OpenBLAS thread.
TUTORIAL_CODE = {
    "float32": ["Epoch  0 Update  1 Cost  0.6931479",
                "Epoch  0 Update  2 Cost  0.69260085",
                "Epoch  0 Update  3 Cost  0.69479394",
                "Epoch  0 Update  4 Cost  0.69247",
                "Epoch  0 Update  5 Cost  0.69156396",
                "Train  0.45833333333333337 Valid  0.375 Test  0.4833333333333333",
                "Epoch  0 Update  6 Cost  0.6944651",
                "Epoch  0 Update  7 Cost  0.6912229",
                "Epoch  0 Update  8 Cost  0.69321716",
                "Epoch  0 Update  9 Cost  0.69462013",
                "Seen 144 samples",
                "Epoch  1 Update  10 Cost  0.6932032",
                "Train  0.45833333333333337 Valid  0.375 Test  0.4833333333333333",
                "Epoch  1 Update  11 Cost  0.69094986",
                "Epoch  1 Update  12 Cost  0.69164103",
                "Epoch  1 Update  13 Cost  0.6914289",
                "Epoch  1 Update  14 Cost  0.695324",
                "Epoch  1 Update  15 Cost  0.69148874",
                "Train  0.45833333333333337 Valid  0.375 Test  0.4833333333333333",
                "Epoch  1 Update  16 Cost  0.6952542",
                "Epoch  1 Update  17 Cost  0.6881524",
                "Epoch  1 Update  18 Cost  0.69333756",
                "Seen 144 samples",
                "Train  0.45833333333333337 Valid  0.375 Test  0.4833333333333333"],
    "float64": ["Epoch  0 Update  1 Cost  0.6931478710887375",
                "Epoch  0 Update  2 Cost  0.692600859184382",
                "Epoch  0 Update  3 Cost  0.6947938943285349",
                "Epoch  0 Update  4 Cost  0.6924700348460022",
                "Epoch  0 Update  5 Cost  0.6915639681310188",
                "Train  0.45833333333333337 Valid  0.375 Test  0.4833333333333333",
                "Epoch  0 Update  6 Cost  0.6944650844995628",
                "Epoch  0 Update  7 Cost  0.6912228751004874",
                "Epoch  0 Update  8 Cost  0.6932171487992982",
                "Epoch  0 Update  9 Cost  0.6946201056117843",
                "Seen 144 samples",
                "Epoch  1 Update  10 Cost  0.693203221273792",
                "Train  0.45833333333333337 Valid  0.375 Test  0.4833333333333333",
                "Epoch  1 Update  11 Cost  0.6909498171465838",
                "Epoch  1 Update  12 Cost  0.6916410303013354",
                "Epoch  1 Update  13 Cost  0.6914288685002091",
                "Epoch  1 Update  14 Cost  0.6953239973963097",
                "Epoch  1 Update  15 Cost  0.6914887454343062",
                "Train  0.45833333333333337 Valid  0.375 Test  0.4833333333333333",
                "Epoch  1 Update  16 Cost  0.6952541333216278",
                "Epoch  1 Update  17 Cost  0.6881523216570098",
                "Epoch  1 Update  18 Cost  0.6933375235416799",
                "Seen 144 samples",
                "Train  0.45833333333333337 Valid  0.375 Test  0.4833333333333333"],
}


@pytest.mark.slow
def test_first_updates_print_the_tutorial_codes_numbers(tiny_file):
    """scripts/lstm.py with the settings above prints the tutorial code's lines, digit for
    digit (a fresh process, one OpenBLAS thread, this floatX)."""
    want = TUTORIAL_CODE[FLOATX]
    env = child_env()
    env["THEANO_FLAGS"] = ",".join(filter(None, [env.get("THEANO_FLAGS"), "floatX=" + FLOATX]))
    env["OPENBLAS_NUM_THREADS"] = env["OMP_NUM_THREADS"] = "1"
    out = subprocess.run([sys.executable, os.path.join(REPO, "scripts", "lstm.py"),
                          "--dataset", tiny_file, "--max-epochs", "2", "--out",
                          os.path.join(os.path.dirname(tiny_file), "run-" + FLOATX)]
                         + SMALL_FLAGS, env=env, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    assert training_lines(out.stdout.splitlines()) == want


# ------------------------------------------------------------------------------ the loop alone
class FakeModel:
    """Stand-ins for the compiled functions: costs and validation errors from lists."""

    def __init__(self, costs, valid_errors):
        self.costs, self.valid_errors = list(costs), list(valid_errors)
        self.use_noise = theano.shared(numpy.asarray(0.0, dtype=FLOATX))
        self.w = theano.shared(numpy.zeros(2, dtype=FLOATX), name="w")
        self.updates, self.calls = 0, []

    def f_train(self, x, mask, y):
        assert self.use_noise.get_value() == 1
        self.updates += 1
        self.w.set_value(self.w.get_value() + 1)
        return numpy.asarray(self.costs[(self.updates - 1) % len(self.costs)], dtype=FLOATX)

    def pred_error(self, f_pred, prepare_data, data, iterator):
        assert self.use_noise.get_value() == 0
        self.calls.append(len(data[0]))
        if data is self.valid:
            return numpy.float32(self.valid_errors.pop(0)) if self.valid_errors else \
                numpy.float32(0.5)
        return numpy.float32(0.25)

    def trainer(self, n_train=40, **kwargs):
        data = ([[2, 3]] * n_train, [0, 1] * (n_train // 2))
        self.valid, test = ([[2]] * 4, [0, 1] * 2), ([[3]] * 4, [1, 0] * 2)
        from dltut.training import SequenceTrainer
        settings = dict(batch_size=8, dispFreq=1, validFreq=2, patience=1, log=self.log.append)
        settings.update(kwargs)
        return SequenceTrainer(self.f_train, None, self.use_noise, lstm.prepare_data,
                               self.pred_error, lstm.get_minibatches_idx, data, self.valid,
                               test, {"w": self.w}, [], numpy.random.RandomState(0), **settings)

    log = None


def test_loop_patience_rule_on_a_made_up_curve():
    """Validation errors 0.5, 0.4, 0.4, 0.45 with patience 1, the tutorial's rule worked by
    hand: 0.5 best; 0.4 best (not >= 0.5, the best before the last one); 0.4 best (<= the
    best) *and* bad (>= min(0.5, 0.4)), bad_counter 1; 0.45 bad again, 2 > 1: Early Stop!
    at the 4th validation (update 8, 3 minibatches of 8 into the second epoch)."""
    model = FakeModel([0.7], [0.5, 0.4, 0.4, 0.45, 0.1])
    model.log = []
    result = model.trainer().run()
    valids = [line for line in model.log if line.startswith("Train ")]
    assert len(valids) == 5 and "Early Stop!" in model.log     # 4 validations + the final line
    assert result.stopped_by == "patience" and result.updates == 8
    assert model.log.index("Early Stop!") == model.log.index("Epoch  1 Update  8 Cost  0.7") + 2
    assert model.log[model.log.index("Early Stop!") + 1] == "Seen 24 samples"
    assert [r.get("best", False) for r in result.history] == [True, True, True, False]
    assert result.epochs == 2 and result.valid_err == pytest.approx(0.1)   # the final call's
    assert model.w.get_value().tolist() == [6, 6]   # the best (latest of equals): update 6's


def test_loop_stops_on_a_non_finite_cost(tmp_path):
    model = FakeModel([0.7, 0.6, float("nan")], [])
    model.log = []
    trainer = model.trainer(run_dir=str(tmp_path / "run"), validFreq=100)
    from dltut.runs.rundir import RunDir
    trainer.run_dir = RunDir.create(str(tmp_path / "run"), script="lstm")
    result = trainer.run()
    assert result.diverged and "nan" in result.divergence and "update 3" in result.divergence
    assert model.log[-1] == "bad cost detected:  nan"
    assert not (tmp_path / "run" / "checkpoint.npz").exists()   # nothing non-finite written


def test_data_command_fetches_imdb_synthetic(tmp_path, capsys):
    from dltut import data
    assert data.main(["fetch", "imdb-synthetic", "--dest", str(tmp_path), "--quiet"]) == 0
    path = tmp_path / imdb.IMDB_SYNTHETIC_FILE
    assert imdb.read_imdb(path)[0][1][:3] and imdb.dictionary_path(path).is_file()
    capsys.readouterr()
    assert data.main(["fetch", "imdb-synthetic", "--dest", str(tmp_path)]) == 0
    assert "kept" in capsys.readouterr().out
    path.write_bytes(b"damaged")
    assert data.main(["fetch", "imdb-synthetic", "--dest", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "--force" in err and err.count("\n") == 1, err
    assert data.main(["fetch", "imdb-synthetic", "--dest", str(tmp_path), "--force",
                      "--quiet"]) == 0
