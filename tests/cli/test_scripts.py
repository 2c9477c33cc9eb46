"""End-to-end tests of the command-line scripts in ``scripts/``.

The three training scripts (``logistic_sgd.py``, ``mlp.py``, ``convolutional_mlp.py``), ``predict.py``
and ``plot_run.py`` are run through their ``main(argv)`` on a tiny synthetic dataset written to a
temporary ``.pkl.gz`` (200/60/60 examples of 784 features), so each run takes seconds.  What they
write is checked against independent references: a numpy forward pass over the saved parameters,
a straight run for a resumed one, the history file for the summary.

Runs that need a fresh process (``--device cuda``, whose choice must precede ``import theano``; a
Ctrl-C) start the script with the interpreter running the tests.  The slow tests train on the real
MNIST for one epoch and are skipped when ``data/mnist.pkl.gz`` is absent.
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import types

import dltut  # noqa: F401  (first: Theano set-up before anything imports theano)
import numpy
import pytest

from dltut.data import load_dataset
from dltut.runs.checkpoint import load_arrays, load_params

from _cli import (SCRIPTS, TINY_SIZES, call, child_env, lines_of, read_history,
                  read_json, script, train_argv, write_dataset)
from _processes import lines_in, running, stop, wait_for

TRAINING_SCRIPTS = ("logistic_sgd", "mlp", "convolutional_mlp")
RUN_FILES = ("config.json", "history.jsonl", "best_model.npz", "checkpoint.npz", "summary.json")

TINY_BATCHES_PER_EPOCH = TINY_SIZES[0] // 20

#: The tutorial's per-validation log line.
LOG_LINE = re.compile(r"^epoch \d+, minibatch \d+/\d+, validation error \d+\.\d{6} %$", re.M)
#: One line of predict.py: "test[3]: class 7, probability 0.9812, true class 7".
PREDICT_LINE = re.compile(r"^(?P<label>.+?): class (?P<cls>\d+)(?: \([^)]*\))?, "
                          r"probability (?P<p>\d+\.\d+)(?:, true class (?P<truth>\d+))?")
#: predict.py prints probabilities with 4 decimals: this is their rounding plus float slack.
PRINTED_P_ATOL = 5.1e-5


# ------------------------------------------------------------------------------ helpers
def softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    e = numpy.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def numpy_forward(values, x):
    """softmax(... tanh(x W0 + b0) ... W_out + b_out) in float64: logistic regression or tanh MLP."""
    params = [numpy.asarray(v, dtype=numpy.float64) for v in values]
    assert len(params) % 2 == 0, "expected (W, b) pairs, got %d arrays" % len(params)
    h = numpy.asarray(x, dtype=numpy.float64)
    for W, b in zip(params[0:-2:2], params[1:-2:2]):
        h = numpy.tanh(h.dot(W) + b)
    return softmax(h.dot(params[-2]) + params[-1])


def parse_predictions(stdout):
    """``{label: (class, probability, true class or None)}`` from predict.py's output."""
    found = {}
    for line in stdout.splitlines():
        match = PREDICT_LINE.match(line)
        if match:
            truth = match.group("truth")
            found[match.group("label")] = (int(match.group("cls")), float(match.group("p")),
                                           None if truth is None else int(truth))
    return found


def arrays_of(path):
    arrays, _ = load_arrays(path)
    return arrays


def assert_same_arrays(a_path, b_path):
    a, b = arrays_of(a_path), arrays_of(b_path)
    assert sorted(a) == sorted(b), "%s and %s hold different arrays" % (a_path, b_path)
    for key in a:
        numpy.testing.assert_array_equal(a[key], b[key], err_msg="%s differs" % key)


# ------------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A tiny synthetic dataset file: ``.path`` (the .pkl.gz), ``.splits`` (what it holds)."""
    folder = tmp_path_factory.mktemp("tiny")
    path = folder / "tiny.pkl.gz"
    return types.SimpleNamespace(path=path, splits=write_dataset(path), folder=folder)


