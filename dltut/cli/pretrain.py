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
SdA's and the DBN's fine-tuning) and :class:`dltut.training.CGOptimizer` (logistic_cg).  Nothing
here trains.
"""
import functools
import inspect
import os
import time

from ..runs.checkpoint import printable
from . import supervised as ex
from .common import (EXIT_INTERRUPTED, EXIT_IO, CLIError, DefaultsHelpFormatter, OneLineParser,
                     level, non_negative_float, non_negative_int, positive_float, positive_int,
                     report_failures, seed_int, usage_error)
# the shared steps, under the names this module had (draw_pretraining: scripts/plot_run.py's)
from .layerwise import (FILTER_TILES, PATIENCE_EPOCHS, STACKS, check_pretraining,  # noqa: F401
                        count_batches, draw_layer_filters, draw_pretraining, filter_image_shape,
                        make_pretrainer, pretrain_then_finetune, pretraining_summary,
                        resume_pretraining, sda_train_config, settings_of, start)

__all__ = ["Recipe", "RECIPES", "EXPERIMENTS", "CHANGEABLE", "build_parser", "parse",
           "layer_name", "dA_stream", "cA_summary", "rbm_epoch_cost", "draw_pretraining",
           "run", "main_for"]

non_negative = non_negative_float

SEED_HELP = ("seed of the numpy RandomState the weights (and the seed of the MRG random "
             "stream) are drawn from")


class Recipe:
    """One later chapter's script.  Its flags' defaults are the tutorial function's, declared
    once, as that function's signature (:attr:`tutorial`, e.g. ``test_dA(learning_rate=0.1,
    training_epochs=15, ...)``, plus the sizes, levels and seeds the tutorial fixed in its
    code); :meth:`main` builds the model from the parsed flags and runs it."""
    name = description = None
    #: The settings a resumed run may change.
    changeable = ("training_epochs", "checkpoint_every")
    checkpoint_every = True

    @staticmethod
    def tutorial():
        """The tutorial's function: its parameters and their defaults are the script's."""

    @classmethod
    def defaults(cls):
        """``{setting: the tutorial's value}``, in the order of its signature."""
        return {key: list(p.default) if isinstance(p.default, tuple) else p.default
                for key, p in inspect.signature(cls.tutorial).parameters.items()}

    def build_parser(self):
        d = self.defaults()
        parser = OneLineParser(prog=self.name + ".py", description=self.description,
                               formatter_class=DefaultsHelpFormatter)
        ex.add_dataset_flag(parser)
        model = parser.add_argument_group("model")
        opt = parser.add_argument_group("optimisation")
        self.add_flags(parser, model, opt, d)
        ex.add_run_flags(parser, self.name, self.changeable, save_every=False,
                         checkpoint_every=self.checkpoint_every)
        return parser

    def add_flags(self, parser, model, opt, d):
        """The script's own flags, in the order ``--help`` lists them."""
        raise NotImplementedError

    def check(self, parser, args):
        """``parser.error`` for settings that do not go together."""

    def layer_name(self, args, index):
        """The name of what the Pretrainer trains as layer ``index``."""
        return "layer %d" % index

    def memory(self, args, n_in, n_out):
        """``(layer sizes, the flags that set them, extra work)`` for
        :func:`dltut.cli.layerwise.check_size`."""
        return [n_in, args.n_hidden], "--n-hidden %d" % args.n_hidden, 0

    def main(self, args, argv, run_dir, state, say):
        """Build, train, write the run folder; the exit code."""
        raise NotImplementedError


class OneLayer(Recipe):
    """dA.py, cA.py and rbm.py: one hidden layer trained by SGD on the training set."""
    seed_help = SEED_HELP

    def add_flags(self, parser, model, opt, d):
        model.add_argument("--seed", type=seed_int, default=d["seed"], help=self.seed_help)
        model.add_argument("--n-hidden", type=positive_int, default=d["n_hidden"],
                           help="hidden units")
        opt.add_argument("--learning-rate", type=positive_float, default=d["learning_rate"],
                         help="SGD step size")
        opt.add_argument("--training-epochs", type=positive_int, default=d["training_epochs"],
                         help="passes over the training set")
        opt.add_argument("--batch-size", type=positive_int, default=d["batch_size"],
                         help="examples per minibatch")


class Autoencoder(OneLayer):
    """dA.py and cA.py: train the autoencoder(s), draw their filters, report."""

    def building(self, args):
        """``(what, its, plural)`` of the line saying what is compiled."""
        return self.name, "its", ""

    def layers(self, args, x, train_x, n_in):
        """``(models, PretrainLayers)``, compiled."""
        raise NotImplementedError

    def main(self, args, argv, run_dir, state, say):
        import theano.tensor as T
        from ..data import shared_datasets
        from ..runs.rundir import SUMMARY
        name = self.name
        splits, n_in, n_out = start(self, args, run_dir, say)
        n_batches = count_batches(args, len(splits[0][1]))
        x = T.matrix("x")
        started = time.perf_counter()
        try:
            train_x = shared_datasets(splits)[0][0]
            say("building the %s and compiling %s training function%s..." % self.building(args))
            models, layers = self.layers(args, x, train_x, n_in)
        except ValueError as error:
            raise usage_error(error) from None
        say("compiled in %.1f s" % (time.perf_counter() - started))
        pretrainer = make_pretrainer(name, args, layers, n_batches, args.training_epochs,
                                     run_dir, say)
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
            resume_pretraining(name + ".py", pretrainer, run_dir, say)
        if not pretrainer.finished():
            ex.write_config(name, args, argv, settings_of(name, args), models[0].spec(), run_dir,
                            pretrainer.meta["numerics"])
        state["started"] = True
        result = pretrainer.run()
        run_dir.write_json(SUMMARY, dict(pretraining_summary(result), experiment=name))
        check_pretraining(name, pretrainer, result, run_dir)
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


def dA_stream(rng):
    """The tutorial's ``RandomStreams(rng.randint(2 ** 30))``."""
    from theano.sandbox.rng_mrg import MRG_RandomStreams
    return MRG_RandomStreams(rng.randint(2 ** 30))


class DenoisingAutoencoders(Autoencoder):
    name = "dA"
    description = ("Denoising autoencoders on MNIST, one per corruption level, each trained "
                   "with minibatch SGD on the reconstruction cross-entropy (the tutorial's "
                   "dA.py: 0 % and 30 % corruption).")

    @staticmethod
    def test_dA(learning_rate=0.1, training_epochs=15, batch_size=20, n_hidden=500,
                corruption_level=(0.0, 0.3), seed=123):
        """dA.py's ``test_dA``; its code fixes 500 hidden units, the two corruption levels
        and ``RandomState(123)``."""
    tutorial = test_dA

    def add_flags(self, parser, model, opt, d):
        super().add_flags(parser, model, opt, d)
        model.add_argument("--corruption-level", type=level, nargs="+",
                           default=d["corruption_level"],
                           help="fraction of the inputs set to zero; each level trains its own "
                                "dA, from the same initial weights and random stream")

    def check(self, parser, args):
        names = [self.layer_name(args, i) for i in range(len(args.corruption_level))]
        if len(set(names)) != len(names):
            parser.error("--corruption-level gives a level twice (%s); give each once"
                         % " ".join("%g" % c for c in args.corruption_level))

    def layer_name(self, args, index):
        return "corruption %g%%" % (round(100 * args.corruption_level[index], 6))

    def building(self, args):
        if len(args.corruption_level) > 1:
            return "dAs", "their", "s"
        return super().building(args)

    def layers(self, args, x, train_x, n_in):
        import numpy
        import theano
        import theano.tensor as T
        from ..autoencoders import dA, random_state_variables
        from ..training import PretrainLayer
        index = T.lscalar("index")
        givens = {x: train_x[index * args.batch_size:(index + 1) * args.batch_size]}
        models, layers = [], []
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
                self.layer_name(args, i), train_da, da.params,
                state=random_state_variables(train_da, da.params),
                log_format="Training epoch {epoch}, cost {cost}"))
        return models, layers


