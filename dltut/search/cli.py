"""``scripts/search.py``'s command line: its parser (:func:`build_search_parser`), the
:class:`dltut.search.search.SearchSpec` it makes (:func:`parse_command`) and :func:`main`."""
import argparse
import itertools
import os
import shlex
import sys
import textwrap

from ..cli.common import EXIT_INTERRUPTED, EXIT_USAGE, CLIError, OneLineParser, positive_int, \
    report_failures
from ..cli.supervised import EXPERIMENTS, build_parser, explicit_flags
from ..runs.checkpoint import printable
from .grid import PRESETS, parse_grid, parse_log_grid, preset_spec
from .search import (RESULTS, Search, SearchSpec, claim_search_folder, executor_factory,
                     json_values, validate_point)

__all__ = ["build_search_parser", "parse_command", "main"]


class _Dims(argparse.Action):
    """Collects --grid, --log-grid and --preset in the order given."""

    def __call__(self, parser, namespace, values, option_string=None):
        items = list(getattr(namespace, self.dest) or [])
        items.append((option_string, values))
        setattr(namespace, self.dest, items)


def build_search_parser():
    cores = _cores()
    parser = OneLineParser(
        prog="search.py", allow_abbrev=False,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=textwrap.fill(
            "Hyperparameter search over one experiment: every point of the grids is an "
            "ordinary run of scripts/EXPERIMENT.py in <out>/trials/; the choice is made on "
            "validation error alone.  Every other flag is the experiment's own "
            "(scripts/EXPERIMENT.py --help) and holds for every trial.  Run the same command "
            "again to continue a search.", 80),
        epilog="presets (the tutorial's advice):\n" + "\n".join(
            "  %-15s --log-grid %s" % (k, v) for k, v in sorted(PRESETS.items())) +
        "\n\nexample:\n  python scripts/search.py mlp --n-epochs 5 --out searches/mlp "
        "--log-grid learning-rate=1e-3:1e-1:3 --log-grid L2-reg=1e-5:1e-3:3 --rounds 2")
    parser.add_argument("experiment", choices=sorted(EXPERIMENTS),
                        help="the experiment whose settings are searched")
    parser.add_argument("--out", required=True, metavar="DIR",
                        help="the search folder (run the same command again to continue)")
    parser.add_argument("--log-grid", dest="dims", action=_Dims, default=[],
                        metavar="NAME=LO:HI:N",
                        help="N log-spaced values from LO to HI; narrows with --rounds")
    parser.add_argument("--grid", dest="dims", action=_Dims, metavar="NAME=v1,v2,...",
                        help="these values (several for one setting: 20x50); the best is "
                             "kept when later rounds narrow the log grids")
    parser.add_argument("--preset", dest="dims", action=_Dims, metavar="NAME",
                        help="the tutorial's advice: %s" % ", ".join(sorted(PRESETS)))
    parser.add_argument("--rounds", type=positive_int, default=1,
                        help="rounds; each after the first narrows the log grids around the "
                             "best point so far")
    parser.add_argument("--workers", type=positive_int, default=None,
                        help="worker processes on this machine (default: the %d cores), or "
                             "the LocalCluster's with --scheduler local" % cores)
    parser.add_argument("--scheduler", default=None, metavar="ADDRESS",
                        help="run trials on Dask distributed: tcp://HOST:PORT of a running "
                             "scheduler, or 'local' for a LocalCluster (needs the dask extra: "
                             "make venv EXTRAS=dask)")
    parser.add_argument("--compiledir", choices=("per-worker", "shared"), default="per-worker",
                        help="Theano compile directory: one per worker process (no waiting "
                             "for each other's compile lock) or Theano's usual one")
    return parser


def _cores():
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def parse_command(argv):
    """A :class:`SearchSpec` from the command line; CLIError (one line) for a bad one."""
    parser = build_search_parser()
    args, rest = parser.parse_known_args(argv)
    name = args.experiment
    experiment_parser = build_parser(name)
    for forbidden in ("--resume", "--out"):
        if any(a == forbidden or a.startswith(forbidden + "=") for a in rest):
            raise CLIError("%s is the search's to choose for each trial; to continue a search, "
                           "run the same command again" % forbidden)
    try:
        fixed_args = experiment_parser.parse_args(rest)
    except CLIError as error:
        raise CLIError("%s: %s" % (experiment_parser.prog, error)) from None
    given = explicit_flags(experiment_parser, rest)
    fixed = {key: getattr(fixed_args, key) for key in sorted(given)}
    if not args.dims:
        raise CLIError("nothing to search: give --log-grid NAME=LO:HI:N, --grid NAME=v1,v2,... "
                       "or --preset (%s)" % ", ".join(sorted(PRESETS)))
    dimensions = []
    for option, text in args.dims:
        if option == "--preset":
            spec = preset_spec(text)
            dim = parse_log_grid(experiment_parser, spec, origin="--preset %s:" % text)
        elif option == "--log-grid":
            dim = parse_log_grid(experiment_parser, text)
        else:
            dim = parse_grid(experiment_parser, text)
        for other in dimensions:
            if other.name == dim.name:
                raise CLIError("%s is searched twice (%s and %s); give it once"
                               % (dim.name, other.spec, dim.spec))
        if dim.name in given:
            raise CLIError("%s is both fixed (%s) and searched (%s); drop one"
                           % (dim.name, dim.flag, dim.spec))
        dimensions.append(dim)
    if args.scheduler is not None and args.scheduler != "local" and args.workers is not None:
        raise CLIError("--workers has no effect with --scheduler %s: the cluster's workers run "
                       "the trials; drop --workers" % args.scheduler)
    if args.scheduler is not None and args.scheduler != "local" \
            and "://" not in args.scheduler:
        raise CLIError("--scheduler %s: give the scheduler's address as tcp://HOST:PORT, or "
                       "'local'" % args.scheduler)
    command = " ".join(["python", "scripts/search.py"] + [shlex.quote(a) for a in (
        argv if argv is not None else sys.argv[1:])])
    return SearchSpec(name, rest, json_values(fixed), dimensions, args.out,
                      rounds=args.rounds, workers=args.workers or _cores(),
                      scheduler=args.scheduler, compiledir=args.compiledir, command=command)


def _run_search(argv):
    spec = parse_command(argv)
    for point in itertools.product(*[d.values for d in spec.dimensions]):
        validate_point(spec, point)
    folder = claim_search_folder(spec)
    search = Search(spec, executor_factory(spec))
    try:
        try:
            search.run()
        except KeyboardInterrupt:
            print("search.py: interrupted; stopping the trials (each keeps its last "
                  "checkpoint)...", file=sys.stderr, flush=True)
            search.close(interrupted=True)
            search.write_results()
            raise CLIError("interrupted; run the same command again to continue the search",
                           EXIT_INTERRUPTED) from None
        search.close()
        for line in search.report_lines():
            print(printable(line))
        paths = search.figures()
        print(printable("results: %s%s" % (os.path.join(spec.out, RESULTS),
                                           "; figures: %s" % ", ".join(paths) if paths else "")),
              flush=True)
    finally:
        search.close()
        folder.unlock()
    failed = [t for t in search.trials if t["status"] == "failed"]
    if failed:
        raise CLIError("%d trial%s failed (first: %s: %s); fix that and run the same command "
                       "again" % (len(failed), "" if len(failed) == 1 else "s",
                                  failed[0]["name"], failed[0].get("error")),
                       EXIT_USAGE)
    return 0


def main(argv=None):
    """``scripts/search.py``: run a search; the exit code (0 when every trial ended)."""
    return report_failures("search.py", _run_search, argv)
