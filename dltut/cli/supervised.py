"""The command-line front end shared by ``scripts/logistic_sgd.py``, ``mlp.py`` and
``convolutional_mlp.py``: flags -> TrainConfig -> model -> Trainer -> run folder.

No training logic lives here: this module parses, builds, calls :class:`dltut.training.Trainer`
and reports.  Theano is imported only after the device is chosen (``--device``).  How every
script fails (:class:`CLIError`, :func:`report_failures`, the exit codes) and the flag types
are :mod:`dltut.cli.common`'s.
"""
import argparse
import datetime
import os
import platform
import shlex
import sys
import time

from ..runtime import setup
# all of common's names: this module (dltut.experiment before) had them, and its users use them
from .common import (  # noqa: F401
    CHECKPOINT_FIX, DATASET_FIX, EXIT_BUSY, EXIT_DIVERGED, EXIT_GPU, EXIT_INTERRUPTED, EXIT_IO,
    EXIT_USAGE, RUN_DIR_FIX, WRITE_FIX, CLIError, DefaultsHelpFormatter, OneLineParser,
    error_line, finite_float, level, non_negative_float, non_negative_int, positive_float,
    positive_int, report_failures, script_command, seed_int, usage_error, with_fix)

__all__ = ["EXPERIMENTS", "ModelRecipe", "LogisticRegressionRecipe", "MLPRecipe", "LeNet5Recipe",
           "MODELS", "SESSION_FLAGS", "CHANGEABLE_ON_RESUME", "build_parser", "add_schedule_flags",
           "add_stopping_flags", "add_dataset_flag", "add_run_flags", "explicit_flags",
           "restore_settings", "parse", "restore_resumed", "train_config", "choose_device",
           "claim_run_dir", "model_spec", "check_fits_in_memory", "load_data", "build",
           "build_and_compile", "make_trainer", "resume", "write_config", "report",
           "interrupted_message", "write_failure_message", "quiet_or_say", "run", "summary_line",
           "snapshot_saver", "main_for"]

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


class ModelRecipe:
    """What one of the first chapters' models adds to its script: its flags (their defaults
    are :data:`EXPERIMENTS`'), their checks, its spec (for the size check) and the model."""
    name = None
    #: Whether the model takes square images (LeNet5's convolutions).
    needs_images = False

    def add_flags(self, model, d):
        """The model's flags, into the parser's "model" group."""

    def check(self, parser, args):
        """``parser.error`` for flags the model cannot take."""

    def spec(self, args, n_in, n_out, image_shape):
        return {"name": self.name, "n_in": n_in, "n_out": n_out}

    def build(self, rng, args, x, n_in, n_out, image_shape):
        raise NotImplementedError


class LogisticRegressionRecipe(ModelRecipe):
    """logistic_sgd.py: no hidden layer, no flags of its own."""
    name = "LogisticRegression"

    def build(self, rng, args, x, n_in, n_out, image_shape):
        from ..layers import LogisticRegression
        return LogisticRegression(x, n_in, n_out)


class MLPRecipe(ModelRecipe):
    """mlp.py: hidden layers of ``--n-hidden`` units."""
    name = "MLP"

    def add_flags(self, model, d):
        model.add_argument("--n-hidden", type=positive_int, nargs="+", default=d["n_hidden"],
                           help="units per hidden layer (several values: several layers)")
        model.add_argument("--activation", choices=("tanh", "sigmoid", "relu"),
                           default=d["activation"], help="hidden-layer non-linearity")

    def spec(self, args, n_in, n_out, image_shape):
        return {"name": self.name, "n_in": n_in, "n_hidden": list(args.n_hidden),
                "n_out": n_out}

    def build(self, rng, args, x, n_in, n_out, image_shape):
        from ..models import MLP
        return MLP(rng, x, n_in, args.n_hidden, n_out, activation=args.activation)


