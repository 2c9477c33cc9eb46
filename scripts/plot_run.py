"""Draw the figures for a finished (or interrupted) training run.

    python scripts/plot_run.py RUN_DIR [--snapshots]

Reads the run folder the trainer writes (``history.jsonl``, ``best_model.npz``, optional
``config.json``/``summary.json`` and ``snapshots/*.npz``) and writes into it:

* ``learning_curves.png``: validation and test error (%) and training cost per validation;
* ``filters.png``: the first layer's filters from the best model (hidden units of an MLP,
  conv filters of LeNet5, class templates of a logistic regression);
* with ``--snapshots``: ``filters_epoch_XXXX.png`` for each ``snapshots/epoch_XXXX.npz``.
"""
import argparse
import os
import sys

import dltut  # noqa: F401  (first: Theano set-up, though nothing here needs Theano)
from dltut import checkpoint

import numpy

HISTORY_FILE = "history.jsonl"
BEST_MODEL_FILE = "best_model.npz"
SNAPSHOT_DIR = "snapshots"
CURVES_FILE = "learning_curves.png"
FILTERS_FILE = "filters.png"


class RunError(Exception):
    """A run folder that is missing, incomplete or unreadable."""


def load_params(path):
    """Parameter values and metadata of a run's ``.npz`` file: ``(values, meta)``."""
    try:
        return checkpoint.load_params(path)
    except checkpoint.CheckpointError as error:
        raise RunError(str(error)) from None


def load_history(path):
    """The validation records of ``history.jsonl`` (one JSON object a line), in order."""
    try:
        records = checkpoint.read_records(path)
    except FileNotFoundError:
        raise RunError("no %s in the run folder (%s)" % (HISTORY_FILE, path)) from None
    except checkpoint.CheckpointError as exc:
        raise RunError(str(exc)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RunError("cannot read %s: %s" % (path, exc)) from None
    if not records:
        raise RunError("%s has no validation records yet" % path)
    return records


def model_name(meta):
    """The model's name from parameter metadata, or "model"."""
    model = meta.get("model") if isinstance(meta, dict) else None
    if isinstance(model, dict) and model.get("name"):
        return str(model["name"])
    return "model"


def first_layer_filters(values):
    """``param_000`` if it can be drawn as filters (dense h*w-row matrix or 4-D conv W)."""
    from dltut.plot import filter_rows

    W = values[0]
    try:
        filter_rows(W)
    except ValueError:
        return None
    return W


def snapshot_png_name(npz_name):
    """``epoch_0005.npz`` -> ``filters_epoch_0005.png`` (any other stem is kept as is)."""
    stem = os.path.splitext(os.path.basename(npz_name))[0]
    return "filters_%s.png" % stem


def build_parser():
    parser = argparse.ArgumentParser(
        description="Write learning_curves.png and filters.png into a training run folder.")
    parser.add_argument("run_dir", help="the run folder written by the trainer")
    parser.add_argument("--snapshots", action="store_true",
                        help="also draw the filters of every snapshots/*.npz "
                             "(default: off)")
    return parser


def plot_run(run_dir, snapshots=False):
    """Write the run's figures; return the paths written.  Raises RunError."""
    from dltut import plot

    if not os.path.isdir(run_dir):
        raise RunError("no run folder at %s" % run_dir)
    history = load_history(os.path.join(run_dir, HISTORY_FILE))
    values, meta = load_params(os.path.join(run_dir, BEST_MODEL_FILE))
    name = model_name(meta)
    W = first_layer_filters(values)

    written = []
    title = "%s: %s" % (name, os.path.basename(os.path.normpath(os.path.abspath(run_dir))))
    try:
        written.append(plot.save_learning_curves(
            history, os.path.join(run_dir, CURVES_FILE), title=title))
    except (ValueError, TypeError) as exc:  # records lacking keys, non-numeric values
        raise RunError("cannot plot %s: %s" % (HISTORY_FILE, exc)) from None

    if W is None:
        print("plot_run: first parameter of %s has shape %s; not drawable as filters"
              % (name, values[0].shape))
    else:
        written.append(plot.save_filters(W, os.path.join(run_dir, FILTERS_FILE)))

    if snapshots:
        snap_dir = os.path.join(run_dir, SNAPSHOT_DIR)
        names = sorted(n for n in os.listdir(snap_dir) if n.endswith(".npz")) \
            if os.path.isdir(snap_dir) else []
        if not names:
            print("plot_run: no snapshots in %s" % snap_dir)
        for npz_name in names:
            snap_values, _ = load_params(os.path.join(snap_dir, npz_name))
            snap_W = first_layer_filters(snap_values)
            if snap_W is not None:
                written.append(plot.save_filters(
                    snap_W, os.path.join(run_dir, snapshot_png_name(npz_name))))
    return written


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        written = plot_run(args.run_dir, snapshots=args.snapshots)
    except RunError as exc:
        print("plot_run: error: %s" % exc, file=sys.stderr)
        return 2
    for path in written:
        print("wrote", path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
