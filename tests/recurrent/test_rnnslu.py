"""The Elman RNN for slot filling (dltut.recurrent.rnnslu), its CoNLL scoring
(dltut.recurrent.conll), its data (dltut.datasets.atis) and script against independent
references.

* a numpy forward pass of the Elman recurrence and softmax for given weights;
* one ``sentence_train`` step against central finite differences of a numpy float64 NLL,
  followed by the embeddings' normalisation; ``verify_grad`` on a tiny model;
* the chunk F1 against the numbers conlleval.pl prints for hand-made sentences;
* the new-best / learning-rate-decay rule against a replica of the tutorial's loop;
* the ATIS loader's refusals;
* the tutorial code's own numbers (test_first_epochs_print_the_tutorial_codes_numbers) and
  the script end to end with a resume.
"""
import gzip
import os
import pickle
import subprocess
import sys
import textwrap

import dltut  # noqa: F401  (Theano set-up first)
import numpy
import pytest
import theano
import theano.tensor as T

from dltut.datasets import atis
from dltut.datasets.formats import DatasetError
from dltut.recurrent import RNNSLU, SentenceEpochs, contextwin
from dltut.recurrent.conll import chunks, conlleval

from _cli import child_env, recorded_for_these_kernels
from _helpers import assert_one_error, tolerances, uses_compiled_scan

FLOATX = theano.config.floatX


def sigmoid(a):
    return 1.0 / (1.0 + numpy.exp(-a))


def tiny_model(seed=3, nh=4, nc=3, ne=5, de=2, cs=3):
    """A 4-hidden, 3-label, 5-word model with random weights *and biases and h0* (they start
    at zero; a missing term must show)."""
    model = RNNSLU(nh=nh, nc=nc, ne=ne, de=de, cs=cs, rng=numpy.random.RandomState(seed))
    return reset(model, seed)


def np_probabilities(params, sentence, cs):
    """p(y_t | w_1..w_t) of the Elman network for one sentence, in float64: (T, nc)."""
    emb, wx, wh, w, bh, b, h0 = [numpy.asarray(p, numpy.float64) for p in params]
    h, out = h0, []
    for window in contextwin(sentence, cs):
        x_t = numpy.concatenate([emb[i] for i in window])   # -1: the padding row, the last
        h = sigmoid(x_t @ wx + h @ wh + bh)
        a = h @ w + b
        out.append(numpy.exp(a - a.max()) / numpy.exp(a - a.max()).sum())
    return numpy.array(out)


def np_nll(params, sentence, labels, cs):
    p = np_probabilities(params, sentence, cs)
    return -numpy.mean(numpy.log(p[numpy.arange(len(labels)), labels]))


SENTENCE, LABELS = [4, 0, 2, 2, 1], [0, 2, 1, 1, 0]


# ------------------------------------------------------------------------------- the model
def test_contextwin_pads_with_minus_one():
    assert contextwin([7, 8, 9], 3) == [[-1, 7, 8], [7, 8, 9], [8, 9, -1]]
    assert contextwin([5], 5) == [[-1, -1, 5, -1, -1]]
    assert contextwin([1, 2], 1) == [[1], [2]]
    assert_one_error(ValueError, lambda: contextwin([1], 4), ["win must be odd", "got 4"])
    assert_one_error(ValueError, lambda: contextwin([1], 0), ["win", "got 0"])


@pytest.fixture(scope="module")
def compiled_model():
    """One tiny model compiled once for the tests that run its functions (each sets its
    weights: tiny_model's, seed 3)."""
    return tiny_model()


def reset(model, seed=3):
    rng = numpy.random.RandomState(seed + 100)
    model.set_params_values([rng.uniform(-0.8, 0.8, p.get_value().shape).astype(FLOATX)
                             for p in model.params])
    return model


