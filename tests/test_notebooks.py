"""The notebooks, run top to bottom in a fresh kernel of this interpreter; `make notebook`'s
JupyterLab, started on a free local port, asked over its REST API and stopped.

Each notebook runs shortened (``DLTUT_NOTEBOOK_QUICK=1``) on the real MNIST (the RNN-RBM's on
Bach's chorales: data/jsb.npz, or 15 of them built from music21's corpus), in a copy of
notebooks/ under a temporary folder (its run folders go there), with the floatX of this
pass; any error in any cell fails the test, and the cells assert what they show.
"""
import json
import os
import pathlib
import re
import shutil
import signal
import socket
import subprocess
import sys
import urllib.request

import pytest

from _cli import call, lines_of
from _processes import running, stop, wait_for

ROOT = pathlib.Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))
sys.path.insert(0, str(ROOT / "tools"))

needs_jupyter = pytest.mark.skipif(
    not all(__import__("importlib").util.find_spec(m) for m in ("nbclient", "ipykernel")),
    reason="nbclient and ipykernel are not installed: pip install -e '.[test]' (make test does)")


def test_there_are_seven_notebooks_each_starting_with_the_usual_imports():
    assert len(NOTEBOOKS) == 7, NOTEBOOKS
    for name in NOTEBOOKS:
        cells = json.loads((ROOT / "notebooks" / name).read_text())["cells"]
        first = next(c for c in cells if c["cell_type"] == "code")
        lines = "".join(first["source"]).splitlines()
        for statement in ("import numpy", "import theano", "import theano.tensor as T",
                          "import dltut"):
            assert statement in lines, (name, statement)


def test_committed_notebooks_hold_a_full_length_run():
    for name in NOTEBOOKS:
        notebook = json.loads((ROOT / "notebooks" / name).read_text())
        code = [c for c in notebook["cells"] if c["cell_type"] == "code"]
        assert all(c.get("execution_count") for c in code), "%s has cells never run" % name
        text = "".join("".join(o.get("text", "")) for c in code for o in c.get("outputs", []))
        assert "| full run" in text, "%s was saved from a shortened run" % name
        assert not any(o.get("output_type") == "error" for c in code for o in c["outputs"]), name
        assert any("image/png" in o.get("data", {}) for c in code for o in c["outputs"]), name


@pytest.fixture(scope="module")
def executed(tmp_path_factory, mnist_path):
    """``run(name)``: the notebook executed shortened in a fresh kernel (once per module)."""
    from run_notebooks import execute
    folder = tmp_path_factory.mktemp("notebooks")
    shutil.copytree(ROOT / "notebooks", folder, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("runs", ".ipynb_checkpoints"))
    done = {}

    def run(name):
        if name not in done:
            done[name] = execute(str(folder / name), cwd=str(folder), quick=True, timeout=600)[0]
        return done[name]
    return run


def outputs_text(notebook):
    return "".join("".join(o.get("text", "")) for c in notebook.cells if c.cell_type == "code"
                   for o in c.get("outputs", []))


@needs_jupyter
@pytest.mark.realdata
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_without_error(name, executed):
    notebook = executed(name)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert all(c.execution_count for c in code)
    assert "| quick run" in outputs_text(notebook)
    pictures = [o for c in code for o in c.outputs if "image/png" in o.get("data", {})]
    assert pictures, "%s drew no figure" % name


@needs_jupyter
@pytest.mark.realdata
def test_logistic_regression_notebook_prints_what_the_script_prints(executed, mnist_path, tmp_path):
    """The notebook's first validation line is scripts/logistic_sgd.py's, same settings."""
    notebook = executed("02_logistic_regression.ipynb")
    line = re.compile(r"^epoch 1, minibatch 83/83, validation error [\d.]+ %$")
    ours = [l for l in outputs_text(notebook).splitlines() if line.match(l)]
    code, out, err = call("logistic_sgd", ["--dataset", mnist_path, "--out", tmp_path / "run",
                                           "--n-epochs", 1])
    assert code == 0, err
    theirs = [l for l in lines_of(out) if line.match(l)]
    assert theirs and ours[0] == theirs[0], (ours, theirs)