class LeNet5Recipe(ModelRecipe):
    """convolutional_mlp.py: two convolution + pooling layers, one tanh layer."""
    name = "LeNet5"
    needs_images = True

    def add_flags(self, model, d):
        model.add_argument("--nkerns", type=positive_int, nargs="+", default=d["nkerns"],
                           help="filters in the two convolutional layers")
        model.add_argument("--n-hidden", type=positive_int, nargs="+", default=d["n_hidden"],
                           help="units of the fully connected tanh layer")

    def check(self, parser, args):
        if len(args.nkerns) != 2:
            parser.error("--nkerns takes two values (filters of the two conv layers), got %d: "
                         "%s; give two, e.g. --nkerns 20 50"
                         % (len(args.nkerns), " ".join(map(str, args.nkerns))))
        if len(args.n_hidden) != 1:
            parser.error("--n-hidden takes one value for LeNet5, got %s; give one, e.g. "
                         "--n-hidden 500" % " ".join(map(str, args.n_hidden)))

    def spec(self, args, n_in, n_out, image_shape):
        height, width = image_shape
        return {"name": self.name, "nkerns": list(args.nkerns), "n_hidden": args.n_hidden[0],
                "image_shape": [height, width], "n_channels": n_in // (height * width),
                "n_out": n_out}

    def build(self, rng, args, x, n_in, n_out, image_shape):
        from ..models import LeNet5
        channels = n_in // (image_shape[0] * image_shape[1])
        return LeNet5(rng, x, batch_size=None, nkerns=args.nkerns, n_hidden=args.n_hidden[0],
                      image_shape=image_shape, n_channels=channels, n_out=n_out)


#: Each experiment's model ("model" in :data:`EXPERIMENTS`) and what it adds to the script.
MODELS = {recipe.name: recipe() for recipe in (LogisticRegressionRecipe, MLPRecipe,
                                               LeNet5Recipe)}

#: Flags that say how this session runs, not what the run is: never taken from a run folder.
SESSION_FLAGS = ("resume", "out", "quiet", "device", "require_gpu")
#: Settings a resumed run takes from its folder but that may be given anew.
CHANGEABLE_ON_RESUME = ("n_epochs", "save_every", "checkpoint_every")


# --------------------------------------------------------------------------- parsing
def build_parser(name):
    """The argument parser of experiment ``name`` (a key of :data:`EXPERIMENTS`)."""
    d = EXPERIMENTS[name]
    parser = OneLineParser(prog=name + ".py", description=d["description"],
                           formatter_class=DefaultsHelpFormatter)
    add_dataset_flag(parser)
    model = parser.add_argument_group("model")
    model.add_argument("--seed", type=seed_int, default=d["seed"],
                       help="seed of the numpy RandomState the weights are drawn from")
    MODELS[d["model"]].add_flags(model, d)
    opt = parser.add_argument_group("optimisation")
    opt.add_argument("--learning-rate", type=positive_float, default=d["learning_rate"],
                     help="SGD step size (eta0 of a schedule)")
    opt.add_argument("--batch-size", type=positive_int, default=d["batch_size"],
                     help="examples per minibatch (1: online SGD; the training-set size: full GD)")
    opt.add_argument("--n-epochs", type=positive_int, default=d["n_epochs"],
                     help="maximum number of passes over the training set")
    opt.add_argument("--L1-reg", type=non_negative_float, default=d["L1_reg"],
                     help="weight of the L1 penalty sum(|W|)")
    opt.add_argument("--L2-reg", type=non_negative_float, default=d["L2_reg"],
                     help="weight of the squared L2 penalty sum(W**2)")
    add_schedule_flags(opt)
    add_stopping_flags(parser, positive_int, d["patience"],
                       "look at this many minibatches regardless")
    add_run_flags(parser, name, CHANGEABLE_ON_RESUME)
    return parser


def add_schedule_flags(opt):
    """``--momentum`` and the learning-rate schedule's flags, into argument group ``opt``."""
    opt.add_argument("--momentum", type=finite_float, default=0.0,
                     help="classical momentum in [0, 1); 0 is the tutorial's plain SGD")
    opt.add_argument("--schedule", choices=("constant", "inverse", "plateau"), default="constant",
                     help="learning rate: constant; inverse = eta0/(1 + decay*epoch); plateau = "
                          "divide by --plateau-factor after --plateau-n validations without a new "
                          "best, stopping once below eta0 * --min-lr-fraction")
    opt.add_argument("--decay", type=non_negative_float, default=0.001,
                     help="d of the inverse schedule")
    opt.add_argument("--plateau-n", type=positive_int, default=10,
                     help="validations without improvement before the plateau schedule cuts the rate")
    opt.add_argument("--plateau-factor", type=finite_float, default=2.0,
                     help="plateau schedule: divide the rate by this (2 = halve, 10 is also common)")
    opt.add_argument("--min-lr-fraction", type=finite_float, default=1.0 / 1024,
                     help="plateau schedule: stop once the rate would fall below eta0 times this")


