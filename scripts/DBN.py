#!/usr/bin/env python
"""Pre-train a deep belief network layer by layer (CD-k), then fine-tune it as a classifier
(the tutorial's DBN.py).

    python scripts/DBN.py                               # the tutorial's run: 3 x 1000 units, 100 pre-training epochs per layer
    python scripts/DBN.py --pretraining-epochs 1 --training-epochs 1   # a short run
    python scripts/DBN.py --resume runs/DBN-...         # continue a stopped run (Ctrl-C writes a checkpoint)
    python scripts/DBN.py --help                        # every flag, with its default

Pre-training prints ``Pre-training layer 0, epoch 0, cost  -98.53650726013184`` (the mean
reconstruction cost of the epoch) and checkpoints into ``pretraining.npz``; fine-tuning is
dltut's one supervised trainer with the tutorial's early stopping (patience: 4 epochs'
minibatches), printing the tutorial's validation lines and checkpointing into
``checkpoint.npz``.  Both resume exactly.  The run folder (``runs/DBN-<timestamp>/`` or
``--out``) also gets ``filters_layer_00.png`` (the first layer's weights after
pre-training), ``best_model.npz`` (a sigmoid MLP for ``predict.py``) and ``summary.json``.
"""
import argparse
import sys

try:
    import dltut  # noqa: F401  (sets up Theano's BLAS before numpy/Theano load)
    from dltut import experiment as ex
except KeyboardInterrupt:  # Ctrl-C while Python starts: one line, no traceback
    print("DBN.py: interrupted", file=sys.stderr)
    sys.exit(130)

NAME = "DBN"
#: What a resumed run may change.
CHANGEABLE = ("training_epochs", "checkpoint_every", "save_every")