@pytest.fixture(scope="module")
def trained(tiny):
    """``trained(name)``: a quiet 2-epoch run of a training script (made once per module)."""
    runs = {}

    def get(name):
        if name not in runs:
            run_dir = tiny.folder / ("run-" + name)
            code, out, err = call(name, train_argv(name, tiny.path, run_dir,
                                                   "--n-epochs", 2, "--quiet"))
            runs[name] = types.SimpleNamespace(dir=run_dir, code=code, out=out, err=err)
        run = runs[name]
        assert run.code == 0, "%s failed (exit %s): %s" % (name, run.code, run.err)
        return run
    return get


# ------------------------------------------------------------------------------ training runs
@pytest.mark.parametrize("name", TRAINING_SCRIPTS)
def test_training_run_writes_a_sane_run_folder(name, trained):
    run = trained(name)
    for filename in RUN_FILES:
        assert (run.dir / filename).is_file(), "%s missing from the run folder" % filename
    assert "Traceback" not in run.err

    # --quiet: no per-validation lines, and the last line is the tutorial's final one
    assert not LOG_LINE.search(run.out), run.out
    printed = lines_of(run.out)
    assert printed and printed[-1].startswith("Optimization complete"), run.out

    history = read_history(run.dir)
    # default validation frequency: once per epoch (a whole epoch is fewer minibatches than
    # patience // 2), so two epochs make two records
    assert len(history) == 2
    for record in history:
        for key in ("iteration", "epoch", "validation_error", "learning_rate", "train_cost"):
            assert key in record, "history record lacks %r: %s" % (key, record)
        assert 0.0 <= record["validation_error"] <= 1.0
    assert [r["epoch"] for r in history] == [1, 2]
    assert [r["iteration"] for r in history] == [TINY_BATCHES_PER_EPOCH, 2 * TINY_BATCHES_PER_EPOCH]

    summary = read_json(run.dir / "summary.json")
    assert summary["epochs"] == 2
    assert summary["iterations"] == 2 * TINY_BATCHES_PER_EPOCH
    assert summary["stopped_by"] == "n_epochs"
    assert 1 <= summary["best_epoch"] <= 2
    for key in ("best_validation_error", "best_validation_error_all", "test_error",
                "test_error_all"):
        assert 0.0 <= summary[key] <= 1.0, (key, summary[key])
    assert summary["best_validation_error"] == min(r["validation_error"] for r in history)
    best = [r for r in history if r["iteration"] == summary["best_iteration"]]
    assert len(best) == 1 and best[0]["epoch"] == summary["best_epoch"]
    assert best[0]["test_error"] == summary["test_error"]

    config = read_json(run.dir / "config.json")
    assert config["experiment"] == name
    assert config["args"]["n_epochs"] == 2

    values, meta = load_params(run.dir / "best_model.npz")
    assert meta["model"]["name"] in ("LogisticRegression", "MLP", "LeNet5")
    ckpt_arrays, ckpt_meta = load_arrays(run.dir / "checkpoint.npz")
    assert ckpt_meta["state"]["epoch"] == 2
    assert len([k for k in ckpt_arrays if k.startswith("param_")]) == len(values)


@pytest.mark.parametrize("name", TRAINING_SCRIPTS)
def test_training_run_prints_the_tutorial_log_without_quiet(name, tiny, tmp_path):
    run_dir = tmp_path / "run"
    code, out, err = call(name, train_argv(name, tiny.path, run_dir, "--n-epochs", 1,
                                           "--validation-frequency", 5))
    assert code == 0, err
    logged = LOG_LINE.findall(out)
    assert len(logged) == 2, out  # minibatches 5/10 and 10/10 of the one epoch
    assert "epoch 1, minibatch 5/%d, validation error" % TINY_BATCHES_PER_EPOCH in out
    assert len(logged) == len(read_history(run_dir))
    assert lines_of(out)[-1].startswith("Optimization complete"), out