def add_stopping_flags(parser, patience_type, patience, patience_help, title="early stopping"):
    """The early-stopping group: ``--patience`` (of ``patience_type``, default ``patience``),
    ``--patience-increase``, ``--improvement-threshold``, ``--validation-frequency``."""
    stop = parser.add_argument_group(title)
    stop.add_argument("--patience", type=patience_type, default=patience, help=patience_help)
    stop.add_argument("--patience-increase", type=finite_float, default=2,
                      help="on a significant new best, patience = max(patience, iteration * this)")
    stop.add_argument("--improvement-threshold", type=finite_float, default=0.995,
                      help="a new best counts as significant below best * this")
    stop.add_argument("--validation-frequency", type=non_negative_int, default=0,
                      help="minibatches between validations (0: min(minibatches per epoch, patience // 2))")


def add_dataset_flag(parser):
    """The ``data`` group: ``--dataset``."""
    data = parser.add_argument_group("data")
    data.add_argument("--dataset", default="mnist",
                      help="'mnist' (data/mnist.pkl.gz, fetched with `python -m dltut.data fetch`), "
                           "'fashion-mnist' (Debian's dataset-fashion-mnist), or a path to a "
                           ".pkl.gz of the same structure or a folder of IDX files")


def _flag_list(names):
    flags = ["--" + key.replace("_", "-") for key in names]
    return flags[0] if len(flags) == 1 else "%s and %s" % (", ".join(flags[:-1]), flags[-1])


def add_run_flags(parser, name, changeable, save_every=True, checkpoint_every=True):
    """The ``run`` group every script shares: ``--out``, ``--resume``, (``--save-every``,
    ``--checkpoint-every``,) ``--quiet``, ``--device``, ``--require-gpu``; ``changeable``
    names the settings a resumed run may change."""
    run = parser.add_argument_group("run")
    run.add_argument("--out", metavar="RUN_DIR", default=None,
                     help="run folder for a new run: created if missing, refused if it holds a "
                          "run already (default: a new runs/%s-<timestamp>/)" % name)
    run.add_argument("--resume", metavar="RUN_DIR", default=None,
                     help="continue the run in RUN_DIR from its checkpoint, with its settings "
                          "(only %s may differ)" % _flag_list(changeable))
    if save_every:
        run.add_argument("--save-every", type=non_negative_int, default=0, metavar="N",
                         help="also save the parameters every N epochs into RUN_DIR/snapshots/ "
                              "(for plot_run.py --snapshots); 0: never")
    if checkpoint_every:
        run.add_argument("--checkpoint-every", type=non_negative_float, default=300.0,
                         metavar="SECONDS",
                         help="write a checkpoint inside an epoch once this many seconds have "
                              "passed since the last one (every epoch's end writes one too); 0: "
                              "only at epoch ends")
    run.add_argument("--quiet", action="store_true",
                     help="print only the final summary (no per-validation lines, no progress bar)")
    run.add_argument("--device", default=None,
                     help="'cpu', 'cuda', 'cudaN' or 'openclP:D' (e.g. opencl0:0; default: "
                          "Theano's configuration, else the CPU); an unusable GPU falls back to "
                          "the CPU with a warning")
    run.add_argument("--require-gpu", action="store_true",
                     help="fail (exit 3) instead of falling back to the CPU when the GPU is unusable")


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


def _flag(action):
    return action.option_strings[-1] if action.option_strings else action.dest


