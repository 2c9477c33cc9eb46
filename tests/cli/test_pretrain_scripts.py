"""End-to-end tests of scripts/dA.py, cA.py, SdA.py and logistic_cg.py (and plot_run.py on
their run folders), through their ``main(argv)`` on a tiny synthetic dataset (200/60/60
examples of 784 features).  What they write is checked against independent references: the
printed lines against the records, the saved layers against a numpy reconstruction cost, a
resumed run against a straight one.  The slow tests run the tutorial's defaults on the real
MNIST for an epoch and compare the printed numbers with those the tutorial's own code
printed on this machine (float32)."""
import json
import re
import shutil
import subprocess
import sys

import dltut  # noqa: F401  (first: Theano set-up before anything imports theano)
import numpy
import pytest
import theano

from dltut.data import load_dataset
from dltut.runs import checkpoint as ckpt
from dltut.runs import rundir

from _cli import SCRIPTS, call, lines_of, read_json, recorded_for_these_kernels, \
    tutorial_numerics_env, write_dataset

TINY_BATCHES = 200 // 20
DA_LINE = re.compile(r"^Training epoch (\d+), cost (\d+\.\d+)$")
SDA_LINE = re.compile(r"^Pre-training layer (\d+), epoch (\d+), cost (\d+\.\d{6})$")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "tiny.pkl.gz"
    write_dataset(path)
    return path


@pytest.fixture(scope="module")
def da_run(dataset, tmp_path_factory):
    """A tiny dA.py run: two dAs (0 % and 30 %), 2 epochs each; (folder, stdout)."""
    run_dir = tmp_path_factory.mktemp("dA") / "run"
    code, out, err = call("dA", ["--dataset", dataset, "--out", run_dir, "--n-hidden", 16,
                                 "--training-epochs", 2, "--corruption-level", 0, 0.3])
    assert code == 0, err
    return run_dir, out


@pytest.fixture(scope="module")
def sda_run(dataset, tmp_path_factory):
    """A tiny SdA.py run: 12-8 hidden units, 2 pre-training and 3 fine-tuning epochs."""
    run_dir = tmp_path_factory.mktemp("SdA") / "run"
    code, out, err = call("SdA", ["--dataset", dataset, "--out", run_dir,
                                  "--hidden-layers-sizes", 12, 8, "--corruption-levels", 0.1, 0.2,
                                  "--pretraining-epochs", 2, "--training-epochs", 3,
                                  "--batch-size", 20, "--pretrain-lr", 0.01])
    assert code == 0, err
    return run_dir, out


def records(run_dir, name=rundir.PRETRAINING_HISTORY):
    with open(str(run_dir / name)) as handle:
        return [json.loads(line) for line in handle if line.strip()]


def sigmoid(z):
    return 1.0 / (1.0 + numpy.exp(-z))


def test_dA_trains_one_dA_per_level_and_draws_their_filters(da_run, dataset):
    run_dir, out = da_run
    printed = [DA_LINE.match(line) for line in lines_of(out) if line.startswith("Training epoch")]
    assert [int(m.group(1)) for m in printed] == [0, 1, 0, 1]
    saved = records(run_dir)
    assert [(r["name"], r["epoch"]) for r in saved] == [
        ("corruption 0%", 1), ("corruption 0%", 2), ("corruption 30%", 1), ("corruption 30%", 2)]
    # the printed cost is the record's, to the last digit
    assert [float(m.group(2)) for m in printed] == [r["cost"] for r in saved]
    for name in ("filters_corruption_0.png", "filters_corruption_30.png",
                 rundir.PRETRAINING_CURVES, rundir.SUMMARY, rundir.CONFIG,
                 rundir.PRETRAINING_CHECKPOINT, rundir.layer_file(0), rundir.layer_file(1)):
        assert (run_dir / name).is_file(), name
    assert "Training complete" in lines_of(out)[-1]
    # the uncorrupted dA's last epoch cost is close to its saved parameters' cost on the data
    (W, b, bp), meta = ckpt.load_params(run_dir / rundir.layer_file(0))
    assert meta["name"] == "corruption 0%" and meta["epochs"] == 2
    (train_x, _), _, _ = load_dataset(str(dataset))
    x = train_x.astype(numpy.float64)
    z = sigmoid(sigmoid(x.dot(W) + b).dot(W.T) + bp)
    cost = -numpy.mean(numpy.sum(x * numpy.log(z) + (1 - x) * numpy.log(1 - z), axis=1))
    assert cost <= saved[1]["cost"] * 1.02   # parameters after the epoch, costs during it
    # both dAs start from the same weights and stream; the corruption sets them apart
    (W30, _, _), _ = ckpt.load_params(run_dir / rundir.layer_file(1))
    assert W30.shape == W.shape and not numpy.array_equal(W30, W)