# ------------------------------------------------------------------------------ predict.py
@pytest.mark.parametrize("name", ("logistic_sgd", "mlp"))
def test_predict_test_index_matches_a_numpy_forward_pass(name, trained, tiny):
    run = trained(name)
    indices = [0, 1, 2, 7, TINY_SIZES[2] - 1]
    code, out, err = call("predict", [run.dir, "--test-index"] + indices)
    assert code == 0, err
    printed = parse_predictions(out)
    assert sorted(printed) == sorted("test[%d]" % i for i in indices), out

    values, _ = load_params(run.dir / "best_model.npz")
    assert values[0].shape[0] == 784
    test_x, test_y = tiny.splits[2]
    expected = numpy_forward(values, test_x[indices])
    for row, index in enumerate(indices):
        cls, p, truth = printed["test[%d]" % index]
        assert cls == int(numpy.argmax(expected[row])), (index, out)
        assert abs(p - expected[row].max()) <= PRINTED_P_ATOL, (index, p, expected[row].max())
        assert truth == int(test_y[index])

    # the full probability vectors, through predict.py's own model loader
    predict, _, _ = script("predict").load_model(str(run.dir))
    import theano
    got = predict(numpy.asarray(test_x[indices], dtype=theano.config.floatX))
    numpy.testing.assert_allclose(got, expected, rtol=0, atol=1e-5)


def test_predict_reads_png_either_way_round(trained, tiny, tmp_path):
    from PIL import Image
    run = trained("logistic_sgd")
    test_x, _ = tiny.splits[2]
    # a test example as an 8-bit 28x28 picture, light strokes on a dark (black) border
    light = numpy.clip(numpy.floor(test_x[3].reshape(28, 28) * 256.0), 0, 255).astype(numpy.uint8)
    light[:2, :] = light[-2:, :] = 0
    light[:, :2] = light[:, -2:] = 0
    dark = 255 - light  # dark ink on white paper
    Image.fromarray(light, mode="L").save(str(tmp_path / "light.png"))
    Image.fromarray(dark, mode="L").save(str(tmp_path / "dark.png"))

    code, out, err = call("predict", [run.dir, tmp_path / "light.png", tmp_path / "dark.png",
                                      "--invert", "auto", "--fit", "resize"])
    assert code == 0, err
    printed = parse_predictions(out)
    light_cls, light_p, _ = printed[str(tmp_path / "light.png")]
    dark_cls, dark_p, _ = printed[str(tmp_path / "dark.png")]

    values, _ = load_params(run.dir / "best_model.npz")
    # the ink as dltut.preprocess defines it: a black background has nothing to remove, and
    # the strongest ink (99th percentile of the inked pixels) is stretched to 1; a 28x28
    # picture resized to 28x28 is unchanged
    ink = light.astype(numpy.float64) / 255.0
    ink = numpy.clip(ink / numpy.percentile(ink[ink > 0], 99.0), 0.0, 1.0)
    expected = numpy_forward(values, ink.reshape(1, -1))[0]
    assert light_cls == dark_cls == int(numpy.argmax(expected)), out
    assert abs(light_p - expected.max()) <= PRINTED_P_ATOL
    assert abs(dark_p - expected.max()) <= PRINTED_P_ATOL


# ------------------------------------------------------------------------------ resume
def test_resume_continues_to_the_same_parameters_as_a_straight_run(tiny, tmp_path):
    flags = ["--quiet", "--validation-frequency", 5]
    resumed, straight = tmp_path / "resumed", tmp_path / "straight"
    code, _, err = call("mlp", train_argv("mlp", tiny.path, resumed, "--n-epochs", 2, *flags))
    assert code == 0, err
    assert len(read_history(resumed)) == 2 * 2  # two validations an epoch

    code, out, err = call("mlp", ["--resume", resumed, "--n-epochs", 4, "--quiet"])
    assert code == 0, err
    assert lines_of(out)[-1].startswith("Optimization complete")
    assert "numerics" not in err  # same BLAS, threads and floatX: nothing to warn about
    code, _, err = call("mlp", train_argv("mlp", tiny.path, straight, "--n-epochs", 4, *flags))
    assert code == 0, err

    history, reference = read_history(resumed), read_history(straight)
    assert len(history) == 4 * 2
    assert [r["epoch"] for r in history] == [1, 1, 2, 2, 3, 3, 4, 4]
    drop = ("elapsed",)  # wall-clock seconds differ, everything else must not
    assert ([{k: v for k, v in r.items() if k not in drop} for r in history]
            == [{k: v for k, v in r.items() if k not in drop} for r in reference])
    summary = read_json(resumed / "summary.json")
    assert summary["epochs"] == 4
    assert read_json(resumed / "config.json")["args"]["n_epochs"] == 4
    assert_same_arrays(resumed / "best_model.npz", straight / "best_model.npz")
    assert_same_arrays(resumed / "checkpoint.npz", straight / "checkpoint.npz")


