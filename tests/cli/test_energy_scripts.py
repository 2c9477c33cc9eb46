"""scripts/hmc.py, scripts/rbm.py and scripts/DBN.py, end to end on small settings."""
import json
import re
import subprocess
import sys

import dltut  # noqa: F401  (Theano set-up first)
import numpy
import pytest
import theano

from _cli import call, lines_of, recorded_for_these_kernels, script, tutorial_numerics_env, \
    write_dataset
from _processes import CtrlCAt

from dltut.runs.checkpoint import load_arrays


# --------------------------------------------------------------------------- hmc.py
@pytest.mark.slow   # 15-35 s: an end-to-end run (make test's float32 slow pass)
def test_hmc_script_prints_the_tutorials_report_and_writes_its_folder(tmp_path):
    out = tmp_path / "run"
    code, stdout, stderr = call("hmc", ["--burnin", "50", "--n-samples", "40", "--out", out])
    assert code == 0, stderr
    lines = lines_of(stdout)
    for heading in ("****** TARGET VALUES ******", "****** EMPIRICAL MEAN/COV USING HMC ******",
                    "****** HMC INTERNALS ******"):
        assert heading in lines
    assert lines[-1].startswith("HMC: 120 samples of a 5-D Gaussian")
    summary = json.loads((out / "summary.json").read_text())
    arrays, meta = load_arrays(out / "samples.npz")
    assert arrays["samples"].shape == (120, 5) and meta == {"burnin": 50}
    assert len(arrays["stepsize"]) == 90
    numpy.testing.assert_allclose(summary["empirical_mean"], arrays["samples"].mean(axis=0),
                                  rtol=1e-6)
    assert summary["final_stepsize"] == pytest.approx(float(arrays["stepsize"][-1]))
    assert (out / "hmc.png").stat().st_size > 10000
    config = json.loads((out / "config.json").read_text())
    assert config["args"]["n_steps"] == 20 and config["args"]["seed"] == 12345


@pytest.mark.parametrize("argv, message", [
    (["--stepsize-min", "0.6"], "--stepsize-min 0.6 is larger than --stepsize-max 0.5"),
    (["--initial-stepsize", "0.9"], "--initial-stepsize 0.9 is outside"),
    (["--target-acceptance-rate", "1.2"], "must be in (0, 1), got 1.2"),
    (["--avg-acceptance-slowness", "1"], "--avg-acceptance-slowness must be below 1"),
    (["--dim", "0"], "must be a positive integer, got 0"),
])
def test_hmc_script_refuses_bad_settings_in_one_line(argv, message, tmp_path):
    code, stdout, stderr = call("hmc", argv + ["--out", tmp_path / "run"])
    assert code == 2 and stdout == ""
    assert len(lines_of(stderr)) == 1 and message in stderr and stderr.startswith("hmc.py: error:")
    assert not (tmp_path / "run").exists()


# --------------------------------------------------------------------------- rbm.py and DBN.py
RBM_TINY = ["--n-hidden", "10", "--k", "2", "--n-chains", "3", "--n-samples", "2",
            "--plot-every", "5", "--quiet"]
