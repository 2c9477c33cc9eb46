"""Hyperparameter search the tutorial's way: log-spaced grids that narrow, over ordinary runs.

The tutorial's advice ("Tips and Tricks"): try log-spaced learning rates (10^-1, 10^-2, ...)
and narrow the logarithmic grid to the region with the lowest validation error; try L1/L2
weights of 10^-2, 10^-3, ...; expect a U-shaped validation curve over the number of hidden
units.  This module does that for any experiment of :mod:`dltut.cli.supervised`::

    python scripts/search.py mlp --n-epochs 5 --out searches/mlp-lr \\
        --log-grid learning-rate=1e-3:1e-1:3 --log-grid L2-reg=1e-5:1e-3:3 --rounds 2

The pieces, in the order a search uses them:

* **Dimensions** (:func:`parse_log_grid`, :func:`parse_grid`, :data:`PRESETS`): a setting of
  the experiment, named by its flag (``learning-rate``) or its field (``learning_rate``),
  with the values of the first round.  A ``--log-grid`` narrows in later rounds; a
  ``--grid`` is a list of choices, held at its best value once narrowing starts.
* **Narrowing** (:func:`narrow`): after each round, each log dimension gets ``N`` new
  log-spaced values between the neighbours of the best point among the values tried so far
  (only on the inside at the edge of the range).  A point already tried is not run again.
* **Trials** (:func:`run_trial`): each point is an ordinary run folder,
  ``<search>/trials/<setting=value,...>/``, made by the experiment's own front end
  (:func:`dltut.cli.supervised.run`, as its script makes it) inside a long-lived worker
  process, with its log in ``train.log``.  A folder that holds a run is continued with
  ``--resume``; a finished one is left alone.
* **Executors**: :class:`LocalPool` (``--workers N`` processes on this machine, one BLAS
  thread each) or :class:`DaskExecutor` (``--scheduler tcp://HOST:PORT``, an existing Dask
  distributed cluster, or ``--scheduler local``, a ``LocalCluster``).  A worker that dies
  in the middle of a trial costs only the work since the trial's last checkpoint: the
  trial is run again elsewhere and resumes.
* **Results**: selection on validation error only; ``results.json`` (every trial, the
  chosen one with its test error and its command line), a sorted table, and figures
  (:func:`dltut.plot.save_search_curves`, :func:`dltut.plot.save_hidden_units_curve`).

Theano's compile lock: every process compiling into one compile directory takes turns on
one lock, and a process that finds it taken sleeps 5-10 s before looking again.  Trials
compile a few small modules each (a new L2 weight or momentum is a new constant in the
generated C code), so workers sharing a directory would wait on each other.  By default each
worker process therefore compiles into a directory of its own, ``<base_compiledir>/
dltut-worker-<k>`` (kept between searches, so only its first trial compiles everything);
``--compiledir shared`` uses Theano's usual directory instead.  ``bench/search_bench.py``
measures both.

The search folder::

    search.json     what was asked (experiment, fixed flags, dimensions, command)
    results.json    every trial so far, the chosen one; rewritten after each trial
    trials/NAME/    one run folder per point (plus its train.log)
    workers.log     what local worker processes printed outside any trial
    validation_<setting>.png, hidden_units.png
"""
import argparse
import contextlib
import ctypes
import io
import itertools
import json
import math
import os
import queue
import shlex
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import traceback

from ..cli.common import (EXIT_BUSY, EXIT_INTERRUPTED, EXIT_IO, EXIT_USAGE, CLIError,
                          OneLineParser, positive_int, report_failures)
from ..cli.supervised import EXPERIMENTS, SESSION_FLAGS, build_parser, explicit_flags
from ..runs.checkpoint import atomic_write, make_dirs, open_for_append, printable, to_json
from ..runtime import _setup, flags

try:
    import fcntl
except ImportError:  # not on Windows: no per-worker compile directories there
    fcntl = None

SEARCH_SPEC = "search.json"
RESULTS = "results.json"
TRIALS = "trials"
WORKERS_LOG = "workers.log"
HIDDEN_UNITS_FIGURE = "hidden_units.png"

