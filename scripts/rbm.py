#!/usr/bin/env python
"""Train an RBM on MNIST with PCD-15, then sample from it (the tutorial's rbm.py).

    python scripts/rbm.py                        # the tutorial's run: 15 epochs, then 10 x 1000 Gibbs steps
    python scripts/rbm.py --training-epochs 1    # a short run
    python scripts/rbm.py --resume runs/rbm-...  # continue a stopped run (Ctrl-C writes a checkpoint)
    python scripts/rbm.py --help                 # every flag, with its default

Prints the tutorial's lines (``Training epoch 0, cost is  -90.023155``: the mean over the
epoch of the pseudo-likelihood proxy) and writes a run folder (``runs/rbm-<timestamp>/`` or
``--out``; the tutorial's ``output_folder``): ``filters_at_epoch_N.png`` after each epoch,
``samples.png`` (the chains side by side, one row per ``--plot-every`` Gibbs steps) with
``samples.npz``, the pre-training checkpoint and records, ``config.json``, ``summary.json``.
"""
import argparse
import sys

try:
    import dltut  # noqa: F401  (sets up Theano's BLAS before numpy/Theano load)
    from dltut import experiment as ex
except KeyboardInterrupt:  # Ctrl-C while Python starts: one line, no traceback
    print("rbm.py: interrupted", file=sys.stderr)
    sys.exit(130)

NAME = "rbm"
#: What a resumed run may change.
CHANGEABLE = ("training_epochs", "checkpoint_every")


