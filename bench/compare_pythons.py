#!/usr/bin/env python
"""The tutorial scripts' printed numbers on every supported Python, side by side.

For each virtual environment given (default: the ``.venv`` and ``.venv-X.Y`` folders that
``make test-pythons`` builds), run, in float32 and with the tutorial's defaults:

* ``scripts/logistic_sgd.py`` to its early-stopping end (74 epochs here),
* ``scripts/mlp.py --n-epochs 1`` and ``scripts/convolutional_mlp.py --n-epochs 1``,

then print the numbers each printed (validation and test errors of every epoch line and
the summary) in one table, say whether they agree across Pythons, and whether the trained
parameters are bit for bit the same (a hash of ``best_model.npz``'s arrays).

    python bench/compare_pythons.py                 # all environments found
    python bench/compare_pythons.py --jobs mlp --venvs .venv .venv-3.13

Needs ``data/mnist.pkl.gz`` (``make data``).  Takes some minutes per environment.
"""
import argparse
import glob
import hashlib
import os
import re
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

JOBS = {
    "logistic_sgd": ["scripts/logistic_sgd.py"],
    "mlp": ["scripts/mlp.py", "--n-epochs", "1"],
    "lenet": ["scripts/convolutional_mlp.py", "--n-epochs", "1"],
}

# the numbers of the tutorial's log lines (timings excluded)
LINE = re.compile(r"(epoch \d+, minibatch \d+/\d+, (?:validation error|test error of best "
                  r"model) [0-9.]+ %)")
SUMMARY = re.compile(r"best validation error ([0-9.]+ %) at iteration (\d+) \(epoch (\d+)\), "
                     r"test error ([0-9.]+ %)")


def find_venvs():
    found = [os.path.join(ROOT, ".venv")] + sorted(glob.glob(os.path.join(ROOT, ".venv-3.*")))
    return [v for v in found if os.path.exists(os.path.join(v, "bin", "python"))]


def python_version(venv):
    out = subprocess.run([os.path.join(venv, "bin", "python"), "-c",
                          "import sys, numpy; print('%d.%d.%d' % sys.version_info[:3], "
                          "numpy.__version__)"], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def params_hash(run_dir):
    """sha256 over the arrays of best_model.npz (names, dtypes, shapes, bytes)."""
    import numpy
    digest = hashlib.sha256()
    with numpy.load(os.path.join(run_dir, "best_model.npz"), allow_pickle=False) as data:
        for name in sorted(data.files):
            array = data[name]
            digest.update(("%s %s %s" % (name, array.dtype, array.shape)).encode())
            digest.update(numpy.ascontiguousarray(array).tobytes())
    return digest.hexdigest()[:16]


def run_job(venv, job, out_dir):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["THEANO_FLAGS"] = ",".join(filter(None, [env.get("THEANO_FLAGS", ""), "floatX=float32"]))
    run_dir = os.path.join(out_dir, job)
    start = time.time()
    proc = subprocess.run([os.path.join(venv, "bin", "python")] + JOBS[job] + ["--out", run_dir],
                          cwd=ROOT, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError("%s failed in %s:\n%s" % (job, venv, proc.stderr[-2000:]))
    lines = LINE.findall(proc.stdout)
    summary = SUMMARY.search(proc.stdout)
    return {"lines": lines, "summary": summary.groups() if summary else None,
            "params": params_hash(run_dir), "seconds": time.time() - start}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--venvs", nargs="+", default=None,
                        help="virtual environments (default: .venv and .venv-3.*)")
    parser.add_argument("--jobs", nargs="+", choices=sorted(JOBS), default=list(JOBS))
    args = parser.parse_args(argv)
    venvs = args.venvs or find_venvs()
    if not venvs:
        parser.error("no virtual environment found; run `make test-pythons` first")
    results = {}
    with tempfile.TemporaryDirectory(prefix="dltut-pythons-") as tmp:
        for i, venv in enumerate(venvs):
            label = python_version(venv)
            for job in args.jobs:
                print("running %s on Python/numpy %s ..." % (job, label), file=sys.stderr,
                      flush=True)
                results[label, job] = run_job(venv, job, os.path.join(tmp, str(i)))
    labels = list(dict.fromkeys(label for label, _ in results))
    print("| script (float32) | " + " | ".join("Python %s, numpy %s" % tuple(l.split())
                                              for l in labels) + " | same |")
    print("| --- |" + " --- |" * (len(labels) + 1))
    all_same = True
    for job in args.jobs:
        cells = []
        for label in labels:
            s = results[label, job]["summary"]
            cells.append("best validation %s at iteration %s (epoch %s), test %s" % s
                         if s else "no summary line")
        same_lines = len({tuple(results[l, job]["lines"]) for l in labels}) == 1
        same_summary = len(set(cells)) == 1
        all_same &= same_lines and same_summary
        print("| %s | %s | %s |" % (job, " | ".join(cells),
                                    "yes" if same_lines and same_summary else "NO"))
        params = [results[l, job]["params"] for l in labels]
        print("| %s: epoch lines | %s | %s |" % (
            job, " | ".join("%d lines" % len(results[l, job]["lines"]) for l in labels),
            "identical" if same_lines else "differ"))
        print("| %s: parameters | %s | %s |" % (
            job, " | ".join(params), "bit-identical" if len(set(params)) == 1 else "differ"))
    print()
    print("printed numbers agree on every Python: %s" % ("yes" if all_same else "NO"))
    return 0 if all_same else 1


if __name__ == "__main__":
    sys.exit(main())
