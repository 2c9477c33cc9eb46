"""What every dltut script shares: how it fails and how it reads its flags.

Failing: anything a script cannot do is a :class:`CLIError` (a message and an exit code), or
one of dltut's own errors (a dataset, checkpoint or run-folder problem), and
:func:`report_failures` turns it into one line on stderr, ``<script>: error: <problem>;
<what to do>``, and the exit code below.  No traceback reaches the user for a bad input or
a fault; a traceback means a bug.

Flags: :class:`OneLineParser` (argparse whose errors are such a line) and the flag types, the
checks of :mod:`dltut.checks` that the library runs on the same values.
"""
import argparse
import os
import re
import shutil
import sys

from .. import checks

__all__ = ["EXIT_USAGE", "EXIT_GPU", "EXIT_DIVERGED", "EXIT_IO", "EXIT_BUSY", "EXIT_INTERRUPTED",
           "CLIError", "error_line", "CHECKPOINT_FIX", "RUN_DIR_FIX", "DATASET_FIX", "WRITE_FIX",
           "report_failures", "DefaultsHelpFormatter", "with_fix", "usage_error", "OneLineParser",
           "finite_float", "positive_float", "non_negative_float", "positive_int",
           "non_negative_int", "seed_int", "level", "python_command", "script_command"]

def python_command():
    """This interpreter as a user can type it in a printed command: ``python`` where that
    name on ``PATH`` is this interpreter (an activated venv), else its path -- relative to
    the working folder when inside it (``.venv/bin/python`` right after ``make mlp``), so
    that a command dltut prints (resume with ..., run it: ...) works when copied."""
    found = shutil.which("python")
    here = os.path.abspath(sys.executable)
    if found and os.path.dirname(os.path.abspath(found)) == os.path.dirname(here):
        return "python"
    relative = os.path.relpath(here)
    return here if relative.startswith("..") else relative


def script_command(name, *args):
    """``<python> scripts/<name>.py ARGS...`` with :func:`python_command`'s interpreter."""
    return " ".join([python_command(), "scripts/%s.py" % name] + [str(a) for a in args])


#: Exit codes of every dltut script.
EXIT_USAGE = 2          # a bad flag or input file (the line names it and the fix)
EXIT_GPU = 3            # --require-gpu and the GPU cannot be used
EXIT_DIVERGED = 4       # training diverged (non-finite cost or parameters)
EXIT_IO = 5             # cannot write (disk full, read-only, permissions)
EXIT_BUSY = 6           # another process is writing the run folder
EXIT_INTERRUPTED = 130  # Ctrl-C


class CLIError(Exception):
    """A script cannot do what it was asked: ``message`` (what and what to do) and the exit
    ``code``.  :func:`report_failures` prints it as one line."""

    def __init__(self, message, code=EXIT_USAGE):
        super().__init__(message)
        self.code = code


def error_line(error):
    """``(exit code, message)`` for an exception a script reports as one line, or None for
    one that is a bug (and should show its traceback)."""
    from ..runs.checkpoint import CheckpointError
    from ..data import DatasetError
    from ..runtime.memory import MemoryLimitError
    from ..runs.rundir import RunDirBusy, RunDirError, RunDirWriteError
    if isinstance(error, CLIError):
        return error.code, str(error)
    if isinstance(error, RunDirBusy):
        return EXIT_BUSY, str(error)
    if isinstance(error, RunDirWriteError):
        return EXIT_IO, with_fix(error, WRITE_FIX)
    for kind, fix in ((CheckpointError, CHECKPOINT_FIX), (RunDirError, RUN_DIR_FIX),
                      (DatasetError, DATASET_FIX), (MemoryLimitError, "choose smaller sizes")):
        if isinstance(error, kind):
            return EXIT_USAGE, with_fix(error, fix)
    if isinstance(error, MemoryError):
        return EXIT_USAGE, "out of memory; try smaller sizes (or free memory)"
    if isinstance(error, OSError):
        where = " (%s)" % error.filename if error.filename else ""
        return EXIT_IO, with_fix("%s%s" % (error.strerror or error, where), WRITE_FIX)
    return None


# What to do about a problem of each kind whose message does not say it already (the
# site's "<what>; <what to do>" (docs/guide/setup.md) for every line a script prints).
CHECKPOINT_FIX = ("a parameter or checkpoint file that is missing or damaged cannot be used: "
                  "restore it from a copy, or start a new run")
RUN_DIR_FIX = ("check the folder (dltut's scripts write its files), or start a new run with "
               "--out")
DATASET_FIX = "check the file (python -m dltut.data check PATH), or give another --dataset"
WRITE_FIX = "make room or fix the permissions, then run the command again"


def report_failures(prog, function, *args):
    """``function(*args)`` as an exit code: 0 (or what it returns) on success; on a failure,
    one line on stderr and the failure's code (see :func:`error_line`); 130 on Ctrl-C."""
    from ..runs.checkpoint import printable
    try:
        code = function(*args)
    except KeyboardInterrupt:
        print("%s: interrupted; nothing was changed: run the command again" % prog,
              file=sys.stderr, flush=True)
        return EXIT_INTERRUPTED
    except Exception as error:
        known = error_line(error)
        if known is None:
            raise
        code, message = known
        message = printable(message)  # paths and names from files: escaped, one line
        if code == EXIT_INTERRUPTED:
            print("%s: %s" % (prog, message), file=sys.stderr, flush=True)
        else:
            print("%s: error: %s" % (prog, message), file=sys.stderr, flush=True)
        return code
    return 0 if code is None else code


class DefaultsHelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """--help with each flag's default once: argparse's ``(default: X)`` is added unless the
    help text already says its default in words (``(default: a new runs/...)``) or the
    default is None (nothing a user could type)."""

    def _get_help_string(self, action):
        text = action.help or ""
        if action.default is None or "(default" in text.lower() or "%(default)" in text:
            return text
        return super()._get_help_string(action)


def with_fix(message, fix="see --help for what each flag accepts"):
    """``message`` as the site promises every error line: ``<what>; <what to do>``; one
    that carries no fix yet gets ``fix``."""
    message = str(message)
    return message if "; " in message else "%s; %s" % (message, fix)


def usage_error(error):
    """The CLIError (exit 2) of a bad value the library refused (a ValueError naming it)."""
    return CLIError(with_fix(error), EXIT_USAGE)


_CHOICE = re.compile(r"^(argument \S+: invalid choice: .*) \(choose from (.*)\)$")


class OneLineParser(argparse.ArgumentParser):
    """argparse whose errors are a :class:`CLIError` (one line with what to do)."""

    def error(self, message):
        choice = _CHOICE.match(message)
        if choice:
            message = "%s; choose one of %s" % choice.groups()
        elif message.startswith("unrecognized arguments"):
            message = with_fix(message, "see --help for the flags %s takes" % self.prog)
        elif "expected one argument" in message:
            message = with_fix(message, "give it a value (a negative number as --flag=-1)")
        raise CLIError(with_fix(message), EXIT_USAGE)


# --------------------------------------------------------------------------- flag types
# The checks are dltut.checks's, the ones the library runs on the same values.
finite_float = checks.flag_type(checks.finite_float)
positive_float = checks.flag_type(checks.positive_float)
non_negative_float = checks.flag_type(checks.non_negative_float)
positive_int = checks.flag_type(checks.positive_int)
non_negative_int = checks.flag_type(checks.non_negative_int)
seed_int = checks.flag_type(checks.seed_int)
level = checks.flag_type(checks.unit_level)
