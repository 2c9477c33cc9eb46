"""The worker side of a search: running one trial in a long-lived process, and the
executors that hand trials to such processes.

* **Trials** (:func:`run_trial`): each point is an ordinary run folder,
  ``<search>/trials/<setting=value,...>/``, made by the experiment's own front end
  (:func:`dltut.cli.supervised.run`, as its script makes it) inside a long-lived worker
  process, with its log in ``train.log``.  A folder that holds a run is continued with
  ``--resume``; a finished one is left alone.
* **Executors**: :class:`LocalPool` (``--workers N`` processes on this machine, one BLAS
  thread each, started as ``python -m dltut.search --worker FD PID``, which runs
  :func:`worker_main`) or :class:`DaskExecutor` (``--scheduler tcp://HOST:PORT``, an existing
  Dask distributed cluster, or ``--scheduler local``, a ``LocalCluster``).  A worker that dies
  in the middle of a trial costs only the work since the trial's last checkpoint: the
  trial is run again elsewhere and resumes.

Theano's compile lock: every process compiling into one compile directory takes turns on
one lock, and a process that finds it taken sleeps 5-10 s before looking again.  Trials
compile a few small modules each (a new L2 weight or momentum is a new constant in the
generated C code), so workers sharing a directory would wait on each other.  By default each
worker process therefore compiles into a directory of its own, ``<base_compiledir>/
dltut-worker-<k>`` (kept between searches, so only its first trial compiles everything);
``--compiledir shared`` uses Theano's usual directory instead.  ``bench/search_bench.py``
measures both.
"""
import contextlib
import ctypes
import io
import json
import os
import queue
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback

from ..cli.common import EXIT_IO, CLIError
from ..runs.checkpoint import make_dirs, open_for_append, printable
from ..runtime import flags, setup

try:
    import fcntl
except ImportError:  # not on Windows: no per-worker compile directories there
    fcntl = None

__all__ = ["MAX_ATTEMPTS", "ONE_BLAS_THREAD", "LOCK_WAIT", "trial_status",
           "default_base_compiledir", "claim_compile_slot", "prepare_process", "run_trial",
           "open_trial_log", "worker_environ", "LocalPool", "worker_main", "DaskExecutor"]

#: Times a trial is started when the process running it dies (Dask's own default).
MAX_ATTEMPTS = 3
#: What one BLAS thread per worker means, for each BLAS dltut may link.
ONE_BLAS_THREAD = {"OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}


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

    ``task``: ``experiment`` (a key of ``dltut.cli.supervised.EXPERIMENTS``), ``argv`` (its
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
    environ = dict(setup.user_environ())
    environ.update(ONE_BLAS_THREAD)
    # the folder that holds dltut/ (this file is dltut/search/workers.py)
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
                           "`dask scheduler` and workers with `dask worker` (see docs/guide/search.md)"
                           % (address, error)) from None
        self.futures = []

    def worker_pids(self):
        """``{worker address: pid}`` of the cluster's worker processes."""
        return self.client.run(os.getpid)

    def map(self, tasks, on_result):
        import importlib
        import distributed
        # by reference (pickled as dltut.search.workers.run_trial), whatever ran this module
        trial = importlib.import_module("dltut.search.workers").run_trial
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


