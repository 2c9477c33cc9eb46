#!/usr/bin/env python
"""Execute the notebooks top to bottom, each in a fresh kernel of this Python, and save them
with their outputs (how the committed outputs were made); ``--quick`` shortens them as the
test suite does (``DLTUT_NOTEBOOK_QUICK=1``).

    python tools/run_notebooks.py                       # every notebook, full length, in place
    python tools/run_notebooks.py notebooks/02_*.ipynb  # some of them
    python tools/run_notebooks.py --quick --out /tmp/nb # shortened, written elsewhere

It also writes the README's figure (notebooks/figures/) from notebook 2's outputs.  The
kernel is this interpreter (``sys.executable``) whatever kernels Jupyter has registered, and
runs in the notebook's folder, so run folders go to notebooks/runs/.  It compiles into its
own Theano folder (``--compiledir``), so that other Theano processes' notes about waiting
for the shared compile lock stay out of the saved outputs.  Needs nbclient and ipykernel
(``pip install -e '.[test]'``).
"""
import argparse
import base64
import glob
import json
import os
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
NOTEBOOKS = os.path.join(HERE, "..", "notebooks")
#: The environment variable that shortens the notebooks.
QUICK_ENV = "DLTUT_NOTEBOOK_QUICK"
#: (notebook, index of the figure among its image outputs, file) for the README.
README_FIGURES = (("02_logistic_regression.ipynb", 2, "logistic_regression_templates.png"),)


def kernel_manager(kernels_dir):
    """A KernelManager for a kernel of this very interpreter, declared in ``kernels_dir``."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager
    spec_dir = os.path.join(kernels_dir, "dltut-here")
    os.makedirs(spec_dir, exist_ok=True)
    with open(os.path.join(spec_dir, "kernel.json"), "w") as handle:
        json.dump({"argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                   "display_name": "dltut (%s)" % sys.executable, "language": "python"}, handle)
    specs = KernelSpecManager(kernel_dirs=[kernels_dir])
    return KernelManager(kernel_name="dltut-here", kernel_spec_manager=specs)


def execute(path, cwd=None, quick=False, timeout=1800):
    """Run notebook ``path`` in a fresh kernel (working directory ``cwd``, by default the
    notebook's folder); returns ``(notebook, seconds)``.  Raises nbclient's
    CellExecutionError, naming the cell, if one fails."""
    import nbformat
    from nbclient import NotebookClient
    notebook = nbformat.read(path, as_version=4)
    previous = os.environ.get(QUICK_ENV)
    os.environ[QUICK_ENV] = "1" if quick else "0"
    kernels = tempfile.mkdtemp(prefix="dltut-kernels-")
    try:
        client = NotebookClient(
            notebook, km=kernel_manager(kernels), timeout=timeout, allow_errors=False,
            record_timing=False,
            resources={"metadata": {"path": cwd or os.path.dirname(os.path.abspath(path))}})
        started = time.perf_counter()
        client.execute()
        return notebook, time.perf_counter() - started
    finally:
        shutil.rmtree(kernels, ignore_errors=True)
        if previous is None:
            os.environ.pop(QUICK_ENV, None)
        else:
            os.environ[QUICK_ENV] = previous


def images(notebook):
    """The PNG images among a notebook's outputs, in order, as bytes."""
    found = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if "image/png" in data:
                found.append(base64.b64decode(data["image/png"]))
    return found


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", help="default: notebooks/*.ipynb")
    parser.add_argument("--quick", action="store_true", help="shortened, as the tests run them")
    parser.add_argument("--out", help="write the executed notebooks here (default: in place)")
    parser.add_argument("--compiledir", default=os.path.join("~", ".theano", "dltut-notebooks"),
                        help="Theano's base_compiledir for the kernels (default: %(default)s)")
    args = parser.parse_args(argv)
    flags = os.environ.get("THEANO_FLAGS", "")
    os.environ["THEANO_FLAGS"] = ",".join(filter(None, [
        flags, "base_compiledir=" + os.path.expanduser(args.compiledir)]))
    import nbformat
    paths = args.notebooks or sorted(glob.glob(os.path.join(NOTEBOOKS, "*.ipynb")))
    for path in paths:
        notebook, seconds = execute(path, quick=args.quick)
        dest = os.path.join(args.out, os.path.basename(path)) if args.out else path
        if args.out:
            os.makedirs(args.out, exist_ok=True)
        nbformat.write(notebook, dest)
        print("%s: %.0f s, %d images -> %s" % (os.path.basename(path), seconds,
                                               len(images(notebook)), dest), flush=True)
        for name, number, figure in README_FIGURES:
            if os.path.basename(path) == name and not args.quick and not args.out:
                target = os.path.join(NOTEBOOKS, "figures", figure)
                os.makedirs(os.path.dirname(target), exist_ok=True)
                with open(target, "wb") as handle:
                    handle.write(images(notebook)[number])
                print("  figure %d -> %s" % (number, os.path.normpath(target)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