def cA_summary(costs):
    """A cA epoch: the mean reconstruction cost and the mean Jacobian norm, each minibatch's
    ``sqrt(L_jacob)``, both accumulated in float64.  (The tutorial prints the means of the
    rows ``c_array[0]`` and ``sqrt(c_array[1])``, i.e. of the first two minibatches' pairs;
    the columns are what its line names.)"""
    import numpy
    return {"reconstruction_cost": numpy.mean(costs[:, 0], dtype="float64"),
            "jacobian_norm": numpy.mean(numpy.sqrt(costs[:, 1]), dtype="float64")}


class ContractiveAutoencoder(Autoencoder):
    name = "cA"
    description = ("A contractive autoencoder on MNIST: reconstruction cross-entropy plus "
                   "contraction_level times the squared Frobenius norm of the encoder's "
                   "Jacobian (the tutorial's cA.py).")

    @staticmethod
    def test_cA(learning_rate=0.01, training_epochs=20, batch_size=10, n_hidden=500,
                contraction_level=0.1, seed=123):
        """cA.py's ``test_cA``; its code fixes 500 hidden units and ``RandomState(123)``."""
    tutorial = test_cA

    def add_flags(self, parser, model, opt, d):
        super().add_flags(parser, model, opt, d)
        model.add_argument("--contraction-level", type=non_negative,
                           default=d["contraction_level"], help="weight of the Jacobian penalty")
        model.add_argument("--jacobian", choices=("tutorial", "factorised"), default="tutorial",
                           help="how the penalty is computed: 'tutorial' sums the squares of "
                                "the (batch, n_visible, n_hidden) Jacobian, the tutorial's "
                                "numbers to the last digit; 'factorised' computes the same "
                                "penalty without that tensor, about 10x less CPU a step, its "
                                "float32 numbers rounded otherwise")

    def layer_name(self, args, index):
        return "cA"

    def memory(self, args, n_in, n_out):
        sizes, flags, extra = super().memory(args, n_in, n_out)
        # the tutorial's Jacobian: (batch, n_visible, n_hidden), a few copies
        if getattr(args, "jacobian", "tutorial") == "factorised":
            return sizes, flags, extra
        return sizes, flags, extra + 3 * args.batch_size * n_in * args.n_hidden

    def layers(self, args, x, train_x, n_in):
        import numpy
        import theano
        import theano.tensor as T
        from ..autoencoders import cA
        from ..training import PretrainLayer
        index = T.lscalar("index")
        givens = {x: train_x[index * args.batch_size:(index + 1) * args.batch_size]}
        ca = cA(numpy_rng=numpy.random.RandomState(args.seed), input=x, n_visible=n_in,
                n_hidden=args.n_hidden, n_batchsize=args.batch_size,
                jacobian=getattr(args, "jacobian", "tutorial"))
        cost, updates = ca.get_cost_updates(contraction_level=args.contraction_level,
                                            learning_rate=args.learning_rate)
        train_ca = theano.function([index], [T.mean(ca.L_rec), ca.L_jacob], updates=updates,
                                   givens=givens, name="train_ca")
        layer = PretrainLayer(
            "cA", train_ca, ca.params, outputs=("reconstruction_cost", "L_jacob"),
            summarize=cA_summary,
            log_format="Training epoch {epoch}, reconstruction cost {reconstruction_cost} "
                       "jacobian norm {jacobian_norm}")
        return [ca], [layer]