#: Significant digits kept of each value a log grid makes (1e-2 * 10**(1/3) -> 0.0215).
SIGNIFICANT_DIGITS = 3
#: Times a trial is started when the process running it dies (Dask's own default).
MAX_ATTEMPTS = 3
#: Flags that are not settings of the model or its training.
NOT_SEARCHABLE = set(SESSION_FLAGS) | {"help", "save_every", "checkpoint_every", "dataset"}
#: What one BLAS thread per worker means, for each BLAS dltut may link.
ONE_BLAS_THREAD = {"OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}

#: The tutorial's advice as ready dimensions: ``--preset NAME``.
PRESETS = {
    # "try several log-spaced values (10^-1, 10^-2, ...) and narrow the grid"
    "learning-rate": "learning_rate=1e-4:1e-1:4",
    # "typical values to try for the L1/L2 regularization parameter are 10^-2, 10^-3, ..."
    "regularisation": "L2_reg=1e-5:1e-2:4",
    # "a typical number of hidden units vs. generalization performance graph is U-shaped"
    "hidden-units": "n_hidden=25:1600:7",
}
PRESET_ALIASES = {"regularization": "regularisation", "l2": "regularisation",
                  "lr": "learning-rate", "n-hidden": "hidden-units"}

_INTEGER_TYPES = ("positive_int", "non_negative_int", "seed_int")
_FLOAT_TYPES = ("positive_float", "non_negative_float", "finite_float")


# =========================================================================== dimensions
class Dimension:
    """One searched setting: its parser action and the values of the first round.

    Attributes
    ----------
    name : str, the setting's field name (``learning_rate``), as in ``config.json``
    flag : str, its flag (``--learning-rate``)
    values : tuple, the first round's values (floats, ints, strings; tuples of them for a
        setting that takes several values, such as ``n_hidden``)
    log : bool, whether it narrows (a ``--log-grid``)
    spec : str, as given (``learning-rate=1e-4:1e-1:4``), for messages
    """

    def __init__(self, action, values, log, spec):
        self.action, self.values, self.log, self.spec = action, tuple(values), log, spec
        self.name = action.dest
        self.flag = action.option_strings[-1]
        self.multi = action.nargs == "+"
        self.kind = _kind(action)

    def text(self, value):
        """The value as it appears in folder names, tables and command lines."""
        if self.multi:
            return "x".join(_scalar_text(v) for v in value)
        return _scalar_text(value)

    def argv(self, value):
        items = value if self.multi else (value,)
        return [self.flag] + [_scalar_text(v) for v in items]

    def number(self, value):
        """The value as one positive number (for log axes and narrowing), or None."""
        if self.multi:
            if len(value) != 1:
                return None
            value = value[0]
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
            return float(value)
        return None

    def as_json(self):
        return {"name": self.name, "flag": self.flag, "log": self.log, "spec": self.spec,
                "values": [list(v) if self.multi else v for v in self.values]}

    def from_json(self, value):
        return tuple(value) if self.multi else value

    def __repr__(self):
        return "Dimension(%s, %s)" % (self.spec, [self.text(v) for v in self.values])


def _kind(action):
    name = getattr(action.type, "__name__", "")
    if name in _INTEGER_TYPES:
        return "int"
    if name in _FLOAT_TYPES:
        return "float"
    return "text"


def _scalar_text(value):
    if isinstance(value, float):
        return "%.12g" % value
    return str(value)


def round_significant(value, digits=SIGNIFICANT_DIGITS):
    """``value`` rounded to ``digits`` significant digits (0.0046415888 -> 0.00464)."""
    if value == 0 or not math.isfinite(value):
        return value
    return float("%.*g" % (digits, value))


def _normalise(name):
    return name.strip().lstrip("-").replace("-", "_").lower()


def searchable(parser):
    """``{normalised name: action}`` of the settings of ``parser`` a search may vary; each
    is there under its field name and its flag name (``l2_reg`` for ``L2_reg`` and
    ``--L2-reg``)."""
    found = {}
    for action in parser._actions:
        if not action.option_strings or action.dest in NOT_SEARCHABLE or action.nargs == 0:
            continue
        found[_normalise(action.dest)] = action
        for option in action.option_strings:
            found[_normalise(option)] = action
    return found


def _lookup(parser, name, origin):
    action = searchable(parser).get(_normalise(name))
    if action is None:
        names = sorted({a.option_strings[-1].lstrip("-") for a in searchable(parser).values()},
                       key=str.lower)
        raise CLIError("%s: %s has no setting %r; a search can vary: %s"
                       % (origin, parser.prog, name.strip(), ", ".join(names)))
    return action


def _split_spec(text, origin, shape):
    name, sep, rest = text.partition("=")
    if not sep or not name.strip() or not rest.strip():
        raise CLIError("%s %s: expected %s" % (origin, text, shape))
    return name.strip(), rest.strip()


def _convert(action, text, origin):
    """One value of ``action`` from text, checked as its flag checks it."""
    text = text.strip()
    try:
        value = action.type(text) if action.type is not None else text
    except argparse.ArgumentTypeError as error:
        raise CLIError("%s: %s %s (see %s --help)" % (origin, action.option_strings[-1], error,
                                                  "the experiment's")) from None
    if action.choices is not None and value not in action.choices:
        raise CLIError("%s: %s must be one of %s, got %r"
                       % (origin, action.option_strings[-1],
                          ", ".join(map(str, action.choices)), text))
    return value


def parse_grid(parser, text, origin="--grid"):
    """A :class:`Dimension` from ``NAME=v1,v2,...`` (values in the order given, repeats
    dropped).  A setting that takes several values writes each as ``20x50``."""
    shape = "NAME=v1,v2,... (e.g. L2-reg=0,1e-4,1e-3)"
    name, rest = _split_spec(text, origin, shape)
    where = "%s %s" % (origin, text)
    action = _lookup(parser, name, where)
    values = []
    for item in rest.split(","):
        if not item.strip():
            raise CLIError("%s: an empty value; expected %s" % (where, shape))
        if action.nargs == "+":
            value = tuple(_convert(action, part, where) for part in item.strip().split("x"))
        else:
            value = _convert(action, item, where)
        if value not in values:
            values.append(value)
    return Dimension(action, values, log=False, spec=text)


def log_values(lo, hi, n, integer=False):
    """``n`` log-spaced values from ``lo`` to ``hi`` inclusive (one value: their geometric
    mean), rounded to :data:`SIGNIFICANT_DIGITS` significant digits (to whole numbers for
    an integer setting), repeats dropped."""
    if n == 1:
        points = [math.sqrt(lo * hi)]
    else:
        points = [lo * (hi / lo) ** (k / (n - 1)) for k in range(n)]
    return _rounded(points, integer)


def _rounded(points, integer):
    values = []
    for point in points:
        value = int(round(point)) if integer else round_significant(point)
        if integer:
            value = max(value, 1)
        if value not in values:
            values.append(value)
    return values


def parse_log_grid(parser, text, origin="--log-grid"):
    """A narrowing :class:`Dimension` from ``NAME=LO:HI:N``: ``N`` log-spaced values from
    ``LO`` to ``HI``; CLIError (one line) for an unknown name, a non-number, ``LO <= 0``,
    ``LO >= HI`` or ``N < 1``."""
    shape = "NAME=LO:HI:N (e.g. learning-rate=1e-4:1e-1:4)"
    name, rest = _split_spec(text, origin, shape)
    where = "%s %s" % (origin, text)
    action = _lookup(parser, name, where)
    kind = _kind(action)
    if kind == "text":
        raise CLIError("%s: %s is not a number; list its values with --grid %s=%s"
                       % (where, action.option_strings[-1], name,
                          ",".join(map(str, action.choices or ("a", "b")))))
    parts = rest.split(":")
    if len(parts) != 3:
        raise CLIError("%s: expected %s" % (where, shape))
    bounds = []
    for label, part in zip(("LO", "HI"), parts[:2]):
        try:
            value = float(part)
        except ValueError:
            raise CLIError("%s: %s must be a number, got %r" % (where, label, part)) from None
        if not math.isfinite(value):
            raise CLIError("%s: %s must be a finite number, got %s" % (where, label, part))
        bounds.append(value)
    lo, hi = bounds
    try:
        n = float(parts[2])
    except ValueError:
        raise CLIError("%s: N must be a whole number, got %r" % (where, parts[2])) from None
    if not math.isfinite(n) or n != int(n):
        raise CLIError("%s: N must be a whole number, got %r" % (where, parts[2]))
    n = int(n)
    if n < 1:
        raise CLIError("%s: N must be at least 1, got %d" % (where, n))
    if lo <= 0:
        raise CLIError("%s: a log grid needs LO > 0, got %s (list 0 with --grid instead)"
                       % (where, parts[0]))
    if lo >= hi:
        raise CLIError("%s: LO must be smaller than HI, got %s >= %s" % (where, parts[0],
                                                                          parts[1]))
    values = log_values(lo, hi, n, integer=kind == "int")
    checked = []
    for value in values:
        value = _convert(action, _scalar_text(value), where)
        checked.append((value,) if action.nargs == "+" else value)
    return Dimension(action, checked, log=True, spec=text)


def preset_spec(name):
    """The ``--log-grid`` text of preset ``name``; CLIError for an unknown one."""
    key = PRESET_ALIASES.get(name.strip().lower(), name.strip().lower())
    if key not in PRESETS:
        raise CLIError("--preset %s: no such preset; choose one of %s"
                       % (name, ", ".join(sorted(PRESETS))))
    return PRESETS[key]


# =========================================================================== narrowing
def narrow(tried, best, n, integer=False):
    """The next round's values of one log dimension.

    Parameters
    ----------
    tried : iterable of positive numbers, every value of this dimension asked for so far
    best : positive number, its value at the best point so far
    n : int, the number of points per round
    integer : bool, round to whole numbers

    Returns
    -------
    list: ``n`` values spaced evenly in log space strictly between the neighbours of
    ``best`` among ``tried`` (the next smaller and the next larger value); at the edge of
    the range, where one neighbour is missing, between ``best`` and the other one.  Values
    rounded like :func:`log_values`; [] when ``best`` has no neighbour at all.
    """
    values = sorted(set(float(v) for v in tried) | {float(best)})
    i = values.index(float(best))
    lo = values[i - 1] if i > 0 else values[i]
    hi = values[i + 1] if i + 1 < len(values) else values[i]
    if lo == hi:
        return []
    points = [lo * (hi / lo) ** (k / (n + 1)) for k in range(1, n + 1)]
    return _rounded(points, integer)


def next_round(dimensions, tried, best):
    """Per dimension, the next round's values: narrowed for a log dimension
    (:func:`narrow`), the best value for a ``--grid`` one.  ``tried[i]`` holds every value of
    dimension ``i`` asked for so far; ``best`` is the best point (a tuple of values)."""
    grids = []
    for i, dim in enumerate(dimensions):
        number = dim.number(best[i])
        if not dim.log or number is None:
            grids.append([best[i]])
            continue
        numbers = [dim.number(v) for v in tried[i]]
        values = narrow([v for v in numbers if v is not None], number, len(dim.values),
                        integer=dim.kind == "int")
        values = [(v,) if dim.multi else v for v in values]
        grids.append(values or [best[i]])
    return grids


def at_edge(dimension, tried, best):
    """True when ``best`` is the smallest or the largest value tried of a log dimension
    (the best value might lie beyond the range searched)."""
    numbers = [dimension.number(v) for v in tried]
    numbers = [v for v in numbers if v is not None]
    value = dimension.number(best)
    return dimension.log and value is not None and len(numbers) > 1 and (
        value <= min(numbers) or value >= max(numbers))


# =========================================================================== trials
def point_name(dimensions, point):
    """The trial folder's name: ``learning_rate=0.01,L2_reg=0.0001``."""
    return ",".join("%s=%s" % (dim.name, dim.text(value)) for dim, value in zip(dimensions,
                                                                                 point))


def point_argv(dimensions, point):
    return [arg for dim, value in zip(dimensions, point) for arg in dim.argv(value)]


def trial_status(folder):
    """``(status, summary)`` of the trial in run folder ``folder``: "new" (nothing run
    yet), "partial" (a run that can be continued with ``--resume``) or "done" (its run
    ended: early stopping, the epoch limit, the schedule, or divergence)."""
    from ..runs.rundir import CONFIG, RunDir, RunDirError, SUMMARY
    run = RunDir(folder)
    if not run.has(CONFIG):
        return "new", None
    try:
        summary = run.read_json(SUMMARY)
    except RunDirError:
        summary = None
    if isinstance(summary, dict) and (
            summary.get("stopped_by") in ("patience", "n_epochs", "schedule")
            or summary.get("divergence") is not None):
        return "done", summary
    return "partial", summary


# --------------------------------------------------------------------------- in a worker
class _Router(io.TextIOBase):
    """Stands for ``sys.stdout`` or ``sys.stderr`` in a worker process: what a thread
    running a trial writes goes to that trial's log, anything else to the real stream.
    It stays in place for the process's life, so that a logging handler made while a trial
    ran (Theano's, at its import) keeps writing to whichever trial runs now."""

    def __init__(self, original):
        super().__init__()
        self.original = original
        self._local = threading.local()

    def target(self):
        return getattr(self._local, "target", None) or self.original

    @contextlib.contextmanager
    def to(self, stream):
        previous = getattr(self._local, "target", None)
        self._local.target = stream
        try:
            yield
        finally:
            self._local.target = previous

    def write(self, text):
        return self.target().write(text)

    def flush(self):
        self.target().flush()

    def writable(self):
        return True

    def isatty(self):
        return False

    def fileno(self):
        return self.original.fileno()

    @property
    def encoding(self):
        return getattr(self.original, "encoding", "utf-8")


class _LastLine:
    """A text stream writing to ``stream`` and keeping the last non-empty line written."""

    def __init__(self, stream):
        self.stream, self.last, self._pending = stream, "", ""

    def write(self, text):
        self._pending += text
        lines = self._pending.split("\n")
        self._pending = lines.pop()
        for line in lines:
            if line.strip():
                self.last = line.strip()
        return self.stream.write(text)

    def flush(self):
        self.stream.flush()


#: What a process that runs trials set up once: its compile directory, its streams.
_PROCESS = {"prepared": False, "compiledir": None, "slot_fd": None}
#: Seconds spent in Theano's compile lock (acquiring it, waits included) in this process.
LOCK_WAIT = {"seconds": 0.0, "waits": 0}
#: One trial at a time per process: Theano compiles with process-wide state.
_TRIAL_LOCK = threading.Lock()


def _time_compile_lock(module):
    """Wrap ``theano.gof.compilelock.lock`` to add the time spent in it to LOCK_WAIT."""
    original = module.lock
    if getattr(original, "_dltut_timed", False):
        return

    def lock(*args, **kwargs):
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            spent = time.perf_counter() - start
            LOCK_WAIT["seconds"] += spent
            if spent > 0.5:  # taking a free lock takes a few milliseconds
                LOCK_WAIT["waits"] += 1
    lock._dltut_timed = True
    module.lock = lock


def default_base_compiledir():
    """Theano's ``base_compiledir`` as the user set it, else Theano's default (~/.theano)."""
    given = flags.user_setting("base_compiledir")
    if given:
        return os.path.expanduser(given)
    return os.path.join(os.path.expanduser("~"), ".theano")


def claim_compile_slot(base=None):
    """Lock the first free ``<base>/dltut-worker-<k>`` folder for this process and return
    it (held until the process ends), or None if there is none to lock."""
    if fcntl is None:
        return None
    base = base or default_base_compiledir()
    for k in range(4096):
        folder = os.path.join(base, "dltut-worker-%d" % k)
        try:
            make_dirs(folder)
            fd = os.open(os.path.join(folder, "worker.lock"), os.O_RDWR | os.O_CREAT, 0o666)
        except OSError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue
        _PROCESS["slot_fd"] = fd
        return folder
    return None


def prepare_process(compiledir="per-worker"):
    """Set this process up for trials, once: streams that follow the trial running, the
    compile-lock timer, and (``compiledir="per-worker"``, before Theano is imported, unless
    the user chose ``compiledir`` themselves) a compile directory of its own."""
    if _PROCESS["prepared"]:
        return
    from .. import compat
    if not isinstance(sys.stdout, _Router):
        sys.stdout = _Router(sys.stdout)
    if not isinstance(sys.stderr, _Router):
        sys.stderr = _Router(sys.stderr)
    if compiledir == "per-worker" and "theano" not in sys.modules \
            and flags.user_setting("compiledir") is None:
        folder = claim_compile_slot()
        if folder is not None:
            try:
                flags.set_theano_flag("base_compiledir", folder)
                _PROCESS["compiledir"] = folder
            except ValueError:  # a comma in the path: THEANO_FLAGS cannot carry it
                pass
    if "theano.gof.compilelock" in sys.modules:
        _time_compile_lock(sys.modules["theano.gof.compilelock"])
    else:
        compat.register("theano.gof.compilelock", after=_time_compile_lock)
    _PROCESS["prepared"] = True


def _wait_for_folder(folder, log):
    """Until no other process holds the run folder's lock (a trial still running elsewhere,
    e.g. on a worker the scheduler gave up on)."""
    from ..runs.rundir import RunDir, RunDirBusy
    said = False
    while True:
        run = RunDir(folder)
        try:
            run.lock()
        except RunDirBusy as error:
            if not said:
                log.write("waiting: %s\n" % printable(error))
                log.flush()
                said = True
            time.sleep(2.0)
            continue
        run.unlock()
        return


def run_trial(task):
    """Run one trial in this process and return what happened, as a JSON-able dict.

    ``task``: ``experiment`` (a key of :data:`dltut.cli.supervised.EXPERIMENTS`), ``argv`` (its
    flags, without ``--out``), ``folder`` (the run folder, absolute), ``compiledir``
    ("per-worker" or "shared").  A new folder is started with ``--out``, a folder holding
    a run is continued with ``--resume``, a finished one is left alone.  Everything the run
    prints goes to ``<folder>/train.log``.  Called by local workers and Dask workers alike.
    """
    with _TRIAL_LOCK:
        prepare_process(task.get("compiledir", "per-worker"))
        return _run_trial(task)


def open_trial_log(folder):
    """``<search>/trials/<name>/train.log`` (``folder``: the trial's run folder) opened for
    appending by the run-folder rules: ``trials/`` and ``trials/<name>`` made if missing and
    refused when they are links, the log never written through a link (a symbolic or a hard
    one); :class:`dltut.runs.rundir.RunDirWriteError` otherwise."""
    from ..runs.rundir import RunDir, TRAIN_LOG
    search_folder = RunDir(os.path.dirname(os.path.dirname(folder)))
    return os.fdopen(search_folder.open_append(os.path.join(
        os.path.basename(os.path.dirname(folder)), os.path.basename(folder), TRAIN_LOG)),
        "a", encoding="utf-8")


def _run_trial(task):
    from ..cli import supervised as experiment
    from ..runs.rundir import RunDirError
    folder = task["folder"]
    result = {"folder": folder, "host": socket.gethostname(), "pid": os.getpid(),
              "compiledir": _PROCESS["compiledir"], "ran": False, "code": 0, "error": "",
              "seconds": 0.0, "lock_wait": 0.0, "lock_waits": 0}
    try:
        log = open_trial_log(folder)
    except RunDirError as error:
        result.update(ran=True, code=EXIT_IO, error=printable(error))
        return result
    with log:
        _wait_for_folder(folder, log)
        status, _ = trial_status(folder)
        result["status_before"] = status
        if status == "done":
            return result
        argv = (list(task["argv"]) + ["--out", folder] if status == "new"
                else ["--resume", folder])
        log.write("== %s\n" % printable("%s: %s on %s (pid %d): python scripts/%s.py %s" % (
            time.strftime("%Y-%m-%d %H:%M:%S"), "starting" if status == "new" else "resuming",
            result["host"], os.getpid(), task["experiment"], " ".join(map(shlex.quote, argv)))))
        log.flush()
        errors = _LastLine(log)
        waited, waits = LOCK_WAIT["seconds"], LOCK_WAIT["waits"]
        start = time.perf_counter()
        with sys.stdout.to(log), sys.stderr.to(errors):
            try:
                code = experiment.run(task["experiment"], argv)
            except Exception as error:  # a bug: keep its traceback in the log
                traceback.print_exc(file=log)
                code, errors.last = "crash", "%s: %s" % (type(error).__name__, error)
        log.flush()
        result.update(ran=True, code=code, error=printable(errors.last) if code else "",
                      seconds=time.perf_counter() - start,
                      lock_wait=LOCK_WAIT["seconds"] - waited,
                      lock_waits=LOCK_WAIT["waits"] - waits)
    return result


# =========================================================================== executors
def worker_environ():
    """The environment of a local worker process: the user's (without dltut's own
    additions, which the worker makes afresh), one BLAS thread, and this dltut on
    ``PYTHONPATH`` so that the worker runs the same code."""
    environ = dict(_setup.user_environ())
    environ.update(ONE_BLAS_THREAD)
    # the folder that holds dltut/ (this file is dltut/search/search.py)
    package_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    paths = [package_root] + [p for p in environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    return environ


class LocalPool:
    """``n_workers`` worker processes on this machine (``python -m dltut.search --worker``),
    each running one trial at a time in-process, with one BLAS thread.

    A worker that dies in the middle of a trial is replaced and the trial given to a worker
    again (it resumes from its checkpoint), up to :data:`MAX_ATTEMPTS` times.  The workers
    live in their own process group; Ctrl-C in the search asks each to stop after its
    current minibatch (writing a checkpoint), and a worker whose search process dies is
    sent the same request by the kernel.
    """

    def __init__(self, n_workers, log_path, environ=None):
        self.n_workers = n_workers
        self.log_path = log_path
        self.environ = environ or worker_environ()
        self.workers = []          # the running worker processes, for kill tests and Ctrl-C
        self._tasks = queue.Queue()
        self._results = queue.Queue()
        self._threads = []
        self._busy = {}            # slot -> process running a trial
        self._lock = threading.Lock()
        self._stopping = False

    def _start_worker(self):
        log = open_for_append(self.log_path)  # never through a link (see claim_search_folder)
        try:
            read_fd, write_fd = os.pipe()
            try:
                process = subprocess.Popen(
                    [sys.executable, "-m", "dltut.search", "--worker", str(write_fd),
                     str(os.getpid())],
                    stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT,
                    env=self.environ, pass_fds=(write_fd,), start_new_session=True)
            except BaseException:
                os.close(read_fd)
                raise
            finally:
                os.close(write_fd)
        finally:
            os.close(log)
        process.results = os.fdopen(read_fd, "r", encoding="utf-8")
        with self._lock:
            self.workers.append(process)
        return process

    def _slot(self, slot):
        process = None
        while True:
            task = self._tasks.get()
            if task is None:
                break
            if self._stopping:
                continue
            result = None
            for attempt in range(1, MAX_ATTEMPTS + 1):
                if process is None or process.poll() is not None:
                    try:
                        process = self._start_worker()
                    except OSError as error:
                        process = None
                        result = {"folder": task["folder"], "code": "lost", "ran": False,
                                  "attempts": attempt, "error": "cannot start a worker "
                                  "process (%s: %s)" % (printable(error.filename or ""),
                                                        error.strerror or error)}
                        break
                try:
                    with self._lock:
                        self._busy[slot] = process
                    process.stdin.write((json.dumps(task) + "\n").encode())
                    process.stdin.flush()
                    line = process.results.readline()
                except (BrokenPipeError, OSError):
                    line = ""
                finally:
                    with self._lock:
                        self._busy.pop(slot, None)
                if line.strip():
                    result = json.loads(line)
                    result["attempts"] = attempt
                    break
                process.wait()  # it died in the middle of the trial: give it to a new one
                process = None
                if self._stopping:
                    break
            if result is None:
                result = {"folder": task["folder"], "code": "lost", "ran": True,
                          "attempts": MAX_ATTEMPTS,
                          "error": "the worker process died %d times while running it "
                                   "(see %s)" % (MAX_ATTEMPTS, self.log_path)}
            self._results.put((task, result))
        if process is not None:
            _close_worker(process)

    def map(self, tasks, on_result):
        """Run ``tasks``; call ``on_result(task, result)`` in this thread as each ends."""
        if not self._threads:
            for slot in range(self.n_workers):
                thread = threading.Thread(target=self._slot, args=(slot,), daemon=True)
                thread.start()
                self._threads.append(thread)
        for task in tasks:
            self._tasks.put(task)
        for _ in tasks:
            while True:
                try:
                    task, result = self._results.get(timeout=0.2)
                    break
                except queue.Empty:
                    continue
            on_result(task, result)

    def interrupt(self, wait=60.0):
        """Ask every worker running a trial to stop after its minibatch (one SIGINT; the
        trial writes a checkpoint), wait up to ``wait`` seconds for them, then end them all."""
        self._stopping = True
        with self._lock:
            busy = list(self._busy.values())
        for process in busy:
            with contextlib.suppress(OSError):
                process.send_signal(signal.SIGINT)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            with self._lock:
                if not self._busy:
                    break
            time.sleep(0.05)
        self.close(kill=True)

    def close(self, kill=False):
        """End the workers: each finishes its trial first, unless ``kill``."""
        for _ in self._threads:
            self._tasks.put(None)
        with self._lock:
            workers = list(self.workers)
        for process in workers:
            if kill and process.poll() is None:
                with contextlib.suppress(OSError):
                    process.kill()
        for thread in self._threads:
            thread.join(timeout=None if not kill else 30)
        for process in workers:
            _close_worker(process)
        self._threads = []

    def describe(self):
        return "%d local worker process%s" % (self.n_workers, "" if self.n_workers == 1 else
                                               "es")


def _close_worker(process):
    with contextlib.suppress(OSError):
        if process.stdin and not process.stdin.closed:
            process.stdin.close()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    with contextlib.suppress(OSError):
        process.results.close()


def _die_with_parent(parent_pid):
    """Ask Linux to send this process SIGINT when the search that started it dies (the
    trial then stops after its minibatch and writes a checkpoint); exit now if it has."""
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGINT)  # PR_SET_PDEATHSIG
    if os.getppid() != parent_pid:
        sys.exit(0)


def worker_main(result_fd, parent_pid):
    """A local worker: read trial tasks (JSON lines) on stdin, run each in this process,
    write each result (a JSON line) to file descriptor ``result_fd``."""
    _die_with_parent(parent_pid)
    results = os.fdopen(result_fd, "w", encoding="utf-8")
    try:
        for line in sys.stdin:
            if not line.strip():
                continue
            result = run_trial(json.loads(line))
            results.write(json.dumps(result) + "\n")
            results.flush()
    except (KeyboardInterrupt, BrokenPipeError):
        pass
    return 0


class DaskExecutor:
    """Trials as Dask tasks: on the cluster whose scheduler is at ``address``
    (``tcp://HOST:PORT``), or on a ``LocalCluster`` of ``n_workers`` processes
    (``address="local"``), one thread each.

    Each task runs :func:`run_trial` in a worker process.  When a worker dies, the scheduler
    gives its task to another worker (Dask's ``allowed-failures``, 3 by default), where the
    trial resumes from its checkpoint.  The search folder must be on a file system every
    worker sees at the same path.
    """

    def __init__(self, address, n_workers=None):
        try:
            import distributed
        except ImportError:
            raise CLIError("--scheduler needs Dask distributed, dltut's dask extra: run "
                           "`make venv EXTRAS=dask` (or pip install -e '.[dask]') in dltut's "
                           "folder") from None
        self.address, self.cluster = address, None
        try:
            if address == "local":
                # LocalCluster's workers get one BLAS thread from Dask's own
                # distributed.nanny.pre-spawn-environ; they inherit this environment.
                self.cluster = distributed.LocalCluster(
                    n_workers=n_workers, threads_per_worker=1, processes=True,
                    dashboard_address=None)
                self.client = distributed.Client(self.cluster)
            else:
                self.client = distributed.Client(address, timeout=30)
        except (OSError, TimeoutError) as error:
            if self.cluster is not None:
                self.cluster.close()
            raise CLIError("cannot reach the Dask scheduler at %s (%s); start one with "
                           "`dask scheduler` and workers with `dask worker` (see README)"
                           % (address, error)) from None
        self.futures = []

    def worker_pids(self):
        """``{worker address: pid}`` of the cluster's worker processes."""
        return self.client.run(os.getpid)

    def map(self, tasks, on_result):
        import importlib
        import distributed
        # by reference (pickled as dltut.search.search.run_trial), whatever ran this module
        trial = importlib.import_module("dltut.search.search").run_trial
        futures = {}
        for task in tasks:
            future = self.client.submit(trial, task, pure=False,
                                        key="dltut-trial-%s-%s" % (os.path.basename(
                                            task["folder"]), os.urandom(4).hex()))
            futures[future] = task
        self.futures = list(futures)
        for future in distributed.as_completed(futures):
            task = futures[future]
            try:
                result = future.result()
            except Exception as error:
                result = {"folder": task["folder"], "code": "lost", "ran": True,
                          "error": "%s: %s" % (type(error).__name__, error)}
            on_result(task, result)

    def interrupt(self):
        for future in self.futures:
            with contextlib.suppress(Exception):
                future.cancel()
        self.close()

    def close(self):
        with contextlib.suppress(Exception):
            self.client.close()
        if self.cluster is not None:
            with contextlib.suppress(Exception):
                self.cluster.close()

    def describe(self):
        if self.cluster is not None:
            return "a Dask LocalCluster of %d worker processes" % len(
                self.client.scheduler_info().get("workers", {}))
        return "the Dask cluster at %s (%d workers)" % (
            self.address, len(self.client.scheduler_info().get("workers", {})))


# =========================================================================== the search
class SearchSpec:
    """A parsed search command: experiment, fixed flags, dimensions, executor choices."""

    def __init__(self, experiment, base_argv, fixed, dimensions, out, rounds=1, workers=None,
                 scheduler=None, compiledir="per-worker", command=None):
        self.experiment, self.base_argv, self.fixed = experiment, list(base_argv), fixed
        self.dimensions, self.out, self.rounds = list(dimensions), out, rounds
        self.workers, self.scheduler, self.compiledir = workers, scheduler, compiledir
        self.command = command

    def identity(self):
        """What makes two commands the same search (executor choices and rounds aside)."""
        return {"experiment": self.experiment, "fixed": self.fixed,
                "dimensions": [{k: d.as_json()[k] for k in ("name", "log", "values")}
                               for d in self.dimensions]}

    def task(self, point):
        return {"experiment": self.experiment,
                "argv": self.base_argv + point_argv(self.dimensions, point),
                "folder": os.path.abspath(os.path.join(self.out, TRIALS,
                                                       point_name(self.dimensions, point))),
                "compiledir": self.compiledir}

    def command_for(self, point):
        """The winner as a ready command line (a new run in a folder of its own), with the
        one BLAS thread its trial had, so that it repeats the trial's numbers."""
        return " ".join(["OPENBLAS_NUM_THREADS=1", "python", "scripts/%s.py" % self.experiment] + [
            shlex.quote(a) for a in self.base_argv + point_argv(self.dimensions, point)])


def _json_values(fixed):
    return json.loads(to_json(fixed))


def validate_point(spec, point):
    """CLIError unless the experiment accepts ``point`` (checked as its script checks its
    flags, before anything is built)."""
    from ..cli.supervised import parse, train_config
    task = spec.task(point)
    try:
        _, args = parse(spec.experiment, task["argv"] + ["--out", task["folder"]])
        train_config(args)
    except CLIError as error:
        raise CLIError("the point %s: %s" % (point_name(spec.dimensions, point), error)) from None


class Search:
    """Runs a :class:`SearchSpec` round by round on an executor; reads every trial back
    from its run folder, so that a search run again continues where it stopped."""

    def __init__(self, spec, executor_factory=None, log=print):
        self.spec = spec
        self.dims = spec.dimensions
        self.executor_factory = executor_factory
        self.executor = None
        self._log = log
        self.trials = []        # dicts in the order first asked for
        self._by_name = {}
        self.tried = [list() for _ in self.dims]
        self.notes = []
        self.rounds_run = 0

    def log(self, line):
        """Print one progress line, escaped (:func:`dltut.runs.checkpoint.printable`)."""
        self._log(printable(line))

    # ----------------------------------------------------------------- bookkeeping
    def _ask(self, point, round_number):
        name = point_name(self.dims, point)
        if name in self._by_name:
            return None
        trial = {"name": name, "round": round_number, "point": point,
                 "settings": {d.name: (list(v) if d.multi else v)
                              for d, v in zip(self.dims, point)},
                 "folder": os.path.join(TRIALS, name), "status": "pending"}
        self.trials.append(trial)
        self._by_name[name] = trial
        for i, value in enumerate(point):
            if value not in self.tried[i]:
                self.tried[i].append(value)
        return trial

    def _read(self, trial):
        """Fill ``trial`` from its run folder."""
        folder = os.path.join(self.spec.out, trial["folder"])
        status, summary = trial_status(folder)
        if status != "done":
            if trial["status"] not in ("failed",):
                trial["status"] = "pending" if status == "new" else "partial"
            return trial
        trial.pop("error", None)
        trial["status"] = "diverged" if summary.get("divergence") is not None else "ok"
        for key in ("best_validation_error", "best_validation_error_all", "best_epoch",
                    "best_iteration", "epochs", "stopped_by", "divergence", "train_seconds",
                    "compile_seconds", "seconds_per_epoch"):
            trial[key] = summary.get(key)
        trial["_summary"] = summary
        return trial

    def ranked(self):
        """The trials best first: finished ones by validation error (the tutorial's, then
        over all examples), then diverged, failed and unfinished ones; ties in the order
        asked."""
        order = {"ok": 0, "diverged": 1, "failed": 2, "partial": 3, "pending": 3}

        def key(item):
            index, trial = item
            ok = trial["status"] == "ok"
            return (order.get(trial["status"], 4),
                    trial.get("best_validation_error") if ok else 0.0,
                    trial.get("best_validation_error_all") if ok else 0.0, index)
        return [t for _, t in sorted(enumerate(self.trials), key=key)]

    def best(self):
        ranked = self.ranked()
        return ranked[0] if ranked and ranked[0]["status"] == "ok" else None

    # ----------------------------------------------------------------- running
    def validate(self, point):
        """CLIError unless the experiment accepts the point (see :func:`validate_point`)."""
        validate_point(self.spec, point)

    def run(self):
        rounds = max(1, self.spec.rounds)
        grids = [list(d.values) for d in self.dims]
        for number in range(1, rounds + 1):
            points = [p for p in itertools.product(*grids)]
            fresh = []
            for point in points:
                trial = self._ask(tuple(point), number)
                if trial is not None:
                    try:
                        self.validate(trial["point"])
                    except CLIError as error:
                        if number == 1:
                            raise
                        self.notes.append("round %d: skipped %s" % (number, error))
                        self.trials.remove(trial)
                        del self._by_name[trial["name"]]
                        continue
                    fresh.append(trial)
            if not fresh:
                self.notes.append("round %d: no new point (narrowing found only points "
                                  "already tried); stopped" % number)
                break
            self.rounds_run = number
            for trial in fresh:
                self._read(trial)
            todo = [t for t in fresh if t["status"] != "ok" and t["status"] != "diverged"]
            self.log("round %d: %d point%s, %d to run%s" % (
                number, len(fresh), "" if len(fresh) == 1 else "s", len(todo),
                self._round_note(grids, number)))
            self._run_trials(todo)
            self.write_results()
            if number == rounds:
                break
            best = self.best()
            if best is None:
                self.notes.append("round %d: no trial finished without diverging; nothing "
                                  "to narrow around" % number)
                break
            if not any(d.log for d in self.dims):
                self.notes.append("only --log-grid settings narrow, and none is searched: "
                                  "one round")
                break
            grids = next_round(self.dims, self.tried, best["point"])
        for i, dim in enumerate(self.dims):
            best = self.best()
            if best is not None and at_edge(dim, self.tried[i], best["point"][i]):
                self.notes.append("the best %s (%s) is at the edge of the range searched; "
                                  "the optimum may lie beyond it: widen --log-grid %s"
                                  % (dim.name, dim.text(best["point"][i]), dim.name))
        self.write_results()
        return self

    def _round_note(self, grids, number):
        if number == 1:
            return ""
        parts = ["%s %s" % (d.name, ", ".join(d.text(v) for v in grid))
                 for d, grid in zip(self.dims, grids) if d.log]
        return " (narrowed: %s)" % "; ".join(parts)

    def _run_trials(self, todo):
        if not todo:
            return
        if self.executor is None:
            self.executor = self.executor_factory()
            self.log("running trials on %s" % self.executor.describe())
        total, done = len(todo), [0]
        tasks = {self.spec.task(t["point"])["folder"]: t for t in todo}

        def on_result(task, result):
            trial = tasks[task["folder"]]
            done[0] += 1
            self._read(trial)
            trial["attempts"] = result.get("attempts", 1)
            trial["lock_wait"] = trial.get("lock_wait", 0.0) + result.get("lock_wait", 0.0)
            trial["trial_seconds"] = trial.get("trial_seconds", 0.0) + result.get("seconds", 0.0)
            trial["worker"] = "%s:%s" % (result.get("host"), result.get("pid"))
            if result.get("code") == EXIT_INTERRUPTED:
                trial["status"] = "partial"
            elif trial["status"] not in ("ok", "diverged"):
                trial["status"] = "failed"
                trial["error"] = result.get("error") or "exit code %s" % result.get("code")
                if result.get("code") == 0:
                    trial["error"] = ("the worker reports success but %s holds no finished "
                                      "run: the search folder must be on a file system "
                                      "every worker sees at the same path"
                                      % os.path.join(self.spec.out, trial["folder"]))
            self.log("[%d/%d] %s" % (done[0], total, self._progress_text(trial, result)))
            self.write_results()

        self.executor.map([self.spec.task(t["point"]) for t in todo], on_result)

    def _progress_text(self, trial, result):
        what = {"ok": lambda: "validation error %.2f %% (epoch %s)" % (
                    100 * trial["best_validation_error"], trial["best_epoch"]),
                "diverged": lambda: "diverged",
                "partial": lambda: "interrupted (resumable)",
                "failed": lambda: "failed: %s" % trial.get("error")}[trial["status"]]()
        extras = []
        if result.get("status_before") == "partial":
            extras.append("resumed")
        if result.get("attempts", 1) > 1:
            extras.append("%d attempts" % result["attempts"])
        return "%s: %s, %.1f s%s" % (trial["name"], what, result.get("seconds", 0.0),
                                     " (%s)" % ", ".join(extras) if extras else "")

    def close(self, interrupted=False):
        if self.executor is not None:
            if interrupted:
                self.executor.interrupt()
            else:
                self.executor.close()
            self.executor = None

    # ----------------------------------------------------------------- reporting
    def chosen(self):
        """The chosen trial (lowest validation error) with its test error, or None."""
        best = self.best()
        if best is None:
            return None
        summary = best.get("_summary", {})
        return {"name": best["name"], "settings": best["settings"], "folder": best["folder"],
                "best_validation_error": best["best_validation_error"],
                "best_validation_error_all": best["best_validation_error_all"],
                "test_error": summary.get("test_error"),
                "test_error_all": summary.get("test_error_all"),
                "best_epoch": best["best_epoch"],
                "command": self.spec.command_for(best["point"])}

    def results(self):
        keep = ("name", "round", "settings", "status", "best_validation_error",
                "best_validation_error_all", "best_epoch", "best_iteration", "epochs",
                "stopped_by", "divergence", "error", "folder", "train_seconds",
                "compile_seconds", "seconds_per_epoch", "trial_seconds", "lock_wait",
                "attempts", "worker")
        trials = [{k: t[k] for k in keep if k in t} for t in self.ranked()]
        for rank, trial in enumerate(trials, 1):
            trial["rank"] = rank
        return {"experiment": self.spec.experiment, "fixed": self.spec.fixed,
                "dimensions": [d.as_json() for d in self.dims],
                "rounds": self.rounds_run, "selected_on": "best_validation_error",
                "chosen": self.chosen(), "trials": trials, "notes": self.notes,
                "command": self.spec.command}

    def write_results(self):
        atomic_write(os.path.join(self.spec.out, RESULTS),
                     (to_json(self.results(), indent=2) + "\n").encode())

    def table(self):
        """The sorted table, as lines (no timings: the same search prints the same table)."""
        header = ["rank", "round"] + [d.name for d in self.dims] + [
            "validation %", "(all) %", "best epoch", "stopped by"]
        rows = []
        for rank, trial in enumerate(self.ranked(), 1):
            row = [str(rank), str(trial["round"])] + [
                d.text(v) for d, v in zip(self.dims, trial["point"])]
            if trial["status"] == "ok":
                row += ["%.4f" % (100 * trial["best_validation_error"]),
                        "%.4f" % (100 * trial["best_validation_error_all"]),
                        str(trial["best_epoch"]), str(trial["stopped_by"])]
            else:
                row += [trial["status"], "", "", trial.get("error", "")[:60]]
            rows.append(row)
        widths = [max(len(r[i]) for r in rows + [header]) for i in range(len(header))]
        line = lambda r: "  ".join(c.rjust(w) if i < 2 or i >= 2 + len(self.dims)  # noqa
                                   else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths)))
        return [line(header).rstrip()] + [line(r).rstrip() for r in rows]

    def report_lines(self):
        counts = {}
        for trial in self.trials:
            counts[trial["status"]] = counts.get(trial["status"], 0) + 1
        lines = ["%s search: %d trial%s in %d round%s (%s); chosen on validation error" % (
            self.spec.experiment, len(self.trials), "" if len(self.trials) == 1 else "s",
            self.rounds_run, "" if self.rounds_run == 1 else "s",
            ", ".join("%d %s" % (n, s) for s, n in sorted(counts.items())))]
        lines += self.table()
        chosen = self.chosen()
        if chosen is not None:
            test = chosen["test_error"]
            lines.append("chosen: %s: validation error %.4f %%, test error %s (the test error "
                         "of this configuration alone)" % (
                             chosen["name"], 100 * chosen["best_validation_error"],
                             "%.4f %%" % (100 * test) if test is not None else "not measured"))
            lines.append("run it: %s" % chosen["command"])
            lines.append("its run folder: %s" % os.path.join(self.spec.out, chosen["folder"]))
        else:
            lines.append("no trial finished without diverging: nothing to choose")
        lines += ["note: %s" % note for note in self.notes]
        return lines

    def figures(self):
        """Draw the figures into the search folder; returns their paths."""
        from .. import plot
        ok = [t for t in self.trials if t["status"] == "ok"]
        best = self.best()
        if best is None:
            return []
        paths = []
        numeric = [i for i, d in enumerate(self.dims)
                   if all(d.number(t["point"][i]) is not None for t in ok)]
        for i in numeric:
            others = [j for j in range(len(self.dims)) if j != i]
            line_dim = others[0] if others else None
            rest = others[1:]
            points = [t for t in ok if all(t["point"][j] == best["point"][j] for j in rest)]
            if len({t["point"][i] for t in points}) < 2:
                continue
            series = {}
            for t in points:
                label = (self.dims[line_dim].text(t["point"][line_dim])
                         if line_dim is not None else None)
                series.setdefault(label, []).append(
                    (self.dims[i].number(t["point"][i]), 100 * t["best_validation_error"]))
            order = (lambda label: self.dims[line_dim].number(
                self._value_of(line_dim, label)) or 0) if line_dim is not None else None
            path = os.path.join(self.spec.out, "validation_%s.png" % self.dims[i].name)
            fixed = ", ".join("%s = %s" % (self.dims[j].name, self.dims[j].text(best["point"][j]))
                              for j in rest)
            plot.save_search_curves(
                series, path, x_label=self.dims[i].name,
                line_label=self.dims[line_dim].name if line_dim is not None else None,
                best=(self.dims[i].number(best["point"][i]),
                      100 * best["best_validation_error"]),
                title="%s: validation error against %s%s" % (
                    self.spec.experiment, self.dims[i].name, " (%s)" % fixed if fixed else ""),
                order=order, diverged=sum(t["status"] == "diverged" for t in self.trials))
            paths.append(path)
        hidden = [i for i, d in enumerate(self.dims) if d.name == "n_hidden"]
        if hidden and hidden[0] in numeric:
            i = hidden[0]
            points = [t for t in ok if all(t["point"][j] == best["point"][j]
                                           for j in range(len(self.dims)) if j != i)]
            rows = sorted((self.dims[i].number(t["point"][i]), 100 * t["best_validation_error"],
                           100 * t["_summary"]["test_error"]) for t in points
                          if t["_summary"].get("test_error") is not None)
            if len(rows) >= 2:
                path = os.path.join(self.spec.out, HIDDEN_UNITS_FIGURE)
                plot.save_hidden_units_curve(rows, path, title="%s: error against hidden units"
                                             % self.spec.experiment)
                paths.append(path)
        return paths

    def _value_of(self, index, label):
        for value in self.tried[index]:
            if self.dims[index].text(value) == label:
                return value
        return None


