"""Helpers for the tests that run dltut's scripts (tests/cli/test_scripts.py, tests/test_faults.py):
load a script as a module, call its ``main(argv)`` in this process and capture what it prints,
write a tiny dataset, read a run folder back."""
import contextlib
import gzip
import importlib.util
import io
import json
import os
import pathlib
import pickle
import re

import dltut  # noqa: F401  (first: Theano set-up before anything imports theano)
import numpy

from dltut.data import synthetic_dataset

ROOT = pathlib.Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / "scripts"

#: Flags that make each experiment small enough for a run of a few seconds on the tiny data.
TINY_FLAGS = {
    "logistic_sgd": ["--batch-size", "20", "--learning-rate", "0.1"],
    "mlp": ["--batch-size", "20", "--learning-rate", "0.1", "--n-hidden", "10"],
    "convolutional_mlp": ["--batch-size", "20", "--learning-rate", "0.1",
                          "--nkerns", "2", "3", "--n-hidden", "10"],
}
TINY_SIZES = (200, 60, 60)  # train, valid, test

#: Theano's note that another process holds its compile lock: noise from whatever else is
#: compiling on the machine at the same time, not output of the script under test.
COMPILE_LOCK_NOTE = re.compile(r"^INFO \(theano\.gof\.compilelock\)")
_MODULES = {}


def script(name):
    """The module ``scripts/<name>.py`` (not a package: loaded from its file, once)."""
    if name not in _MODULES:
        spec = importlib.util.spec_from_file_location("dltut_script_" + name,
                                                      str(SCRIPTS / (name + ".py")))
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _MODULES[name] = module
    return _MODULES[name]


def exit_code(name, argv):
    """``scripts/<name>.py``'s ``main(argv)`` as a process exit code (SystemExit included)."""
    try:
        code = script(name).main([str(a) for a in argv])
    except SystemExit as exit:
        code = exit.code
    return 0 if code is None else code


def call(name, argv):
    """``(exit code, stdout, stderr)`` of ``main(argv)`` run in this process."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = exit_code(name, argv)
    return code, out.getvalue(), err.getvalue()


def lines_of(text):
    """The non-empty lines of ``text``, without Theano's compile-lock notes."""
    return [line for line in text.splitlines()
            if line.strip() and not COMPILE_LOCK_NOTE.match(line)]


def write_dataset(path, sizes=TINY_SIZES, seed=0, noise=0.6):
    """The tutorial's structure: a gzipped pickle of ((train_x, train_y), (valid..), (test..))."""
    splits = synthetic_dataset(numpy.random.RandomState(seed), *sizes, noise=noise)
    with gzip.open(str(path), "wb") as handle:
        pickle.dump(splits, handle, protocol=2)
    return splits


def train_argv(name, dataset, run_dir, *extra):
    return (["--dataset", str(dataset), "--out", str(run_dir)] + TINY_FLAGS[name]
            + [str(a) for a in extra])


def read_history(run_dir):
    with open(os.path.join(str(run_dir), "history.jsonl")) as handle:
        return [json.loads(line) for line in handle if line.strip()]


def read_json(path):
    with open(str(path)) as handle:
        return json.load(handle)


def child_env():
    """This environment without a device setting, for a script started as a new process."""
    env = dict(os.environ)
    flags = [item for item in env.get("THEANO_FLAGS", "").split(",")
             if item.strip() and item.partition("=")[0].strip() != "device"]
    env["THEANO_FLAGS"] = ",".join(flags)
    env.pop("DLTUT_REQUIRE_GPU", None)
    return env


def recorded_for_these_kernels(recorded):
    """``recorded``: what the tutorial's own code printed, by the OpenBLAS kernel set it ran
    with (``{"SkylakeX": ..., "Zen": ...}``).  Each set rounds the float32 products its own
    way, so the entry for the kernels in use (dltut's pick for this CPU, which
    tests/conftest.py pins) is returned; without one the test is skipped, saying why."""
    import pytest
    core = os.environ.get("OPENBLAS_CORETYPE")
    if core not in recorded:
        pytest.skip("the tutorial's code's numbers were recorded with OpenBLAS's %s kernels, not "
                    "with %r (this CPU's)" % (", ".join(recorded), core))
    return recorded[core]


def tutorial_numerics_env():
    """``child_env()`` with floatX=float32 and one OpenBLAS thread: the settings under which
    the tutorial's own code printed the numbers the tests compare with (two threads round
    the float32 products otherwise)."""
    env = child_env()
    env["THEANO_FLAGS"] = ",".join(filter(None, [env.get("THEANO_FLAGS"), "floatX=float32"]))
    env["OPENBLAS_NUM_THREADS"] = "1"
    return env
