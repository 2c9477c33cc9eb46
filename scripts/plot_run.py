"""Draw the figures for a finished (or interrupted) training run.

    python scripts/plot_run.py RUN_DIR [--snapshots]

Reads the run folder the trainer writes (``history.jsonl``, ``best_model.npz``, optional
``snapshots/*.npz``) and writes into it, each file replaced atomically (a symbolic link
there is replaced, never written through):

* ``learning_curves.png``: validation and test error (%) and training cost per validation;
* ``filters.png``: the first layer's filters from the best model (hidden units of an MLP,
  conv filters of LeNet5); for a logistic regression its ten class templates, labelled,
  with a colour bar (``dltut.plot.draw_class_templates``, the figure notebook 2 draws);
* with ``--snapshots``: ``filters_epoch_XXXX.png`` for each ``snapshots/epoch_XXXX.npz``;
* for a run with layer-wise pre-training (dA.py, cA.py, SdA.py): ``pretraining_curves.png``,
  each layer's reconstruction cost (and the like) per epoch, and ``filters_<layer>.png``
  for each pre-trained layer fed by images (``layers/NN.npz``).

A problem is one line on stderr: exit 2 for a missing or damaged run folder, 5 when the
figures cannot be written (see dltut.cli.supervised).
"""
import os
import sys

try:
    import dltut  # noqa: F401  (first: Theano set-up, though nothing here needs Theano)
    from dltut.cli.common import CLIError, OneLineParser, report_failures
    from dltut.runs import checkpoint, rundir
except KeyboardInterrupt:  # Ctrl-C while Python starts: one line, no traceback
    print("plot_run: interrupted while starting; nothing was written: run it again",
          file=sys.stderr)
    sys.exit(130)

PROG = "plot_run"


def load_params(path):
    """Parameter values and metadata of a run's ``.npz`` file: ``(values, meta)``."""
    return checkpoint.load_params(path)


def load_history(run):
    """The validation records of the run's ``history.jsonl``, in order."""
    if not run.has(rundir.HISTORY):
        raise CLIError("no %s in the run folder (%s); plot a run folder a training script wrote"
                       % (rundir.HISTORY, run.file(rundir.HISTORY)))
    records = run.read_history()
    if not records:
        raise CLIError("%s has no validation records yet; plot it after the first validation"
                       % run.file(rundir.HISTORY))
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


def save_first_layer(W, name, path, title):
    """Write ``W``'s figure at ``path``: a logistic regression's class templates (the
    figure of notebook 2), else the tiled filters."""
    from dltut import plot

    if name == "LogisticRegression" and W.ndim == 2:
        return plot.save_class_templates(W, path, title=title)
    return plot.save_filters(W, path)


def snapshot_png_name(npz_name):
    """``epoch_0005.npz`` -> ``filters_epoch_0005.png`` (any other stem is kept as is)."""
    stem = os.path.splitext(os.path.basename(npz_name))[0]
    return "filters_%s.png" % stem


def build_parser():
    parser = OneLineParser(
        prog=PROG, description="Write learning_curves.png and filters.png (and, after "
                               "pre-training, pretraining_curves.png and each layer's filters) "
                               "into a training run folder.")
    parser.add_argument("run_dir", help="the run folder written by the trainer")
    parser.add_argument("--snapshots", action="store_true",
                        help="also draw the filters of every snapshots/*.npz "
                             "(default: off)")
    return parser


def plot_run(run_dir, snapshots=False):
    """Write the run's figures; return the paths written.  Raises CLIError (or one of
    dltut's errors: a damaged file, a failed write)."""
    from dltut import plot

    if not os.path.isdir(run_dir):
        raise CLIError("no run folder at %s; check the path" % run_dir)
    run = rundir.RunDir(run_dir)
    folder_name = os.path.basename(os.path.normpath(os.path.abspath(run_dir)))
    written = []
    if run.has(rundir.PRETRAINING_HISTORY):
        from dltut.cli.pretrain import draw_pretraining
        config = run.read_json(rundir.CONFIG) or {}
        try:
            written += draw_pretraining(run, title="%s: %s" % (
                config.get("experiment", "pre-training"), folder_name))
        except (ValueError, TypeError) as exc:  # records lacking keys, non-numeric values
            raise CLIError("cannot plot %s: %s; repair or remove the damaged records" % (
                rundir.PRETRAINING_HISTORY, exc)) from None
        if not run.has(rundir.HISTORY):
            return written
    history = load_history(run)
    values, meta = run.load_params(rundir.BEST_MODEL)
    name = model_name(meta)
    W = first_layer_filters(values)

    title = "%s: %s" % (name, folder_name)
    try:
        written.append(run.write_with(rundir.CURVES, lambda path: plot.save_learning_curves(
            history, path, title=title)))
    except (ValueError, TypeError) as exc:  # records lacking keys, non-numeric values
        raise CLIError("cannot plot %s: %s; repair or remove the damaged records"
                       % (rundir.HISTORY, exc)) from None

    if W is None:
        print("plot_run: first parameter of %s has shape %s; not drawable as filters"
              % (name, values[0].shape))
    else:
        templates = "columns of W: one template per class (%s)" % folder_name
        written.append(run.write_with(rundir.FILTERS, lambda path: save_first_layer(
            W, name, path, templates)))

    if snapshots:
        names = run.snapshots()
        if not names:
            print("plot_run: no snapshots in %s" % run.file(rundir.SNAPSHOTS))
        for npz_name in names:
            snap_values, _ = run.load_params(npz_name)
            snap_W = first_layer_filters(snap_values)
            if snap_W is not None:
                stem = os.path.splitext(os.path.basename(npz_name))[0]
                if stem.startswith("epoch_") and stem[6:].isdigit():
                    stem = "epoch %d" % int(stem[6:])
                written.append(run.write_with(snapshot_png_name(npz_name), lambda path: (
                    save_first_layer(snap_W, name, path, "columns of W: one template per "
                                     "class (%s, %s)" % (folder_name, stem)))))
    return written


def plot_main(argv):
    args = build_parser().parse_args(argv)
    for path in plot_run(args.run_dir, snapshots=args.snapshots):
        print("wrote", path)
    return 0


def main(argv=None):
    return report_failures(PROG, plot_main, argv)


if __name__ == "__main__":
    sys.exit(main())