def test_elman_forward_pass_matches_numpy(compiled_model):
    model = reset(compiled_model)
    probabilities = theano.function([model.idxs], model.p_y_given_x_sentence)
    windows = numpy.asarray(contextwin(SENTENCE, 3), numpy.int32)
    expected = np_probabilities([p.get_value() for p in model.params], SENTENCE, 3)
    numpy.testing.assert_allclose(probabilities(windows), expected, **tolerances())
    assert list(model.predict(SENTENCE)) == list(expected.argmax(axis=1))
    assert uses_compiled_scan(model.sentence_train)


def test_one_training_step_is_sgd_on_the_nll_then_unit_embeddings(compiled_model):
    """sentence_train returns the NLL before the step and moves every parameter (h0 and
    the embeddings included) by -lr times the finite-difference gradient of a numpy NLL;
    train() then scales each embedding to length 1."""
    model = reset(compiled_model)
    before = [p.get_value().astype(numpy.float64) for p in model.params]
    step = 1e-6
    gradients = []
    for k, value in enumerate(before):
        gradient = numpy.zeros_like(value)
        for index in numpy.ndindex(value.shape):
            plus = [v.copy() for v in before]
            minus = [v.copy() for v in before]
            plus[k][index] += step
            minus[k][index] -= step
            gradient[index] = (np_nll(plus, SENTENCE, LABELS, 3)
                               - np_nll(minus, SENTENCE, LABELS, 3)) / (2 * step)
        gradients.append(gradient)
    lr = 0.5
    nll = model.train(SENTENCE, LABELS, 3, lr)
    loose = {"float64": dict(rtol=1e-6, atol=1e-8), "float32": dict(rtol=1e-4, atol=2e-6)}
    numpy.testing.assert_allclose(nll, np_nll(before, SENTENCE, LABELS, 3), **loose[FLOATX])
    for param, value, gradient in zip(model.params, before, gradients):
        expected = value - lr * gradient
        if param is model.emb:
            expected = expected / numpy.sqrt((expected ** 2).sum(axis=1, keepdims=True))
            numpy.testing.assert_allclose((param.get_value() ** 2).sum(axis=1), 1.0,
                                          **tolerances())
        numpy.testing.assert_allclose(param.get_value(), expected, **loose[FLOATX],
                                      err_msg=param.name)


@pytest.mark.skipif(FLOATX != "float64", reason="finite differences need float64")
def test_verify_grad_of_the_sentence_nll():
    model = tiny_model(nh=3, ne=4)
    windows = numpy.asarray(contextwin([3, 1, 0, 2], 3), numpy.int32)
    labels = numpy.array([2, 0, 1, 1], numpy.int32)

    def nll(*values):
        replace = dict(zip(model.params, values))
        replace.update({model.idxs: T.constant(windows), model.y_sentence: T.constant(labels)})
        return theano.clone(model.sentence_nll, replace=replace)

    theano.gradient.verify_grad(nll, [p.get_value() for p in model.params],
                                rng=numpy.random.RandomState(0))


def test_the_tutorials_initial_weights():
    """One generator draws the embeddings, wx, wh, w in that order: uniform(-1, 1), cast to
    floatX, times 0.2; biases and h0 zero."""
    model = RNNSLU(nh=6, nc=4, ne=9, de=3, cs=5)           # default: RandomState(345)
    rng = numpy.random.RandomState(345)
    for param, shape in zip(model.params[:4], [(10, 3), (15, 6), (6, 6), (6, 4)]):
        expected = 0.2 * rng.uniform(-1.0, 1.0, shape).astype(FLOATX)
        assert param.get_value().dtype == FLOATX
        numpy.testing.assert_array_equal(param.get_value(), expected.astype(FLOATX))
    for param in model.params[4:]:
        assert not param.get_value().any()
    assert [p.name for p in model.params] == ["embeddings", "wx", "wh", "w", "bh", "b", "h0"]