def rbm_epoch_cost(costs):
    """rbm.py's epoch figure: ``numpy.mean`` of the minibatch costs in their own dtype
    (float32 under floatX=float32, as the tutorial computes it), given as the decimal numpy
    prints for it, so that the log line reads exactly as the tutorial's."""
    import numpy
    return {"cost": float(str(numpy.mean(costs)))}


class RBMRecipe(OneLayer):
    """rbm.py: PCD-k training (filters after each epoch), then sampling from the RBM."""
    name = "rbm"
    description = ("A restricted Boltzmann machine trained on MNIST with persistent "
                   "contrastive divergence (PCD-15), then sampled with Gibbs chains started "
                   "at test images (the tutorial's rbm.py).")
    seed_help = ("seed of the numpy RandomState that seeds the MRG random stream, draws the "
                 "weights and picks the test images the sampling chains start from (in that "
                 "order)")

    @staticmethod
    def test_rbm(learning_rate=0.1, training_epochs=15, batch_size=20, n_chains=20,
                 n_samples=10, n_hidden=500, k=15, plot_every=1000, seed=123):
        """rbm.py's ``test_rbm``; its code fixes PCD-15, a sample every 1000 Gibbs steps and
        ``RandomState(123)``."""
    tutorial = test_rbm

    def add_flags(self, parser, model, opt, d):
        super().add_flags(parser, model, opt, d)
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

    def memory(self, args, n_in, n_out):
        sizes, flags, extra = super().memory(args, n_in, n_out)
        # the sampling chains, and the n_samples rows of samples they keep
        extra += args.n_chains * sum(sizes) + args.n_samples * args.n_chains * n_in
        return sizes, flags + ", --n-chains %d, --n-samples %d" % (args.n_chains,
                                                                    args.n_samples), extra

    @staticmethod
    def layer(args, rbm_input, train_x, n_in):
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

    @staticmethod
    def samples(args, rbm, rng, test_x, image_shape, run_dir, say):
        """The tutorial's sampling: ``n_chains`` chains from consecutive test images at a
        random index, ``n_samples`` rows ``plot_every`` Gibbs steps apart; samples.png and
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
                      % (args.n_chains, test_idx, test_idx + args.n_chains - 1,
                         args.plot_every)))
        return test_idx

    def main(self, args, argv, run_dir, state, say):
        import theano.tensor as T
        from .. import plot
        from ..data import shared_datasets
        from ..runs.rundir import SUMMARY, epoch_filters_file
        name = self.name
        splits, n_in, n_out = start(self, args, run_dir, say)
        if args.n_chains > len(splits[2][1]):
            raise CLIError("--n-chains %d is more than the %d test images the chains start "
                           "from; choose --n-chains %d or fewer"
                           % (args.n_chains, len(splits[2][1]), len(splits[2][1])))
        n_batches = count_batches(args, len(splits[0][1]))
        image_shape = filter_image_shape(n_in)
        x = T.matrix("x")
        started = time.perf_counter()
        try:
            (train_x, _), _, (test_x, _) = shared_datasets(splits)
            say("building the RBM and compiling its training function...")
            rbm, rng, layer = self.layer(args, x, train_x, n_in)
        except ValueError as error:
            raise usage_error(error) from None
        say("compiled in %.1f s" % (time.perf_counter() - started))
        pretrainer = make_pretrainer(name, args, [layer], n_batches, args.training_epochs,
                                     run_dir, say, model=rbm)

        def epoch_filters(index, epochs_done):  # the tutorial's filters_at_epoch_N.png
            if image_shape is not None:
                W = rbm.W.get_value(borrow=True)
                rows = min(FILTER_TILES[0], -(-W.shape[1] // FILTER_TILES[1]))
                run_dir.write_with(epoch_filters_file(epochs_done - 1),
                                   lambda path: plot.save_filters(
                                       W, path, image_shape=image_shape,
                                       tile_shape=(rows, FILTER_TILES[1])))
        pretrainer.on_epoch_end = epoch_filters
        if args.resume:
            state["started"] = True
            resume_pretraining(name + ".py", pretrainer, run_dir, say)
        if not pretrainer.finished():
            ex.write_config(name, args, argv, settings_of(name, args), rbm.spec(), run_dir,
                            pretrainer.meta["numerics"])
        state["started"] = True
        result = pretrainer.run()
        summary = dict(pretraining_summary(result), experiment=name,
                       costs=[record["cost"] for record in result.history])
        run_dir.write_json(SUMMARY, summary)
        check_pretraining(name, pretrainer, result, run_dir)
        say("Training took %f minutes" % (result.wall_seconds / 60.))
        summary["sampling_test_index"] = self.samples(args, rbm, rng, test_x, image_shape,
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


class Stack(Recipe):
    """SdA.py and DBN.py: layer-wise pre-training, then fine-tuning of the whole network
    with the supervised loop and the tutorial's early stopping."""
    #: The tutorial's fine-tuning patience: this many epochs' minibatches.
    patience_epochs = PATIENCE_EPOCHS

    def add_flags(self, parser, model, opt, d):
        model.add_argument("--seed", type=seed_int, default=d["seed"], help=SEED_HELP)
        model.add_argument("--hidden-layers-sizes", type=positive_int, nargs="+",
                           default=d["hidden_layers_sizes"], help="units per hidden layer")
        self.add_layer_flags(model, opt, d)
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
        epochs = self.patience_epochs
        ex.add_stopping_flags(parser, non_negative_int, 0,
                              "look at this many minibatches regardless; 0: %d epochs' worth "
                              "(the tutorial's %d * n_train_batches)" % (epochs, epochs),
                              title="early stopping (fine-tuning)")

    def add_layer_flags(self, model, opt, d):
        """The flags of the layers' own training."""

    def memory(self, args, n_in, n_out):
        return ([n_in] + list(args.hidden_layers_sizes) + [n_out], "--hidden-layers-sizes %s"
                % " ".join(map(str, args.hidden_layers_sizes)), 0)

    def build(self, args, datasets, n_in, n_out, config, say):
        """``(model, PretrainLayers, compiled fine-tuning functions)``."""
        raise NotImplementedError

    def main(self, args, argv, run_dir, state, say):
        from ..data import shared_datasets
        splits, n_in, n_out = start(self, args, run_dir, say)
        n_batches = count_batches(args, len(splits[0][1]))
        config = sda_train_config(args, n_batches, self.patience_epochs)
        started = time.perf_counter()
        try:
            datasets = shared_datasets(splits)
            say("... building the model")
            model, layers, compiled = self.build(args, datasets, n_in, n_out, config, say)
        except ValueError as error:
            raise usage_error(error) from None
        say("compiled in %.1f s" % (time.perf_counter() - started))
        return pretrain_then_finetune(self.name, args, argv, model, layers, compiled, config,
                                      n_batches, run_dir, state, say,
                                      *self.finetune_hooks(run_dir, say))

    def finetune_hooks(self, run_dir, say):
        """``(before_finetune, after_finetune)`` for :func:`pretrain_then_finetune`."""
        return None, None


