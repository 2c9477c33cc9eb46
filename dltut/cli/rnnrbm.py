"""``scripts/rnnrbm.py``: train the RNN-RBM on Bach's chorales (or a Nottingham-style MIDI
folder) and write generated pieces (the tutorial's ``rnnrbm.py``).

The tutorial's run: 150 hidden units, 100 recurrent, lr 0.001, chunks of 100 time steps,
200 epochs, seed 0xbeef, two generated pieces.  Training is dltut's one pre-training loop
(:class:`dltut.training.Pretrainer` over :class:`dltut.recurrent.EpochChunks`): a run folder
with a checkpoint at the end of every epoch (and every few minutes), Ctrl-C writing one,
``--resume`` continuing bit for bit, a diverged run stopped.  Each epoch prints the tutorial's
two lines (``Epoch 1/200`` and the mean monitor).  The run folder then gets
``sample<N>.mid`` and ``sample<N>.png`` (the piano roll) per generated piece.
"""
import argparse
import os
import shlex
import sys
import time

from .common import (EXIT_DIVERGED, EXIT_INTERRUPTED, CLIError,
                     DefaultsHelpFormatter, OneLineParser, report_failures, script_command)
from .. import checks

__all__ = ["build_parser", "main", "DEFAULTS"]

NAME = "rnnrbm"
#: The tutorial's RnnRbm() and train() defaults.
DEFAULTS = dict(n_hidden=150, n_hidden_recurrent=100, learning_rate=0.001, batch_size=100,
                epochs=200, seed=0xbeef, dt=0.3, samples=2)
#: The flags a resumed run may change; the rest come from the run's config.json.
CHANGEABLE = ("epochs", "samples", "quiet")


def build_parser():
    d = DEFAULTS
    parser = OneLineParser(prog="rnnrbm.py", formatter_class=DefaultsHelpFormatter,
                           description="Train an RNN-RBM on piano rolls and generate music "
                                       "(the tutorial's rnnrbm.py).")
    number = checks.flag_type
    parser.add_argument("--dataset", default=None,
                        help="a piano-roll file (.npz of python -m dltut.data fetch jsb) or a "
                             "folder with train/, valid/, test/ of .mid files (Nottingham); "
                             "(default: data/jsb.npz, built from music21's chorales if absent)")
    parser.add_argument("--epochs", type=number(checks.positive_int), default=d["epochs"])
    parser.add_argument("--batch-size", type=number(checks.positive_int),
                        default=d["batch_size"], help="time steps per SGD step")
    parser.add_argument("--learning-rate", type=number(checks.positive_float),
                        default=d["learning_rate"])
    parser.add_argument("--n-hidden", type=number(checks.positive_int), default=d["n_hidden"],
                        help="hidden units of each time step's RBM")
    parser.add_argument("--n-hidden-recurrent", type=number(checks.positive_int),
                        default=d["n_hidden_recurrent"], help="units of the RNN")
    parser.add_argument("--seed", type=number(checks.seed_int), default=d["seed"],
                        help="seed of the numpy RandomState (0xbeef, the tutorial's)")
    parser.add_argument("--dt", type=number(checks.positive_float), default=d["dt"],
                        help="seconds per time step: reading a MIDI folder and writing the "
                             "generated pieces")
    parser.add_argument("--samples", type=number(checks.non_negative_int),
                        default=d["samples"], help="pieces to generate after training")
    parser.add_argument("--out", default=None,
                        help="the run folder (default: a new runs/rnnrbm-<timestamp>)")
    parser.add_argument("--resume", default=None, metavar="RUN_DIR",
                        help="continue the run in RUN_DIR (its settings; --epochs, --samples "
                             "may change)")
    parser.add_argument("--quiet", action="store_true", help="print nothing but errors")
    return parser


def _explicit(argv):
    """The flags given on the command line (their dest names)."""
    parser = build_parser()
    for action in parser._actions:
        action.default = argparse.SUPPRESS
    return set(vars(parser.parse_args(argv)))


def load_rolls(dataset, dt, say):
    """``(train, valid, test)`` piano rolls from ``--dataset`` (see the flag)."""
    from ..datasets import jsb
    if dataset is None:
        from ..data import default_data_dir
        path = default_data_dir() / jsb.JSB_FILE
        if not path.is_file():
            say("building %s from music21's chorales (once; a few minutes)" % path)
            jsb.fetch_jsb(path, quiet=True)
        return jsb.load_rolls(path), str(path)
    if os.path.isdir(dataset):
        return jsb.load_midi_folder(dataset, dt=dt), dataset
    return jsb.load_rolls(dataset), dataset


