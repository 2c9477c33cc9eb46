#!/usr/bin/env python
"""Sample a correlated Gaussian with Hybrid Monte Carlo (the tutorial's hmc/test_hmc.py).

    python scripts/hmc.py                  # 5-D, 3 chains, 1000 draws of burn-in, 1000 kept
    python scripts/hmc.py --dim 10 --n-steps 30
    python scripts/hmc.py --help           # every flag, with its default

Prints the target and the empirical mean and covariance as the tutorial does, and writes a
run folder (``runs/hmc-<timestamp>/`` or ``--out``): ``config.json``, ``summary.json``
(the moments, the final step size and acceptance rate), ``samples.npz`` and ``hmc.png``
(the samples of two dimensions against the target's contours, and the adaptation).
"""
import argparse
import sys

try:
    import dltut  # noqa: F401  (sets up Theano's BLAS before numpy/Theano load)
    from dltut.cli import supervised as ex
except KeyboardInterrupt:  # Ctrl-C while Python starts: one line, no traceback
    print("hmc.py: interrupted while starting; nothing was written: run it again",
          file=sys.stderr)
    sys.exit(130)

def positive_fraction(text):
    value = ex.positive_float(text)
    if value >= 1:
        raise argparse.ArgumentTypeError("must be in (0, 1), got %s; give a fraction "
                                         "between 0 and 1, e.g. 0.9" % text)
    return value


def build_parser():
    parser = ex.OneLineParser(prog="hmc.py", description=__doc__.split("\n\n")[0],
                              formatter_class=ex.DefaultsHelpFormatter)
    target = parser.add_argument_group("target and chains (the tutorial's sampler_on_nd_gaussian)")
    target.add_argument("--dim", type=ex.positive_int, default=5,
                        help="dimensions of the Gaussian")
    target.add_argument("--burnin", type=ex.non_negative_int, default=1000,
                        help="draws discarded before samples are kept")
    target.add_argument("--n-samples", type=ex.positive_int, default=1000,
                        help="draws kept (each gives one sample per chain)")
    target.add_argument("--batchsize", type=ex.positive_int, default=3,
                        help="chains sampled in parallel")
    target.add_argument("--target-seed", type=ex.seed_int, default=123,
                        help="seed of the RandomState drawing the mean, the covariance and the "
                             "chains' starting points")
    sampler = parser.add_argument_group("sampler (HMC_sampler.new_from_shared_positions)")
    sampler.add_argument("--initial-stepsize", type=ex.positive_float, default=1e-3,
                         help="leapfrog step size to start from")
    sampler.add_argument("--target-acceptance-rate", type=positive_fraction, default=0.9,
                         help="acceptance rate the step size adapts to")
    sampler.add_argument("--n-steps", type=ex.positive_int, default=20,
                         help="leapfrog steps per move")
    sampler.add_argument("--stepsize-dec", type=positive_fraction, default=0.98,
                         help="step size factor when the acceptance rate is below the target")
    sampler.add_argument("--stepsize-inc", type=ex.positive_float, default=1.02,
                         help="step size factor when the acceptance rate is above the target")
    sampler.add_argument("--stepsize-min", type=ex.positive_float, default=0.001,
                         help="smallest step size")
    sampler.add_argument("--stepsize-max", type=ex.positive_float, default=0.5,
                         help="largest step size")
    sampler.add_argument("--avg-acceptance-slowness", type=ex.non_negative_float, default=0.9,
                         help="weight of the old value in the running acceptance rate, in [0, 1)")
    sampler.add_argument("--seed", type=ex.seed_int, default=12345,
                         help="seed of the sampler's MRG_RandomStreams")
    run = parser.add_argument_group("run")
    run.add_argument("--out", metavar="RUN_DIR", default=None,
                     help="run folder (created; refused if it holds a run already); default "
                          "a new runs/hmc-<timestamp>/")
    run.add_argument("--quiet", action="store_true", help="print only the final summary line")
    run.add_argument("--device", default=None,
                     help="'cpu', 'cuda', 'cudaN' or 'openclP:D' (e.g. opencl0:0; default: "
                          "Theano's configuration, else the CPU)")
    run.add_argument("--require-gpu", action="store_true",
                     help="fail (exit 3) instead of falling back to the CPU when the GPU is unusable")
    return parser