def build_parser():
    parser = ex.OneLineParser(prog="DBN.py", description=__doc__.split("\n\n")[0],
                              formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    data = parser.add_argument_group("data")
    data.add_argument("--dataset", default="mnist",
                      help="'mnist', 'fashion-mnist', or a path to a .pkl.gz of the same "
                           "structure or a folder of IDX files (pixel values in [0, 1])")
    model = parser.add_argument_group("model")
    model.add_argument("--hidden-layers-sizes", type=ex.positive_int, nargs="+",
                       default=[1000, 1000, 1000], help="units of each hidden layer (RBM)")
    model.add_argument("--seed", type=ex.seed_int, default=123,
                       help="seed of the RandomState that seeds the Theano random streams and "
                            "draws the weights (in that order)")
    pre = parser.add_argument_group("pre-training (CD-k, layer by layer)")
    pre.add_argument("--pretraining-epochs", type=ex.positive_int, default=100,
                     help="epochs per layer")
    pre.add_argument("--pretrain-lr", type=ex.positive_float, default=0.01,
                     help="learning rate of the RBMs")
    pre.add_argument("--k", type=ex.positive_int, default=1, help="Gibbs steps per update")
    fine = parser.add_argument_group("fine-tuning (SGD with early stopping)")
    fine.add_argument("--finetune-lr", type=ex.positive_float, default=0.1,
                      help="learning rate of the fine-tuning")
    fine.add_argument("--training-epochs", type=ex.positive_int, default=1000,
                      help="most fine-tuning epochs")
    fine.add_argument("--patience", type=ex.non_negative_int, default=0,
                      help="look at this many minibatches regardless (0: 4 epochs' worth, the "
                           "tutorial's)")
    data.add_argument("--batch-size", type=ex.positive_int, default=10,
                      help="examples per minibatch (both phases)")
    ex.add_run_flags(parser, NAME, changeable=CHANGEABLE)
    return parser


def parse(argv):
    parser = build_parser()
    args = parser.parse_args(argv)
    ex.resume_settings(parser, args, argv, NAME, CHANGEABLE)
    return parser, args


def _run(argv):
    import time
    from dltut.rundir import CHECKPOINT, PRETRAINING_CHECKPOINT, SUMMARY
    parser, args = parse(argv)
    say = (lambda *a: None) if args.quiet else (lambda *a: print(*a, flush=True))
    ex.choose_device(args)
    with ex.RunSession(NAME, args, (CHECKPOINT, PRETRAINING_CHECKPOINT)) as session:
        run_dir = session.run_dir
        splits, n_in, n_out, image_shape = ex.load_data(args)
        import theano
        n_train = len(splits[0][1])
        if args.batch_size > min(n_train, len(splits[1][1]), len(splits[2][1])):
            raise ex.CLIError("--batch-size %d is larger than a split of the dataset (%d / %d "
                              "/ %d examples)" % (args.batch_size, n_train, len(splits[1][1]),
                                                  len(splits[2][1])))
        say("... loading data: %s, %d train / %d valid / %d test examples of %d features, %d "
            "classes; device %s, floatX %s; run folder %s" % (
                args.dataset, n_train, len(splits[1][1]), len(splits[2][1]), n_in, n_out,
                theano.config.device, theano.config.floatX, run_dir))
        session.started = bool(args.resume)
        run = DBNRun(args, splits, n_in, n_out, image_shape, run_dir, say)
        summary = run_dir.read_json(SUMMARY) if args.resume else None
        if not summary or summary.get("stopped_by") in (None, "interrupted", "diverged"):
            ex.write_config(NAME, args, argv, run.config, run.dbn, run_dir,
                            run.meta["numerics"])
        session.started = True
        session_started = time.perf_counter()
        say("... pre-training the model")
        pretraining = ex.pretrain(NAME, run.pretrainer, run_dir, bool(args.resume), say)
        say("The pretraining code for file DBN.py ran for %.2fm"
            % (pretraining.wall_seconds / 60.))
        run.after_pretraining()
        trainer = run.finetuning()
        say("... finetuning the model")
        if args.resume and run_dir.has(CHECKPOINT):
            ex.resume(parser.prog, trainer, run_dir, say)
        result = trainer.run()
        if not result.interrupted and not result.diverged:
            say("The fine tuning code for file DBN.py ran for %.2fm" % (result.wall_seconds / 60.))
        return ex.report(NAME, run_dir, run.compiled, result, session_started,
                         extra={"pretraining_epochs": pretraining.epochs,
                                "pretraining_minutes": pretraining.wall_seconds / 60.0,
                                "pretraining_costs": [r.get("cost") for r in pretraining.history]})


class DBNRun:
    """The tutorial's test_DBN: the model, the pre-training loop over its RBMs
    (:class:`dltut.train.Pretrainer`), and fine-tuning through :class:`dltut.train.Trainer`."""

    def __init__(self, args, splits, n_in, n_out, image_shape, run_dir, say):
        import functools

        import numpy
        from dltut.data import shared_datasets
        from dltut.info import numerics
        from dltut.rbm import DBN
        from dltut.train import PretrainLayer, Pretrainer, TrainConfig, updated_shared_variables

        self.args, self.run_dir, self.say, self.image_shape = args, run_dir, say, image_shape
        datasets = shared_datasets(splits)
        train_x = datasets[0][0]
        n_train_batches = train_x.get_value(borrow=True).shape[0] // args.batch_size
        say("... building the model")
        self.dbn = DBN(numpy_rng=numpy.random.RandomState(args.seed), n_ins=n_in,
                       hidden_layers_sizes=args.hidden_layers_sizes, n_outs=n_out)
        say("... getting the pretraining functions")
        functions = self.dbn.pretraining_functions(train_set_x=train_x,
                                                   batch_size=args.batch_size, k=args.k)
        layers = []
        for i, (fn, rbm) in enumerate(zip(functions, self.dbn.rbm_layers)):
            state = [v for v in updated_shared_variables(fn) if v not in rbm.params]
            layers.append(PretrainLayer(
                "layer %d" % i, functools.partial(fn, lr=args.pretrain_lr), params=rbm.params,
                state=state, log_format="Pre-training layer {layer}, epoch {epoch}, cost  {cost}"))
        self.meta = {"dataset": args.dataset, "experiment": NAME, "seed": args.seed,
                     "numerics": numerics()}
        self.pretrainer = Pretrainer(
            layers, n_train_batches, args.pretraining_epochs, model=self.dbn, run_dir=run_dir,
            log=say, progress=None if not args.quiet else False, meta=self.meta,
            checkpoint_seconds=args.checkpoint_every)
        self.datasets = datasets
        self.config = TrainConfig(
            learning_rate=args.finetune_lr, batch_size=args.batch_size,
            n_epochs=args.training_epochs, patience=args.patience or 4 * n_train_batches,
            patience_increase=2.0, improvement_threshold=0.995)

    def finetuning(self):
        """The fine-tuning functions and their :class:`dltut.train.Trainer`."""
        self.say("... getting the finetuning functions")
        self.compiled = self.dbn.build_finetune_functions(
            self.datasets, self.args.batch_size, self.args.finetune_lr, config=self.config)
        return ex.make_trainer(NAME, self.args, self.config, self.run_dir, self.dbn,
                               self.compiled, self.say)

    def after_pretraining(self):
        """The first layer's filters (its RBM's weights) as an image, once."""
        from dltut.plot import save_filters
        from dltut.rundir import layer_filters_file
        if self.image_shape is None or self.run_dir.has(layer_filters_file(0)):
            return
        W = self.dbn.rbm_layers[0].W.get_value(borrow=True)
        count = min(100, W.shape[1])
        self.run_dir.write_with(layer_filters_file(0), lambda path: save_filters(
            W[:, :count], path, image_shape=self.image_shape))


def main(argv=None):
    return ex.report_failures("DBN.py", _run, argv)


if __name__ == "__main__":
    sys.exit(main())