def test_cA_resumed_with_more_epochs_equals_a_straight_run(dataset, tmp_path):
    flags = ["--dataset", dataset, "--n-hidden", 8, "--batch-size", 20]
    code, out, err = call("cA", flags + ["--out", tmp_path / "straight", "--training-epochs", 2])
    assert code == 0, err
    line = [l for l in lines_of(out) if l.startswith("Training epoch 1")][0]
    assert re.match(r"^Training epoch 1, reconstruction cost \d+\.\d+ jacobian norm \d+\.\d+$", line)
    code, _, err = call("cA", flags + ["--out", tmp_path / "resumed", "--training-epochs", 1])
    assert code == 0, err
    code, out, err = call("cA", ["--resume", tmp_path / "resumed", "--training-epochs", 2])
    assert code == 0, err
    assert "resumed from" in out
    a, b = records(tmp_path / "straight"), records(tmp_path / "resumed")
    strip = lambda rs: [{k: v for k, v in r.items() if k != "elapsed"} for r in rs]  # noqa: E731
    assert strip(a) == strip(b) and len(a) == 2
    for name in (rundir.layer_file(0),):
        va, _ = ckpt.load_params(tmp_path / "straight" / name)
        vb, _ = ckpt.load_params(tmp_path / "resumed" / name)
        for x, y in zip(va, vb):
            numpy.testing.assert_array_equal(x, y)


def test_SdA_pretrains_each_layer_then_finetunes(sda_run):
    run_dir, out = sda_run
    lines = lines_of(out)
    pre = [SDA_LINE.match(l).groups() for l in lines if l.startswith("Pre-training layer")]
    assert [(int(a), int(b)) for a, b, _ in pre] == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert [float(c) for _, _, c in pre] == [round(r["cost"], 6) for r in records(run_dir)]
    assert lines.index("... finetunning the model") > lines.index("... pre-training the model")
    assert sum(1 for l in lines if re.match(r"^epoch \d+, minibatch 10/10, validation error", l)) == 3
    assert lines[-1].startswith("Optimization complete")
    summary = read_json(run_dir / rundir.SUMMARY)
    assert summary["epochs"] == 3 and summary["pretraining"]["epochs"] == [2, 2]
    # the best model is the fine-tuned MLP: predict.py reads it
    code, out, err = call("predict", [run_dir, "--test-index", 0, 1])
    assert code == 0, err
    assert out.count("class") >= 2
    # the pretrained first layer is the start of fine-tuning: its saved layer file differs
    # from the fine-tuned best model, which began from it
    layer0, _ = ckpt.load_params(run_dir / rundir.layer_file(0))
    best, meta = ckpt.load_params(run_dir / rundir.BEST_MODEL)
    assert meta["model"]["activation"] == "sigmoid" and best[0].shape == layer0[0].shape
    code, out, err = call("plot_run", [run_dir])
    assert code == 0, err
    for name in (rundir.PRETRAINING_CURVES, "filters_layer_0.png", rundir.CURVES, rundir.FILTERS):
        assert (run_dir / name).is_file(), name
    assert not (run_dir / "filters_layer_1.png").exists()  # layer 1 sees features, not images


def test_logistic_cg_prints_a_validation_line_per_iteration(dataset, tmp_path):
    run_dir = tmp_path / "run"
    code, out, err = call("logistic_cg", ["--dataset", dataset, "--out", run_dir,
                                          "--n-epochs", 3, "--batch-size", 20])
    assert code == 0, err
    lines = lines_of(out)
    validations = [l for l in lines if l.startswith("validation error")]
    history = [json.loads(l) for l in open(str(run_dir / rundir.HISTORY))]
    assert validations == ["validation error %f %%" % (r["validation_error"] * 100) for r in history]
    assert 1 <= len(validations) <= 3
    summary = read_json(run_dir / rundir.SUMMARY)
    assert summary["best_validation_error"] == min(r["validation_error"] for r in history)
    code, out, err = call("predict", [run_dir, "--test-index", 0])
    assert code == 0, err