class StackedDenoisingAutoencoder(Stack):
    name = "SdA"
    description = ("A stacked denoising autoencoder: layer-wise pre-training of its dAs, "
                   "then supervised fine-tuning of the whole network with early stopping "
                   "(the tutorial's SdA.py).")

    @staticmethod
    def test_SdA(finetune_lr=0.1, pretraining_epochs=15, pretrain_lr=0.001,
                 training_epochs=1000, batch_size=1, hidden_layers_sizes=(1000, 1000, 1000),
                 corruption_levels=(0.1, 0.2, 0.3), seed=89677):
        """SdA.py's ``test_SdA``; its code fixes three layers of 1000 units, their corruption
        levels and ``RandomState(89677)``."""
    tutorial = test_SdA

    def add_layer_flags(self, model, opt, d):
        model.add_argument("--corruption-levels", type=level, nargs="+",
                           default=d["corruption_levels"],
                           help="corruption each layer's dA is pre-trained with (one per layer)")
        opt.add_argument("--batch-one", choices=("gemm", "gemv"), default="gemm",
                         help="how minibatches of one example (--batch-size 1) are computed: "
                              "'gemm' gives the network a matrix of one row, the tutorial's "
                              "graph and numbers to the last digit; 'gemv' gives it a row "
                              "(SdA(row_input=True)), so Theano uses gemv and ger: up to 3x "
                              "less CPU a step (how much depends on OpenBLAS's kernels; "
                              "docs/tutorial/SdA.md), its numbers rounded otherwise")

    def check(self, parser, args):
        if getattr(args, "batch_one", "gemm") == "gemv" and args.batch_size != 1:
            parser.error("--batch-one gemv needs --batch-size 1, got --batch-size %d; use "
                         "--batch-size 1, or drop --batch-one gemv" % args.batch_size)
        if len(args.corruption_levels) != len(args.hidden_layers_sizes):
            parser.error("--corruption-levels needs one level per hidden layer: %d layers (%s), "
                         "%d levels (%s); give %d levels" % (
                             len(args.hidden_layers_sizes),
                             " ".join(map(str, args.hidden_layers_sizes)),
                             len(args.corruption_levels),
                             " ".join("%g" % c for c in args.corruption_levels),
                             len(args.hidden_layers_sizes)))

    def build(self, args, datasets, n_in, n_out, config, say):
        import numpy
        from ..autoencoders import SdA, random_state_variables
        from ..training import PretrainLayer, compile_functions
        sda = SdA(numpy_rng=numpy.random.RandomState(args.seed), n_ins=n_in,
                  hidden_layers_sizes=args.hidden_layers_sizes, n_outs=n_out,
                  corruption_levels=args.corruption_levels,
                  row_input=getattr(args, "batch_one", "gemm") == "gemv")
        if sda.row_input:
            say("... each minibatch given as a row (--batch-one gemv): products by gemv and ger, "
                "not the tutorial's rounding")
        say("... getting the pretraining functions")
        fns = sda.pretraining_functions(train_set_x=datasets[0][0], batch_size=args.batch_size)
        layers = []
        for i, (fn, da) in enumerate(zip(fns, sda.dA_layers)):
            # the tutorial's call: pretraining_fns[i](index=..., corruption=..., lr=...)
            train_fn = functools.partial(fn, corruption=args.corruption_levels[i],
                                         lr=args.pretrain_lr)
            layers.append(PretrainLayer("layer %d" % i, train_fn, da.params,
                                        state=random_state_variables(fn, da.params)))
        say("... getting the finetuning functions")
        return sda, layers, compile_functions(sda, sda.x, sda.y, datasets, config)

    def finetune_hooks(self, run_dir, say):
        return (lambda pretrained: say("... finetunning the model")), None