@pytest.mark.parametrize("kwargs, fragments", [
    (dict(nh=0), ["nh", "got 0"]),
    (dict(cs=4), ["cs must be odd", "got 4"]),
    (dict(de=2.5), ["de", "2.5"]),
])
def test_bad_sizes_fail_in_one_line(kwargs, fragments):
    sizes = dict(dict(nh=3, nc=2, ne=4, de=2, cs=3), **kwargs)
    assert_one_error(ValueError, lambda: RNNSLU(**sizes), fragments)


# ------------------------------------------------------------------------------- CoNLL F1
#: conlleval.pl's figures (precision, recall, FB1 as it prints them) for these predicted /
#: true sentences, run on the lines the tutorial writes ("BOS O O", "word true guess", ...,
#: "EOS O O", empty line).  The last two show conlleval's rules: "I-a" after "O" starts a
#: chunk, and "B-c" after "E-c" continues one.
CONLLEVAL_CASES = [
    ([["B-a", "I-a", "O", "B-b"]], [["B-a", "I-a", "O", "B-b"]], (100.0, 100.0, 100.0)),
    ([["B-a", "I-a", "O", "B-b"]], [["B-a", "O", "O", "B-b"]], (50.0, 50.0, 50.0)),
    ([["B-a", "I-a", "O", "B-b", "O"], ["B-c", "B-a"]],
     [["B-a", "I-a", "O", "B-b", "I-b"], ["B-c", "O"]], (50.0, 66.67, 57.14)),
    ([["B-a", "I-b", "O"], ["B-x.y", "B-x.y"]], [["B-a", "I-a", "O"], ["B-x.y", "I-x.y"]],
     (0.0, 0.0, 0.0)),
    ([["O", "O", "O"]], [["B-a", "I-a", "O"]], (0.0, 0.0, 0.0)),
    ([["O", "I-a", "I-a", "O"]], [["O", "B-a", "I-a", "O"]], (100.0, 100.0, 100.0)),
    ([["O", "O"], ["B-c", "E-c", "B-c"]], [["B-a", "O"], ["B-c", "E-c", "I-c"]], (0.0, 0.0, 0.0)),
]


@pytest.mark.parametrize("predicted, true, expected", CONLLEVAL_CASES)
def test_chunk_f1_is_conllevals(predicted, true, expected):
    result = conlleval(predicted, true)
    assert (result["p"], result["r"], result["f1"]) == expected


def test_chunks_and_bad_tags():
    assert chunks(["B-a", "I-a", "O", "I-b", "B-b", "E-b"]) == {("a", 0, 1), ("b", 3, 3),
                                                               ("b", 4, 5)}
    assert_one_error(ValueError, lambda: conlleval([["X"]], [["O"]]), ["'X'", "IOB"])
    assert_one_error(ValueError, lambda: conlleval([["O"]], [["O", "O"]]), ["1 predicted",
                                                                            "2 true"])