@pytest.mark.parametrize("script, argv, pattern", [
    ("SdA", ["--hidden-layers-sizes", 4, 4, "--corruption-levels", 0.1],
     r"one level per hidden layer: 2 layers \(4 4\), 1 levels \(0\.1\)"),
    ("dA", ["--corruption-level", 1.5], r"--corruption-level: must be in \[0, 1\], got 1\.5"),
    ("dA", ["--corruption-level", 0.3, 0.30], "gives a level twice"),
    ("cA", ["--contraction-level", -1], r"--contraction-level: must be >= 0, got -1"),
    ("cA", ["--jacobian", "fast"], r"--jacobian: invalid choice: 'fast'; choose one of "
                                   r"'tutorial', 'factorised'"),
    ("SdA", ["--batch-one", "gemv", "--batch-size", 20],
     r"^SdA\.py: error: --batch-one gemv needs --batch-size 1, got --batch-size 20; use "
     r"--batch-size 1, or drop --batch-one gemv$"),
    ("logistic_cg", ["--n-epochs", 0], "must be a positive integer"),
    ("cA", ["--batch-size", 500], "larger than the training set"),
])
def test_bad_settings_are_one_line_and_exit_2(script, argv, pattern, dataset, tmp_path):
    code, out, err = call(script, ["--dataset", dataset, "--out", tmp_path / "run"] + argv)
    assert code == 2, (out, err)
    assert len(lines_of(err)) == 1 and re.search(pattern, err), err
    assert "Traceback" not in err