def test_resume_under_other_blas_threads_says_so(tiny, tmp_path, monkeypatch):
    from dltut.runtime import info
    run_dir = tmp_path / "run"
    code, _, err = call("logistic_sgd", train_argv("logistic_sgd", tiny.path, run_dir,
                                                   "--n-epochs", 1, "--quiet"))
    assert code == 0, err
    saved = read_json(run_dir / "config.json")["numerics"]
    assert saved == info.numerics() and saved["floatX"] in ("float32", "float64")

    other = dict(saved, blas_threads=(saved["blas_threads"] or 1) + 7)
    monkeypatch.setattr(info, "numerics", lambda: dict(other))
    code, _, err = call("logistic_sgd", ["--resume", run_dir, "--n-epochs", 2, "--quiet"])
    assert code == 0, err
    notes = [line for line in lines_of(err) if "numerics" in line]
    assert notes == ["logistic_sgd.py: " + info.numerics_change(saved, other)], err
    assert "blas_threads %s -> %s" % (saved["blas_threads"], other["blas_threads"]) in notes[0]
    assert read_json(run_dir / "summary.json")["epochs"] == 2


# ------------------------------------------------------------------------------ snapshots, plots
def test_save_every_and_plot_run_snapshots(tiny, tmp_path):
    from PIL import Image
    run_dir = tmp_path / "run"
    code, _, err = call("logistic_sgd", train_argv("logistic_sgd", tiny.path, run_dir,
                                                   "--n-epochs", 2, "--save-every", 1, "--quiet"))
    assert code == 0, err
    snapshots = sorted(os.listdir(str(run_dir / "snapshots")))
    assert snapshots == ["epoch_0001.npz", "epoch_0002.npz"]
    first, _ = load_params(run_dir / "snapshots" / "epoch_0001.npz")
    last, _ = load_params(run_dir / "snapshots" / "epoch_0002.npz")
    final = arrays_of(run_dir / "checkpoint.npz")
    numpy.testing.assert_array_equal(last[0], final["param_000"])  # epoch 2 = the last state
    assert not numpy.array_equal(first[0], last[0])

    code, out, err = call("plot_run", [run_dir, "--snapshots"])
    assert code == 0, err
    for filename in ("learning_curves.png", "filters.png", "filters_epoch_0001.png",
                     "filters_epoch_0002.png"):
        path = run_dir / filename
        assert path.is_file() and path.stat().st_size > 0, "%s not written" % filename
        with Image.open(str(path)) as image:
            image.load()
            assert image.format == "PNG" and image.size[0] > 0 and image.size[1] > 0


# ------------------------------------------------------------------------------ bad input
# Bad flags, datasets, run folders, images and faults: tests/test_faults.py.


# ------------------------------------------------------------------------------ subprocesses
def _gpu_usable():
    from dltut.runtime import device
    ok, _ = device.gpu_preflight("cuda")
    return ok


def test_device_cuda_falls_back_to_the_cpu_with_one_warning(tiny, tmp_path):
    if _gpu_usable():
        pytest.skip("a CUDA GPU is usable here: there is no fallback to test")
    run_dir = tmp_path / "run"
    done = subprocess.run(
        [sys.executable, str(SCRIPTS / "logistic_sgd.py"), "--device", "cuda"]
        + train_argv("logistic_sgd", tiny.path, run_dir, "--n-epochs", 1, "--quiet"),
        cwd=str(tmp_path), env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        universal_newlines=True, timeout=600)
    assert done.returncode == 0, done.stderr
    warnings = lines_of(done.stderr)
    assert len(warnings) == 1, done.stderr
    assert "GPU" in warnings[0] and "unavailable" in warnings[0], done.stderr
    assert "Traceback" not in done.stderr
    assert lines_of(done.stdout)[-1].startswith("Optimization complete"), done.stdout
    assert read_json(run_dir / "config.json")["theano_flags"]["device"] == "cpu"
    assert read_json(run_dir / "summary.json")["epochs"] == 1