def build_parser():
    parser = ex.OneLineParser(prog="rbm.py", description=__doc__.split("\n\n")[0],
                              formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    data = parser.add_argument_group("data")
    data.add_argument("--dataset", default="mnist",
                      help="'mnist', 'fashion-mnist', or a path to a .pkl.gz of the same "
                           "structure or a folder of IDX files (pixel values in [0, 1])")
    model = parser.add_argument_group("model")
    model.add_argument("--n-hidden", type=ex.positive_int, default=500, help="hidden units")
    model.add_argument("--seed", type=ex.seed_int, default=123,
                       help="seed of the RandomState that seeds the Theano random streams, "
                            "draws the weights and picks the test examples the sampling "
                            "chains start from (in that order)")
    train = parser.add_argument_group("training")
    train.add_argument("--learning-rate", type=ex.positive_float, default=0.1,
                       help="step size of the parameter updates")
    train.add_argument("--training-epochs", type=ex.positive_int, default=15,
                       help="passes over the training set")
    train.add_argument("--batch-size", type=ex.positive_int, default=20,
                       help="examples per update (and chains of the persistent chain)")
    train.add_argument("--k", type=ex.positive_int, default=15,
                       help="Gibbs steps per update (PCD-k)")
    train.add_argument("--cd", action="store_true",
                       help="contrastive divergence (each chain starts at the data, the "
                            "reconstruction cost is printed) instead of persistent CD")
    sample = parser.add_argument_group("sampling (after training)")
    sample.add_argument("--n-chains", type=ex.positive_int, default=20,
                        help="parallel Gibbs chains, started at consecutive test examples")
    sample.add_argument("--n-samples", type=ex.positive_int, default=10,
                        help="samples plotted per chain")
    sample.add_argument("--plot-every", type=ex.positive_int, default=1000,
                        help="Gibbs steps between two plotted samples")
    ex.add_run_flags(parser, NAME, snapshots=False, changeable=CHANGEABLE)
    return parser


def parse(argv):
    parser = build_parser()
    args = parser.parse_args(argv)
    ex.resume_settings(parser, args, argv, NAME, CHANGEABLE)
    return parser, args


def _run(argv):
    import time
    parser, args = parse(argv)
    say = (lambda *a: None) if args.quiet else (lambda *a: print(*a, flush=True))
    ex.choose_device(args)
    from dltut.rundir import PRETRAINING_CHECKPOINT
    with ex.RunSession(NAME, args, (PRETRAINING_CHECKPOINT,)) as session:
        run_dir = session.run_dir
        splits, n_in, _, image_shape = ex.load_data(args)
        import theano
        n_test = len(splits[2][1])
        if args.n_chains > n_test:
            raise ex.CLIError("--n-chains %d is more than the %d test examples the chains "
                              "start from" % (args.n_chains, n_test))
        if args.batch_size > len(splits[0][1]):
            raise ex.CLIError("--batch-size %d is larger than the training set (%d examples)"
                              % (args.batch_size, len(splits[0][1])))
        say("... loading data: %s, %d train / %d test examples of %d pixels; device %s, "
            "floatX %s; run folder %s" % (args.dataset, len(splits[0][1]), n_test, n_in,
                                          theano.config.device, theano.config.floatX, run_dir))
        session.started = bool(args.resume)
        run = RBMRun(args, splits, n_in, image_shape or (1, n_in), run_dir, say)
        if not run.pretrainer.finished():
            ex.write_config(NAME, args, argv, None, run.rbm, run_dir, run.meta["numerics"])
        session.started = True
        session_started = time.perf_counter()
        result = ex.pretrain(NAME, run.pretrainer, run_dir, bool(args.resume), say)
        say("Training took %f minutes" % (result.wall_seconds / 60.))
        run.sample()
        run.write_summary(result, time.perf_counter() - session_started)
        return 0


class RBMRun:
    """The tutorial's test_rbm, step by step: the model and its compiled functions, the
    training loop (:class:`dltut.train.Pretrainer`), sampling, the summary."""

    def __init__(self, args, splits, n_in, image_shape, run_dir, say):
        import numpy
        import theano
        import theano.tensor as T
        from dltut.data import shared_datasets
        from dltut.info import numerics
        from dltut.rbm import RBM, persistent_chain, random_streams
        from dltut.train import PretrainLayer, Pretrainer, updated_shared_variables

        self.args, self.run_dir, self.say = args, run_dir, say
        self.image_shape = image_shape
        (self.train_x, _), _, (self.test_x, _) = shared_datasets(splits)
        n_train_batches = self.train_x.get_value(borrow=True).shape[0] // args.batch_size
        index = T.lscalar("index")
        x = T.matrix("x")
        # the tutorial's order of draws: the streams' seed, the weights, later the test index
        self.rng = numpy.random.RandomState(args.seed)
        theano_rng = random_streams(self.rng)
        chain = None if args.cd else persistent_chain(args.batch_size, args.n_hidden)
        self.rbm = RBM(input=x, n_visible=n_in, n_hidden=args.n_hidden, numpy_rng=self.rng,
                       theano_rng=theano_rng)
        cost, updates = self.rbm.get_cost_updates(lr=args.learning_rate, persistent=chain,
                                                  k=args.k)
        train_rbm = theano.function(
            [index], cost, updates=updates,
            givens={x: self.train_x[index * args.batch_size:(index + 1) * args.batch_size]},
            name="train_rbm")
        state = [v for v in updated_shared_variables(train_rbm) if v not in self.rbm.params]
        layer = PretrainLayer(
            "rbm", train_rbm, params=self.rbm.params, state=state, summarize=epoch_cost,
            log_format="Training epoch {epoch}, cost is  {cost}")
        self.meta = {"dataset": args.dataset, "experiment": NAME, "seed": args.seed,
                     "numerics": numerics()}
        self.pretrainer = Pretrainer(
            [layer], n_train_batches, args.training_epochs, model=self.rbm, run_dir=run_dir,
            log=say, progress=None if not args.quiet else False, meta=self.meta,
            checkpoint_seconds=args.checkpoint_every)
        self.pretrainer.on_epoch_end = self.save_filters

    def save_filters(self, layer_index, epochs_done):
        """The tutorial's filters_at_epoch_N.png: the first 100 hidden units' weights."""
        from dltut.plot import save_filters
        from dltut.rundir import epoch_filters_file
        W = self.rbm.W.get_value(borrow=True)
        count = min(100, W.shape[1])
        tiles = (10, 10) if count == 100 else None
        self.run_dir.write_with(epoch_filters_file(epochs_done - 1), lambda path: save_filters(
            W[:, :count], path, image_shape=self.image_shape, tile_shape=tiles))

    def sample(self):
        """``n_samples`` rows of ``n_chains`` chains, ``plot_every`` Gibbs steps apart, from
        consecutive test examples at a random index (the tutorial's samples.png)."""
        import numpy
        import theano
        from dltut import checkpoint
        from dltut.plot import save_samples
        from dltut.rbm import build_sampler
        from dltut.rundir import SAMPLES_ARRAYS, SAMPLES_FIGURE
        args = self.args
        n_test = self.test_x.get_value(borrow=True).shape[0]
        test_idx = self.rng.randint(n_test - args.n_chains)
        persistent_vis_chain = theano.shared(numpy.asarray(
            self.test_x.get_value(borrow=True)[test_idx:test_idx + args.n_chains],
            dtype=theano.config.floatX))
        sample_fn = build_sampler(self.rbm, persistent_vis_chain, args.plot_every)
        rows = []
        for idx in range(args.n_samples):
            vis_mf, _ = sample_fn()
            self.say(" ... plotting sample %d" % idx)
            rows.append(vis_mf)
        self.run_dir.write_with(SAMPLES_ARRAYS, lambda path: checkpoint.save_arrays(
            path, {"vis_mf": numpy.asarray(rows)},
            {"test_idx": int(test_idx), "plot_every": args.plot_every}))
        self.run_dir.write_with(SAMPLES_FIGURE, lambda path: save_samples(
            rows, path, self.image_shape, steps_between=args.plot_every,
            title="%d chains from test examples %d-%d, %d Gibbs steps between rows"
                  % (args.n_chains, test_idx, test_idx + args.n_chains - 1, args.plot_every)))
        self.test_idx = int(test_idx)

    def write_summary(self, result, session_seconds):
        from dltut.rundir import SUMMARY
        costs = [record["cost"] for record in result.history]
        summary = {"costs": costs, "epochs": result.epochs[0], "stopped_by": result.stopped_by,
                   "training_minutes": result.wall_seconds / 60.0,
                   "seconds_per_epoch": result.seconds_per_epoch,
                   "sampling_test_index": self.test_idx,
                   "wall_seconds_this_session": session_seconds}
        self.run_dir.write_json(SUMMARY, summary)
        print("RBM trained for %d epochs (%s, k=%d): last epoch's cost %s; samples in %s"
              % (result.epochs[0], "CD" if self.args.cd else "PCD", self.args.k,
                 costs[-1] if costs else "-", self.run_dir.file("samples.png")), flush=True)


def epoch_cost(costs):
    """The tutorial's epoch figure: ``numpy.mean`` of the minibatch costs in their own dtype
    (float32 under floatX=float32), given as the decimal numpy prints for it, so that the
    log line reads exactly as the tutorial's."""
    import numpy
    return {"cost": float(str(numpy.mean(costs)))}


def main(argv=None):
    return ex.report_failures("rbm.py", _run, argv)


if __name__ == "__main__":
    sys.exit(main())
