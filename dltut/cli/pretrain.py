"""The command-line front end of the later chapters: ``scripts/dA.py``, ``cA.py``, ``SdA.py``,
``logistic_cg.py``, ``rbm.py`` and ``DBN.py``.

Each script's flags are its tutorial function's parameters (``test_dA(learning_rate,
training_epochs, batch_size, ...)`` -> ``--learning-rate``, ``--training-epochs``,
``--batch-size``), with the tutorial's values as defaults, plus the sizes and levels the
tutorial fixed in its code (``--n-hidden``, ``--corruption-level``,
``--hidden-layers-sizes``, ...) and the run flags every dltut script has (``--out``,
``--resume``, ``--checkpoint-every``, ``--quiet``, ``--device``).  The steps and the way to
fail are :mod:`dltut.cli.supervised`'s; the training is :class:`dltut.training.Pretrainer` (dA,
cA, the RBM, the SdA's and the DBN's pre-training), :class:`dltut.training.Trainer` (the
SdA's and the DBN's fine-tuning) and :class:`dltut.cg.CGOptimizer` (logistic_cg).  Nothing
here trains.
"""
import argparse
import functools
import os
import sys
import time

from ..runs.checkpoint import printable
from . import supervised as ex
from .common import (EXIT_DIVERGED, EXIT_INTERRUPTED, EXIT_IO, CLIError, DefaultsHelpFormatter,
                     OneLineParser, level, non_negative_float, non_negative_int, positive_float,
                     positive_int, report_failures, seed_int, usage_error)

# The tutorial's defaults (test_dA, test_cA, test_SdA, cg_optimization_mnist), including the
# values its code fixes (sizes, corruption levels, seeds).
EXPERIMENTS = {
    "dA": dict(
        description="Denoising autoencoders on MNIST, one per corruption level, each trained "
                    "with minibatch SGD on the reconstruction cross-entropy (the tutorial's "
                    "dA.py: 0 % and 30 % corruption).",
        learning_rate=0.1, training_epochs=15, batch_size=20, n_hidden=500,
        corruption_level=[0.0, 0.3], seed=123),
    "cA": dict(
        description="A contractive autoencoder on MNIST: reconstruction cross-entropy plus "
                    "contraction_level times the squared Frobenius norm of the encoder's "
                    "Jacobian (the tutorial's cA.py).",
        learning_rate=0.01, training_epochs=20, batch_size=10, n_hidden=500,
        contraction_level=0.1, seed=123),
    "SdA": dict(
        description="A stacked denoising autoencoder: layer-wise pre-training of its dAs, "
                    "then supervised fine-tuning of the whole network with early stopping "
                    "(the tutorial's SdA.py).",
        finetune_lr=0.1, pretraining_epochs=15, pretrain_lr=0.001, training_epochs=1000,
        batch_size=1, hidden_layers_sizes=[1000, 1000, 1000], corruption_levels=[0.1, 0.2, 0.3],
        seed=89677),
    "logistic_cg": dict(
        description="Multi-class logistic regression trained with scipy.optimize.fmin_cg "
                    "(conjugate gradients) on the whole training set (the tutorial's "
                    "logistic_cg.py).",
        n_epochs=50, batch_size=600),
    "rbm": dict(
        description="A restricted Boltzmann machine trained on MNIST with persistent "
                    "contrastive divergence (PCD-15), then sampled with Gibbs chains started "
                    "at test images (the tutorial's rbm.py).",
        learning_rate=0.1, training_epochs=15, batch_size=20, n_chains=20, n_samples=10,
        n_hidden=500, k=15, plot_every=1000, seed=123),
    "DBN": dict(
        description="A deep belief network: its RBMs pre-trained layer by layer with CD-k, "
                    "then the network fine-tuned as a classifier with early stopping (the "
                    "tutorial's DBN.py).",
        finetune_lr=0.1, pretraining_epochs=100, pretrain_lr=0.01, k=1, training_epochs=1000,
        batch_size=10, hidden_layers_sizes=[1000, 1000, 1000], seed=123),
}
#: The settings a resumed run may change, per script.
CHANGEABLE = {
    "dA": ("training_epochs", "checkpoint_every"),
    "cA": ("training_epochs", "checkpoint_every"),
    "SdA": ("training_epochs", "checkpoint_every"),
    "logistic_cg": ("n_epochs",),
    "rbm": ("training_epochs", "checkpoint_every"),
    "DBN": ("training_epochs", "checkpoint_every"),
}
#: The tutorial's fine-tuning patience: look at this many epochs' minibatches regardless
#: (SdA.py's; DBN.py's is DBN_PATIENCE_EPOCHS).
PATIENCE_EPOCHS = 10
DBN_PATIENCE_EPOCHS = 4
#: Layer-wise scripts whose upper layers take features, not images, as input.
STACKS = ("SdA", "DBN")
#: The tutorial draws its filters as a 10 x 10 grid of the first 100 units.
FILTER_TILES = (10, 10)


non_negative = non_negative_float