def _saved_value(action, value):
    """A setting read back from config.json, checked (and converted) as if given as the
    flag ``action``; ValueError if it could not have been."""
    if action.nargs == 0:  # store_true
        if not isinstance(value, bool):
            raise ValueError("not true or false")
        return value
    items = value if action.nargs == "+" else [value]
    if action.nargs == "+" and (not isinstance(value, list) or not value):
        raise ValueError("not a non-empty list")
    checked = []
    for item in items:
        if action.type is None:
            if not isinstance(item, str):
                raise ValueError("not text")
        else:
            if isinstance(item, bool) or not isinstance(item, (int, float, str)):
                raise ValueError("not a number")
            try:
                item = action.type(str(item))
            except argparse.ArgumentTypeError as error:
                raise ValueError(str(error)) from None
        if action.choices is not None and item not in action.choices:
            raise ValueError("not one of %s" % ", ".join(map(str, action.choices)))
        checked.append(item)
    return checked if action.nargs == "+" else checked[0]


def _same_dataset(a, b):
    if a == b:
        return True
    key = lambda text: text.strip().lower().replace("_", "-")  # noqa: E731
    if key(a) == key(b):
        return True
    try:
        return os.path.samefile(os.path.expanduser(a), os.path.expanduser(b))
    except OSError:
        return False


def restore_settings(parser, args, argv, config, run_dir, changeable=CHANGEABLE_ON_RESUME):
    """Put the settings of the run in ``run_dir`` (its ``config.json``, a dict) into
    ``args``; refuse a value that is damaged, and a flag given now that disagrees (the
    settings named in ``changeable`` may differ)."""
    saved = config["args"]
    given = explicit_flags(parser, argv)
    for action in parser._actions:
        key = action.dest
        if key in SESSION_FLAGS or key == "help" or key not in saved:
            continue
        try:
            value = _saved_value(action, saved[key])
        except ValueError as error:
            raise CLIError("cannot resume from %s: its config.json has %s = %s, which is not "
                           "a valid %s (%s); repair that value or start a new run with --out"
                           % (run_dir, key, _json_text(saved[key]), _flag(action), error))
        if key in given and key not in changeable:
            now = getattr(args, key)
            same = _same_dataset(now, value) if key == "dataset" else now == value
            if not same:
                raise CLIError("%s %s differs from the run's %s; a resumed run keeps its settings "
                               "(only %s may change): drop %s, or start a new run with --out"
                               % (_flag(action), _json_text(now), _json_text(value),
                                  ", ".join("--" + k.replace("_", "-") for k in changeable),
                                  _flag(action)))
        if key not in given:
            setattr(args, key, value)


def _json_text(value):
    import json
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)


def parse(name, argv):
    """``(parser, args)``; with ``--resume`` the run's saved settings are in ``args``."""
    parser = build_parser(name)
    args = parser.parse_args(argv)
    restore_resumed(name, parser, args, argv)
    MODELS[EXPERIMENTS[name]["model"]].check(parser, args)
    return parser, args


def restore_resumed(name, parser, args, argv, changeable=CHANGEABLE_ON_RESUME):
    """With ``--resume``: check the folder holds a run of experiment ``name`` and put its
    saved settings into ``args`` (see :func:`restore_settings`)."""
    if not args.resume:
        return
    from ..runs.rundir import RunDir
    if args.out and os.path.abspath(args.out) != os.path.abspath(args.resume):
        parser.error("--out %s and --resume %s name different folders; a resumed run "
                     "writes into its own folder: drop --out" % (args.out, args.resume))
    if not os.path.isdir(args.resume):
        raise CLIError("no run folder at %s to resume; check the path (a run folder holds "
                       "config.json)" % args.resume)
    config = RunDir(args.resume).read_config()
    if config.get("experiment", name) != name:
        raise CLIError("%s holds a %s run; continue it with scripts/%s.py --resume %s"
                       % (args.resume, config["experiment"], config["experiment"],
                          args.resume))
    saved_floatx = (config.get("numerics") or {}).get("floatX")
    if saved_floatx:
        import theano
        if saved_floatx != theano.config.floatX:
            raise CLIError("%s was trained with floatX=%s and Theano has floatX=%s now; resume "
                           "it with THEANO_FLAGS=floatX=%s" % (args.resume, saved_floatx,
                                                               theano.config.floatX,
                                                               saved_floatx))
    restore_settings(parser, args, argv, config, args.resume, changeable)
    args.out = args.resume


