"""Hyperparameter search the tutorial's way (log-spaced grids that narrow, over ordinary runs).

The code lives in :mod:`dltut.search.search` for now; this package exports its public names.
``python -m dltut.search --worker FD PID`` is how :class:`LocalPool` starts a worker process
(:mod:`dltut.search.__main__`); ``scripts/search.py`` is the command line.
"""
from .search import (SEARCH_SPEC, RESULTS, TRIALS, WORKERS_LOG, HIDDEN_UNITS_FIGURE,
                     SIGNIFICANT_DIGITS, MAX_ATTEMPTS, NOT_SEARCHABLE, ONE_BLAS_THREAD, PRESETS,
                     PRESET_ALIASES, Dimension, round_significant, searchable, parse_grid,
                     log_values, parse_log_grid, preset_spec, narrow, next_round, at_edge,
                     point_name, point_argv, trial_status, LOCK_WAIT, default_base_compiledir,
                     claim_compile_slot, prepare_process, run_trial, open_trial_log,
                     worker_environ, LocalPool, worker_main, DaskExecutor, SearchSpec,
                     validate_point, Search, build_search_parser, parse_command, executor_factory,
                     check_search_folder, claim_search_folder, main)

__all__ = ["SEARCH_SPEC", "RESULTS", "TRIALS", "WORKERS_LOG", "HIDDEN_UNITS_FIGURE",
           "SIGNIFICANT_DIGITS", "MAX_ATTEMPTS", "NOT_SEARCHABLE", "ONE_BLAS_THREAD", "PRESETS",
           "PRESET_ALIASES", "Dimension", "round_significant", "searchable", "parse_grid",
           "log_values", "parse_log_grid", "preset_spec", "narrow", "next_round", "at_edge",
           "point_name", "point_argv", "trial_status", "LOCK_WAIT", "default_base_compiledir",
           "claim_compile_slot", "prepare_process", "run_trial", "open_trial_log",
           "worker_environ", "LocalPool", "worker_main", "DaskExecutor", "SearchSpec",
           "validate_point", "Search", "build_search_parser", "parse_command", "executor_factory",
           "check_search_folder", "claim_search_folder", "main"]