# ---------------------------------------------------------------------------- make notebook
def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get_json(url, token):
    request = urllib.request.Request(url, headers={"Authorization": "token " + token})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read().decode())


def status_of(url, token):
    """JupyterLab's status at ``url``, None while nothing answers there."""
    try:
        return get_json(url + "/api/status", token)
    except OSError:
        return None


def stop_lab(process):
    """SIGTERM to ``make`` and JupyterLab (one process group), SIGKILL if that takes 30 s:
    what they printed."""
    try:
        return stop(process, signal.SIGTERM, timeout=30, group=True)[0]
    except subprocess.TimeoutExpired:
        return stop(process, signal.SIGKILL, timeout=10, group=True)[0]


def send(url, token, method, body=None):
    request = urllib.request.Request(
        url, method=method, data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": "token " + token, "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        text = response.read().decode()
        return json.loads(text) if text else None


def lab_answers(url, token, status):
    """What `make notebook`'s JupyterLab answers: the notebooks, the dltut kernel (started
    and deleted), the settings and the page."""
    assert "started" in status
    listing = get_json(url + "/api/contents", token)
    names = {item["name"] for item in listing["content"]}
    assert set(NOTEBOOKS) <= names, names
    notebook = get_json(url + "/api/contents/02_logistic_regression.ipynb", token)
    assert notebook["type"] == "notebook"
    specs = get_json(url + "/api/kernelspecs", token)
    assert "dltut" in specs["kernelspecs"], specs
    argv = specs["kernelspecs"]["dltut"]["spec"]["argv"]
    assert pathlib.Path(argv[0]).parent == pathlib.Path(sys.executable).parent, argv
    kernel = send(url + "/api/kernels", token, "POST", {"name": "dltut"})
    assert kernel["name"] == "dltut"
    assert kernel["id"] in {k["id"] for k in get_json(url + "/api/kernels", token)}
    send(url + "/api/kernels/" + kernel["id"], token, "DELETE")
    # no "get notified about Jupyter news?" question: the news setting defaults to no
    notes = get_json(url + "/lab/api/settings/@jupyterlab/apputils-extension:notification",
                     token)["schema"]["properties"]
    assert (notes["fetchNews"]["default"], notes["checkForUpdates"]["default"]) == ("false", False)
    lab = urllib.request.urlopen(urllib.request.Request(
        url + "/lab", headers={"Authorization": "token " + token}), timeout=10)
    assert lab.status == 200


@pytest.mark.slow
@pytest.mark.skipif(not __import__("importlib").util.find_spec("jupyterlab"),
                    reason="JupyterLab is not installed: `make notebook` installs the notebook "
                           "extra (pip install -e '.[notebook]')")
def test_make_notebook_serves_the_notebooks_and_the_dltut_kernel(tmp_path):
    port, token = free_port(), "dltut-smoke-test"
    env = dict(os.environ, JUPYTER_DATA_DIR=str(tmp_path / "data"),
               JUPYTER_CONFIG_DIR=str(tmp_path / "config"),
               JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"))
    make = shutil.which("make")
    if make is None:
        pytest.skip("make is not installed")
    command = [make, "--no-print-directory", "-C", str(ROOT), "notebook", "VENV=%s" % pathlib.Path(
        sys.executable).parent.parent, "NOTEBOOK_PORT=%d" % port, "NOTEBOOK_TOKEN=" + token,
        "NOTEBOOK_INSTALL="]
    url = "http://127.0.0.1:%d" % port
    with running(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                 start_new_session=True) as process:
        try:
            status = wait_for(process, lambda: status_of(url, token), 120,
                              "an answer from JupyterLab on %s" % url, poll=0.5)
            lab_answers(url, token, status)
        finally:
            output = stop_lab(process)
    assert "http://127.0.0.1:%d/lab" % port in output, output