def train_config(args, **settings):
    """The TrainConfig of parsed ``args`` (every field from the flag of its name, or from
    ``settings``, which take precedence); CLIError for a value it refuses."""
    import dataclasses
    from ..training import TrainConfig
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig)
              if hasattr(args, f.name)}
    values.update(settings)
    try:
        return TrainConfig(**values)
    except ValueError as error:
        raise usage_error(error) from None


# --------------------------------------------------------------------------- the steps of a run
def choose_device(args):
    from ..runtime import device
    try:
        device.use_device(args.device, require_gpu=args.require_gpu)
    except device.GPUUnavailable as error:
        raise CLIError(with_fix(error, "run without --require-gpu to use the CPU"),
                       EXIT_GPU) from None
    except (ValueError, RuntimeError) as error:
        raise usage_error(error) from None


def claim_run_dir(name, args):
    """The run folder, locked: the folder being resumed, or a new one (``--out`` or a new
    ``runs/<name>-<timestamp>``)."""
    from ..runs.rundir import RunDir
    if args.resume:
        return RunDir.open(args.resume)
    return RunDir.create(args.out, script=name)


def model_spec(name, args, n_in, n_out, image_shape):
    """The spec of the model ``build`` will make (for size checks before building)."""
    return MODELS[EXPERIMENTS[name]["model"]].spec(args, n_in, n_out, image_shape)


def check_fits_in_memory(name, args, n_in, n_out, image_shape, itemsize):
    """CLIError if the model and a minibatch cannot fit in memory (before allocating)."""
    from ..runtime.memory import MemoryLimitError, check_fits
    from ..models import training_bytes
    spec = model_spec(name, args, n_in, n_out, image_shape)
    try:
        needed = training_bytes(spec, args.batch_size, itemsize)
        sizes = ["--batch-size %d" % args.batch_size]
        if "nkerns" in spec:
            sizes.insert(0, "--nkerns %d %d" % tuple(spec["nkerns"]))
        if "n_hidden" in spec:
            sizes.insert(0, "--n-hidden %s" % " ".join(map(str, args.n_hidden)))
        check_fits(needed, "training %s" % ", ".join(sizes), "choose smaller sizes")
    except (MemoryLimitError, ValueError) as error:
        raise CLIError(str(error)) from None


def load_data(args):
    from ..data import load_dataset
    splits = load_dataset(args.dataset)  # a DatasetError says itself what to do
    (train_x, _), _, _ = splits
    n_in = train_x.shape[1]
    n_out = int(max(int(s[1].max()) for s in splits)) + 1
    side = int(round(n_in ** 0.5))
    image_shape = (side, side) if side * side == n_in else None
    return splits, n_in, n_out, image_shape


def build(name, args, x, n_in, n_out, image_shape):
    """The experiment's model on the symbolic input ``x``, weights drawn from ``--seed``."""
    import numpy
    rng = numpy.random.RandomState(args.seed)
    return MODELS[EXPERIMENTS[name]["model"]].build(rng, args, x, n_in, n_out, image_shape)


def build_and_compile(name, args, config, data, say):
    """``(model, compiled)``: the model, checked against memory first, and its functions."""
    import theano
    import theano.tensor as T
    from ..data import shared_datasets
    from ..training import compile_functions
    splits, n_in, n_out, image_shape = data
    if MODELS[EXPERIMENTS[name]["model"]].needs_images and image_shape is None:
        raise CLIError("LeNet5 needs square images, but %s has %d features per example; "
                       "train logistic_sgd.py or mlp.py on it instead"
                       % (args.dataset, n_in))
    itemsize = 4 if theano.config.floatX == "float32" else 8
    check_fits_in_memory(name, args, n_in, n_out, image_shape or (1, n_in), itemsize)
    x, y = T.matrix("x"), T.ivector("y")
    try:
        model = build(name, args, x, n_in, n_out, image_shape or (1, n_in))
        datasets = shared_datasets(splits)
        say("building %r and compiling the train/validate/test functions..." % (model,))
        compiled = compile_functions(model, x, y, datasets, config)
    except ValueError as error:
        raise usage_error(error) from None
    say("compiled in %.1f s" % compiled.compile_seconds)
    return model, compiled


