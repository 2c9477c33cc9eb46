"""``scripts/lstm.py``: train the LSTM sentiment classifier (the tutorial's ``lstm.py``) on
an ``imdb.pkl``-style file.

The tutorial's run (``train_lstm(max_epochs=100, test_size=500)`` with its defaults): 128
LSTM units and embedding dimensions, 10 000 words, sentences under 100 words, batches of 16
(64 to evaluate), AdaDelta, dropout, 5 % of the training set held out, validation every 370
updates, patience 10, seed 123.  IMDB itself cannot be downloaded here: by default the script
trains on ``data/imdb-synthetic.pkl`` (written the first time, see
:mod:`dltut.datasets.imdb`: synthetic sentences, not reviews); ``--dataset PATH`` takes a real
``imdb.pkl``.  Training is :class:`dltut.training.SequenceTrainer`: a run folder with a
checkpoint at the end of every epoch (and every few minutes), Ctrl-C writing one,
``--resume`` continuing, a diverged run stopped with a hint.  It prints the tutorial's lines
(``Epoch  0 Update  10 Cost  0.69...``, ``Train  ... Valid  ... Test  ...``, ``Early Stop!``,
``Seen N samples``).
"""
import argparse
import sys

from .common import (EXIT_DIVERGED, EXIT_INTERRUPTED, CLIError,
                     DefaultsHelpFormatter, OneLineParser, report_failures, script_command)
from .. import checks

__all__ = ["build_parser", "main", "DEFAULTS", "build"]

NAME = "lstm"
#: The tutorial's train_lstm() defaults, and its __main__'s max_epochs and test_size.
DEFAULTS = dict(dim_proj=128, patience=10, max_epochs=100, dispFreq=10, decay_c=0.,
                lrate=0.0001, n_words=10000, optimizer="adadelta", validFreq=370, maxlen=100,
                batch_size=16, valid_batch_size=64, use_dropout=True, test_size=500,
                valid_portion=0.05, seed=123)
#: The flags a resumed run may change; the rest come from the run's config.json.
CHANGEABLE = ("max_epochs", "quiet")


def build_parser():
    d = DEFAULTS
    parser = OneLineParser(prog="lstm.py", formatter_class=DefaultsHelpFormatter,
                           description="Train an LSTM sentiment classifier on an imdb.pkl-style "
                                       "file (the tutorial's lstm.py).")
    number = checks.flag_type
    parser.add_argument("--dataset", default=None,
                        help="an imdb.pkl-style file (two pickles: training and test set); "
                             "(default: data/imdb-synthetic.pkl, synthetic sentences written "
                             "by python -m dltut.data fetch imdb-synthetic if absent)")
    parser.add_argument("--max-epochs", type=number(checks.positive_int), default=d["max_epochs"])
    parser.add_argument("--patience", type=number(checks.non_negative_int), default=d["patience"],
                        help="validations without progress before the early stop")
    parser.add_argument("--disp-freq", dest="dispFreq", type=number(checks.positive_int),
                        default=d["dispFreq"], help="print the cost every N updates")
    parser.add_argument("--valid-freq", dest="validFreq", type=int, default=d["validFreq"],
                        help="validate every N updates (-1: once an epoch)")
    parser.add_argument("--dim-proj", type=number(checks.positive_int), default=d["dim_proj"],
                        help="embedding dimension and LSTM units")
    parser.add_argument("--n-words", type=number(checks.positive_int), default=d["n_words"],
                        help="vocabulary size (rarer words become 1, unknown)")
    parser.add_argument("--maxlen", type=number(checks.positive_int), default=d["maxlen"],
                        help="training sentences of this many words or more are dropped")
    parser.add_argument("--batch-size", type=number(checks.positive_int), default=d["batch_size"])
    parser.add_argument("--valid-batch-size", type=number(checks.positive_int),
                        default=d["valid_batch_size"])
    parser.add_argument("--optimizer", choices=("adadelta", "rmsprop", "sgd"),
                        default=d["optimizer"])
    parser.add_argument("--lrate", type=number(checks.positive_float), default=d["lrate"],
                        help="SGD's learning rate (AdaDelta and RMSProp use their own)")
    parser.add_argument("--decay-c", type=number(checks.non_negative_float),
                        default=d["decay_c"], help="weight decay of the classifier's U")
    parser.add_argument("--no-dropout", dest="use_dropout", action="store_false",
                        help="no dropout before the classifier")
    parser.add_argument("--test-size", type=int, default=d["test_size"],
                        help="keep this many random test sentences (<= 0: all)")
    parser.add_argument("--valid-portion", type=number(checks.unit_level),
                        default=d["valid_portion"],
                        help="fraction of the training set held out for validation")
    parser.add_argument("--seed", type=number(checks.seed_int), default=d["seed"],
                        help="seed of the numpy RandomState (123, the tutorial's)")
    parser.add_argument("--out", default=None,
                        help="the run folder (default: a new runs/lstm-<timestamp>)")
    parser.add_argument("--resume", default=None, metavar="RUN_DIR",
                        help="continue the run in RUN_DIR (its settings; --max-epochs may "
                             "change)")
    parser.add_argument("--quiet", action="store_true", help="print nothing but errors")
    return parser


def _explicit(argv):
    """The flags given on the command line (their dest names)."""
    parser = build_parser()
    for action in parser._actions:
        action.default = argparse.SUPPRESS
    return set(vars(parser.parse_args(argv)))