def _run(argv):
    import shlex

    parser = build_parser()
    args = parser.parse_args(argv)
    if args.stepsize_min > args.stepsize_max:
        parser.error("--stepsize-min %g is larger than --stepsize-max %g; give a minimum below "
                     "the maximum" % (args.stepsize_min, args.stepsize_max))
    if not args.stepsize_min <= args.initial_stepsize <= args.stepsize_max:
        parser.error("--initial-stepsize %g is outside [--stepsize-min %g, --stepsize-max %g]; "
                     "give one in that range"
                     % (args.initial_stepsize, args.stepsize_min, args.stepsize_max))
    if args.avg_acceptance_slowness >= 1:
        parser.error("--avg-acceptance-slowness must be below 1, got %g; give e.g. 0.9"
                     % args.avg_acceptance_slowness)
    say = (lambda *a: None) if args.quiet else (lambda *a: print(*a, flush=True))
    args.resume = None
    ex.choose_device(args)
    run_dir = ex.claim_run_dir("hmc", args)
    done = False
    try:
        import numpy
        import theano
        from dltut import hmc
        from dltut.plot import save_hmc_figure
        from dltut.runs import checkpoint
        from dltut.runs.rundir import CONFIG, HMC_FIGURE, SAMPLES_ARRAYS, SUMMARY

        command = " ".join(["python", "scripts/hmc.py"] + [
            shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:])])
        run_dir.write_json(CONFIG, {"experiment": "hmc", "args": vars(args), "command": command,
                                    "floatX": theano.config.floatX})
        trace = {"stepsize": [], "acceptance": []}

        def record(sampler, done_draws, total):
            trace["stepsize"].append(float(sampler.stepsize.get_value()))
            trace["acceptance"].append(float(sampler.avg_acceptance_rate.get_value()))

        sampler_settings = {name: getattr(args, name) for name in (
            "initial_stepsize", "target_acceptance_rate", "n_steps", "stepsize_dec",
            "stepsize_min", "stepsize_max", "stepsize_inc", "avg_acceptance_slowness", "seed")}
        sampler, samples, (mu, cov, _) = hmc.sample_gaussian(
            burnin=args.burnin, n_samples=args.n_samples, dim=args.dim,
            batchsize=args.batchsize, target_seed=args.target_seed, on_draw=record,
            **sampler_settings)
        mean, empirical_cov = samples.mean(axis=0), numpy.cov(samples.T)
        say("****** TARGET VALUES ******")
        say("target mean:", mu)
        say("target cov:\n", cov)
        say("****** EMPIRICAL MEAN/COV USING HMC ******")
        say("empirical mean: ", mean)
        say("empirical_cov:\n", empirical_cov)
        say("****** HMC INTERNALS ******")
        say("final stepsize", sampler.stepsize.get_value())
        say("final acceptance_rate", sampler.avg_acceptance_rate.get_value())
        run_dir.write_with(SAMPLES_ARRAYS, lambda path: checkpoint.save_arrays(
            path, {"samples": samples, "mu": mu, "cov": cov,
                   "stepsize": numpy.asarray(trace["stepsize"]),
                   "acceptance_rate": numpy.asarray(trace["acceptance"])},
            {"burnin": args.burnin}))
        if args.dim >= 2:
            run_dir.write_with(HMC_FIGURE, lambda path: save_hmc_figure(
                samples, mu, cov, trace["stepsize"], trace["acceptance"], args.burnin,
                args.target_acceptance_rate, path))
        summary = {
            "empirical_mean": mean, "empirical_cov": empirical_cov, "target_mean": mu,
            "target_cov": cov, "final_stepsize": float(sampler.stepsize.get_value()),
            "final_acceptance_rate": float(sampler.avg_acceptance_rate.get_value()),
            "max_mean_error": float(numpy.abs(mean - mu).max()),
            "max_cov_error": float(numpy.abs(empirical_cov - cov).max()),
            "n_samples": int(samples.shape[0]), "stopped_by": "n_samples"}
        run_dir.write_json(SUMMARY, summary)
        done = True
        print("HMC: %d samples of a %d-D Gaussian; largest error of the mean %.4f, of the "
              "covariance %.4f; final step size %.4g, acceptance rate %.3f (target %.2f). "
              "Run folder: %s" % (summary["n_samples"], args.dim, summary["max_mean_error"],
                                  summary["max_cov_error"], summary["final_stepsize"],
                                  summary["final_acceptance_rate"],
                                  args.target_acceptance_rate, run_dir), flush=True)
        return 0
    except KeyboardInterrupt:
        raise ex.CLIError("interrupted; nothing was kept (run it again)",
                          ex.EXIT_INTERRUPTED) from None
    finally:
        if done:
            run_dir.unlock()
        else:
            run_dir.abandon()


def main(argv=None):
    return ex.report_failures("hmc.py", _run, argv)


if __name__ == "__main__":
    sys.exit(main())