def make_trainer(name, args, config, run_dir, model, compiled, say):
    from ..runtime.info import numerics
    from ..training import Trainer
    meta = {"dataset": args.dataset, "experiment": name, "seed": args.seed,
            "numerics": numerics()}
    trainer = Trainer(compiled, config, model=model, run_dir=run_dir, log=say,
                      progress=None if not args.quiet else False, meta=meta,
                      checkpoint_seconds=args.checkpoint_every)
    if args.save_every > 0:
        trainer.on_epoch_end = snapshot_saver(trainer, args.save_every)
    return trainer


def resume(prog, trainer, run_dir, say):
    """Load the run folder's checkpoint into ``trainer``; a run stopped before its first
    checkpoint starts again from the beginning (its weights come from the seed)."""
    from ..runs.checkpoint import printable
    from ..runtime.info import numerics_change
    from ..runs.rundir import BEST_MODEL, CHECKPOINT, HISTORY, SUMMARY
    if not run_dir.has(CHECKPOINT):
        say("%s holds no checkpoint yet (the run stopped before its first one): starting it "
            "again from the beginning" % run_dir)
        for name in (HISTORY, BEST_MODEL, SUMMARY):
            run_dir.remove(name)
        return
    saved = trainer.load_checkpoint()
    say("resumed from %s at epoch %d, iteration %d"
        % (run_dir, trainer.state.epoch, trainer.state.iterations))
    change = numerics_change(saved.get("numerics"), trainer.meta["numerics"])
    if change:
        print("%s: %s" % (prog, printable(change)), file=sys.stderr, flush=True)


def write_config(name, args, argv, config, model, run_dir, numerics):
    import theano
    from ..runs.rundir import CONFIG
    run_dir.write_json(CONFIG, {
        "experiment": name, "args": {k: v for k, v in vars(args).items()},
        "train_config": config.to_dict() if hasattr(config, "to_dict") else config,
        "model": model.spec() if hasattr(model, "spec") else model,
        "command": " ".join(["python", "scripts/%s.py" % name] + [
            shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:])]),
        "theano_flags": {"device": theano.config.device, "floatX": theano.config.floatX,
                         "blas.ldflags": theano.config.blas.ldflags},
        "blas": setup.STATE.get("blas").reason if setup.STATE.get("blas") else None,
        "numerics": numerics,
        "python": platform.python_version(), "theano": theano.__version__,
        "started": datetime.datetime.now().isoformat(timespec="seconds"),
    })


def report(name, run_dir, compiled, result, session_started, extra=None):
    """Write summary.json (with ``extra`` facts added) and print the last line; CLIError for
    a diverged or interrupted run."""
    from ..runs.checkpoint import printable
    from ..runs.rundir import CHECKPOINT, SUMMARY
    summary = {
        "best_validation_error": result.best_validation_loss,
        "best_validation_error_all": result.best_validation_loss_all,
        "test_error": result.test_score, "test_error_all": result.test_score_all,
        "best_iteration": result.best_iteration, "best_epoch": result.best_epoch,
        "epochs": result.epochs, "iterations": result.iterations,
        "stopped_by": result.stopped_by, "seconds_per_epoch": result.seconds_per_epoch,
        "compile_seconds": result.compile_seconds, "train_seconds": result.wall_seconds,
        "wall_seconds_this_session": time.perf_counter() - session_started,
        "n_valid": compiled.n_examples["valid"], "n_test": compiled.n_examples["test"],
    }
    if result.diverged:
        summary["divergence"] = result.divergence
    summary.update(extra or {})
    run_dir.write_json(SUMMARY, summary)
    if result.interrupted:
        raise CLIError("interrupted at epoch %d; resume with: %s"
                       % (result.epochs, script_command(name, "--resume", run_dir)),
                       EXIT_INTERRUPTED)
    if result.diverged:
        kept = ("the last good checkpoint in %s is kept" % run_dir if run_dir.has(CHECKPOINT)
                else "no checkpoint had been written yet")
        raise CLIError("training diverged: %s; %s. Try a smaller --learning-rate (this run "
                       "used %g)" % (result.divergence, kept, result.learning_rate),
                       EXIT_DIVERGED)
    print(summary_line(summary, printable(run_dir)), flush=True)
    return 0


