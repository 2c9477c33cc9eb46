"""dltut.search and scripts/search.py: grids and their errors, narrowing, rounds, resumable
searches, and the same table from one worker, two local workers and a Dask LocalCluster,
with and without a worker killed in the middle of a trial."""
import contextlib
import gzip
import io
import json
import math
import os
import pickle
import signal
import subprocess
import sys
import time

import dltut  # noqa: F401  (first: Theano set-up before anything imports theano)
import numpy
import pytest

from dltut.cli.common import CLIError
from dltut.cli.supervised import build_parser
from dltut.data import synthetic_dataset
from dltut.runs.checkpoint import load_arrays
from dltut.runs.rundir import BEST_MODEL, CHECKPOINT, CONFIG, LOCK, SUMMARY, TRAIN_LOG, RunDir
import dltut.search as search

from _cli import ROOT, child_env, lines_of
from _processes import running, stop, wait_for

MLP = build_parser("mlp")
LOGREG = build_parser("logistic_sgd")
LENET = build_parser("convolutional_mlp")


def log10s(values):
    return [round(math.log10(v), 6) for v in values]


# ------------------------------------------------------------------ grids
def test_log_grid_values_are_log_spaced_and_rounded():
    dim = search.parse_log_grid(MLP, "learning-rate=1e-4:1e-1:4")
    assert dim.name == "learning_rate" and dim.flag == "--learning-rate" and dim.log
    assert log10s(dim.values) == [-4, -3, -2, -1]
    # 3 points per decade: 10**(1/3) = 2.1544..., kept to three significant digits
    dim = search.parse_log_grid(MLP, "L2_reg=1e-3:1e-2:4")
    assert dim.values == (0.001, float("%.3g" % 10 ** -2.666666), float("%.3g" % 10 ** -2.333333),
                          0.01)
    assert dim.values[1:3] == (0.00215, 0.00464)
    # one point: the geometric mean
    assert search.parse_log_grid(MLP, "learning-rate=1e-3:1e-1:1").values == (0.01,)


def test_flag_name_and_field_name_are_the_same_setting():
    for text in ("L2-reg=1e-4:1e-2:3", "L2_reg=1e-4:1e-2:3", "--L2-reg=1e-4:1e-2:3",
                 "l2_reg=1e-4:1e-2:3"):
        dim = search.parse_log_grid(MLP, text)
        assert (dim.name, dim.flag) == ("L2_reg", "--L2-reg")
        assert log10s(dim.values) == [-4, -3, -2]


def test_integer_settings_get_whole_numbers():
    dim = search.parse_log_grid(MLP, "n-hidden=25:1600:7")
    assert dim.values == ((25,), (50,), (100,), (200,), (400,), (800,), (1600,))
    assert dim.text(dim.values[0]) == "25" and dim.argv((50,)) == ["--n-hidden", "50"]
    # rounding may merge neighbours: 1..3 in 5 steps is 1, 1.32, 1.73, 2.28, 3
    assert search.parse_log_grid(MLP, "batch-size=1:3:5").values == (1, 2, 3)


def test_grid_values_are_checked_like_the_flags():
    dim = search.parse_grid(MLP, "L2-reg=0,1e-4,1e-4,0.001")
    assert dim.values == (0.0, 0.0001, 0.001) and not dim.log
    dim = search.parse_grid(MLP, "activation=tanh,relu")
    assert dim.values == ("tanh", "relu")
    dim = search.parse_grid(LENET, "nkerns=10x25,20x50")
    assert dim.values == ((10, 25), (20, 50)) and dim.text((10, 25)) == "10x25"
    assert dim.argv((20, 50)) == ["--nkerns", "20", "50"]


