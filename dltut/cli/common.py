"""What every dltut script shares: :class:`CLIError` and the exit codes, the one-line
failure report (:func:`report_failures`), the argparse parser and flag types.

For now these are defined in :mod:`dltut.cli.supervised` and re-exported here; import them
from here (issue 24's splits move their code into this module).
"""
from .supervised import (EXIT_BUSY, EXIT_DIVERGED, EXIT_GPU, EXIT_INTERRUPTED, EXIT_IO,
                         EXIT_USAGE, CLIError, DefaultsHelpFormatter, OneLineParser, error_line,
                         finite_float, non_negative_float, non_negative_int, positive_float,
                         positive_int, report_failures, seed_int)

__all__ = ["EXIT_BUSY", "EXIT_DIVERGED", "EXIT_GPU", "EXIT_INTERRUPTED", "EXIT_IO", "EXIT_USAGE",
           "CLIError", "DefaultsHelpFormatter", "OneLineParser", "error_line", "finite_float",
           "non_negative_float", "non_negative_int", "positive_float", "positive_int",
           "report_failures", "seed_int"]