class DeepBeliefNetwork(Stack):
    name = "DBN"
    description = ("A deep belief network: its RBMs pre-trained layer by layer with CD-k, "
                   "then the network fine-tuned as a classifier with early stopping (the "
                   "tutorial's DBN.py).")
    patience_epochs = 4     # DBN.py's patience: 4 * n_train_batches

    @staticmethod
    def test_DBN(finetune_lr=0.1, pretraining_epochs=100, pretrain_lr=0.01, k=1,
                 training_epochs=1000, batch_size=10, hidden_layers_sizes=(1000, 1000, 1000),
                 seed=123):
        """DBN.py's ``test_DBN``; its code fixes three layers of 1000 units and
        ``RandomState(123)``."""
    tutorial = test_DBN

    def add_layer_flags(self, model, opt, d):
        opt.add_argument("--k", type=positive_int, default=d["k"],
                         help="Gibbs steps per CD-k update of the RBMs")

    def build(self, args, datasets, n_in, n_out, config, say):
        import numpy
        from ..autoencoders import random_state_variables
        from ..rbm import DBN
        from ..training import PretrainLayer, compile_functions
        dbn = DBN(numpy_rng=numpy.random.RandomState(args.seed), n_ins=n_in,
                  hidden_layers_sizes=args.hidden_layers_sizes, n_outs=n_out)
        say("... getting the pretraining functions")
        fns = dbn.pretraining_functions(train_set_x=datasets[0][0], batch_size=args.batch_size,
                                        k=args.k)
        layers = []
        for i, (fn, rbm) in enumerate(zip(fns, dbn.rbm_layers)):
            # the tutorial's call: pretraining_fns[i](index=..., lr=...)
            layers.append(PretrainLayer(
                "layer %d" % i, functools.partial(fn, lr=args.pretrain_lr), rbm.params,
                state=random_state_variables(fn, rbm.params),
                log_format="Pre-training layer {layer}, epoch {epoch}, cost  {cost}"))
        say("... getting the finetuning functions")
        return dbn, layers, compile_functions(dbn, dbn.x, dbn.y, datasets, config)

    def finetune_hooks(self, run_dir, say):
        def before_finetune(pretrained):
            say("The pretraining code for file DBN.py ran for %.2fm"
                % (pretrained.wall_seconds / 60.))
            draw_pretraining(run_dir, title="DBN: %s" % os.path.basename(
                os.path.normpath(os.path.abspath(str(run_dir)))))
            say("... finetuning the model")

        def after_finetune(result):
            if not result.interrupted and not result.diverged:
                say("The fine tuning code for file DBN.py ran for %.2fm"
                    % (result.wall_seconds / 60.))
        return before_finetune, after_finetune