# ------------------------------------------------------------------------------- the epochs
def test_new_best_and_decay_follow_the_tutorials_loop(monkeypatch):
    """Scripted validation F1s through SentenceEpochs.end_epoch against a replica of the
    tutorial's loop, whose ``rnn = best_rnn`` makes the network the best copy itself: the
    first halving restores the best weights, later ones (with no new best between) do not."""
    model = tiny_model()
    data = ([numpy.array([1, 2], numpy.int32)], [numpy.zeros(2, numpy.int32)],
            [numpy.array([0, 1], numpy.int32)])
    epochs = SentenceEpochs(model, data, data, data, {0: "O", 1: "B-a", 2: "I-a"},
                            learning_rate=0.1)
    valid = [10, 20, 15] + [5] * 12 + [30] + [1] * 26
    scores = iter(v for v in valid for _ in range(2))   # valid then test, each epoch
    monkeypatch.setattr(epochs, "score", lambda dataset: (
        [], {"p": 0.0, "r": 0.0, "f1": float(next(scores))}))

    class Net:                                 # the tutorial's objects: weights by identity
        def __init__(self, weight):
            self.weight = weight

    rnn, best_rnn, best_f1, be, clr = Net(0), None, -numpy.inf, None, 0.1
    restorations = []
    for e, f1 in enumerate(valid):
        weight_before = float(model.b.get_value()[0])
        rnn.weight = weight_before             # what this epoch's training left
        if f1 > best_f1:
            best_rnn, best_f1, be = Net(rnn.weight), f1, e
        halved = abs(be - e) >= 10
        if halved:
            clr *= 0.5
            rnn = best_rnn
        end = epochs.end_epoch(e)
        assert end["new_best"] == (be == e) and end["halved"] == halved
        assert end["restored"] == (halved and rnn is best_rnn and restorations.count(be) == 0)
        if end["restored"]:
            restorations.append(be)
        assert epochs.learning_rate == clr and epochs.best["epoch"] == be
        assert float(model.b.get_value()[0]) == pytest.approx(rnn.weight)
        assert epochs.stop == (clr < 1e-5)
        # the next epoch's training: change the network
        model.b.set_value(model.b.get_value() + numpy.asarray(1.0, FLOATX))
        if clr < 1e-5:
            break
    # the best at epoch 1 is 10 epochs old at epoch 11: halved at 11 (set back), 12, 13, 14;
    # a new best at 15; halved again from epoch 25 until 0.1 / 2 ** 14 < 1e-5, at epoch 34
    assert e == 34 and restorations == [1, 15]
    assert epochs.best == {"epoch": 15, "valid_f1": 30.0, "test_f1": 30.0}


def test_shuffle_is_the_tutorials_reseeded_random_shuffle():
    import random
    model = tiny_model()
    lex = [numpy.array([i % 5], numpy.int32) for i in range(9)]
    data = (lex, lex, [numpy.zeros(1, numpy.int32)] * 9)
    epochs = SentenceEpochs(model, data, data, data, {0: "O"}, seed=345)
    order = list(range(9))
    for _ in range(3):
        random.seed(345)
        random.shuffle(order)
        epochs.shuffle()
        assert list(epochs.order.get_value()) == order


# ------------------------------------------------------------------------------- the data
def _write(path, obj, protocol=2):
    with gzip.open(str(path), "wb") as f:
        pickle.dump(obj, f, protocol=protocol)
    return path


def test_synthetic_file_round_trip_and_format(tmp_path):
    data = atis.make_atis_synthetic((12, 4, 3), seed=2)
    path = atis.save_atis(tmp_path / "atis.fold3.pkl.gz", data)
    train, valid, test, dicts = atis.atisfold(3, tmp_path)
    assert [len(s[0]) for s in (train, valid, test)] == [12, 4, 3]
    for (lex, ne, y), original in zip((train, valid, test), data[:3]):
        for a, b in zip(lex + ne + y, original[0] + original[1] + original[2]):
            assert a.dtype == numpy.int32 and numpy.array_equal(a, b)
    assert set(dicts) == {"words2idx", "labels2idx", "tables2idx"} and "O" in dicts["labels2idx"]
    for protocol in (0, 4):      # older and newer pickles of the same data read the same
        again = atis.load_atis(_write(tmp_path / "p.pkl.gz", data, protocol))
        assert all(numpy.array_equal(a, b) for a, b in zip(again[0][0], train[0]))
    # the tutorial's own reading: pickle.load(gzip file, encoding="latin1")
    with gzip.open(str(path), "rb") as f:
        assert len(pickle.load(f, encoding="latin1")) == 4
    words = {i: w for w, i in dicts["words2idx"].items()}
    labels = {i: w for w, i in dicts["labels2idx"].items()}
    for x, y in zip(train[0], train[2]):       # the rule the task is about
        for t in range(1, len(x)):
            if labels[int(y[t])] == "B-fromloc.city_name":
                assert words[int(x[t - 1])] in ("from", "leaving", "between")


def _valid_atis():
    return atis.make_atis_synthetic((3, 2, 2), seed=1)


