"""The steps every later chapter's script shares (:mod:`dltut.cli.pretrain` holds one recipe
per chapter): load the data and check the model fits, the :class:`dltut.training.Pretrainer`
with its checkpoint, resume and summary, the SdA's and the DBN's pre-training followed by
fine-tuning, and the filter and pre-training figures.  Nothing here trains."""
import sys
import time

from ..runs.checkpoint import printable
from . import supervised as ex
from .common import EXIT_DIVERGED, EXIT_INTERRUPTED, CLIError, script_command

__all__ = ["PATIENCE_EPOCHS", "STACKS", "FILTER_TILES", "check_size", "sda_train_config",
           "filter_image_shape", "draw_layer_filters", "draw_pretraining", "start",
           "count_batches", "make_pretrainer", "resume_pretraining", "pretraining_summary",
           "check_pretraining", "settings_of", "pretrain_then_finetune"]

#: The tutorial's fine-tuning patience: look at this many epochs' minibatches regardless
#: (SdA.py's; DBN.py's is 4, its recipe's patience_epochs in dltut.cli.pretrain).
PATIENCE_EPOCHS = 10
#: Layer-wise scripts whose upper layers take features, not images, as input.
STACKS = ("SdA", "DBN")
#: The tutorial draws its filters as a 10 x 10 grid of the first 100 units.
FILTER_TILES = (10, 10)


def check_size(recipe, args, n_in, n_out, itemsize):
    """CLIError if the model's parameters and one minibatch's work cannot fit in memory
    (``recipe.memory(args, n_in, n_out)``: the layer sizes, the flags that set them, and the
    recipe's own extra work)."""
    from ..runtime.memory import MemoryLimitError, check_fits
    sizes, flags, extra = recipe.memory(args, n_in, n_out)
    parameters = sum(a * b + a + b for a, b in zip(sizes, sizes[1:]))
    work = args.batch_size * sum(sizes) + extra
    try:
        check_fits(itemsize * (4 * parameters + 3 * work),
                   "training %s, --batch-size %d" % (flags, args.batch_size),
                   "choose smaller sizes")
    except (MemoryLimitError, ValueError) as error:
        raise CLIError(str(error)) from None


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
def start(recipe, args, run_dir, say):
    """Load the data, say what runs where; ``(splits, n_in, n_out)``."""
    import theano
    splits, n_in, n_out, _ = ex.load_data(args)
    say("%s: %d train / %d valid / %d test examples of %d features, %d classes; device %s, "
        "floatX %s; run folder %s" % (args.dataset, len(splits[0][1]), len(splits[1][1]),
                                      len(splits[2][1]), n_in, n_out, theano.config.device,
                                      theano.config.floatX, run_dir))
    itemsize = 4 if theano.config.floatX == "float32" else 8
    check_size(recipe, args, n_in, n_out, itemsize)
    return splits, n_in, n_out


def count_batches(args, n_train):
    if args.batch_size > n_train:
        raise CLIError("--batch-size %d is larger than the training set (%d examples); "
                       "choose --batch-size %d or less" % (args.batch_size, n_train, n_train))
    return n_train // args.batch_size


def make_pretrainer(name, args, layers, n_batches, n_epochs, run_dir, say, model=None):
    from ..runtime.info import numerics
    from ..training import Pretrainer
    meta = {"dataset": args.dataset, "experiment": name, "seed": getattr(args, "seed", None),
            "numerics": numerics()}
    return Pretrainer(layers, n_batches, n_epochs, model=model, run_dir=run_dir, log=say,
                      progress=None if not args.quiet else False, meta=meta,
                      checkpoint_seconds=args.checkpoint_every)


def resume_pretraining(prog, pretrainer, run_dir, say):
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


def pretraining_summary(result):
    return {"layers": result.layers, "epochs": result.epochs, "iterations": result.iterations,
            "stopped_by": result.stopped_by, "seconds_per_epoch": result.seconds_per_epoch,
            "train_seconds": result.wall_seconds, "last": result.last,
            "divergence": result.divergence}


def check_pretraining(name, pretrainer, result, run_dir):
    """CLIError for an interrupted or diverged pre-training."""
    if result.interrupted:
        st = pretrainer.state
        where = ("%s, epoch %d" % (pretrainer.layers[st.layer].name, st.epoch + 1)
                 if not pretrainer.finished() else "the end of pre-training")
        raise CLIError("interrupted in %s; resume with: %s"
                       % (where, script_command(name, "--resume", run_dir)), EXIT_INTERRUPTED)
    if result.diverged:
        from ..runs.rundir import PRETRAINING_CHECKPOINT
        kept = ("the last good checkpoint in %s is kept" % run_dir
                if run_dir.has(PRETRAINING_CHECKPOINT) else "no checkpoint had been written yet")
        raise CLIError("training diverged: %s; %s. Try a smaller learning rate"
                       % (result.divergence, kept), EXIT_DIVERGED)


def settings_of(name, args):
    """The experiment's training settings, for config.json."""
    keep = [key for key in vars(args) if key not in ex.SESSION_FLAGS + ("dataset",)]
    return {key: getattr(args, key) for key in keep}


def pretrain_then_finetune(name, args, argv, model, layers, compiled, config, n_batches,
                            run_dir, state, say, before_finetune=None, after_finetune=None):
    """The SdA's and the DBN's run: layer-wise pre-training (the one pre-training loop), then
    fine-tuning of the whole stack (the one supervised Trainer), both resumable from the same
    run folder.  ``before_finetune(pretrained)`` runs once before the first fine-tuning
    step, ``after_finetune(result)`` after it; returns what ``ex.report`` returns."""
    from ..runs.rundir import BEST_MODEL, CHECKPOINT, HISTORY, SUMMARY
    from ..training import Trainer
    pretrainer = make_pretrainer(name, args, layers, n_batches, args.pretraining_epochs, run_dir,
                             say, model=model)
    trainer = Trainer(compiled, config, model=model, run_dir=run_dir, log=say,
                      progress=None if not args.quiet else False,
                      meta=dict(pretrainer.meta), checkpoint_seconds=args.checkpoint_every)
    if args.resume:
        state["started"] = True
        if resume_pretraining(name + ".py", pretrainer, run_dir, say) and pretrainer.finished():
            if run_dir.has(CHECKPOINT):
                ex.resume(name + ".py", trainer, run_dir, say)
            else:  # fine-tuning had not written a checkpoint: it starts from the beginning
                for stale in (HISTORY, BEST_MODEL, SUMMARY):
                    run_dir.remove(stale)
    if not trainer.finished():
        ex.write_config(name, args, argv, dict(settings_of(name, args), finetune=config.to_dict()),
                        model.spec(), run_dir, pretrainer.meta["numerics"])
    state["started"] = True
    session_started = time.perf_counter()
    if not pretrainer.finished():
        say("... pre-training the model")
    pretrained = pretrainer.run()
    extra = {"pretraining": pretraining_summary(pretrained)}
    if not pretrained.stopped_by == "n_epochs":
        run_dir.write_json(SUMMARY, dict(extra, stopped_by=pretrained.stopped_by,
                                         experiment=name))
        check_pretraining(name, pretrainer, pretrained, run_dir)
    if trainer.state.iterations == 0 and before_finetune is not None:
        before_finetune(pretrained)
    result = trainer.run()
    if after_finetune is not None:
        after_finetune(result)
    return ex.report(name, run_dir, compiled, result, session_started, extra)