# =========================================================================== command line
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
    return SearchSpec(name, rest, _json_values(fixed), dimensions, args.out,
                      rounds=args.rounds, workers=args.workers or _cores(),
                      scheduler=args.scheduler, compiledir=args.compiledir, command=command)


def executor_factory(spec):
    """A function making the executor ``spec`` asks for (started only when needed)."""
    def make():
        if spec.scheduler is None:
            return LocalPool(spec.workers, os.path.join(spec.out, WORKERS_LOG))
        return DaskExecutor(spec.scheduler, n_workers=spec.workers)
    return make


def check_search_folder(folder):
    """Refuse (:class:`dltut.runs.rundir.RunDirWriteError`, one line) a search folder that is not
    what it claims, before anything is written in it: ``trials/`` or a ``trials/<name>`` that
    is a symbolic link (or ``trials`` not a folder), a ``train.log`` or ``workers.log`` that
    is a link (symbolic or hard) or not a regular file.  The same rules as a run folder's
    (:class:`dltut.runs.rundir.RunDir`): nothing is ever written through a link."""
    from ..runs.rundir import RunDirWriteError, TRAIN_LOG
    trials = folder.file(TRIALS)
    if os.path.lexists(trials):
        folder.make_folder(TRIALS)  # refuses a link, or something else than a folder
        for name in sorted(os.listdir(trials)):
            path = os.path.join(trials, name)
            if os.path.islink(path):
                raise RunDirWriteError(path, "it is a symbolic link; refusing to write through "
                                             "it (remove the link)", "write into")
            if os.path.isdir(path):
                folder.check_appendable(os.path.join(TRIALS, name, TRAIN_LOG))
    folder.check_appendable(WORKERS_LOG)