@pytest.mark.parametrize("kind, text, words", [
    ("log", "learning-rate=1e-1:1e-4:4", "LO must be smaller than HI, got 1e-1 >= 1e-4"),
    ("log", "learning-rate=0.1:0.1:4", "LO must be smaller than HI"),
    ("log", "learning-rate=1e-4:1e-1:0", "N must be at least 1, got 0"),
    ("log", "learning-rate=1e-4:1e-1:-2", "N must be at least 1, got -2"),
    ("log", "learning-rate=abc:1e-1:4", "LO must be a number, got 'abc'"),
    ("log", "learning-rate=1e-4:x:4", "HI must be a number, got 'x'"),
    ("log", "learning-rate=1e-4:1e-1:2.5", "N must be a whole number, got '2.5'"),
    ("log", "learning-rate=1e-4:1e-1:four", "N must be a whole number"),
    ("log", "learning-rate=1e-4:1e-1", "expected NAME=LO:HI:N"),
    ("log", "learning-rate", "expected NAME=LO:HI:N"),
    ("log", "L2-reg=0:1e-2:3", "a log grid needs LO > 0, got 0 (list 0 with --grid instead)"),
    ("log", "learnin-rate=1e-4:1e-1:4", "mlp.py has no setting 'learnin-rate'; a search can "
                                        "vary: activation, batch-size"),
    ("log", "activation=1:2:2", "--activation is not a number; list its values with --grid"),
    ("log", "learning-rate=1e-4:inf:3", "HI must be a finite number"),
    ("grid", "learning-rate=0.1,abc", "--learning-rate must be a number, got 'abc'"),
    ("grid", "learning-rate=0.1,-1", "--learning-rate must be > 0, got -1"),
    ("grid", "activation=tanh,softsign", "--activation must be one of tanh, sigmoid, relu"),
    ("grid", "batch-size=10,,20", "an empty value"),
    ("grid", "nkerns=1,2", "mlp.py has no setting 'nkerns'"),
    ("grid", "out=a,b", "mlp.py has no setting 'out'"),
])
def test_bad_specs_are_one_clear_error(kind, text, words):
    parse = search.parse_log_grid if kind == "log" else search.parse_grid
    with pytest.raises(CLIError) as caught:
        parse(MLP, text)
    assert words in str(caught.value) and caught.value.code == 2
    assert "\n" not in str(caught.value)


def test_presets_are_the_tutorials_advice():
    assert log10s(search.parse_log_grid(MLP, search.preset_spec("learning-rate")).values) == \
        [-4, -3, -2, -1]
    assert log10s(search.parse_log_grid(MLP, search.preset_spec("regularization")).values) == \
        [-5, -4, -3, -2]
    units = search.parse_log_grid(MLP, search.preset_spec("hidden-units")).values
    assert [u[0] for u in units] == [25 * 2 ** k for k in range(7)]
    with pytest.raises(CLIError, match="no such preset; choose one of hidden-units"):
        search.preset_spec("momentum")
    with pytest.raises(CLIError, match="logistic_sgd.py has no setting 'n_hidden'"):
        search.parse_log_grid(LOGREG, search.preset_spec("hidden-units"))


