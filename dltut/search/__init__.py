"""Hyperparameter search the tutorial's way: log-spaced grids that narrow, over ordinary runs.

The tutorial's advice ("Tips and Tricks"): try log-spaced learning rates (10^-1, 10^-2, ...)
and narrow the logarithmic grid to the region with the lowest validation error; try L1/L2
weights of 10^-2, 10^-3, ...; expect a U-shaped validation curve over the number of hidden
units.  This module does that for any experiment of :mod:`dltut.cli.supervised`::

    python scripts/search.py mlp --n-epochs 5 --out searches/mlp-lr \\
        --log-grid learning-rate=1e-3:1e-1:3 --log-grid L2-reg=1e-5:1e-3:3 --rounds 2

The pieces, in the order a search uses them (each module says more):

* :mod:`dltut.search.grid`: the dimensions (``--log-grid``, ``--grid``, ``--preset``), the
  narrowing between rounds, a point's trial-folder name.
* :mod:`dltut.search.workers`: one trial in a long-lived worker process
  (:func:`run_trial`), and the executors: :class:`LocalPool` (``--workers N`` processes on
  this machine, started as ``python -m dltut.search --worker FD PID``) and
  :class:`DaskExecutor` (``--scheduler``).
* :mod:`dltut.search.search`: :class:`SearchSpec`, :class:`Search` (rounds, results, the
  sorted table, figures) and the search folder's checks.
* :mod:`dltut.search.cli`: ``scripts/search.py``'s parser and :func:`main`.

Selection is on validation error only.  This package exports every public name of the four.
"""
from .grid import (SIGNIFICANT_DIGITS, NOT_SEARCHABLE, PRESETS, PRESET_ALIASES, Dimension,
                   scalar_text, round_significant, searchable, parse_grid, log_values,
                   parse_log_grid, preset_spec, narrow, next_round, at_edge, point_name,
                   point_argv)
from .workers import (MAX_ATTEMPTS, ONE_BLAS_THREAD, LOCK_WAIT, trial_status,
                      default_base_compiledir, claim_compile_slot, prepare_process, run_trial,
                      open_trial_log, worker_environ, LocalPool, worker_main, DaskExecutor)
from .search import (SEARCH_SPEC, RESULTS, TRIALS, WORKERS_LOG, HIDDEN_UNITS_FIGURE,
                     SearchSpec, json_values, validate_point, Search, executor_factory,
                     check_search_folder, claim_search_folder)
from .cli import build_search_parser, parse_command, main
from . import grid, workers, search, cli  # noqa: F401  (the modules, for their own names)

__all__ = ["SEARCH_SPEC", "RESULTS", "TRIALS", "WORKERS_LOG", "HIDDEN_UNITS_FIGURE",
           "SIGNIFICANT_DIGITS", "MAX_ATTEMPTS", "NOT_SEARCHABLE", "ONE_BLAS_THREAD", "PRESETS",
           "PRESET_ALIASES", "Dimension", "scalar_text", "round_significant", "searchable",
           "parse_grid", "log_values", "parse_log_grid", "preset_spec", "narrow", "next_round",
           "at_edge", "point_name", "point_argv", "trial_status", "LOCK_WAIT",
           "default_base_compiledir", "claim_compile_slot", "prepare_process", "run_trial",
           "open_trial_log", "worker_environ", "LocalPool", "worker_main", "DaskExecutor",
           "SearchSpec", "json_values", "validate_point", "Search", "build_search_parser",
           "parse_command", "executor_factory", "check_search_folder", "claim_search_folder",
           "main"]