def dataset_path(dataset, say):
    """``--dataset``, or the synthetic file (written once if absent)."""
    from ..datasets import imdb
    if dataset is not None:
        return dataset
    from ..data import default_data_dir
    path = default_data_dir() / imdb.IMDB_SYNTHETIC_FILE
    if not path.is_file():
        say("writing %s (once): %s" % (path, imdb.describe_synthetic()))
        imdb.fetch_imdb_synthetic(path, quiet=True)
    return str(path)


def build(args, say=print):
    """Data, model and compiled functions for ``args`` (the parsed flags), drawn from one
    ``RandomState(args.seed)`` in the tutorial's order; returns a dict with ``train``,
    ``valid``, ``test``, ``tparams``, ``options``, ``rng``, ``use_noise``, ``f_pred``,
    ``f_pred_prob``, ``f_train`` and ``state`` (the shared variables besides the
    parameters that the functions change)."""
    import numpy

    from ..datasets import imdb
    from ..recurrent import lstm
    from ..training import updated_shared_variables
    if args.validFreq < 1 and args.validFreq != -1:
        raise CLIError("--valid-freq must be a positive integer or -1, got %d; give e.g. 370"
                       % args.validFreq)
    for flag, value in (("--n-words", args.n_words), ("--maxlen", args.maxlen)):
        if value < 2:
            raise CLIError("%s must be at least 2, got %d; give e.g. 100" % (flag, value))
    rng = numpy.random.RandomState(args.seed)
    say("Loading data")
    train, valid, test = imdb.load_data(args.dataset, n_words=args.n_words,
                                        valid_portion=args.valid_portion, maxlen=args.maxlen,
                                        rng=rng)
    if not valid[0]:
        raise CLIError("the validation set is empty; raise --valid-portion above %g"
                       % args.valid_portion)
    if args.test_size > 0:  # a random selection: the test set is sorted by length
        idx = numpy.arange(len(test[0]))
        rng.shuffle(idx)
        idx = idx[:args.test_size]
        test = ([test[0][n] for n in idx], [test[1][n] for n in idx])
    options = lstm.model_options(dim_proj=args.dim_proj, n_words=args.n_words,
                                 ydim=int(numpy.max(train[1])) + 1, use_dropout=args.use_dropout)
    say("model options %s" % dict(options, maxlen=args.maxlen, batch_size=args.batch_size,
                                  optimizer=args.optimizer, decay_c=args.decay_c))
    say("Building model")
    tparams = lstm.init_tparams(lstm.init_params(options, rng))
    use_noise, x, mask, y, f_pred_prob, f_pred, cost = lstm.build_model(tparams, options)
    cost = lstm.weight_decay(cost, tparams, args.decay_c)
    f_train = lstm.build_optimizer(args.optimizer, cost, tparams, [x, mask, y], args.lrate)
    state = []
    for variable in updated_shared_variables(f_train) + updated_shared_variables(f_pred):
        if not any(variable is v for v in list(tparams.values()) + state):
            state.append(variable)
    return dict(train=train, valid=valid, test=test, tparams=tparams, options=options, rng=rng,
                use_noise=use_noise, f_pred=f_pred, f_pred_prob=f_pred_prob, f_train=f_train,
                state=state)


def _run(argv):
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
        import theano

        from ..recurrent import lstm
        from ..training import SequenceTrainer
        args.dataset = dataset_path(args.dataset, say)
        built = build(args, say)
        say("Optimization")
        trainer = SequenceTrainer(
            built["f_train"], built["f_pred"], built["use_noise"], lstm.prepare_data,
            lstm.pred_error, lstm.get_minibatches_idx, built["train"], built["valid"],
            built["test"], built["tparams"], built["state"], built["rng"],
            batch_size=args.batch_size, valid_batch_size=args.valid_batch_size,
            max_epochs=args.max_epochs, dispFreq=args.dispFreq, validFreq=args.validFreq,
            patience=args.patience, run_dir=run_dir, log=say,
            meta={"dataset": args.dataset, "options": built["options"]})
        for name in ("train", "valid", "test"):
            say("%d %s examples" % (len(built[name][0]), name))
        if args.resume:
            trainer.load_checkpoint()
            say("resumed at epoch %d, update %d" % (trainer.state.epoch, trainer.state.uidx))
        else:
            run_dir.write_json(CONFIG, {"experiment": NAME, "args": vars(args),
                                        "floatX": theano.config.floatX})
        started = True
        result = trainer.run()
        if result.diverged:
            raise CLIError("training diverged (%s); try another --optimizer or a smaller "
                           "--lrate" % result.divergence, EXIT_DIVERGED)
        if result.interrupted:
            raise CLIError("interrupted; the last checkpoint is kept: resume with: %s"
                           % script_command(NAME, "--resume", run_dir), EXIT_INTERRUPTED)
        if not args.quiet:
            print("Training took %.1fs" % result.wall_seconds, file=sys.stderr, flush=True)
        run_dir.write_json(SUMMARY, {"train_err": result.train_err,
                                     "valid_err": result.valid_err,
                                     "test_err": result.test_err, "epochs": result.epochs,
                                     "updates": result.updates, "stopped_by": result.stopped_by,
                                     "seconds": round(result.wall_seconds, 3),
                                     "history": result.history})
        return 0
    finally:
        if started:
            run_dir.unlock()
        else:
            run_dir.abandon()


def main(argv=None):
    """Parse ``argv``, train, write the run folder; returns the process exit code."""
    return report_failures("lstm.py", _run, argv)


if __name__ == "__main__":
    sys.exit(main())