def claim_search_folder(spec):
    """Create (or re-open) the search folder, lock it, and check that it holds this search
    and nothing written through it could land outside it (:func:`check_search_folder`);
    returns the locked :class:`dltut.runs.rundir.RunDir` standing for its lock."""
    from ..runs.rundir import RunDir, RunDirBusy, RunDirError
    folder = RunDir(spec.out)
    if os.path.lexists(spec.out) and not os.path.isdir(spec.out):
        raise CLIError("%s exists and is not a folder; choose another --out" % spec.out)
    try:
        folder.lock()
    except RunDirBusy as error:
        raise CLIError("%s is in use by process %s, another search on it; wait for it to end "
                       "or choose another --out" % (spec.out, error.pid or "(unknown)"),
                       EXIT_BUSY) from None
    try:
        if folder.run_files():
            raise CLIError("%s holds a training run, not a search; choose another --out"
                           % spec.out)
        check_search_folder(folder)
        identity = json.loads(to_json(spec.identity()))
        try:
            saved = folder.read_json(SEARCH_SPEC)
        except RunDirError as error:
            raise CLIError("%s; choose another --out" % error) from None
        if saved is not None:
            if not isinstance(saved, dict) or {k: saved.get(k) for k in identity} != identity:
                raise CLIError("%s holds another search (%s); run that command to continue it, "
                               "or choose another --out" % (spec.out, saved.get("command", "?")
                                                            if isinstance(saved, dict) else "?"))
        else:
            folder.write_bytes(SEARCH_SPEC, (to_json(dict(identity, command=spec.command),
                                                     indent=2) + "\n").encode())
    except BaseException:
        folder.unlock()
        raise
    return folder


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