def test_require_gpu_without_a_gpu_exits_3(tiny, tmp_path):
    if _gpu_usable():
        pytest.skip("a CUDA GPU is usable here: --require-gpu would succeed")
    done = subprocess.run(
        [sys.executable, str(SCRIPTS / "logistic_sgd.py"), "--device", "cuda", "--require-gpu"]
        + train_argv("logistic_sgd", tiny.path, tmp_path / "run", "--n-epochs", 1, "--quiet"),
        cwd=str(tmp_path), env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        universal_newlines=True, timeout=600)
    assert done.returncode == 3, (done.returncode, done.stderr)
    errors = lines_of(done.stderr)
    assert len(errors) == 1, done.stderr
    assert "error" in errors[0].lower() and "GPU" in errors[0], done.stderr
    assert "Traceback" not in done.stderr


def test_ctrl_c_writes_a_checkpoint_that_resumes(tiny, tmp_path):
    run_dir = tmp_path / "run"
    history = run_dir / "history.jsonl"
    out_path, err_path = tmp_path / "stdout.txt", tmp_path / "stderr.txt"
    # batch size 1: a couple of hundred minibatches an epoch, and far more epochs than the test
    # waits for, so the run is certainly still going when it is interrupted
    argv = ["--dataset", tiny.path, "--out", run_dir, "--batch-size", 1, "--n-hidden", 10,
            "--learning-rate", "0.01", "--n-epochs", 1000, "--patience", 100000, "--quiet"]
    with open(str(out_path), "w") as out, open(str(err_path), "w") as err, \
            running([sys.executable, SCRIPTS / "mlp.py"] + argv, cwd=tmp_path, env=child_env(),
                    stdout=out, stderr=err) as process:
        wait_for(process, lambda: lines_in(history) >= 2, 300, "2 validations",
                 output=err_path.read_text, poll=0.05)
        stop(process, signal.SIGINT, timeout=120)
    code = process.returncode
    stderr = err_path.read_text()
    assert code == 130, (code, stderr)
    assert "Traceback" not in stderr
    assert "--resume" in stderr and str(run_dir) in stderr, stderr

    arrays, meta = load_arrays(run_dir / "checkpoint.npz")
    assert meta["state"]["stopped_by"] == "interrupted"
    epoch = meta["state"]["epoch"]
    assert epoch >= 2
    assert len([k for k in arrays if k.startswith("param_")]) == 4  # W, b of two layers
    before = read_history(run_dir)
    assert len(before) >= 2 and before == meta["history"]
    assert read_json(run_dir / "summary.json")["stopped_by"] == "interrupted"

    # continue to the end of the next epoch
    code, out, err = call("mlp", ["--resume", run_dir, "--n-epochs", epoch + 1, "--quiet"])
    assert code == 0, err
    after = read_history(run_dir)
    assert after[:len(before)] == before
    assert len(after) > len(before) and after[-1]["epoch"] == epoch + 1
    summary = read_json(run_dir / "summary.json")
    assert summary["epochs"] == epoch + 1 and summary["stopped_by"] == "n_epochs"
    assert summary["iterations"] == (epoch + 1) * TINY_SIZES[0]

    # the interruption fell inside an epoch (batch size 1); resuming from there must walk the
    # same path as a run that was never interrupted
    straight = tmp_path / "straight"
    argv[argv.index("--out") + 1] = straight
    argv[argv.index("--n-epochs") + 1] = epoch + 1
    code, _, err = call("mlp", argv)
    assert code == 0, err
    drop = ("elapsed",)
    assert ([{k: v for k, v in r.items() if k not in drop} for r in after]
            == [{k: v for k, v in r.items() if k not in drop} for r in read_history(straight)])
    assert_same_arrays(run_dir / "checkpoint.npz", straight / "checkpoint.npz")
    assert_same_arrays(run_dir / "best_model.npz", straight / "best_model.npz")


# ------------------------------------------------------------------------------ reproduce.py
def history_record(epoch, validation, test=None):
    """One history.jsonl line as the trainer writes it (errors as fractions)."""
    return {"iteration": epoch * 100, "epoch": epoch, "minibatch": 100,
            "validation_error": validation / 100.0, "validation_error_all": validation / 100.0,
            "test_error": None if test is None else test / 100.0,
            "test_error_all": None if test is None else test / 100.0}