def run_main(argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = search.main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("argv, words", [
    (["mlp", "--out", "S"], "nothing to search: give --log-grid"),
    (["mlp", "--out", "S", "--log-grid", "learning-rate=1:0.1:3"], "LO must be smaller"),
    (["mlp", "--out", "S", "--learning-rate", "0.1", "--log-grid", "learning-rate=1e-3:1:3"],
     "learning_rate is both fixed (--learning-rate) and searched"),
    (["mlp", "--out", "S", "--preset", "learning-rate", "--grid", "learning_rate=0.1,0.2"],
     "learning_rate is searched twice"),
    (["mlp", "--out", "S", "--preset", "lr", "--resume", "x"], "--resume is the search's"),
    (["mlp", "--out", "S", "--preset", "lr", "--n-epochs", "0"],
     "mlp.py: argument --n-epochs: must be a positive integer, got 0"),
    (["mlp", "--out", "S", "--preset", "lr", "--no-such-flag"], "unrecognized arguments"),
    (["mlp", "--out", "S", "--preset", "lr", "--scheduler", "tcp://h:1", "--workers", "2"],
     "--workers has no effect with --scheduler tcp://h:1"),
    (["mlp", "--out", "S", "--preset", "lr", "--scheduler", "myhost"], "tcp://HOST:PORT"),
    (["mlp", "--out", "S", "--grid", "momentum=0.5,1.5"],
     "the point momentum=1.5: invalid training setting: momentum must be in [0, 1)"),
    (["lenet", "--out", "S", "--preset", "lr"], "invalid choice: 'lenet'"),
    (["mlp", "--preset", "lr"], "the following arguments are required: --out"),
])
def test_bad_commands_exit_2_with_one_line(tmp_path, argv, words):
    argv = [str(tmp_path / a) if a == "S" else a for a in argv]
    code, out, err = run_main(argv)
    assert code == 2, (out, err)
    assert len(lines_of(err)) == 1 and err.startswith("search.py: error: ")
    assert words in err
    assert "Traceback" not in err and not os.path.exists(str(tmp_path / "S"))


# ------------------------------------------------------------------ narrowing
def expected(lo, hi, n):
    """n points strictly inside [lo, hi], evenly spaced in log10, three significant digits."""
    a, b = math.log10(lo), math.log10(hi)
    return [float("%.3g" % 10 ** (a + (b - a) * k / (n + 1))) for k in range(1, n + 1)]


def test_narrowing_spans_the_neighbours_of_the_best_point():
    first = [1e-4, 1e-3, 1e-2, 1e-1]
    # interior best: between its two neighbours, same number of points, none of them repeated
    second = search.narrow(first, 1e-2, 4)
    assert second == expected(1e-3, 1e-1, 4) == [0.00251, 0.00631, 0.0158, 0.0398]
    # at the edge of the range: between the best and its one neighbour
    assert search.narrow(first, 1e-4, 4) == expected(1e-4, 1e-3, 4)
    assert search.narrow(first, 1e-1, 4) == expected(1e-2, 1e-1, 4)
    # round 3: the neighbours come from every value tried so far (0.01 was in round 1)
    assert search.narrow(first + second, 0.0158, 4) == expected(0.01, 0.0398, 4)
    assert search.narrow(first + second, 0.0398, 4) == expected(0.0158, 0.1, 4)
    assert search.narrow(first + second, 0.00251, 4) == expected(0.001, 0.00631, 4)
    # an odd count puts the best itself in the middle (it is not run again: see the Search)
    assert search.narrow([0.01, 0.1, 1.0], 0.1, 3) == [0.0316, 0.1, 0.316]
    # whole numbers, repeats merged; nothing to narrow with a single value
    assert search.narrow([25, 50, 100, 200], 50, 4, integer=True) == [33, 44, 57, 76]
    assert search.narrow([1, 2], 1, 4, integer=True) == [1, 2]
    assert search.narrow([0.1], 0.1, 3) == []


def test_next_round_narrows_log_grids_and_keeps_the_best_choice():
    lr = search.parse_log_grid(MLP, "learning-rate=1e-3:1e-1:3")
    act = search.parse_grid(MLP, "activation=tanh,relu")
    hidden = search.parse_log_grid(MLP, "n-hidden=10:1000:3")
    tried = [list(lr.values), list(act.values), list(hidden.values)]
    grids = search.next_round([lr, act, hidden], tried, (0.01, "relu", (1000,)))
    assert grids[0] == expected(1e-3, 1e-1, 3)
    assert grids[1] == ["relu"]
    assert grids[2] == [(v,) for v in (178, 316, 562)]
    assert search.at_edge(hidden, tried[2], (1000,)) and not search.at_edge(lr, tried[0], 0.01)


# ------------------------------------------------------------------ rounds, without training
def bowl(argv):
    """A made-up validation error with its minimum at learning rate 0.02, L2 3e-4."""
    lr = float(argv[argv.index("--learning-rate") + 1])
    l2 = float(argv[argv.index("--L2-reg") + 1])
    return 0.02 + 0.01 * (math.log10(lr / 0.02) ** 2 + 0.3 * math.log10(l2 / 3e-4) ** 2)


class FakeExecutor:
    """Writes the run folder a finished trial leaves, with ``objective(argv)`` as its
    validation error (and twice that as its test error)."""

    def __init__(self, objective):
        self.objective, self.ran = objective, []

    def map(self, tasks, on_result):
        for task in tasks:
            self.ran.append(os.path.basename(task["folder"]))
            run = RunDir(task["folder"])
            error = self.objective(task["argv"])
            run.write_json(CONFIG, {"args": {}, "experiment": task["experiment"]})
            if error is None:  # diverged
                run.write_json(SUMMARY, {
                    "best_validation_error": None, "best_validation_error_all": None,
                    "best_epoch": 0, "best_iteration": 0, "epochs": 1, "stopped_by": "diverged",
                    "divergence": "the cost became nan at iteration 3"})
            else:
                run.write_json(SUMMARY, {
                    "best_validation_error": error, "best_validation_error_all": error,
                    "test_error": 2 * error, "test_error_all": 2 * error, "best_epoch": 1,
                    "best_iteration": 10, "epochs": 1, "stopped_by": "n_epochs"})
            on_result(task, {"code": 0, "ran": True, "seconds": 0.0})

    def describe(self):
        return "a fake executor"

    def close(self):
        pass


def fake_search(tmp_path, *extra, objective=bowl):
    spec = search.parse_command(["mlp", "--out", str(tmp_path / "s"), "--n-epochs", "1"]
                                + list(extra))
    executor = FakeExecutor(objective)
    made = []

    def factory():
        made.append(1)
        return executor
    folder = search.claim_search_folder(spec)
    try:
        found = search.Search(spec, factory, log=lambda *a: None).run()
    finally:
        folder.unlock()
    return found, executor, made


def test_rounds_narrow_towards_the_lowest_validation_error(tmp_path):
    found, executor, _ = fake_search(tmp_path, "--log-grid", "learning-rate=1e-3:1e-1:3",
                                     "--log-grid", "L2-reg=1e-5:1e-3:3", "--rounds", "3")
    names = executor.ran
    assert len(names) == len(set(names)), "a point was run twice"
    rounds = [t["round"] for t in found.trials]
    assert rounds.count(1) == 9
    # round 2: 3 x 3 points between the neighbours of (0.01, 1e-4), less the best itself
    second = [t["point"] for t in found.trials if t["round"] == 2]
    lrs, l2s = expected(1e-3, 1e-1, 3), expected(1e-5, 1e-3, 3)
    assert sorted(second) == sorted((a, b) for a in lrs for b in l2s if (a, b) != (0.01, 1e-4))
    # each round's best is at least as good; the chosen one is the best validation error
    best = found.chosen()
    errors = [t["best_validation_error"] for t in found.trials]
    assert best["best_validation_error"] == min(errors)
    assert best["test_error"] == 2 * best["best_validation_error"]
    assert abs(math.log10(best["settings"]["learning_rate"] / 0.02)) < 0.2
    results = json.load(open(str(tmp_path / "s" / search.RESULTS)))
    assert results["chosen"]["name"] == best["name"] and results["rounds"] == 3
    assert [t["rank"] for t in results["trials"]] == list(range(1, len(names) + 1))
    assert "test_error" not in json.dumps(results["trials"])  # test error: chosen one only
    assert results["chosen"]["command"].endswith(
        "--learning-rate %s --L2-reg %s" % tuple(
            search.scalar_text(best["settings"][k]) for k in ("learning_rate", "L2_reg")))


def test_diverged_trials_rank_last_and_are_not_chosen(tmp_path):
    def steep(argv):
        lr = float(argv[argv.index("--learning-rate") + 1])
        return None if lr > 0.05 else 0.5 - lr
    found, _, _ = fake_search(tmp_path, "--preset", "learning-rate", "--rounds", "2",
                              objective=steep)
    ranked = found.ranked()
    assert [t["status"] for t in ranked] == ["ok"] * 7 + ["diverged"]
    # round 2 spans the neighbours of 0.01: 0.001 and the diverged 0.1
    assert [t["point"][0] for t in found.trials if t["round"] == 2] == expected(0.001, 0.1, 4)
    assert found.chosen()["settings"]["learning_rate"] == 0.0398
    table = found.table()
    assert table[-1].split()[2:4] == ["0.1", "diverged"]


def test_rerunning_a_finished_search_runs_nothing(tmp_path):
    found, executor, made = fake_search(tmp_path, "--preset", "learning-rate", "--grid",
                                        "L2-reg=1e-4,1e-3", "--rounds", "2")
    table = found.table()
    again, executor2, made2 = fake_search(tmp_path, "--preset", "learning-rate", "--grid",
                                          "L2-reg=1e-4,1e-3", "--rounds", "2")
    assert made == [1] and made2 == [] and executor2.ran == []
    assert again.table() == table
    # more rounds continue the same search; other settings are another search
    more, executor3, _ = fake_search(tmp_path, "--preset", "learning-rate", "--grid",
                                     "L2-reg=1e-4,1e-3", "--rounds", "3")
    assert executor3.ran and not set(executor3.ran) & set(executor.ran)
    with pytest.raises(CLIError, match="holds another search"):
        search.claim_search_folder(search.parse_command(
            ["mlp", "--out", str(tmp_path / "s"), "--n-epochs", "2", "--preset", "lr",
             "--grid", "L2-reg=1e-4,1e-3"]))


def test_figures_of_a_search(tmp_path):
    found, _, _ = fake_search(tmp_path, "--log-grid", "learning-rate=1e-3:1e-1:3",
                              "--grid", "L2-reg=1e-4,1e-3")
    paths = found.figures()
    assert [os.path.basename(p) for p in paths] == ["validation_learning_rate.png",
                                                    "validation_L2_reg.png"]
    from PIL import Image
    for path in paths:
        assert Image.open(path).size == (900, 500)

    def hidden(argv):
        units = int(argv[argv.index("--n-hidden") + 1])
        return 0.02 + 0.002 * math.log2(units / 200) ** 2  # a U with its bottom at 200
    found, _, _ = fake_search(tmp_path / "h", "--learning-rate", "0.1", "--L2-reg", "1e-4",
                              "--preset", "hidden-units", objective=hidden)
    assert found.chosen()["settings"]["n_hidden"] == [200]
    paths = found.figures()
    assert os.path.basename(paths[-1]) == search.HIDDEN_UNITS_FIGURE
    assert Image.open(paths[-1]).size == (900, 500)


def test_a_worker_process_gets_a_compile_folder_of_its_own(tmp_path):
    code = ("import sys, time; from dltut import search; "
            "print(search.claim_compile_slot(sys.argv[1]), flush=True); time.sleep(30)")
    with running([sys.executable, "-c", code, tmp_path], stdout=subprocess.PIPE,
                 env=child_env()) as first:
        assert first.stdout.readline().strip() == str(tmp_path / "dltut-worker-0")
        # a second process skips the folder the first one holds
        second = subprocess.run([sys.executable, "-c", code.replace("time.sleep(30)", "0"),
                                 str(tmp_path)], capture_output=True, text=True, env=child_env())
        assert second.stdout.strip() == str(tmp_path / "dltut-worker-1")
        stop(first, signal.SIGKILL)
    # the lock goes with the process
    again = subprocess.run([sys.executable, "-c", code.replace("time.sleep(30)", "0"),
                            str(tmp_path)], capture_output=True, text=True, env=child_env())
    assert again.stdout.strip() == str(tmp_path / "dltut-worker-0")


# ------------------------------------------------------------------ real searches
#: Trials of a few seconds each: 5 epochs of 6000 minibatches of one example.
SEARCH_FLAGS = ["--batch-size", "1", "--n-hidden", "10", "--n-epochs", "5", "--patience",
                "1000000", "--checkpoint-every", "0", "--log-grid", "learning-rate=3e-3:3e-2:2"]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    path = tmp_path_factory.mktemp("search-data") / "noisy.pkl.gz"
    splits = synthetic_dataset(numpy.random.RandomState(5), 6000, 400, 400, noise=1.6)
    with gzip.open(str(path), "wb") as handle:
        pickle.dump(splits, handle, protocol=2)
    return path


def search_command(dataset, out, *extra):
    return [sys.executable, str(ROOT / "scripts" / "search.py"), "mlp", "--dataset",
            str(dataset), "--out", str(out)] + SEARCH_FLAGS + list(extra)


def run_search(dataset, out, *extra, kill=False):
    """Run scripts/search.py; with ``kill``, SIGKILL the process running the first trial
    that has written its first checkpoint.  Returns (stdout, killed pid or None)."""
    killed = None
    with running(search_command(dataset, out, *extra), stdout=subprocess.PIPE,
                 stderr=subprocess.PIPE, env=child_env()) as process:
        while kill and killed is None and process.poll() is None:
            killed = kill_a_trial(out)
            time.sleep(0.02)
        stdout, stderr = process.communicate(timeout=600)
    assert process.returncode == 0, stderr
    return stdout, killed


def kill_a_trial(out):
    trials = out / search.TRIALS
    if not trials.is_dir():
        return None
    for folder in sorted(trials.iterdir()):
        if (folder / CHECKPOINT).exists() and not (folder / SUMMARY).exists():
            pid = int((folder / LOCK).read_text().strip())
            os.kill(pid, signal.SIGKILL)
            return pid
    return None


def table_of(stdout):
    """The sorted table: from its header to the chosen line (no timings in it)."""
    lines = stdout.splitlines()
    start = next(i for i, l in enumerate(lines) if l.startswith("rank"))
    end = next(i for i, l in enumerate(lines) if l.startswith("chosen:"))
    return lines[start:end + 2]


def comparable(out):
    results = json.load(open(str(out / search.RESULTS)))
    drop = ("train_seconds", "compile_seconds", "seconds_per_epoch", "trial_seconds",
            "lock_wait", "attempts", "worker")
    return [{k: v for k, v in t.items() if k not in drop} for t in results["trials"]], \
        results["chosen"]


def same_trials(a, b):
    """Assert that the trial folders of searches ``a`` and ``b`` hold the same runs: the
    same best parameters and last checkpoint, bit for bit, and the same history."""
    names = sorted(p.name for p in (a / search.TRIALS).iterdir())
    assert names == sorted(p.name for p in (b / search.TRIALS).iterdir())
    for name in names:
        for file in (BEST_MODEL, CHECKPOINT):
            arrays_a, _ = load_arrays(str(a / search.TRIALS / name / file))
            arrays_b, _ = load_arrays(str(b / search.TRIALS / name / file))
            assert sorted(arrays_a) == sorted(arrays_b)
            for key in arrays_a:
                if key != "meta":
                    assert numpy.array_equal(arrays_a[key], arrays_b[key]), (name, file, key)
        history = [RunDir(str(folder / search.TRIALS / name)).read_history() for folder in (a, b)]
        drop = [[{k: v for k, v in r.items() if k != "elapsed"} for r in h] for h in history]
        assert drop[0] == drop[1], name


@pytest.fixture(scope="module")
def serial(dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("serial") / "search"
    stdout, _ = run_search(dataset, out, "--workers", "1")
    return out, stdout


@pytest.mark.slow
def test_rerunning_a_finished_search_starts_no_worker(dataset, serial):
    out, stdout = serial
    before = {p: p.stat().st_mtime_ns for p in (out / search.TRIALS).rglob("*")}
    again, _ = run_search(dataset, out, "--workers", "1")
    assert "0 to run" in again and "running trials on" not in again
    assert table_of(again) == table_of(stdout)
    assert {p: p.stat().st_mtime_ns for p in before} == before


@pytest.mark.slow
def test_an_interrupted_search_continues_where_it_stopped(dataset, serial, tmp_path):
    out = tmp_path / "interrupted"
    with running(search_command(dataset, out, "--workers", "2"), ctrl_c=True,
                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=child_env()) as process:
        # Ctrl-C once a trial trains (config.json is written as training starts)
        wait_for(process, lambda: any((f / CONFIG).exists() and not (f / SUMMARY).exists()
                                      for f in (out / search.TRIALS).glob("*")),
                 300, "a trial in training")
        stdout, stderr = stop(process, signal.SIGINT, timeout=300)
    assert process.returncode == 130, stderr
    assert lines_of(stderr)[-1] == ("search.py: interrupted; run the same command again to "
                                    "continue the search")
    assert "Traceback" not in stderr
    stdout, _ = run_search(dataset, out, "--workers", "2")
    assert "(resumed" in stdout
    assert table_of(stdout) == table_of(serial[1])
    same_trials(out, serial[0])


@pytest.mark.slow
def test_a_local_cluster_of_two_gives_the_serial_table(dataset, serial, tmp_path):
    pytest.importorskip("distributed")
    out = tmp_path / "cluster"
    stdout, _ = run_search(dataset, out, "--scheduler", "local", "--workers", "2")
    assert "a Dask LocalCluster of 2 worker processes" in stdout
    assert table_of(stdout) == table_of(serial[1])
    assert comparable(out) == comparable(serial[0])
    same_trials(out, serial[0])
    workers = {t["worker"] for t in json.load(open(str(out / search.RESULTS)))["trials"]}
    assert len(workers) == 2, "both workers should have run a trial"


@pytest.mark.slow
@pytest.mark.parametrize("executor", ["local", "dask"])
def test_killing_a_worker_mid_trial_leaves_the_table_unchanged(dataset, serial, tmp_path,
                                                               executor):
    extra = ["--workers", "2"]
    if executor == "dask":
        pytest.importorskip("distributed")
        extra += ["--scheduler", "local"]
    out = tmp_path / executor
    stdout, killed = run_search(dataset, out, *extra, kill=True)
    assert killed is not None, "no trial was caught in the middle"
    assert table_of(stdout) == table_of(serial[1])
    assert comparable(out) == comparable(serial[0])
    same_trials(out, serial[0])
    logs = [(folder / TRAIN_LOG).read_text() for folder in (out / search.TRIALS).iterdir()]
    resumed = [log for log in logs if "(pid %d)" % killed in log and ": resuming on " in log]
    assert len(resumed) == 1, "the killed trial should have been resumed from its checkpoint"


def running_trial(out):
    """``(pid, folder)`` of a trial that has written its first checkpoint and runs on, or
    None."""
    trials = out / search.TRIALS
    if not trials.is_dir():
        return None
    for folder in sorted(trials.iterdir()):
        if (folder / CHECKPOINT).exists() and not (folder / SUMMARY).exists():
            return int((folder / LOCK).read_text().strip()), folder
    return None


def gone(pid):
    """True once process ``pid`` has ended (a zombie nobody reaps has ended too)."""
    try:
        with open("/proc/%d/stat" % pid) as handle:
            return handle.read().rpartition(")")[2].split()[0] in ("Z", "X")
    except OSError:
        return True


@pytest.mark.slow
@pytest.mark.parametrize("executor", ["local", "dask"])
def test_killing_the_search_itself_then_rerunning_gives_the_same_table(dataset, serial, tmp_path,
                                                                       executor):
    """kill -9 of the search process in the middle of a trial: its workers end with it (a
    local worker checkpoints after its minibatch, a Dask worker exits), the folder's lock goes
    with it, and the same command run again finishes with the undisturbed search's table."""
    extra = ["--workers", "2"]
    if executor == "dask":
        pytest.importorskip("distributed")
        extra += ["--scheduler", "local"]
    out = tmp_path / executor
    with running(search_command(dataset, out, *extra), stdout=subprocess.PIPE,
                 stderr=subprocess.PIPE, env=child_env()) as process:
        worker, folder = wait_for(process, lambda: running_trial(out), 600, "a trial in training")
        stop(process, signal.SIGKILL, timeout=60)
    assert process.returncode == -signal.SIGKILL
    deadline = time.monotonic() + 120
    while not gone(worker):
        assert time.monotonic() < deadline, "the worker outlived its search by two minutes"
        time.sleep(0.05)
    # it stopped in the middle of the trial (an orphan worker would have finished it)
    assert search.trial_status(str(folder))[0] == "partial"
    stdout, _ = run_search(dataset, out, *extra)
    assert "(resumed" in stdout
    assert table_of(stdout) == table_of(serial[1])
    assert comparable(out) == comparable(serial[0])
    same_trials(out, serial[0])