def _has_checkpoint(run_dir):
    from ..runs.rundir import CHECKPOINT, PRETRAINING_CHECKPOINT
    return run_dir.has(CHECKPOINT) or run_dir.has(PRETRAINING_CHECKPOINT)


def interrupted_message(name, run_dir, started):
    if run_dir is None or not started:
        return "interrupted while starting; nothing was written"
    if _has_checkpoint(run_dir):
        return ("interrupted; the last checkpoint is kept: resume with: %s"
                % script_command(name, "--resume", run_dir))
    return ("interrupted before the first checkpoint; start again with: %s"
            % script_command(name, "--resume", run_dir))


def write_failure_message(error, name, run_dir, started, resuming):
    if not started and resuming:
        return ("%s; a run folder must be writable to continue its run: copy it somewhere "
                "writable and resume the copy" % error)
    if not started:
        return "%s; nothing was written: choose a folder you can write to (--out)" % error
    if _has_checkpoint(run_dir):
        return ("%s; the files written before are intact: make room (or fix the permissions) and "
                "continue with: %s" % (error, script_command(name, "--resume", run_dir)))
    return ("%s; make room (or fix the permissions) and start again with: %s"
            % (error, script_command(name, "--resume", run_dir)))


def _run(name, argv):
    from ..runs.rundir import RunDirWriteError
    parser, args = parse(name, argv)
    say = quiet_or_say(args)
    choose_device(args)
    config = train_config(args)
    run_dir, started = None, False
    try:
        run_dir = claim_run_dir(name, args)
        data = load_data(args)
        import theano
        splits, n_in, n_out, _ = data
        say("%s: %d train / %d valid / %d test examples of %d features, %d classes; "
            "device %s, floatX %s; run folder %s" % (
                args.dataset, len(splits[0][1]), len(splits[1][1]), len(splits[2][1]), n_in,
                n_out, theano.config.device, theano.config.floatX, run_dir))
        model, compiled = build_and_compile(name, args, config, data, say)
        trainer = make_trainer(name, args, config, run_dir, model, compiled, say)
        if args.resume:
            started = True  # from here on the folder is the run's, whatever happens
            resume(parser.prog, trainer, run_dir, say)
        if not trainer.finished():
            write_config(name, args, argv, config, model, run_dir, trainer.meta["numerics"])
        started = True
        session_started = time.perf_counter()
        result = trainer.run()
        return report(name, run_dir, compiled, result, session_started)
    except KeyboardInterrupt:
        raise CLIError(interrupted_message(name, run_dir, started), EXIT_INTERRUPTED) from None
    except RunDirWriteError as error:
        raise CLIError(write_failure_message(error, name, run_dir, started, bool(args.resume)),
                       EXIT_IO) from None
    finally:
        if run_dir is not None:
            if started:
                run_dir.unlock()
            else:
                run_dir.abandon()


def quiet_or_say(args):
    """What a script prints as it goes: nothing with ``--quiet``, else each line with its
    values escaped (paths and names read from a run folder's files may hold anything:
    :func:`dltut.runs.checkpoint.printable`)."""
    from ..runs.checkpoint import printable
    if args.quiet:
        return lambda *a: None
    return lambda *a: print(*(printable(x) for x in a), flush=True)


def run(name, argv=None):
    """Parse ``argv``, train, write the run folder; returns the process exit code (a failure
    is one line on stderr, see :func:`report_failures`)."""
    return report_failures(name + ".py", _run, name, argv)


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


def snapshot_saver(trainer, every):
    """A callback saving the current parameters every ``every`` epochs to snapshots/."""
    def save(epoch):
        if epoch % every == 0:
            trainer.run_dir.save_snapshot(epoch, [p.get_value(borrow=True) for p in trainer.fns.params],
                                          {"model": trainer.model_spec, "epoch": epoch})
    return save


def main_for(name):
    """A ``main(argv=None)`` for experiment ``name``, as each script exposes it."""
    def main(argv=None):
        return run(name, argv)
    main.__doc__ = EXPERIMENTS[name]["description"]
    return main