DBN_TINY = ["--hidden-layers-sizes", "12", "8", "--pretraining-epochs", "2",
            "--training-epochs", "3", "--batch-size", "20", "--quiet"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    path = tmp_path_factory.mktemp("tiny") / "tiny.pkl.gz"
    write_dataset(path)
    return path


class InterruptAt(CtrlCAt):
    """Wraps the compiled functions named ``name``: after ``at`` calls of them in all, a
    Ctrl-C (SIGINT to this process), as a user would press it."""

    def __init__(self, monkeypatch, name, at):
        super().__init__(at)
        compile_function = theano.function

        def function(*args, **kwargs):
            compiled = compile_function(*args, **kwargs)
            if not kwargs.get("name", "").startswith(name):
                return compiled
            call = self.wrap(compiled)
            call.maker = compiled.maker
            return call
        monkeypatch.setattr(theano, "function", function)


def records(path):
    with open(path) as handle:
        return [{k: v for k, v in json.loads(line).items() if k != "elapsed"}
                for line in handle if line.strip()]


def same_arrays(a, b):
    left, _ = load_arrays(a)
    right, _ = load_arrays(b)
    return sorted(left) == sorted(right) and all(numpy.array_equal(left[k], right[k]) for k in left)


@pytest.fixture(scope="module")
def rbm_straight(tiny, tmp_path_factory):
    """A run of 3 epochs: (folder, printed lines)."""
    out = tmp_path_factory.mktemp("rbm") / "straight"
    code, stdout, stderr = call("rbm", ["--dataset", tiny, "--out", out, "--training-epochs",
                                        "3"] + RBM_TINY[:-1])
    assert code == 0, stderr
    return out, lines_of(stdout)


def test_rbm_script_prints_the_tutorial_lines_and_draws_its_figures(rbm_straight):
    out, lines = rbm_straight
    history = records(out / "pretraining.jsonl")
    assert [r["epoch"] for r in history] == [1, 2, 3]
    # the tutorial's line: two spaces, the mean of the epoch's costs as numpy prints it
    first = [i for i, line in enumerate(lines) if line.startswith("Training epoch")][0]
    assert lines[first:first + 3] == ["Training epoch %d, cost is  %s" % (i, numpy.float64(r["cost"]))
                                      for i, r in enumerate(history)]
    assert lines[first + 3].startswith("Training took ") and lines[first + 3].endswith(" minutes")
    assert lines[first + 4:first + 6] == [" ... plotting sample 0", " ... plotting sample 1"]
    assert lines[-1].startswith("Training complete: RBM (PCD, k=2) after 3 epochs")
    for name in ("filters_at_epoch_0.png", "filters_at_epoch_2.png", "filters_rbm.png",
                 "samples.png", "pretraining_curves.png"):
        assert (out / name).stat().st_size > 1000
    arrays, meta = load_arrays(out / "samples.npz")
    assert arrays["vis_mf"].shape == (2, 3, 784) and meta["plot_every"] == 5
    summary = json.loads((out / "summary.json").read_text())
    assert summary["costs"] == [r["cost"] for r in history] and summary["stopped_by"] == "n_epochs"


def test_rbm_script_interrupted_mid_epoch_resumes_to_the_straight_runs_end(
        rbm_straight, tiny, tmp_path, monkeypatch):
    """Ctrl-C in epoch 2 (minibatch 3 of 10), then --resume: the same parameters, chain,
    random streams, printed costs and samples as a run never interrupted.  A resume keeps
    the run's settings (only the number of epochs and the checkpoint interval may change)."""
    straight, _ = rbm_straight
    resumed = tmp_path / "resumed"
    with monkeypatch.context() as patch:
        InterruptAt(patch, "train_rbm", 13)
        code, _, stderr = call("rbm", ["--dataset", tiny, "--out", resumed, "--training-epochs",
                                       "3"] + RBM_TINY)
    assert code == 130 and re.search(r"resume with: \S*python scripts/rbm.py --resume", stderr), stderr
    assert not (resumed / "samples.png").exists()
    code, _, stderr = call("rbm", ["--resume", resumed, "--learning-rate", "0.5"])
    assert code == 2 and "--learning-rate 0.5 differs from the run's 0.1" in stderr
    assert "only --training-epochs, --checkpoint-every may change" in stderr
    code, stdout, stderr = call("rbm", ["--resume", resumed])
    assert code == 0, stderr
    assert "resumed from %s at rbm, epoch 2, minibatch 3" % resumed in stdout
    assert records(resumed / "pretraining.jsonl") == records(straight / "pretraining.jsonl")
    for name in ("pretraining.npz", "samples.npz", "layers/00.npz"):
        assert same_arrays(straight / name, resumed / name), name


@pytest.mark.parametrize("argv, message", [
    (["--n-chains", "61"], "--n-chains 61 is more than the 60 test images"),
    (["--batch-size", "201"], "--batch-size 201 is larger than the training set (200 examples)"),
    (["--k", "0"], "argument --k: must be a positive integer, got 0"),
])
def test_rbm_script_refuses_bad_settings_in_one_line(argv, message, tiny, tmp_path):
    code, stdout, stderr = call("rbm", ["--dataset", tiny, "--out", tmp_path / "run"] + argv)
    assert code == 2 and len(lines_of(stderr)) == 1 and message in stderr, stderr
    assert stderr.startswith("rbm.py: error:")
    assert not (tmp_path / "run").exists() or not any((tmp_path / "run").iterdir())


@pytest.mark.slow   # 15-35 s: an end-to-end run (make test's float32 slow pass)
def test_dbn_script_interrupted_in_pretraining_resumes_to_the_straight_runs_end(
        tiny, tmp_path, monkeypatch):
    """The tutorial's log lines; a Ctrl-C in layer 1's first epoch, then --resume: the same
    pre-training records, pre-trained layers, fine-tuning history and best model as a run
    never interrupted."""
    straight = tmp_path / "straight"
    code, stdout, stderr = call("DBN", ["--dataset", tiny, "--out", straight] + DBN_TINY[:-1])
    assert code == 0, stderr
    lines = lines_of(stdout)
    pre = records(straight / "pretraining.jsonl")
    expected = ["Pre-training layer %d, epoch %d, cost  %r" % (r["layer"], r["epoch"] - 1, r["cost"])
                for r in pre]
    assert [line for line in lines if line.startswith("Pre-training layer")] == expected
    assert len(pre) == 4 and "... finetuning the model" in lines
    assert lines[-1].startswith("Optimization complete: best validation error")
    assert any(line.startswith("epoch 3, minibatch 10/10, validation error") for line in lines)

    resumed = tmp_path / "resumed"
    with monkeypatch.context() as patch:
        InterruptAt(patch, "pretrain_layer", 24)      # layer 1, epoch 1, minibatch 4
        code, _, stderr = call("DBN", ["--dataset", tiny, "--out", resumed] + DBN_TINY)
    assert code == 130 and re.search(r"resume with: \S*python scripts/DBN.py --resume", stderr), stderr
    assert script("reproduce").progress(str(resumed)) == (
        "in progress, resumable: pre-training layer 1 (2 of 2), 0 of 2 epochs done, 4 "
        "minibatches into the next")
    code, stdout, stderr = call("DBN", ["--resume", resumed])
    assert code == 0, stderr
    assert "resumed from %s at layer 1, epoch 1, minibatch 4" % resumed in stdout
    assert records(resumed / "pretraining.jsonl") == pre
    assert records(resumed / "history.jsonl") == records(straight / "history.jsonl")
    for name in ("pretraining.npz", "layers/00.npz", "layers/01.npz", "best_model.npz"):
        assert same_arrays(straight / name, resumed / name), name
    summary = json.loads((resumed / "summary.json").read_text())
    assert summary["pretraining"]["epochs"] == [2, 2] and summary["stopped_by"] == "n_epochs"


def test_reproduce_reports_the_rbm_with_its_samples_and_the_original_codes_check(
        rbm_straight, tmp_path, monkeypatch):
    import shutil
    reproduce = script("reproduce")
    runs = tmp_path / "runs"
    shutil.copytree(str(rbm_straight[0]), str(runs / "rbm-mnist"))
    config_path = runs / "rbm-mnist" / "config.json"
    config = json.loads(config_path.read_text())
    config.setdefault("numerics", {})["blas_core"] = "Zen"   # the kernels "this run" used
    config_path.write_text(json.dumps(config))
    recorded = reproduce.ORIGINAL_CODE_CURVES[("rbm", "mnist")]
    monkeypatch.setitem(reproduce.ORIGINAL_CODE_CURVES, ("rbm", "mnist"),
                        dict(recorded, blas_core="Zen"))
    reproduce.report(str(runs), str(tmp_path / "RESULTS.md"), "float64")
    text = (tmp_path / "RESULTS.md").read_text()
    costs = [r["cost"] for r in records(runs / "rbm-mnist" / "pretraining.jsonl")]
    row = [line for line in text.splitlines() if line.startswith("| rbm | mnist |")]
    assert len(row) == 1 and "| rbm: cost %.4f | — | 3, n_epochs |" % costs[-1] in row[0], row
    assert "| 2 | -74.9121 | %r |" % costs[2] in text and "| 3 | -73.0213 | — |" in text
    assert "| DBN | mnist | 1.27 % / 1.34 % after 100 pre-training epochs per layer and 46 " \
           "fine-tuning epochs | not run yet |" in text
    # the tiny run is not the original's MNIST run: the check says so
    assert "3 of the 3 compared figures differ" in text
    for image in ("samples", "filters_rbm", "pretraining"):
        assert (tmp_path / "results" / ("rbm-mnist-%s.png" % image)).stat().st_size > 1000
        assert "](results/rbm-mnist-%s.png)" % image in text
    with open(runs / "rbm-mnist" / "pretraining.jsonl", "w") as handle:
        handle.write(json.dumps({"layer": 0, "name": "rbm", "epoch": 1, "cost": -90.023155}) + "\n")
    assert "all 1 compared figures are printed the same" in "\n".join(
        reproduce.original_code_check("rbm", "mnist", str(runs / "rbm-mnist")))
    # figures recorded with other kernels are not compared, and the report says why; of
    # several recorded sets, the one of this run's kernels is taken
    other = dict(recorded, blas_core="SkylakeX", points={("rbm", 1, "cost"): "-1.0"})
    monkeypatch.setitem(reproduce.ORIGINAL_CODE_CURVES, ("rbm", "mnist"), [other])
    check = "\n".join(reproduce.original_code_check("rbm", "mnist", str(runs / "rbm-mnist")))
    assert check.startswith("Not checked against the tutorial's own code: its figures were "
                            "recorded with OpenBLAS's SkylakeX kernels, and this run used the "
                            "Zen kernels"), check
    monkeypatch.setitem(reproduce.ORIGINAL_CODE_CURVES, ("rbm", "mnist"),
                        [other, dict(recorded, blas_core="Zen")])
    assert "all 1 compared figures are printed the same" in "\n".join(
        reproduce.original_code_check("rbm", "mnist", str(runs / "rbm-mnist")))


# --------------------------------------------------------------------------- the original code's numbers
ORIGINAL_PREFIX = """
import numpy, theano, theano.tensor as T
from dltut.data import load_dataset, shared_datasets
from dltut.rbm import DBN, RBM, persistent_chain, random_streams
(train_x, _), _, _ = shared_datasets(load_dataset(%r))
index, x = T.lscalar(), T.matrix("x")
rng = numpy.random.RandomState(123)
theano_rng = random_streams(rng)
rbm = RBM(input=x, n_visible=784, n_hidden=500, numpy_rng=rng, theano_rng=theano_rng)
cost, updates = rbm.get_cost_updates(lr=0.1, persistent=persistent_chain(20, 500), k=15)
train = theano.function([index], cost, updates=updates,
                        givens={x: train_x[index * 20:(index + 1) * 20]})
print(numpy.mean([train(i) for i in range(100)]))
dbn = DBN(numpy.random.RandomState(123), n_ins=784, hidden_layers_sizes=[1000, 1000, 1000],
          n_outs=10)
layer0 = dbn.pretraining_functions(train_x, 10, 1)[0]
print(numpy.mean([layer0(index=i, lr=0.01) for i in range(200)], dtype="float64"))
"""


# What the unmodified tutorial code printed for that prefix (float32, one OpenBLAS thread), by
# OpenBLAS kernel set (each rounds the products its own way).  SkylakeX: an AMD EPYC with
# AVX-512; Haswell and Zen (OpenBLAS's Zen target uses the Haswell kernels): an AMD EPYC with
# AVX2 only, both sets run there (2026-12-07).
ORIGINAL_PREFIX_PRINTED = {
    "SkylakeX": ["-26.582338", "-160.77540435791016"],
    "Zen": ["-25.584301", "-160.7754040145874"],
}
ORIGINAL_PREFIX_PRINTED["Haswell"] = ORIGINAL_PREFIX_PRINTED["Zen"]


@pytest.mark.slow
@pytest.mark.realdata
def test_rbm_and_dbn_draw_the_original_codes_numbers_on_mnist(mnist_path):
    """The first 100 PCD-15 updates of rbm.py's default run and the first 200 CD-1 updates of
    DBN.py's first layer, in float32 with one OpenBLAS thread: the mean costs the unmodified
    tutorial code (lisa-lab/DeepLearningTutorials at 11c4651) printed for the same prefix on
    this project's machine.  (With two threads OpenBLAS rounds the RBM's products otherwise,
    a sampled unit flips, and the RBM's mean becomes -25.872053, in dltut and, the same way,
    in the original.)"""
    if theano.config.floatX != "float32":
        pytest.skip("the original code's numbers were printed in float32 (run in the float32 pass)")
    expected = recorded_for_these_kernels(ORIGINAL_PREFIX_PRINTED)
    path = mnist_path
    env = tutorial_numerics_env()
    done = subprocess.run([sys.executable, "-c", ORIGINAL_PREFIX % str(path)], env=env,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr
    assert lines_of(done.stdout) == expected