@pytest.mark.parametrize("damage, fragments", [
    (lambda p: p.write_bytes(b"not gzip"), ["is not a gzip file", "fetch atis-synthetic"]),
    (lambda p: p.write_bytes(gzip.compress(pickle.dumps(_valid_atis()))[:-30]),
     ["truncated or damaged"]),
    (lambda p: _write(p, ("a", "b")), ["holds a tuple, expected (train_set, valid_set"]),
    (lambda p: _write(p, _valid_atis()[:3] + ({"words2idx": {}},)), ["labels2idx"]),
    (lambda p: _write(p, (_valid_atis()[0], _valid_atis()[1], ([numpy.array([99])], [[0]],
                                                              [[0]]), _valid_atis()[3])),
     ["test set's lex, sentence 0, holds index 99"]),
    (lambda p: _write(p, (_valid_atis()[0], ([numpy.array([1, 2], numpy.int32)],
                                             [numpy.array([0, 0], numpy.int32)],
                                             [numpy.array([0], numpy.int32)]),
                          _valid_atis()[2], _valid_atis()[3])),
     ["valid set's y, sentence 0, has 1 entries but its words 2"]),
    (lambda p: _write(p, _valid_atis()[:3] + ({"words2idx": {"a": 0, "b": 0},
                                               "labels2idx": {"O": 0}},)),
     ["words2idx", "indices 0..1, each once"]),
    (lambda p: _write(p, [1, 2, 3]), ["holds a list, expected (train_set"]),
    (lambda p: _write(p, [1, 2, 3, "dicts"]), ["dicts must be a dict"]),
])
def test_loader_refuses_bad_files_in_one_line(tmp_path, damage, fragments):
    path = tmp_path / "atis.fold3.pkl.gz"
    damage(path)
    assert_one_error(DatasetError, lambda: atis.load_atis(path), [str(path)] + fragments)


def test_loader_refuses_code_in_the_pickle_and_a_missing_file(tmp_path):
    path = _write(tmp_path / "evil.pkl.gz", (os.system, "true"), protocol=2)
    assert_one_error(DatasetError, lambda: atis.load_atis(path), ["refusing to load global"])
    assert_one_error(DatasetError, lambda: atis.load_atis(tmp_path / "nothing.pkl.gz"),
                     ["does not exist"])


# ------------------------------------------------------------------------------- faithfulness
#: Printed by the tutorial's own rnnslu.py (DeepLearningTutorials, code/rnnslu.py), run
#: outside this repository with this venv's Theano after ``import dltut``, on
#: make_atis_synthetic((150, 30, 30), seed=5) saved as atis.fold3.pkl.gz, with its defaults
#: (fold 3, lr 0.0970806646812754, win 7, 200 hidden, embeddings of 50, seed 345) and 2
#: epochs; one OpenBLAS thread.  Its ``map`` made a list (under Python 3 its ground truth
#: was an iterator, read up in the first epoch) and its sentence_train wrapped to print the
#: epoch's mean NLL (numpy.mean in float64); its own conlleval.pl scored.  Per epoch: the
#: mean NLL, valid F1, test F1 (its NEW BEST lines), and the sums of the parameters after
#: the second epoch.  By OpenBLAS kernel set (the tests pin dltut's pick for the CPU, see
#: tests/conftest.py): SkylakeX on the project's AVX-512 machines; Zen on an AMD EPYC with
#: AVX2 only (2026-12-07; the Haswell kernels printed the same there), where the float32
#: NLLs differ in the 9th digit and the float64 ones in the 17th, in the tutorial's code and
#: in dltut alike.
TUTORIAL_CODE = {
    "SkylakeX": {
        "float32": (["1.6329064226150514", "1.2830149167776108"], [(0.0, 1.45), (34.75, 35.34)],
                    [-19.192694213379582, 1.6891176593467208, -85.80636250538873,
                     5.573707057876163, -0.8318071451903961, 1.3600583770312369e-08,
                     -0.4325609937259287]),
        "float64": (["1.632906427808291", "1.2830149200804764"], [(0.0, 1.45), (34.75, 35.34)],
                    [-19.19269568495185, 1.6891167521510644, -85.80635675706382,
                     5.573706311976667, -0.8318071953121212, -2.42861286636753e-16,
                     -0.43256099444468465]),
    },
    "Zen": {
        "float32": (["1.6329064309597014", "1.283014909227689"], [(0.0, 1.45), (34.75, 35.34)],
                    [-19.19269484988763, 1.6891166859559235, -85.8063647426975,
                     5.573709098665859, -0.8318071238445555, -4.9380105338059366e-08,
                     -0.4325609680272464]),
        "float64": (["1.632906427808291", "1.2830149200804766"], [(0.0, 1.45), (34.75, 35.34)],
                    [-19.19269568495185, 1.6891167521510697, -85.80635675706385,
                     5.5737063119766646, -0.8318071953121216, -2.636779683484747e-16,
                     -0.4325609944446846]),
    },
}
TUTORIAL_CODE["Haswell"] = TUTORIAL_CODE["Zen"]