def test_resuming_under_another_floatX_is_one_line_naming_the_flag(da_run, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(str(da_run[0]), str(run_dir))
    config = read_json(run_dir / rundir.CONFIG)
    assert config["numerics"]["floatX"] == theano.config.floatX
    other = "float64" if theano.config.floatX == "float32" else "float32"
    config["numerics"]["floatX"] = other
    (run_dir / rundir.CONFIG).write_text(json.dumps(config))
    code, out, err = call("dA", ["--resume", run_dir])
    assert code == 2, (out, err)
    assert len(lines_of(err)) == 1 and "Traceback" not in err, err
    assert "was trained with floatX=%s" % other in err and \
        "THEANO_FLAGS=floatX=%s" % other in err, err


def test_resuming_a_finished_dA_run_with_more_epochs_is_refused(da_run, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(str(da_run[0]), str(run_dir))
    code, out, err = call("dA", ["--resume", run_dir, "--training-epochs", 3])
    assert code == 2 and "same number of epochs" in err, err
    code, out, err = call("dA", ["--resume", run_dir, "--learning-rate", 0.5])
    assert code == 2 and "--learning-rate 0.5 differs from the run's 0.1" in err, err
    code, out, err = call("SdA", ["--resume", run_dir])
    assert code == 2 and "holds a dA run" in err, err


def test_resuming_a_finished_SdA_run_trains_nothing(sda_run, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(str(sda_run[0]), str(run_dir))
    before, _ = ckpt.load_params(run_dir / rundir.BEST_MODEL)
    history = (run_dir / rundir.HISTORY).read_text()
    code, out, err = call("SdA", ["--resume", run_dir])
    assert code == 0, err
    assert "pre-training is done" in out and "already finished" in out
    after, _ = ckpt.load_params(run_dir / rundir.BEST_MODEL)
    for a, b in zip(before, after):
        numpy.testing.assert_array_equal(a, b)
    assert (run_dir / rundir.HISTORY).read_text() == history


GEMV_LINE = "... each minibatch given as a row (--batch-one gemv)"


@pytest.mark.slow   # three runs of the script (15-40 s); what it checks does not depend on floatX
def test_SdA_batch_one_gemv_is_kept_by_a_resumed_run(dataset, tmp_path):
    """--batch-one gemv is saved in config.json and a resumed run keeps it (built again on a
    row, so it says so); giving the other value on resume is refused."""
    run_dir = tmp_path / "run"
    code, out, err = call("SdA", ["--dataset", dataset, "--out", run_dir, "--batch-one", "gemv",
                                  "--hidden-layers-sizes", 6, "--corruption-levels", 0.1,
                                  "--pretraining-epochs", 1, "--training-epochs", 1,
                                  "--batch-size", 1])
    assert code == 0, err
    assert GEMV_LINE in out
    assert read_json(run_dir / rundir.CONFIG)["args"]["batch_one"] == "gemv"
    code, out, err = call("SdA", ["--resume", run_dir, "--training-epochs", 2])
    assert code == 0, err
    assert GEMV_LINE in out and "resumed from" in out
    assert read_json(run_dir / rundir.SUMMARY)["epochs"] == 2
    assert read_json(run_dir / rundir.CONFIG)["args"]["batch_one"] == "gemv"
    code, out, err = call("SdA", ["--resume", run_dir, "--batch-one", "gemm"])
    assert code == 2 and '--batch-one "gemm" differs from the run\'s "gemv"' in err, err


def test_an_SdA_run_folder_from_before_batch_one_resumes_with_the_default(sda_run, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(str(sda_run[0]), str(run_dir))
    config = read_json(run_dir / rundir.CONFIG)
    assert config["args"].pop("batch_one") == "gemm"
    (run_dir / rundir.CONFIG).write_text(json.dumps(config))
    code, out, err = call("SdA", ["--resume", run_dir])
    assert code == 0, err
    assert "already finished" in out and GEMV_LINE not in out


# ------------------------------------------------------------------ real MNIST (slow)
#: What the tutorial's own code printed for its first epochs, in float32 with one OpenBLAS
#: thread, from lisa-lab/DeepLearningTutorials (dA.py unchanged; see RESULTS.md for the other
#: scripts), by OpenBLAS kernel set: SkylakeX on an AVX-512 machine; Zen and Haswell (the same
#: figures) on an AMD EPYC with AVX2 only, ``test_dA(training_epochs=1)`` (2026-12-07).
TUTORIAL_DA_EPOCH_0 = {
    "SkylakeX": {"corruption 0%": "63.28916908111572", "corruption 30%": "81.76498562164306"},
    "Zen": {"corruption 0%": "63.28916905670166", "corruption 30%": "81.76498559417725"},
}
TUTORIAL_DA_EPOCH_0["Haswell"] = TUTORIAL_DA_EPOCH_0["Zen"]


@pytest.mark.slow
@pytest.mark.realdata
def test_dA_first_epoch_prints_the_tutorials_numbers(tmp_path, mnist_path):
    if theano.config.floatX != "float32":
        pytest.skip("the tutorial's numbers were printed in float32")
    expected = recorded_for_these_kernels(TUTORIAL_DA_EPOCH_0)
    path = mnist_path
    # in a process of its own with one OpenBLAS thread, as the tutorial's code ran: with two,
    # OpenBLAS sums the products otherwise and the costs differ in their ninth digit
    env = tutorial_numerics_env()
    done = subprocess.run([sys.executable, str(SCRIPTS / "dA.py"), "--dataset", str(path),
                           "--out", str(tmp_path / "run"), "--training-epochs", "1"],
                          env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr
    printed = [line for line in lines_of(done.stdout) if line.startswith("Training epoch 0")]
    assert printed == ["Training epoch 0, cost %s" % expected[name]
                       for name in ("corruption 0%", "corruption 30%")]


# ------------------------------------------------------------------ reproduce.py on these runs
def test_reproduce_reports_pretraining_runs_and_checks_them_against_the_tutorials_code(
        da_run, sda_run, tmp_path, monkeypatch):
    from _cli import script
    reproduce = script("reproduce")
    runs = tmp_path / "runs"
    done = runs / "dA-mnist"
    shutil.copytree(str(da_run[0]), str(done))
    saved = records(done)
    # the tutorial's code "printed" these run's numbers but one
    points = {(r["name"], r["epoch"], "cost"): repr(r["cost"]) for r in saved}
    points[("corruption 30%", 2, "cost")] = "1.0"
    monkeypatch.setitem(reproduce.ORIGINAL_CODE_CURVES, ("dA", "mnist"),
                        dict(fmt="repr", source="a test", points=points))
    check = "\n".join(reproduce.original_code_check("dA", "mnist", str(done)))
    assert "1 of the 4 compared figures differ" in check, check
    assert "| corruption 0%% | 1 | cost | %r | %r |" % (saved[0]["cost"], saved[0]["cost"]) in check
    # an SdA stopped in its second layer's pre-training: where it stands
    partial = runs / "SdA-mnist"
    shutil.copytree(str(sda_run[0]), str(partial))
    state, meta = ckpt.load_checkpoint(partial / rundir.PRETRAINING_CHECKPOINT)
    state["state"].update(layer=1, epoch=0, minibatch_index=3, stopped_by="interrupted")
    state["costs"] = [numpy.zeros(3, dtype=theano.config.floatX)]
    ckpt.save_checkpoint(partial / rundir.PRETRAINING_CHECKPOINT, state, meta)
    for name in (rundir.SUMMARY, rundir.CHECKPOINT):
        (partial / name).unlink()
    assert reproduce.progress(str(partial)) == (
        "in progress, resumable: pre-training layer 1 (2 of 2), 0 of 2 epochs done, "
        "3 minibatches into the next")
    reproduce.report(str(runs), str(tmp_path / "RESULTS.md"), "float64")
    text = (tmp_path / "RESULTS.md").read_text()
    row = [line for line in text.splitlines() if line.startswith("| dA | mnist |")][0]
    assert "corruption 0%%: cost %.4f" % saved[1]["cost"] in row and "| 2 + 2, n_epochs |" in row
    assert "| SdA | mnist | 1.39 % / 1.3 %" in text and "pre-training layer 1 (2 of 2)" in text
    for image in ("dA-mnist-pretraining.png", "dA-mnist-filters_corruption_30.png"):
        assert (tmp_path / "results" / image).is_file(), image
        assert "](results/%s)" % image in text