def _run(argv):
    import json

    from ..runs.rundir import CONFIG, SUMMARY, RunDir
    parser = build_parser()
    args = parser.parse_args(argv)
    say = (lambda *a: None) if args.quiet else (lambda line: print(line, flush=True))
    if args.resume:
        if args.out:
            raise CLIError("give --resume or --out, not both; --resume continues its own folder")
        run_dir = RunDir.open(args.resume)
        saved = run_dir.read_json(CONFIG).get("args", {})
        given = _explicit(argv)
        for key, value in saved.items():
            if key not in ("resume", "out") and not (key in CHANGEABLE and key in given):
                setattr(args, key, value)
    else:
        run_dir = RunDir.create(args.out, script=NAME)
    started = False
    try:
        import numpy
        import theano

        from ..datasets import jsb
        from ..plot import save_piano_roll
        from ..recurrent import EpochChunks, RnnRbm
        from ..training import Pretrainer, PretrainLayer, updated_shared_variables
        (train, valid, test), source = load_rolls(args.dataset, args.dt, say)
        say("%s: %d training pieces, %d time steps" % (source, len(train),
                                                      sum(len(t) for t in train)))
        model = RnnRbm(n_hidden=args.n_hidden, n_hidden_recurrent=args.n_hidden_recurrent,
                       lr=args.learning_rate, dt=args.dt,
                       numpy_rng=numpy.random.RandomState(args.seed))
        chunks = EpochChunks(model, train, args.batch_size)
        shared = updated_shared_variables(model.train_function)
        state = [v for v in shared if not any(v is p for p in model.params)] + chunks.state
        trainer = None

        def summarize(costs):   # the tutorial's numpy.mean, and its 1-based epoch number
            return {"monitor": numpy.mean(costs, dtype="float64"),
                    "epoch_number": trainer.state.epoch + 1}
        layer = PretrainLayer("rnnrbm", chunks, model.params, state=state,
                              outputs=("monitor",), summarize=summarize,
                              log_format="Epoch {epoch_number:.0f}/%d\n{monitor!r}" % args.epochs)
        trainer = Pretrainer([layer], chunks.n_batches, args.epochs, run_dir=run_dir, log=say)
        if args.resume:
            trainer.load_checkpoint()
            say("resumed at epoch %d" % trainer.state.epoch)
        else:
            run_dir.write_json(CONFIG, {
                "experiment": NAME, "args": vars(args), "floatX": theano.config.floatX,
                "source": source, "command": " ".join(["python", "scripts/%s.py" % NAME] + [
                    shlex.quote(str(a)) for a in (argv if argv is not None else sys.argv[1:])])})
        started = True
        begun = time.perf_counter()
        result = trainer.run()
        seconds = time.perf_counter() - begun
        if result.diverged:
            raise CLIError("training diverged (%s); try a smaller --learning-rate"
                           % result.divergence, EXIT_DIVERGED)
        if result.interrupted:
            raise CLIError("interrupted; the last checkpoint is kept: resume with: %s"
                           % script_command(NAME, "--resume", run_dir), EXIT_INTERRUPTED)
        written = []
        for number in range(1, args.samples + 1):
            roll = model.generate()
            midi = jsb.write_midi(run_dir.file("sample%d.mid" % number), roll, model.r, args.dt)
            figure = run_dir.write_with("sample%d.png" % number, lambda path: save_piano_roll(
                roll, path, model.r, args.dt, "generated piano roll %d" % number))
            written += [str(midi), figure]
        run_dir.write_json(SUMMARY, {
            "experiment": NAME, "history": trainer.history, "seconds": round(seconds, 3),
            "samples": written, "stopped_by": result.stopped_by, "epochs": result.epochs[0],
            "train_seconds": result.wall_seconds, "seconds_per_epoch": result.seconds_per_epoch})
        for path in written:
            say("wrote %s" % path)
        return 0
    finally:
        if started:
            run_dir.unlock()
        else:
            run_dir.abandon()


def main(argv=None):
    """Parse ``argv``, train, write the run folder; returns the process exit code."""
    return report_failures("rnnrbm.py", _run, argv)


if __name__ == "__main__":
    sys.exit(main())