@pytest.mark.slow
def test_first_epochs_print_the_tutorial_codes_numbers(tmp_path):
    """scripts/rnnslu.py with the tutorial's defaults on the same generated file prints the
    tutorial code's NEW BEST lines and mean NLLs for two epochs and ends with the same
    parameters (one OpenBLAS thread, in a fresh process; this floatX)."""
    data = atis.save_atis(tmp_path / "atis.fold3.pkl.gz", atis.make_atis_synthetic((150, 30, 30),
                                                                                   seed=5))
    script = textwrap.dedent("""
        import sys
        import dltut, numpy
        from dltut.cli.rnnslu import main
        code = main(["--dataset", %r, "--nepochs", "2", "--out", %r])
        values = numpy.load(%r)
        print("SUMS", repr([float(values[k].astype("float64").sum()) for k in sorted(values.files)
                             if k.startswith("param")]))
        sys.exit(code)
    """ % (str(tmp_path), str(tmp_path / "run"), str(tmp_path / "run" / "best_model.npz")))
    env = child_env()
    env["THEANO_FLAGS"] = ",".join(filter(None, [env.get("THEANO_FLAGS"), "floatX=" + FLOATX]))
    env["OPENBLAS_NUM_THREADS"] = env["OMP_NUM_THREADS"] = "1"
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                         text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    nlls, f1s, sums = recorded_for_these_kernels(TUTORIAL_CODE)[FLOATX]
    lines = out.stdout.splitlines()
    assert [l for l in lines if l.startswith("NEW BEST")] == [
        "NEW BEST: epoch %d valid F1 %r best test F1 %r" % (e, v, t)
        for e, (v, t) in enumerate(f1s)]
    assert [l.split(",")[0] for l in lines if l.startswith("epoch ")] == [
        "epoch %d: mean NLL %s" % (e, nll) for e, nll in enumerate(nlls)]
    got = eval(lines[-1][len("SUMS "):])
    numpy.testing.assert_allclose(got, sums, rtol=1e-12, atol=1e-15)
    assert str(data) in out.stdout or data.name in out.stdout


# ------------------------------------------------------------------------------- the script
@pytest.mark.slow
def test_script_trains_resumes_and_writes_predictions(tmp_path, capsys):
    from dltut.cli.rnnslu import main
    data = atis.save_atis(tmp_path / "toy.pkl.gz", atis.make_atis_synthetic((30, 8, 8), seed=3))
    small = ["--dataset", str(data), "--nhidden", "8", "--emb-dimension", "4", "--win", "3",
             "--lr", "0.3"]
    assert main(small + ["--nepochs", "2", "--out", str(tmp_path / "a")]) == 0
    straight = capsys.readouterr().out.splitlines()
    epochs = [l for l in straight if l.startswith("epoch ")]
    assert [l.split(":")[0] for l in epochs] == ["epoch 0", "epoch 1"]
    assert straight[1].startswith("NEW BEST: epoch 0 valid F1 ")
    assert straight[-1].startswith("BEST RESULT: epoch ")
    # stopped after one epoch and resumed: the same second epoch, the same end
    assert main(small + ["--nepochs", "1", "--out", str(tmp_path / "b")]) == 0
    capsys.readouterr()
    assert main(["--resume", str(tmp_path / "b"), "--nepochs", "2"]) == 0
    resumed = capsys.readouterr().out.splitlines()
    assert [l for l in resumed if l.startswith("epoch ")] == epochs[1:]
    assert resumed[-1].replace("/b/", "/a/") == straight[-1]
    text = (tmp_path / "b" / "best.valid.txt").read_text()
    assert text.startswith("BOS O O\n") and text.count("EOS O O\n\n") == 8