class LogisticCG(Recipe):
    """logistic_cg.py: conjugate gradients on the flat-theta logistic regression."""
    name = "logistic_cg"
    description = ("Multi-class logistic regression trained with scipy.optimize.fmin_cg "
                   "(conjugate gradients) on the whole training set (the tutorial's "
                   "logistic_cg.py).")
    changeable = ("n_epochs",)
    checkpoint_every = False

    @staticmethod
    def cg_optimization_mnist(n_epochs=50, batch_size=600):
        """logistic_cg.py's ``cg_optimization_mnist``; its code fixes minibatches of 600."""
    tutorial = cg_optimization_mnist

    def add_flags(self, parser, model, opt, d):
        opt.add_argument("--n-epochs", type=positive_int, default=d["n_epochs"],
                         help="most conjugate-gradient iterations (fmin_cg's maxiter)")
        opt.add_argument("--batch-size", type=positive_int, default=d["batch_size"],
                         help="examples per minibatch of the cost, gradient and error sums")

    def memory(self, args, n_in, n_out):
        return [n_in, n_out], "--batch-size %d" % args.batch_size, 0

    def main(self, args, argv, run_dir, state, say):
        import theano.tensor as T
        from ..cg import LogisticRegressionCG
        from ..training import CGOptimizer
        from ..data import shared_datasets
        from ..runtime.info import numerics
        from ..runs.rundir import CHECKPOINT
        name = self.name
        splits, n_in, n_out = start(self, args, run_dir, say)
        count_batches(args, len(splits[0][1]))
        x, y = T.matrix("x"), T.ivector("y")
        try:
            say("... building the model")
            model = LogisticRegressionCG(input=x, n_in=n_in, n_out=n_out)
            optimizer = CGOptimizer(model, x, y, shared_datasets(splits),
                                    batch_size=args.batch_size, n_epochs=args.n_epochs,
                                    run_dir=run_dir, log=say,
                                    meta={"dataset": args.dataset, "experiment": name,
                                          "numerics": numerics()})
        except ValueError as error:
            raise usage_error(error) from None
        say("compiled in %.1f s" % optimizer.fns.compile_seconds)
        if args.resume:
            state["started"] = True
            if run_dir.has(CHECKPOINT):
                optimizer.load_checkpoint()
                say("resumed from %s after %d iterations (conjugate gradients restart from "
                    "its theta)" % (run_dir, optimizer.state.iterations))
        if not optimizer.finished():
            ex.write_config(name, args, argv, {"batch_size": args.batch_size,
                                               "n_epochs": args.n_epochs,
                                               "optimizer": "fmin_cg"},
                            model.spec(), run_dir, optimizer.meta["numerics"])
        state["started"] = True
        session_started = time.perf_counter()
        say("Optimizing using scipy.optimize.fmin_cg...")
        result = optimizer.run()
        return ex.report(name, run_dir, optimizer.fns, result, session_started)


