"""The command-line front end shared by ``scripts/logistic_sgd.py``, ``mlp.py`` and
``convolutional_mlp.py``: flags -> TrainConfig -> model -> Trainer -> run folder.

No training logic lives here: this module parses, builds, calls :class:`dltut.train.Trainer`
and reports.  Theano is imported only after the device is chosen (``--device``).
"""
import argparse
import datetime
import json
import os
import platform
import shlex
import sys
import time

from . import _setup

# Each experiment's defaults are the tutorial's (logistic_sgd.py, mlp.py, convolutional_mlp.py).
EXPERIMENTS = {
    "logistic_sgd": dict(
        description="Multi-class logistic regression trained with minibatch SGD "
                    "(the tutorial's logistic_sgd.py).",
        model="LogisticRegression", learning_rate=0.13, batch_size=600, n_epochs=1000,
        L1_reg=0.0, L2_reg=0.0, patience=5000, seed=1234),
    "mlp": dict(
        description="A multi-layer perceptron (one tanh hidden layer by default) trained with "
                    "minibatch SGD and L2 regularisation (the tutorial's mlp.py).",
        model="MLP", learning_rate=0.01, batch_size=20, n_epochs=1000, L1_reg=0.0,
        L2_reg=0.0001, patience=10000, seed=1234, n_hidden=[500], activation="tanh"),
    "convolutional_mlp": dict(
        description="LeNet5: two convolution + max-pooling layers, a tanh hidden layer and "
                    "logistic regression (the tutorial's convolutional_mlp.py).",
        model="LeNet5", learning_rate=0.1, batch_size=500, n_epochs=200, L1_reg=0.0,
        L2_reg=0.0, patience=10000, seed=23455, nkerns=[20, 50], n_hidden=[500]),
}

EXIT_USAGE, EXIT_GPU, EXIT_INTERRUPTED = 2, 3, 130


class UsageError(Exception):
    """A bad flag or input: reported as one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad flag in one line (plus a pointer to --help)."""

    def error(self, message):
        self.exit(EXIT_USAGE, "%s: error: %s (see --help)\n" % (self.prog, message))


def positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be a positive integer, got %s" % text)
    return value


def non_negative_float(text):
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be >= 0, got %s" % text)
    return value