@pytest.mark.slow
def test_script_stops_below_the_smallest_learning_rate_and_stays_stopped(tmp_path, capsys):
    """With a rate of 1e-4 the first best stays the best: halved at epochs 10..13, below 1e-5
    after the fourth halving, so the run stops after epoch 13 (14 epochs of the 60); a
    resume finds it finished.  With 1e30 the run diverges."""
    from dltut.cli.rnnslu import main
    data = atis.save_atis(tmp_path / "toy.pkl.gz", atis.make_atis_synthetic((10, 4, 4), seed=3))
    small = ["--dataset", str(data), "--nhidden", "5", "--emb-dimension", "3", "--win", "3",
             "--lr", "0.0001", "--out", str(tmp_path / "r")]
    assert main(small) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [l for l in lines if "halved" in l][0].startswith(
        "epoch 10: the best is 10 epochs old: learning rate halved to 5e-05, the network set "
        "back to epoch 0's")
    assert "learning rate 6.25e-06 is below 1e-05: stopped" in lines
    assert [l for l in lines if l.startswith("epoch ") and "mean NLL" in l][-1].startswith(
        "epoch 13:")
    assert main(["--resume", str(tmp_path / "r")]) == 0
    assert "the learning rate fell below 1e-05: the run is finished" in capsys.readouterr().out
    # a rate far too large: the NLL turns NaN, the run stops in one line (exit 4)
    small[small.index("0.0001")] = "1e30"
    small[-1] = str(tmp_path / "d")
    assert main(small) == 4
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "training diverged" in err and "try a smaller --lr" in err


def test_script_refuses_bad_input_in_one_line(tmp_path, capsys):
    from dltut.cli.rnnslu import main
    (tmp_path / "bad.pkl.gz").write_bytes(b"nonsense")
    assert main(["--dataset", str(tmp_path / "bad.pkl.gz"), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "bad.pkl.gz is not a gzip file" in err
    assert not (tmp_path / "r").exists()
    assert main(["--dataset", str(tmp_path), "--fold", "7", "--out", str(tmp_path / "r")]) == 2
    assert "--fold must be one of 0, 1, 2, 3, 4, got 7" in capsys.readouterr().err
    assert main(["--win", "4", "--out", str(tmp_path / "r")]) == 2
    assert "--win must be odd" in capsys.readouterr().err


def test_data_fetch_atis_synthetic(tmp_path, capsys):
    from dltut import data
    assert data.main(["fetch", "atis-synthetic", "--dest", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "synthetic" in out and "not ATIS" in out
    train, valid, test, _ = atis.load_atis(tmp_path / atis.ATIS_SYNTHETIC_FILE)
    assert [len(s[0]) for s in (train, valid, test)] == list(atis.ATIS_SYNTHETIC_SIZES)
    (tmp_path / atis.ATIS_SYNTHETIC_FILE).write_bytes(b"broken")
    assert data.main(["fetch", "atis-synthetic", "--dest", str(tmp_path)]) == 1
    assert "--force" in capsys.readouterr().err
    assert data.main(["fetch", "atis-synthetic", "--dest", str(tmp_path), "--force",
                      "--quiet"]) == 0