#: One recipe per later chapter, by script name.
RECIPES = {recipe.name: recipe() for recipe in (
    DenoisingAutoencoders, ContractiveAutoencoder, StackedDenoisingAutoencoder, LogisticCG,
    RBMRecipe, DeepBeliefNetwork)}
#: Each script's description and the tutorial's defaults (read from its recipe).
EXPERIMENTS = {name: dict(description=recipe.description, **recipe.defaults())
               for name, recipe in RECIPES.items()}
#: The settings a resumed run may change, per script.
CHANGEABLE = {name: recipe.changeable for name, recipe in RECIPES.items()}


# --------------------------------------------------------------------------- the scripts
def build_parser(name):
    """The argument parser of script ``name`` (a key of :data:`RECIPES`)."""
    return RECIPES[name].build_parser()


def parse(name, argv):
    """``(parser, args)``; with ``--resume`` the run's saved settings are in ``args``."""
    parser = build_parser(name)
    args = parser.parse_args(argv)
    ex.restore_resumed(name, parser, args, argv, CHANGEABLE[name])
    RECIPES[name].check(parser, args)
    return parser, args


def layer_name(name, args, index):
    """The name of what the Pretrainer trains as layer ``index``."""
    return RECIPES[name].layer_name(args, index)


def _run(name, argv):
    from ..runs.rundir import RunDirWriteError
    parser, args = parse(name, argv)
    say = ex.quiet_or_say(args)
    ex.choose_device(args)
    run_dir, state = None, {"started": False}
    try:
        run_dir = ex.claim_run_dir(name, args)
        return RECIPES[name].main(args, argv, run_dir, state, say)
    except KeyboardInterrupt:
        raise CLIError(ex.interrupted_message(name, run_dir, state["started"]),
                       EXIT_INTERRUPTED) from None
    except RunDirWriteError as error:
        raise CLIError(ex.write_failure_message(error, name, run_dir, state["started"],
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