# --------------------------------------------------------------------------- parsing
def build_parser(name):
    """The argument parser of script ``name`` (a key of :data:`EXPERIMENTS`)."""
    d = EXPERIMENTS[name]
    parser = OneLineParser(prog=name + ".py", description=d["description"],
                           formatter_class=DefaultsHelpFormatter)
    ex.add_dataset_flag(parser)
    model = parser.add_argument_group("model")
    opt = parser.add_argument_group("optimisation")
    if name in ("dA", "cA", "SdA", "DBN"):
        model.add_argument("--seed", type=seed_int, default=d["seed"],
                           help="seed of the numpy RandomState the weights (and the seed of "
                                "the MRG random stream) are drawn from")
    if name == "rbm":
        model.add_argument("--seed", type=seed_int, default=d["seed"],
                           help="seed of the numpy RandomState that seeds the MRG random "
                                "stream, draws the weights and picks the test images the "
                                "sampling chains start from (in that order)")
    if name in ("dA", "cA", "rbm"):
        model.add_argument("--n-hidden", type=positive_int, default=d["n_hidden"],
                           help="hidden units")
        opt.add_argument("--learning-rate", type=positive_float, default=d["learning_rate"],
                         help="SGD step size")
        opt.add_argument("--training-epochs", type=positive_int, default=d["training_epochs"],
                         help="passes over the training set")
        opt.add_argument("--batch-size", type=positive_int, default=d["batch_size"],
                         help="examples per minibatch")
    if name == "dA":
        model.add_argument("--corruption-level", type=level, nargs="+",
                           default=d["corruption_level"],
                           help="fraction of the inputs set to zero; each level trains its own "
                                "dA, from the same initial weights and random stream")
    if name == "cA":
        model.add_argument("--contraction-level", type=non_negative, default=d["contraction_level"],
                           help="weight of the Jacobian penalty")
    if name == "rbm":
        opt.add_argument("--k", type=positive_int, default=d["k"],
                         help="Gibbs steps per update")
        opt.add_argument("--cd", action="store_true",
                         help="contrastive divergence (each update's chain starts at the data; "
                              "the reconstruction cost is printed) instead of persistent CD")
        sample = parser.add_argument_group("sampling (after training)")
        sample.add_argument("--n-chains", type=positive_int, default=d["n_chains"],
                            help="parallel Gibbs chains, started at consecutive test images")
        sample.add_argument("--n-samples", type=positive_int, default=d["n_samples"],
                            help="samples plotted per chain")
        sample.add_argument("--plot-every", type=positive_int, default=d["plot_every"],
                            help="Gibbs steps between two plotted samples")
    if name in ("SdA", "DBN"):
        model.add_argument("--hidden-layers-sizes", type=positive_int, nargs="+",
                           default=d["hidden_layers_sizes"], help="units per hidden layer")
    if name == "DBN":
        opt.add_argument("--k", type=positive_int, default=d["k"],
                         help="Gibbs steps per CD-k update of the RBMs")
    if name == "SdA":
        model.add_argument("--corruption-levels", type=level, nargs="+",
                           default=d["corruption_levels"],
                           help="corruption each layer's dA is pre-trained with (one per layer)")
    if name in ("SdA", "DBN"):
        opt.add_argument("--pretraining-epochs", type=positive_int,
                         default=d["pretraining_epochs"], help="pre-training epochs per layer")
        opt.add_argument("--pretrain-lr", type=positive_float, default=d["pretrain_lr"],
                         help="SGD step size of pre-training")
        opt.add_argument("--finetune-lr", type=positive_float, default=d["finetune_lr"],
                         help="SGD step size of fine-tuning (eta0 of a schedule)")
        opt.add_argument("--training-epochs", type=positive_int, default=d["training_epochs"],
                         help="most fine-tuning epochs")
        opt.add_argument("--batch-size", type=positive_int, default=d["batch_size"],
                         help="examples per minibatch, pre-training and fine-tuning")
        ex.add_schedule_flags(opt)
        epochs = PATIENCE_EPOCHS if name == "SdA" else DBN_PATIENCE_EPOCHS
        ex.add_stopping_flags(parser, non_negative_int, 0,
                              "look at this many minibatches regardless; 0: %d epochs' worth "
                              "(the tutorial's %d * n_train_batches)" % (epochs, epochs),
                              title="early stopping (fine-tuning)")
    if name == "logistic_cg":
        opt.add_argument("--n-epochs", type=positive_int, default=d["n_epochs"],
                         help="most conjugate-gradient iterations (fmin_cg's maxiter)")
        opt.add_argument("--batch-size", type=positive_int, default=d["batch_size"],
                         help="examples per minibatch of the cost, gradient and error sums")
    ex.add_run_flags(parser, name, CHANGEABLE[name], save_every=False,
                     checkpoint_every=name != "logistic_cg")
    return parser


def parse(name, argv):
    """``(parser, args)``; with ``--resume`` the run's saved settings are in ``args``."""
    parser = build_parser(name)
    args = parser.parse_args(argv)
    ex.restore_resumed(name, parser, args, argv, CHANGEABLE[name])
    if name == "dA":
        names = [layer_name(name, args, i) for i in range(len(args.corruption_level))]
        if len(set(names)) != len(names):
            parser.error("--corruption-level gives a level twice (%s); give each once"
                         % " ".join("%g" % c for c in args.corruption_level))
    if name == "SdA" and len(args.corruption_levels) != len(args.hidden_layers_sizes):
        parser.error("--corruption-levels needs one level per hidden layer: %d layers (%s), "
                     "%d levels (%s); give %d levels" % (
                         len(args.hidden_layers_sizes),
                         " ".join(map(str, args.hidden_layers_sizes)),
                         len(args.corruption_levels),
                         " ".join("%g" % c for c in args.corruption_levels),
                         len(args.hidden_layers_sizes)))
    return parser, args