def write_history(folder, records):
    folder.mkdir(parents=True, exist_ok=True)
    with open(str(folder / "history.jsonl"), "w") as handle:
        handle.write("".join(json.dumps(record) + "\n" for record in records))


def finished_summary(validation, test, iteration, n=10000):
    return {"best_validation_error": validation / 100.0, "test_error": test / 100.0,
            "best_iteration": iteration, "n_valid": n, "n_test": n}


def test_reproduce_curve_check_counts_differences_in_examples(tmp_path):
    reproduce = script("reproduce")
    published = reproduce.PUBLISHED_CURVES[("mlp", "mnist")]["points"]
    records = [history_record(epoch, *published[epoch]) for epoch in (1, 2, 3, 4)]
    records[1]["test_error"] += 0.0002           # epoch 2: two more test examples wrong
    records[2]["validation_error"] -= 0.0001     # epoch 3: one fewer validation example wrong
    records[3]["test_error"] = None              # epoch 4: no new best, so no test figure
    records.insert(1, history_record(2, 50.0))   # an earlier validation of epoch 2: superseded
    write_history(tmp_path / "run", records)

    text = "\n".join(reproduce.curve_check("mlp", "mnist", str(tmp_path / "run"), 10000, 10000))
    assert ("2 of the 4 published epochs differ, by at most 2 examples; the first difference is "
            "at epoch 2" in text), text
    assert "| 1 | 9.62 % / 10.09 % | 9.62 % / 10.09 % | +0 / +0 |" in text
    assert "| 2 | 8.61 % / 8.74 % | 8.61 % / 8.76 % | +0 / +2 |" in text
    assert "| 3 | 8.00 % / 8.16 % | 7.99 % / 8.16 % | -1 / +0 |" in text
    assert "| 4 | 7.60 % / 7.79 % | 7.60 % / — | +0 |" in text
    # a run that has not reached a published epoch is not compared there; none at all: nothing
    assert "| 5 |" not in text
    assert reproduce.curve_check("logistic_sgd", "mnist", str(tmp_path / "run"), 10000, 10000) == []
    assert reproduce.curve_check("mlp", "mnist", str(tmp_path / "missing"), 10000, 10000) == []


def test_reproduce_curve_check_of_an_identical_curve(tmp_path):
    reproduce = script("reproduce")
    published = reproduce.PUBLISHED_CURVES[("convolutional_mlp", "mnist")]["points"]
    write_history(tmp_path / "run", [history_record(epoch, *published[epoch])
                                     for epoch in sorted(published)])
    text = "\n".join(reproduce.curve_check("convolutional_mlp", "mnist", str(tmp_path / "run"),
                                           10000, 10000))
    assert "all %d published epochs are equal to the printed digits" % len(published) in text


def test_reproduce_compare_explains_a_difference_against_the_published_spread():
    reproduce = script("reproduce")
    published = reproduce.PUBLISHED[("convolutional_mlp", "mnist")]
    text = reproduce.compare(published, finished_summary(0.93, 0.96, 9300))
    assert "different from the published figures" in text
    assert "iteration 9300 instead of 17800" in text
    assert "validation +2 of 10000 examples, test +4 of 10000 examples" in text
    assert "validation 0.91-0.92 %, test 0.92-0.96 %, best iteration 10900-17800" in text
    assert "outside that spread" in text
    inside = reproduce.compare(published, finished_summary(0.92, 0.93, 12000))
    assert "inside that spread" in inside and "validation +1 of 10000 examples" in inside

    same = reproduce.compare(reproduce.PUBLISHED[("logistic_sgd", "mnist")],
                             finished_summary(7.5, 7.489583, 6059))
    assert "equal to the published figures to the 6 decimals" in same
    assert same.endswith("at the same iteration (6059).")