def build_parser(name):
    """The argument parser of experiment ``name`` (a key of :data:`EXPERIMENTS`)."""
    d = EXPERIMENTS[name]
    parser = _Parser(prog=name + ".py", description=d["description"],
                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    data = parser.add_argument_group("data")
    data.add_argument("--dataset", default="mnist",
                      help="'mnist' (data/mnist.pkl.gz, fetched with `python -m dltut.data fetch`), "
                           "'fashion-mnist' (Debian's dataset-fashion-mnist), or a path to a "
                           ".pkl.gz of the same structure or a folder of IDX files")
    model = parser.add_argument_group("model")
    model.add_argument("--seed", type=int, default=d["seed"],
                       help="seed of the numpy RandomState the weights are drawn from")
    if d["model"] == "MLP":
        model.add_argument("--n-hidden", type=positive_int, nargs="+", default=d["n_hidden"],
                           help="units per hidden layer (several values: several layers)")
        model.add_argument("--activation", choices=("tanh", "sigmoid", "relu"),
                           default=d["activation"], help="hidden-layer non-linearity")
    if d["model"] == "LeNet5":
        model.add_argument("--nkerns", type=positive_int, nargs="+", default=d["nkerns"],
                           help="filters in the two convolutional layers")
        model.add_argument("--n-hidden", type=positive_int, nargs="+", default=d["n_hidden"],
                           help="units of the fully connected tanh layer")
    opt = parser.add_argument_group("optimisation")
    opt.add_argument("--learning-rate", type=float, default=d["learning_rate"],
                     help="SGD step size (eta0 of a schedule)")
    opt.add_argument("--batch-size", type=positive_int, default=d["batch_size"],
                     help="examples per minibatch (1: online SGD; the training-set size: full GD)")
    opt.add_argument("--n-epochs", type=positive_int, default=d["n_epochs"],
                     help="maximum number of passes over the training set")
    opt.add_argument("--L1-reg", type=non_negative_float, default=d["L1_reg"],
                     help="weight of the L1 penalty sum(|W|)")
    opt.add_argument("--L2-reg", type=non_negative_float, default=d["L2_reg"],
                     help="weight of the squared L2 penalty sum(W**2)")
    opt.add_argument("--momentum", type=float, default=0.0,
                     help="classical momentum in [0, 1); 0 is the tutorial's plain SGD")
    opt.add_argument("--schedule", choices=("constant", "inverse", "plateau"), default="constant",
                     help="learning rate: constant; inverse = eta0/(1 + decay*epoch); plateau = "
                          "divide by --plateau-factor after --plateau-n validations without a new "
                          "best, stopping once below eta0 * --min-lr-fraction")
    opt.add_argument("--decay", type=non_negative_float, default=0.001,
                     help="d of the inverse schedule")
    opt.add_argument("--plateau-n", type=positive_int, default=10,
                     help="validations without improvement before the plateau schedule cuts the rate")
    opt.add_argument("--plateau-factor", type=float, default=2.0,
                     help="plateau schedule: divide the rate by this (2 = halve, 10 is also common)")
    opt.add_argument("--min-lr-fraction", type=float, default=1.0 / 1024,
                     help="plateau schedule: stop once the rate would fall below eta0 times this")
    stop = parser.add_argument_group("early stopping")
    stop.add_argument("--patience", type=positive_int, default=d["patience"],
                      help="look at this many minibatches regardless")
    stop.add_argument("--patience-increase", type=float, default=2,
                      help="on a significant new best, patience = max(patience, iteration * this)")
    stop.add_argument("--improvement-threshold", type=float, default=0.995,
                      help="a new best counts as significant below best * this")
    stop.add_argument("--validation-frequency", type=int, default=0,
                      help="minibatches between validations (0: min(minibatches per epoch, patience // 2))")
    run = parser.add_argument_group("run")
    run.add_argument("--out", metavar="RUN_DIR", default=None,
                     help="run folder (default: runs/%s-<timestamp>/)" % name)
    run.add_argument("--resume", metavar="RUN_DIR", default=None,
                     help="continue the run in RUN_DIR from its checkpoint, with its settings "
                          "(flags given now override them; only --n-epochs may differ)")
    run.add_argument("--save-every", type=int, default=0, metavar="N",
                     help="also save the parameters every N epochs into RUN_DIR/snapshots/ "
                          "(for plot_run.py --snapshots); 0: never")
    run.add_argument("--quiet", action="store_true",
                     help="print only the final summary (no per-validation lines, no progress bar)")
    run.add_argument("--device", default=None,
                     help="'cpu' or 'cuda' (default: Theano's configuration, else the CPU); an "
                          "unusable GPU falls back to the CPU with a warning")
    run.add_argument("--require-gpu", action="store_true",
                     help="fail (exit 3) instead of falling back to the CPU when the GPU is unusable")
    return parser


def explicit_flags(parser, argv):
    """The destinations the user actually gave on the command line."""
    probe = argparse.Namespace()
    saved = [(action, action.default) for action in parser._actions]
    try:
        for action, _ in saved:
            action.default = argparse.SUPPRESS
        parser.parse_args(argv, namespace=probe)
    finally:
        for action, default in saved:
            action.default = default
    return set(vars(probe))


def parse(name, argv):
    parser = build_parser(name)
    args = parser.parse_args(argv)
    if args.resume:
        config_path = os.path.join(args.resume, "config.json")
        try:
            with open(config_path) as handle:
                saved = json.load(handle)["args"]
        except (OSError, ValueError, KeyError) as error:
            parser.error("cannot resume from %s: %s is missing or unreadable (%s)"
                         % (args.resume, config_path, error))
        given = explicit_flags(parser, argv)
        # the run's settings come back; how this session runs (output, device) does not
        session_flags = ("resume", "out", "quiet", "device", "require_gpu")
        for key, value in saved.items():
            if key not in given and key not in session_flags:
                setattr(args, key, value)
        args.out = args.resume
    if EXPERIMENTS[name]["model"] == "LeNet5" and len(args.nkerns) != 2:
        parser.error("--nkerns takes two values (filters of the two conv layers), got %d: %s"
                     % (len(args.nkerns), " ".join(map(str, args.nkerns))))
    if EXPERIMENTS[name]["model"] == "LeNet5" and len(args.n_hidden) != 1:
        parser.error("--n-hidden takes one value for LeNet5, got %s" % args.n_hidden)
    return parser, args


def train_config(args):
    from .train import TrainConfig
    return TrainConfig(
        learning_rate=args.learning_rate, batch_size=args.batch_size, n_epochs=args.n_epochs,
        L1_reg=args.L1_reg, L2_reg=args.L2_reg, momentum=args.momentum, patience=args.patience,
        patience_increase=args.patience_increase,
        improvement_threshold=args.improvement_threshold,
        validation_frequency=args.validation_frequency, schedule=args.schedule, decay=args.decay,
        plateau_n=args.plateau_n, plateau_factor=args.plateau_factor,
        min_lr_fraction=args.min_lr_fraction)


def build(name, args, x, n_in, n_out, image_shape):
    """The experiment's model on the symbolic input ``x``, weights drawn from ``--seed``."""
    import numpy
    from .layers import LogisticRegression
    from .models import MLP, LeNet5
    rng = numpy.random.RandomState(args.seed)
    kind = EXPERIMENTS[name]["model"]
    if kind == "LogisticRegression":
        return LogisticRegression(x, n_in, n_out)
    if kind == "MLP":
        return MLP(rng, x, n_in, args.n_hidden, n_out, activation=args.activation)
    channels = n_in // (image_shape[0] * image_shape[1])
    return LeNet5(rng, x, batch_size=None, nkerns=args.nkerns, n_hidden=args.n_hidden[0],
                  image_shape=image_shape, n_channels=channels, n_out=n_out)


def default_run_dir(name):
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    return os.path.join("runs", "%s-%s" % (name, stamp))


def write_json(path, value):
    from .checkpoint import atomic_write_bytes
    atomic_write_bytes(path, (json.dumps(value, indent=2, sort_keys=True) + "\n").encode())


def run(name, argv=None):
    """Parse ``argv``, train, write the run folder; returns the process exit code."""
    parser, args = parse(name, argv)
    say = (lambda *a: None) if args.quiet else (lambda *a: print(*a, flush=True))
    from . import device
    try:
        device.use_device(args.device, require_gpu=args.require_gpu)
    except device.GPUUnavailable as error:
        print("%s: error: %s" % (parser.prog, error), file=sys.stderr)
        return EXIT_GPU
    except ValueError as error:
        parser.error(str(error))

    from .checkpoint import CheckpointError
    from .data import DatasetError, load_dataset
    try:
        config = train_config(args)
    except ValueError as error:
        parser.error(str(error))
    try:
        splits = load_dataset(args.dataset)
    except DatasetError as error:  # says itself what to do: no pointer to --help
        print("%s: error: %s" % (parser.prog, error), file=sys.stderr)
        return EXIT_USAGE

    import theano
    import theano.tensor as T
    from .data import shared_datasets
    from .train import Trainer, compile_functions

    (train_x, _), _, _ = splits
    n_in = train_x.shape[1]
    n_out = int(max(int(s[1].max()) for s in splits)) + 1
    side = int(round(n_in ** 0.5))
    image_shape = (side, side) if side * side == n_in else None
    if EXPERIMENTS[name]["model"] == "LeNet5" and image_shape is None:
        parser.error("LeNet5 needs square images; %s has %d features per example"
                     % (args.dataset, n_in))
    run_dir = args.out or default_run_dir(name)
    os.makedirs(run_dir, exist_ok=True)
    say("%s: %d train / %d valid / %d test examples of %d features, %d classes; "
        "device %s, floatX %s; run folder %s" % (
            args.dataset, len(splits[0][1]), len(splits[1][1]), len(splits[2][1]), n_in, n_out,
            theano.config.device, theano.config.floatX, run_dir))

    x, y = T.matrix("x"), T.ivector("y")
    try:
        model = build(name, args, x, n_in, n_out, image_shape or (1, n_in))
        datasets = shared_datasets(splits)
        say("building %r and compiling the train/validate/test functions..." % (model,))
        compiled = compile_functions(model, x, y, datasets, config)
    except ValueError as error:
        parser.error(str(error))
    say("compiled in %.1f s" % compiled.compile_seconds)

    from .info import numerics, numerics_change
    meta = {"dataset": args.dataset, "experiment": name, "seed": args.seed,
            "numerics": numerics()}
    trainer = Trainer(compiled, config, model=model, run_dir=run_dir, log=say,
                      progress=None if not args.quiet else False, meta=meta)
    if args.resume:
        try:
            saved = trainer.load_checkpoint(os.path.join(run_dir, "checkpoint.npz"))
        except CheckpointError as error:
            print("%s: error: %s" % (parser.prog, error), file=sys.stderr)
            return EXIT_USAGE
        say("resumed from %s at epoch %d, iteration %d"
            % (run_dir, trainer.state["epoch"], trainer.state["iterations"]))
        change = numerics_change(saved.get("numerics"), meta["numerics"])
        if change:
            print("%s: %s" % (parser.prog, change), file=sys.stderr, flush=True)
    if not trainer.finished():
        write_json(os.path.join(run_dir, "config.json"), {
            "experiment": name, "args": {k: v for k, v in vars(args).items()},
            "train_config": config.to_dict(), "model": model.spec(),
            "command": " ".join(["python", "scripts/%s.py" % name] + [
                shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:])]),
            "theano_flags": {"device": theano.config.device, "floatX": theano.config.floatX,
                             "blas.ldflags": theano.config.blas.ldflags},
            "blas": _setup.STATE.get("blas").reason if _setup.STATE.get("blas") else None,
            "numerics": meta["numerics"],
            "python": platform.python_version(), "theano": theano.__version__,
            "started": datetime.datetime.now().isoformat(timespec="seconds"),
        })
    if args.save_every > 0:
        trainer.on_epoch_end = snapshot_saver(trainer, run_dir, args.save_every)

    started = time.perf_counter()
    result = trainer.run()
    summary = {
        "best_validation_error": result.best_validation_loss,
        "best_validation_error_all": result.best_validation_loss_all,
        "test_error": result.test_score, "test_error_all": result.test_score_all,
        "best_iteration": result.best_iteration, "best_epoch": result.best_epoch,
        "epochs": result.epochs, "iterations": result.iterations,
        "stopped_by": result.stopped_by, "seconds_per_epoch": result.seconds_per_epoch,
        "compile_seconds": result.compile_seconds, "train_seconds": result.wall_seconds,
        "wall_seconds_this_session": time.perf_counter() - started,
        "n_valid": compiled.n_examples["valid"], "n_test": compiled.n_examples["test"],
    }
    write_json(os.path.join(run_dir, "summary.json"), summary)
    if result.interrupted:
        print("%s: interrupted at epoch %d; resume with: python scripts/%s.py --resume %s"
              % (parser.prog, result.epochs, name, run_dir), file=sys.stderr)
        return EXIT_INTERRUPTED
    print(summary_line(summary, run_dir), flush=True)
    return 0