def layer_name(name, args, index):
    """The name of what the Pretrainer trains as layer ``index``."""
    if name == "dA":
        return "corruption %g%%" % (round(100 * args.corruption_level[index], 6))
    if name == "cA":
        return "cA"
    return "layer %d" % index


# --------------------------------------------------------------------------- building
def check_size(name, args, n_in, n_out, itemsize):
    """CLIError if the model's parameters and one minibatch's work cannot fit in memory."""
    from ..runtime.memory import MemoryLimitError, check_fits
    if name in ("SdA", "DBN"):
        sizes = [n_in] + list(args.hidden_layers_sizes) + [n_out]
        flags = "--hidden-layers-sizes %s" % " ".join(map(str, args.hidden_layers_sizes))
    elif name == "logistic_cg":
        sizes, flags = [n_in, n_out], "--batch-size %d" % args.batch_size
    else:
        sizes, flags = [n_in, args.n_hidden], "--n-hidden %d" % args.n_hidden
    parameters = sum(a * b + a + b for a, b in zip(sizes, sizes[1:]))
    work = args.batch_size * sum(sizes)
    if name == "cA":  # the Jacobian: (batch, n_visible, n_hidden), a few copies
        work += 3 * args.batch_size * n_in * args.n_hidden
    if name == "rbm":  # the sampling chains, and the n_samples rows of samples they keep
        work += args.n_chains * sum(sizes) + args.n_samples * args.n_chains * n_in
        flags += ", --n-chains %d, --n-samples %d" % (args.n_chains, args.n_samples)
    try:
        check_fits(itemsize * (4 * parameters + 3 * work),
                   "training %s, --batch-size %d" % (flags, args.batch_size),
                   "choose smaller sizes")
    except (MemoryLimitError, ValueError) as error:
        raise CLIError(str(error)) from None


def _autoencoder_layers(name, args, x, train_x, n_in, n_batches, say):
    """``(models, PretrainLayers)`` of a dA or cA run, compiled."""
    import numpy
    import theano
    import theano.tensor as T
    from ..autoencoders import cA, dA, random_state_variables
    from ..training import PretrainLayer
    index = T.lscalar("index")
    givens = {x: train_x[index * args.batch_size:(index + 1) * args.batch_size]}
    models, layers = [], []
    if name == "dA":
        for i, corruption in enumerate(args.corruption_level):
            # each dA starts from the tutorial's RandomState(123): same weights, same stream
            rng = numpy.random.RandomState(args.seed)
            theano_rng = dA_stream(rng)
            da = dA(numpy_rng=rng, theano_rng=theano_rng, input=x, n_visible=n_in,
                    n_hidden=args.n_hidden)
            cost, updates = da.get_cost_updates(corruption_level=corruption,
                                                learning_rate=args.learning_rate)
            train_da = theano.function([index], cost, updates=updates, givens=givens,
                                       name="train_da_%d" % i)
            models.append(da)
            layers.append(PretrainLayer(
                layer_name(name, args, i), train_da, da.params,
                state=random_state_variables(train_da, da.params),
                log_format="Training epoch {epoch}, cost {cost}"))
        return models, layers
    ca = cA(numpy_rng=numpy.random.RandomState(args.seed), input=x, n_visible=n_in,
            n_hidden=args.n_hidden, n_batchsize=args.batch_size)
    cost, updates = ca.get_cost_updates(contraction_level=args.contraction_level,
                                        learning_rate=args.learning_rate)
    train_ca = theano.function([index], [T.mean(ca.L_rec), ca.L_jacob], updates=updates,
                               givens=givens, name="train_ca")
    layers.append(PretrainLayer(
        "cA", train_ca, ca.params, outputs=("reconstruction_cost", "L_jacob"),
        summarize=cA_summary,
        log_format="Training epoch {epoch}, reconstruction cost {reconstruction_cost} "
                   "jacobian norm {jacobian_norm}"))
    return [ca], layers


def dA_stream(rng):
    """The tutorial's ``RandomStreams(rng.randint(2 ** 30))``."""
    from theano.sandbox.rng_mrg import MRG_RandomStreams
    return MRG_RandomStreams(rng.randint(2 ** 30))


def cA_summary(costs):
    """A cA epoch: the mean reconstruction cost and the mean Jacobian norm, each minibatch's
    ``sqrt(L_jacob)``, both accumulated in float64.  (The tutorial prints the means of the
    rows ``c_array[0]`` and ``sqrt(c_array[1])``, i.e. of the first two minibatches' pairs;
    the columns are what its line names.)"""
    import numpy
    return {"reconstruction_cost": numpy.mean(costs[:, 0], dtype="float64"),
            "jacobian_norm": numpy.mean(numpy.sqrt(costs[:, 1]), dtype="float64")}