def test_reproduce_patience_story_replays_the_stopping_rule(tmp_path):
    reproduce = script("reproduce")
    config = {"train_config": {"patience": 10, "patience_increase": 2,
                               "improvement_threshold": 0.9}}
    # (iteration, epoch, validation error): the first best is big but too early to raise
    # patience above 10; 0.4 beats 0.5 by more than 10 % at iter 7, so patience becomes 14;
    # 0.39 is a new best, but a step of under 10 %: patience stays 14
    write_history(tmp_path / "run", [
        dict(iteration=it, epoch=epoch, validation_error=error)
        for it, epoch, error in ((4, 1, 0.5), (8, 2, 0.4), (12, 3, 0.39), (15, 3, 0.5))])
    summary = {"stopped_by": "patience", "epochs": 3}
    text = reproduce.patience_story(str(tmp_path / "run"), summary, config)
    assert "by more than 10 % (improvement_threshold 0.9)" in text
    assert ("the last such improvement came at iteration 8 (epoch 2) and set patience to 14 "
            "minibatches, used up in epoch 3" in text), text

    write_history(tmp_path / "flat", [dict(iteration=4, epoch=1, validation_error=0.5)])
    assert "above its initial 10 minibatches" in reproduce.patience_story(
        str(tmp_path / "flat"), summary, config)
    # runs that stopped another way get no story
    assert reproduce.patience_story(str(tmp_path / "run"), {"stopped_by": "n_epochs",
                                                            "epochs": 3}, config) == ""


def test_reproduce_report_from_a_real_run_folder(trained, tmp_path):
    reproduce = script("reproduce")
    runs = tmp_path / "runs"
    shutil.copytree(str(trained("logistic_sgd").dir), str(runs / "logistic_sgd-mnist"))
    summary = read_json(runs / "logistic_sgd-mnist" / "summary.json")
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "notes.md").write_text("These runs were made for a test.\n")

    reproduce.report(str(runs), str(tmp_path / "RESULTS.md"), "float64")
    text = (tmp_path / "RESULTS.md").read_text()
    row = [line for line in text.splitlines() if line.startswith("| logistic_sgd | mnist |")]
    assert len(row) == 1, text
    assert "%.6f %%" % (summary["best_validation_error"] * 100) in row[0]
    assert "iteration %d, epoch %d" % (summary["best_iteration"], summary["best_epoch"]) in row[0]
    assert "| %d, n_epochs |" % summary["epochs"] in row[0]
    assert "| mlp | mnist | 1.69 % / 1.65 %, best at iteration 2,070,000 (epoch 828) | not run yet |" in text
    # the learning curve lands beside the report, not in the repository's results/
    assert (tmp_path / "results" / "logistic_sgd-mnist.png").stat().st_size > 1000
    assert "](results/logistic_sgd-mnist.png)" in text
    assert text.rstrip().endswith("## Notes on these runs\n\nThese runs were made for a test.")


# ------------------------------------------------------------------------------ real MNIST (slow)
# (the mnist_path fixture is conftest.py's)
@pytest.mark.slow
@pytest.mark.realdata
def test_logistic_sgd_one_epoch_on_mnist(mnist_path, tmp_path):
    run_dir = tmp_path / "run"
    code, out, err = call("logistic_sgd", ["--dataset", mnist_path, "--out", run_dir,
                                           "--n-epochs", 1, "--quiet"])
    assert code == 0, err
    summary = read_json(run_dir / "summary.json")
    assert summary["epochs"] == 1
    assert summary["best_validation_error"] < 0.15, summary

    indices = [0, 1, 2, 3, 4]
    code, out, err = call("predict", [run_dir, "--test-index"] + indices)
    assert code == 0, err
    printed = parse_predictions(out)
    values, _ = load_params(run_dir / "best_model.npz")
    _, _, (test_x, test_y) = load_dataset(mnist_path)
    expected = numpy_forward(values, test_x[indices])
    for row, index in enumerate(indices):
        cls, p, truth = printed["test[%d]" % index]
        assert cls == int(numpy.argmax(expected[row]))
        assert abs(p - expected[row].max()) <= PRINTED_P_ATOL
        assert truth == int(test_y[index])


@pytest.mark.slow
@pytest.mark.realdata
def test_mlp_one_epoch_on_mnist(mnist_path, tmp_path):
    run_dir = tmp_path / "run"
    code, out, err = call("mlp", ["--dataset", mnist_path, "--out", run_dir, "--n-epochs", 1,
                                  "--n-hidden", 50, "--quiet"])
    assert code == 0, err
    summary = read_json(run_dir / "summary.json")
    assert summary["epochs"] == 1
    assert summary["best_validation_error"] < 0.15, summary
    assert len(read_history(run_dir)) == 1