def summary_line(s, run_dir):
    """The final line of a run (the tutorial's "Optimization complete" with more facts)."""
    return ("Optimization complete: best validation error %f %% at iteration %s (epoch %s), "
            "test error %f %% (tutorial's whole-minibatch scoring; over all %d/%d examples: "
            "validation %f %%, test %f %%); %d epochs, %.2f s/epoch, compile %.1f s, stopped by %s. "
            "Run folder: %s" % (
                s["best_validation_error"] * 100, s["best_iteration"], s["best_epoch"],
                s["test_error"] * 100, s["n_valid"], s["n_test"],
                s["best_validation_error_all"] * 100, s["test_error_all"] * 100, s["epochs"],
                s["seconds_per_epoch"], s["compile_seconds"], s["stopped_by"], run_dir))


def snapshot_saver(trainer, run_dir, every):
    """A callback saving the current parameters every ``every`` epochs to snapshots/."""
    from .checkpoint import save_params

    def save(epoch):
        if epoch % every == 0:
            save_params(os.path.join(run_dir, "snapshots", "epoch_%04d.npz" % epoch),
                        [p.get_value(borrow=True) for p in trainer.fns.params],
                        {"model": trainer.model_spec, "epoch": epoch})
    return save


def main_for(name):
    """A ``main(argv=None)`` for experiment ``name``, as each script exposes it."""
    def main(argv=None):
        return run(name, argv)
    main.__doc__ = EXPERIMENTS[name]["description"]
    return main