def _sda_layers(args, sda, train_x, n_batches):
    from ..autoencoders import random_state_variables
    from ..training import PretrainLayer
    fns = sda.pretraining_functions(train_set_x=train_x, batch_size=args.batch_size)
    layers = []
    for i, (fn, da) in enumerate(zip(fns, sda.dA_layers)):
        # the tutorial's call: pretraining_fns[i](index=..., corruption=..., lr=...)
        train_fn = functools.partial(fn, corruption=args.corruption_levels[i], lr=args.pretrain_lr)
        layers.append(PretrainLayer("layer %d" % i, train_fn, da.params,
                                    state=random_state_variables(fn, da.params)))
    return layers


def sda_train_config(args, n_train_batches, patience_epochs=PATIENCE_EPOCHS):
    """The fine-tuning TrainConfig: the tutorial's rate, epochs and patience flags."""
    return ex.train_config(args, learning_rate=args.finetune_lr, n_epochs=args.training_epochs,
                           patience=args.patience or patience_epochs * n_train_batches)


# --------------------------------------------------------------------------- figures
def filter_image_shape(n_in):
    side = int(round(n_in ** 0.5))
    return (side, side) if side * side == n_in else None


def draw_layer_filters(run, index, say=None):
    """``filters_<layer name>.png`` of pre-trained layer ``index`` (the tutorial's 10 x 10
    tiles of the first 100 units' weights), from ``layers/NN.npz``; the path, or None when
    the layer's inputs are not square images."""
    from .. import plot
    from ..runs import rundir
    values, meta = run.load_params(rundir.layer_file(index))
    W = values[0]
    shape = filter_image_shape(W.shape[0]) if W.ndim == 2 else None
    if shape is None:
        if say:
            say("layer %d: its %s weights are not square images; no filters drawn"
                % (index, W.shape))
        return None
    name = meta.get("name") or "layer %d" % index
    rows = min(FILTER_TILES[0], -(-W.shape[1] // FILTER_TILES[1]))
    return run.write_with(rundir.layer_filters_file(name), lambda path: plot.save_filters(
        W, path, image_shape=shape, tile_shape=(rows, FILTER_TILES[1])))


def draw_pretraining(run, title=None):
    """Figures of a run folder's pre-training: ``pretraining_curves.png`` (each layer's
    epoch figures, e.g. the reconstruction cost) and each trained layer's filters; returns
    the paths written."""
    from .. import plot
    from ..runs import rundir
    written = []
    records = run.read_history(rundir.PRETRAINING_HISTORY)
    if records:
        written.append(run.write_with(rundir.PRETRAINING_CURVES, lambda path: plot.save_pretraining_curves(
            records, path, title=title)))
    config = run.read_json(rundir.CONFIG) or {}
    for index, _ in run.layers():
        if index > 0 and config.get("experiment") in STACKS:
            break  # the upper layers of a stack take features, not images, as input
        path = draw_layer_filters(run, index)
        if path:
            written.append(path)
    return written


# --------------------------------------------------------------------------- running
def _say(args):
    return ex.quiet_or_say(args)


def _start(name, args, run_dir, say):
    """Load the data, say what runs where; ``(splits, n_in, n_out)``."""
    import theano
    splits, n_in, n_out, _ = ex.load_data(args)
    say("%s: %d train / %d valid / %d test examples of %d features, %d classes; device %s, "
        "floatX %s; run folder %s" % (args.dataset, len(splits[0][1]), len(splits[1][1]),
                                      len(splits[2][1]), n_in, n_out, theano.config.device,
                                      theano.config.floatX, run_dir))
    itemsize = 4 if theano.config.floatX == "float32" else 8
    check_size(name, args, n_in, n_out, itemsize)
    return splits, n_in, n_out


def _n_batches(args, n_train):
    if args.batch_size > n_train:
        raise CLIError("--batch-size %d is larger than the training set (%d examples); "
                       "choose --batch-size %d or less" % (args.batch_size, n_train, n_train))
    return n_train // args.batch_size


def _pretrainer(name, args, layers, n_batches, n_epochs, run_dir, say, model=None):
    from ..runtime.info import numerics
    from ..training import Pretrainer
    meta = {"dataset": args.dataset, "experiment": name, "seed": getattr(args, "seed", None),
            "numerics": numerics()}
    return Pretrainer(layers, n_batches, n_epochs, model=model, run_dir=run_dir, log=say,
                      progress=None if not args.quiet else False, meta=meta,
                      checkpoint_seconds=args.checkpoint_every)


def _resume_pretraining(prog, pretrainer, run_dir, say):
    """Continue pre-training from the folder's pretraining.npz (if there is one yet)."""
    from ..runtime.info import numerics_change
    from ..runs.rundir import PRETRAINING_CHECKPOINT, PRETRAINING_HISTORY, SUMMARY
    if not run_dir.has(PRETRAINING_CHECKPOINT):
        say("%s holds no pre-training checkpoint yet: starting it again from the beginning"
            % run_dir)
        for stale in (PRETRAINING_HISTORY, SUMMARY):
            run_dir.remove(stale)
        return False
    saved = pretrainer.load_checkpoint()
    st = pretrainer.state
    if pretrainer.finished():
        say("resumed from %s: pre-training is done" % run_dir)
    else:
        say("resumed from %s at %s, epoch %d, minibatch %d" % (
            run_dir, pretrainer.layers[st.layer].name, st.epoch + 1, st.minibatch_index))
    change = numerics_change(saved.get("numerics"), pretrainer.meta["numerics"])
    if change:
        print("%s: %s" % (prog, printable(change)), file=sys.stderr, flush=True)
    return True


def _pretraining_summary(result):
    return {"layers": result.layers, "epochs": result.epochs, "iterations": result.iterations,
            "stopped_by": result.stopped_by, "seconds_per_epoch": result.seconds_per_epoch,
            "train_seconds": result.wall_seconds, "last": result.last,
            "divergence": result.divergence}


def _check_pretraining(name, pretrainer, result, run_dir):
    """CLIError for an interrupted or diverged pre-training."""
    if result.interrupted:
        st = pretrainer.state
        where = ("%s, epoch %d" % (pretrainer.layers[st.layer].name, st.epoch + 1)
                 if not pretrainer.finished() else "the end of pre-training")
        raise CLIError("interrupted in %s; resume with: python scripts/%s.py --resume %s"
                       % (where, name, run_dir), EXIT_INTERRUPTED)
    if result.diverged:
        from ..runs.rundir import PRETRAINING_CHECKPOINT
        kept = ("the last good checkpoint in %s is kept" % run_dir
                if run_dir.has(PRETRAINING_CHECKPOINT) else "no checkpoint had been written yet")
        raise CLIError("training diverged: %s; %s. Try a smaller learning rate"
                       % (result.divergence, kept), EXIT_DIVERGED)


def _pretrain_main(name, args, argv, run_dir, state, say):
    """dA.py and cA.py: train the autoencoder(s), draw their filters, report."""
    import theano.tensor as T
    from ..data import shared_datasets
    from ..runs.rundir import SUMMARY
    splits, n_in, n_out = _start(name, args, run_dir, say)
    n_batches = _n_batches(args, len(splits[0][1]))
    x = T.matrix("x")
    started = time.perf_counter()
    try:
        train_x = shared_datasets(splits)[0][0]
        say("building the %s and compiling %s training function%s..."
            % (("dAs", "their", "s") if name == "dA" and len(args.corruption_level) > 1
               else (name, "its", "")))
        models, layers = _autoencoder_layers(name, args, x, train_x, n_in, n_batches, say)
    except ValueError as error:
        raise usage_error(error) from None
    say("compiled in %.1f s" % (time.perf_counter() - started))
    pretrainer = _pretrainer(name, args, layers, n_batches, args.training_epochs, run_dir, say)
    layer_started = [time.perf_counter()]

    def layer_done(index):
        path = draw_layer_filters(run_dir, index, say)
        say("The %s code ran for %.2fm%s" % (
            layers[index].name, (time.perf_counter() - layer_started[0]) / 60.0,
            "; filters: %s" % path if path else ""))
        layer_started[0] = time.perf_counter()
    pretrainer.on_layer_end = layer_done
    if args.resume:
        state["started"] = True
        _resume_pretraining(name + ".py", pretrainer, run_dir, say)
    if not pretrainer.finished():
        ex.write_config(name, args, argv, _settings(name, args), models[0].spec(), run_dir,
                        pretrainer.meta["numerics"])
    state["started"] = True
    result = pretrainer.run()
    run_dir.write_json(SUMMARY, dict(_pretraining_summary(result), experiment=name))
    _check_pretraining(name, pretrainer, result, run_dir)
    if result.stopped_by == "n_epochs":
        from ..runs.rundir import PRETRAINING_CURVES
        draw_pretraining(run_dir, title="%s: %s" % (name, os.path.basename(
            os.path.normpath(os.path.abspath(str(run_dir))))))
        say("wrote %s" % run_dir.file(PRETRAINING_CURVES))
    print("Training complete: %s; %.2f s/epoch. Run folder: %s" % (
        "; ".join("%s: %s after %d epochs" % (layer, ", ".join(
            "%s %f" % (key.replace("_", " "), value) for key, value in last.items()), epochs)
            for layer, last, epochs in zip(result.layers, result.last, result.epochs)),
        result.seconds_per_epoch, printable(run_dir)), flush=True)
    return 0


def _settings(name, args):
    """The experiment's training settings, for config.json."""
    keep = [key for key in vars(args) if key not in ex.SESSION_FLAGS + ("dataset",)]
    return {key: getattr(args, key) for key in keep}


def _pretrain_then_finetune(name, args, argv, model, layers, compiled, config, n_batches,
                            run_dir, state, say, before_finetune=None, after_finetune=None):
    """The SdA's and the DBN's run: layer-wise pre-training (the one pre-training loop), then
    fine-tuning of the whole stack (the one supervised Trainer), both resumable from the same
    run folder.  ``before_finetune(pretrained)`` runs once before the first fine-tuning
    step, ``after_finetune(result)`` after it; returns what ``ex.report`` returns."""
    from ..runs.rundir import BEST_MODEL, CHECKPOINT, HISTORY, SUMMARY
    from ..training import Trainer
    pretrainer = _pretrainer(name, args, layers, n_batches, args.pretraining_epochs, run_dir,
                             say, model=model)
    trainer = Trainer(compiled, config, model=model, run_dir=run_dir, log=say,
                      progress=None if not args.quiet else False,
                      meta=dict(pretrainer.meta), checkpoint_seconds=args.checkpoint_every)
    if args.resume:
        state["started"] = True
        if _resume_pretraining(name + ".py", pretrainer, run_dir, say) and pretrainer.finished():
            if run_dir.has(CHECKPOINT):
                ex.resume(name + ".py", trainer, run_dir, say)
            else:  # fine-tuning had not written a checkpoint: it starts from the beginning
                for stale in (HISTORY, BEST_MODEL, SUMMARY):
                    run_dir.remove(stale)
    if not trainer.finished():
        ex.write_config(name, args, argv, dict(_settings(name, args), finetune=config.to_dict()),
                        model.spec(), run_dir, pretrainer.meta["numerics"])
    state["started"] = True
    session_started = time.perf_counter()
    if not pretrainer.finished():
        say("... pre-training the model")
    pretrained = pretrainer.run()
    extra = {"pretraining": _pretraining_summary(pretrained)}
    if not pretrained.stopped_by == "n_epochs":
        run_dir.write_json(SUMMARY, dict(extra, stopped_by=pretrained.stopped_by,
                                         experiment=name))
        _check_pretraining(name, pretrainer, pretrained, run_dir)
    if trainer.state.iterations == 0 and before_finetune is not None:
        before_finetune(pretrained)
    result = trainer.run()
    if after_finetune is not None:
        after_finetune(result)
    return ex.report(name, run_dir, compiled, result, session_started, extra)


def _sda_main(name, args, argv, run_dir, state, say):
    """SdA.py: pre-train the dAs layer by layer, then fine-tune with the supervised loop."""
    import numpy
    from ..autoencoders import SdA
    from ..data import shared_datasets
    splits, n_in, n_out = _start(name, args, run_dir, say)
    n_batches = _n_batches(args, len(splits[0][1]))
    config = sda_train_config(args, n_batches)
    started = time.perf_counter()
    try:
        datasets = shared_datasets(splits)
        say("... building the model")
        sda = SdA(numpy_rng=numpy.random.RandomState(args.seed), n_ins=n_in,
                  hidden_layers_sizes=args.hidden_layers_sizes, n_outs=n_out,
                  corruption_levels=args.corruption_levels)
        say("... getting the pretraining functions")
        layers = _sda_layers(args, sda, datasets[0][0], n_batches)
        say("... getting the finetuning functions")
        compiled = sda.finetune_functions(datasets, config)
    except ValueError as error:
        raise usage_error(error) from None
    say("compiled in %.1f s" % (time.perf_counter() - started))
    return _pretrain_then_finetune(
        name, args, argv, sda, layers, compiled, config, n_batches, run_dir, state, say,
        before_finetune=lambda pretrained: say("... finetunning the model"))


def _cg_main(name, args, argv, run_dir, state, say):
    """logistic_cg.py: conjugate gradients on the flat-theta logistic regression."""
    import theano.tensor as T
    from ..cg import LogisticRegressionCG
    from ..training import CGOptimizer
    from ..data import shared_datasets
    from ..runtime.info import numerics
    from ..runs.rundir import CHECKPOINT
    splits, n_in, n_out = _start(name, args, run_dir, say)
    _n_batches(args, len(splits[0][1]))
    x, y = T.matrix("x"), T.ivector("y")
    try:
        say("... building the model")
        model = LogisticRegressionCG(input=x, n_in=n_in, n_out=n_out)
        optimizer = CGOptimizer(model, x, y, shared_datasets(splits), batch_size=args.batch_size,
                                n_epochs=args.n_epochs, run_dir=run_dir, log=say,
                                meta={"dataset": args.dataset, "experiment": name,
                                      "numerics": numerics()})
    except ValueError as error:
        raise usage_error(error) from None
    say("compiled in %.1f s" % optimizer.fns.compile_seconds)
    if args.resume:
        state["started"] = True
        if run_dir.has(CHECKPOINT):
            optimizer.load_checkpoint()
            say("resumed from %s after %d iterations (conjugate gradients restart from its "
                "theta)" % (run_dir, optimizer.state.iterations))
    if not optimizer.finished():
        ex.write_config(name, args, argv, {"batch_size": args.batch_size,
                                           "n_epochs": args.n_epochs, "optimizer": "fmin_cg"},
                        model.spec(), run_dir, optimizer.meta["numerics"])
    state["started"] = True
    session_started = time.perf_counter()
    say("Optimizing using scipy.optimize.fmin_cg...")
    result = optimizer.run()
    return ex.report(name, run_dir, optimizer.fns, result, session_started)


def rbm_epoch_cost(costs):
    """rbm.py's epoch figure: ``numpy.mean`` of the minibatch costs in their own dtype
    (float32 under floatX=float32, as the tutorial computes it), given as the decimal numpy
    prints for it, so that the log line reads exactly as the tutorial's."""
    import numpy
    return {"cost": float(str(numpy.mean(costs)))}


def _rbm_layer(args, rbm_input, train_x, n_in):
    """``(rbm, rng, PretrainLayer)`` of rbm.py, compiled, with the tutorial's draws: the
    streams' seed, then the weights (the test index for the samples comes later)."""
    import numpy
    import theano
    import theano.tensor as T
    from ..autoencoders import random_state_variables
    from ..rbm import RBM, persistent_chain, random_streams
    from ..training import PretrainLayer
    index = T.lscalar("index")
    rng = numpy.random.RandomState(args.seed)
    theano_rng = random_streams(rng)
    chain = None if args.cd else persistent_chain(args.batch_size, args.n_hidden)
    rbm = RBM(input=rbm_input, n_visible=n_in, n_hidden=args.n_hidden, numpy_rng=rng,
              theano_rng=theano_rng)
    cost, updates = rbm.get_cost_updates(lr=args.learning_rate, persistent=chain, k=args.k)
    train_rbm = theano.function(
        [index], cost, updates=updates,
        givens={rbm_input: train_x[index * args.batch_size:(index + 1) * args.batch_size]},
        name="train_rbm")
    layer = PretrainLayer("rbm", train_rbm, rbm.params,
                          state=random_state_variables(train_rbm, rbm.params),
                          summarize=rbm_epoch_cost,
                          log_format="Training epoch {epoch}, cost is  {cost}")
    return rbm, rng, layer


def _rbm_samples(args, rbm, rng, test_x, image_shape, run_dir, say):
    """The tutorial's sampling: ``n_chains`` chains from consecutive test images at a random
    index, ``n_samples`` rows ``plot_every`` Gibbs steps apart; samples.png and
    samples.npz.  Returns the test index."""
    import numpy
    import theano
    from .. import plot
    from ..runs import checkpoint
    from ..rbm import build_sampler
    from ..runs.rundir import SAMPLES_ARRAYS, SAMPLES_FIGURE
    n_test = test_x.get_value(borrow=True).shape[0]
    test_idx = int(rng.randint(n_test - args.n_chains))
    persistent_vis_chain = theano.shared(numpy.asarray(
        test_x.get_value(borrow=True)[test_idx:test_idx + args.n_chains],
        dtype=theano.config.floatX))
    sample_fn = build_sampler(rbm, persistent_vis_chain, args.plot_every)
    rows = []
    for idx in range(args.n_samples):
        vis_mf, _ = sample_fn()
        say(" ... plotting sample %d" % idx)
        rows.append(vis_mf)
    run_dir.write_with(SAMPLES_ARRAYS, lambda path: checkpoint.save_arrays(
        path, {"vis_mf": numpy.asarray(rows)},
        {"test_idx": test_idx, "plot_every": args.plot_every}))
    if image_shape is not None:
        run_dir.write_with(SAMPLES_FIGURE, lambda path: plot.save_samples(
            rows, path, image_shape, steps_between=args.plot_every,
            title="%d chains from test images %d-%d, %d Gibbs steps between rows"
                  % (args.n_chains, test_idx, test_idx + args.n_chains - 1, args.plot_every)))
    return test_idx


def _rbm_main(name, args, argv, run_dir, state, say):
    """rbm.py: PCD-k training (filters after each epoch), then sampling from the RBM."""
    import theano.tensor as T
    from .. import plot
    from ..data import shared_datasets
    from ..runs.rundir import SUMMARY, epoch_filters_file
    splits, n_in, n_out = _start(name, args, run_dir, say)
    if args.n_chains > len(splits[2][1]):
        raise CLIError("--n-chains %d is more than the %d test images the chains start from; "
                       "choose --n-chains %d or fewer"
                       % (args.n_chains, len(splits[2][1]), len(splits[2][1])))
    n_batches = _n_batches(args, len(splits[0][1]))
    image_shape = filter_image_shape(n_in)
    x = T.matrix("x")
    started = time.perf_counter()
    try:
        (train_x, _), _, (test_x, _) = shared_datasets(splits)
        say("building the RBM and compiling its training function...")
        rbm, rng, layer = _rbm_layer(args, x, train_x, n_in)
    except ValueError as error:
        raise usage_error(error) from None
    say("compiled in %.1f s" % (time.perf_counter() - started))
    pretrainer = _pretrainer(name, args, [layer], n_batches, args.training_epochs, run_dir, say,
                             model=rbm)

    def epoch_filters(index, epochs_done):  # the tutorial's filters_at_epoch_N.png
        if image_shape is not None:
            W = rbm.W.get_value(borrow=True)
            rows = min(FILTER_TILES[0], -(-W.shape[1] // FILTER_TILES[1]))
            run_dir.write_with(epoch_filters_file(epochs_done - 1), lambda path: plot.save_filters(
                W, path, image_shape=image_shape, tile_shape=(rows, FILTER_TILES[1])))
    pretrainer.on_epoch_end = epoch_filters
    if args.resume:
        state["started"] = True
        _resume_pretraining(name + ".py", pretrainer, run_dir, say)
    if not pretrainer.finished():
        ex.write_config(name, args, argv, _settings(name, args), rbm.spec(), run_dir,
                        pretrainer.meta["numerics"])
    state["started"] = True
    result = pretrainer.run()
    summary = dict(_pretraining_summary(result), experiment=name,
                   costs=[record["cost"] for record in result.history])
    run_dir.write_json(SUMMARY, summary)
    _check_pretraining(name, pretrainer, result, run_dir)
    say("Training took %f minutes" % (result.wall_seconds / 60.))
    summary["sampling_test_index"] = _rbm_samples(args, rbm, rng, test_x, image_shape,
                                                  run_dir, say)
    draw_pretraining(run_dir, title="rbm: %s" % os.path.basename(
        os.path.normpath(os.path.abspath(str(run_dir)))))
    run_dir.write_json(SUMMARY, summary)
    print("Training complete: RBM (%s, k=%d) after %d epochs, last epoch's cost %s; %.2f "
          "s/epoch; samples: %s. Run folder: %s" % (
              "CD" if args.cd else "PCD", args.k, result.epochs[0],
              summary["costs"][-1] if summary["costs"] else "-", result.seconds_per_epoch,
              printable(run_dir.file("samples.png")), printable(run_dir)), flush=True)
    return 0


def _dbn_layers(args, dbn, train_x):
    from ..autoencoders import random_state_variables
    from ..training import PretrainLayer
    fns = dbn.pretraining_functions(train_set_x=train_x, batch_size=args.batch_size, k=args.k)
    layers = []
    for i, (fn, rbm) in enumerate(zip(fns, dbn.rbm_layers)):
        # the tutorial's call: pretraining_fns[i](index=..., lr=...)
        layers.append(PretrainLayer(
            "layer %d" % i, functools.partial(fn, lr=args.pretrain_lr), rbm.params,
            state=random_state_variables(fn, rbm.params),
            log_format="Pre-training layer {layer}, epoch {epoch}, cost  {cost}"))
    return layers


def _dbn_main(name, args, argv, run_dir, state, say):
    """DBN.py: pre-train the RBMs layer by layer (CD-k), then fine-tune the network with the
    supervised loop; the tutorial's log lines."""
    import numpy
    from ..data import shared_datasets
    from ..rbm import DBN
    splits, n_in, n_out = _start(name, args, run_dir, say)
    n_batches = _n_batches(args, len(splits[0][1]))
    config = sda_train_config(args, n_batches, DBN_PATIENCE_EPOCHS)
    started = time.perf_counter()
    try:
        datasets = shared_datasets(splits)
        say("... building the model")
        dbn = DBN(numpy_rng=numpy.random.RandomState(args.seed), n_ins=n_in,
                  hidden_layers_sizes=args.hidden_layers_sizes, n_outs=n_out)
        say("... getting the pretraining functions")
        layers = _dbn_layers(args, dbn, datasets[0][0])
        say("... getting the finetuning functions")
        compiled = dbn.build_finetune_functions(datasets, args.batch_size, args.finetune_lr,
                                                config=config)
    except ValueError as error:
        raise usage_error(error) from None
    say("compiled in %.1f s" % (time.perf_counter() - started))

    def before_finetune(pretrained):
        say("The pretraining code for file DBN.py ran for %.2fm" % (pretrained.wall_seconds / 60.))
        draw_pretraining(run_dir, title="DBN: %s" % os.path.basename(
            os.path.normpath(os.path.abspath(str(run_dir)))))
        say("... finetuning the model")

    def after_finetune(result):
        if not result.interrupted and not result.diverged:
            say("The fine tuning code for file DBN.py ran for %.2fm" % (result.wall_seconds / 60.))

    return _pretrain_then_finetune(name, args, argv, dbn, layers, compiled, config, n_batches,
                                   run_dir, state, say, before_finetune, after_finetune)


_MAINS = {"dA": _pretrain_main, "cA": _pretrain_main, "SdA": _sda_main, "logistic_cg": _cg_main,
          "rbm": _rbm_main, "DBN": _dbn_main}


def _run(name, argv):
    from ..runs.rundir import RunDirWriteError
    parser, args = parse(name, argv)
    say = _say(args)
    ex.choose_device(args)
    run_dir, state = None, {"started": False}
    try:
        run_dir = ex.claim_run_dir(name, args)
        return _MAINS[name](name, args, argv, run_dir, state, say)
    except KeyboardInterrupt:
        raise CLIError(ex._interrupted_message(name, run_dir, state["started"]),
                       EXIT_INTERRUPTED) from None
    except RunDirWriteError as error:
        raise CLIError(ex._write_failure_message(error, name, run_dir, state["started"],
                                                 bool(args.resume)), EXIT_IO) from None
    finally:
        if run_dir is not None:
            if state["started"]:
                run_dir.unlock()
            else:
                run_dir.abandon()


def run(name, argv=None):
    """Parse ``argv``, train, write the run folder; returns the process exit code."""
    return report_failures(name + ".py", _run, name, argv)


def main_for(name):
    """A ``main(argv=None)`` for script ``name``, as each script exposes it."""
    def main(argv=None):
        return run(name, argv)
    main.__doc__ = EXPERIMENTS[name]["description"]
    return main

