"""The run folder: the one place that knows its layout, locks it, writes and reads it.

A run folder belongs to one training run::

    config.json       every setting and the command (written when training starts)
    history.jsonl     one strict-JSON record per validation
    best_model.npz    the best parameters so far, as plain arrays
    checkpoint.npz    everything needed to resume
    summary.json      how the run ended
    snapshots/        epoch_NNNN.npz, with --save-every
    pretraining.jsonl one strict-JSON record per pre-training epoch (per layer)
    pretraining.npz   everything needed to resume layer-wise pre-training
    layers/           NN.npz: each pre-trained layer's parameters, written when it is done
    samples.png ...   what sampling scripts draw (rbm.py, hmc.py)
    .lock             locked (flock) by the process writing the folder; holds its pid

Three rules keep what is in it safe:

* **One owner.**  A process writing a run folder holds an exclusive lock on ``.lock`` (the
  operating system drops it when the process ends, ``kill -9`` included); a second writer
  is refused with :class:`RunDirBusy`, naming the holder's pid.  A new run refuses a folder
  that already holds a run (:meth:`RunDir.create`), and default names are made unique.
* **Atomic files.**  Every file is replaced whole (:func:`dltut.runs.checkpoint.atomic_write`);
  only ``history.jsonl`` grows by appending, and it is rewritten from the checkpoint when a
  run resumes.
* **No links followed for writing.**  A symbolic link where a file goes is replaced, a
  link where a subfolder goes is refused, and appends never follow a link, so a run folder
  someone sent you cannot make dltut write outside it.

Every failure to write is a :class:`RunDirWriteError` naming the file and the reason
(disk full, read-only); the files written before it are intact.
"""
import datetime
import errno
import json
import os
import re
import stat

from . import checkpoint as ckpt

try:
    import fcntl
except ImportError:  # not on Windows: folders are not locked there
    fcntl = None

__all__ = ["CONFIG", "HISTORY", "BEST_MODEL", "CHECKPOINT", "SUMMARY", "SNAPSHOTS",
           "PRETRAINING_HISTORY", "PRETRAINING_CHECKPOINT", "LAYERS", "LOCK", "CURVES", "FILTERS",
           "PRETRAINING_CURVES", "SAMPLES_FIGURE", "SAMPLES_ARRAYS", "HMC_FIGURE", "TRAIN_LOG",
           "RUN_FILES", "DEFAULT_ROOT", "RunDirError", "RunDirBusy", "RunDirWriteError",
           "snapshot_file", "epoch_filters_file", "layer_file", "layer_filters_file", "RunDir",
           "as_run_dir"]

CONFIG = "config.json"
HISTORY = "history.jsonl"
BEST_MODEL = "best_model.npz"
CHECKPOINT = "checkpoint.npz"
SUMMARY = "summary.json"
SNAPSHOTS = "snapshots"
#: Layer-wise (unsupervised) pre-training: its records, its checkpoint, its trained layers.
PRETRAINING_HISTORY = "pretraining.jsonl"
PRETRAINING_CHECKPOINT = "pretraining.npz"
LAYERS = "layers"
LOCK = ".lock"
#: Figures plot_run.py draws into the folder.
CURVES = "learning_curves.png"
FILTERS = "filters.png"
PRETRAINING_CURVES = "pretraining_curves.png"
#: What the sampling scripts draw and keep: scripts/rbm.py's chains (and its filters after
#: each epoch, see :func:`epoch_filters_file`), scripts/hmc.py's samples and figure.
SAMPLES_FIGURE = "samples.png"
SAMPLES_ARRAYS = "samples.npz"
HMC_FIGURE = "hmc.png"
#: The log reproduce.py keeps beside a run.
TRAIN_LOG = "train.log"
#: What a training run writes: a folder holding any of them holds a run.
RUN_FILES = (CONFIG, HISTORY, BEST_MODEL, CHECKPOINT, SUMMARY, SNAPSHOTS, PRETRAINING_HISTORY,
             PRETRAINING_CHECKPOINT, LAYERS)
#: Where runs go when no folder is named, relative to the working directory.
DEFAULT_ROOT = "runs"


class RunDirError(Exception):
    """A run folder that cannot be used as asked; the message says why and what to do."""


class RunDirBusy(RunDirError):
    """Another process holds the run folder's lock (``pid``: its process id, if known)."""

    def __init__(self, message, pid=None):
        super().__init__(message)
        self.pid = pid


class RunDirWriteError(RunDirError, OSError):
    """Writing into a run folder failed: ``path`` and the reason (an ``OSError`` or text)."""

    def __init__(self, path, error, doing="write"):
        reason = error.strerror or str(error) if isinstance(error, OSError) else str(error)
        super().__init__("cannot %s %s (%s)" % (doing, path, reason))
        self.path, self.error = path, error
        self.errno = getattr(error, "errno", None)


def snapshot_file(epoch):
    """The run-folder name of the ``--save-every`` snapshot after ``epoch``."""
    return os.path.join(SNAPSHOTS, "epoch_%04d.npz" % epoch)


def epoch_filters_file(epoch):
    """The run-folder name of the filters image after ``epoch`` (0-based, as the tutorial's
    rbm.py names it)."""
    return "filters_at_epoch_%d.png" % epoch


def layer_file(index):
    """The run-folder name of pre-trained layer ``index``'s parameters (0-based)."""
    return os.path.join(LAYERS, "%02d.npz" % index)


def layer_filters_file(name):
    """The run-folder name of the filter image of the pre-trained layer called ``name``:
    ``filters_<name>.png``, the name in lower case with runs of other characters than
    letters and digits as one ``_`` ("corruption 30%" -> ``filters_corruption_30.png``)."""
    slug = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_") or "layer"
    return "filters_%s.png" % slug


def _regular_file(path):
    """True if ``path`` is a regular file (links followed); False if absent.  Anything else
    there (a folder, a pipe, a device) raises RunDirError: reading it could hang."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return False
    except OSError as error:
        raise RunDirError("cannot read %s (%s)" % (path, error.strerror or error)) from None
    if not stat.S_ISREG(info.st_mode):
        raise RunDirError("%s is not a regular file" % path)
    return True


def _is_link(path):
    """True if ``path`` is a symbolic link or a regular file with more than one name."""
    try:
        info = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISLNK(info.st_mode) or (stat.S_ISREG(info.st_mode) and info.st_nlink > 1)


class RunDir:
    """One run folder.

    ``RunDir(path)`` only names it (to read it, or for a :class:`~dltut.training.Trainer` in a
    notebook, which locks it while it trains).  The command-line front end claims one with
    :meth:`create` (a new run) or :meth:`open` (``--resume``), which lock it at once.
    """

    def __init__(self, path):
        self.path = os.fspath(path)
        self._lock_fd = None
        self._lock_created = False
        self._created = []      # folders this object created, outermost first
        self._written = set()   # names written by this object

    def __fspath__(self):
        return self.path

    def __str__(self):
        return self.path

    def __repr__(self):
        return "RunDir(%r)" % self.path

    def file(self, name):
        """The path of run-folder file ``name`` (e.g. ``CHECKPOINT``)."""
        return os.path.join(self.path, name)

    def has(self, name):
        return os.path.lexists(self.file(name))

    def run_files(self):
        """The run files present (see :data:`RUN_FILES`), in that order."""
        return [name for name in RUN_FILES if self.has(name)]

    # ----------------------------------------------------------------- claiming
    @classmethod
    def create(cls, path=None, script="run", root=DEFAULT_ROOT):
        """Claim a folder for a new run and lock it.

        With ``path``: that folder, created if missing; refused if it holds a run already
        (:class:`RunDirError`) or another process writes to it (:class:`RunDirBusy`).
        Without: a new ``<root>/<script>-<YYYYmmdd-HHMMSS>`` folder, with ``-2``, ``-3``, ...
        appended when a run started in the same second took the name.
        """
        if path is None:
            run = cls._unique(root, script)
        else:
            run = cls(path)
            if os.path.lexists(run.path) and not os.path.isdir(run.path):
                raise RunDirError("%s exists and is not a folder; choose another --out" % run.path)
            try:
                run._created = ckpt.make_dirs(run.path)
            except OSError as error:
                raise RunDirWriteError(run.path, error, "create the run folder") from None
        try:
            run.lock()
            held = run.run_files()
            if held:
                raise RunDirError(
                    "%s already holds a run (%s); continue it with --resume %s, or choose "
                    "another --out" % (run.path, ", ".join(held), run.path))
        except BaseException:
            run.abandon()
            raise
        return run

    @classmethod
    def _unique(cls, root, script):
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        base = os.path.join(root, "%s-%s" % (script, stamp))
        try:
            created = ckpt.make_dirs(root)
        except OSError as error:
            raise RunDirWriteError(root, error, "create the folder") from None
        number = 1
        while True:
            path = base if number == 1 else "%s-%d" % (base, number)
            try:
                os.mkdir(path)
            except FileExistsError:
                number += 1
                continue
            except OSError as error:
                raise RunDirWriteError(path, error, "create the run folder") from None
            run = cls(path)
            run._created = created + [os.path.abspath(path)]
            return run

    @classmethod
    def open(cls, path):
        """Claim the existing run folder ``path`` to continue its run, and lock it."""
        run = cls(path)
        if not os.path.isdir(run.path):
            raise RunDirError("no run folder at %s" % run.path)
        run.lock()
        if not run.has(CONFIG):
            run.unlock()
            raise RunDirError("%s holds no %s, so there is no run to resume there; start one "
                              "with --out %s" % (run.path, CONFIG, run.path))
        return run

    # ----------------------------------------------------------------- the lock
    @property
    def locked(self):
        return self._lock_fd is not None

    def lock(self):
        """Take the folder's lock (non-blocking), creating the folder if needed;
        :class:`RunDirBusy` if another process holds it."""
        if self._lock_fd is not None:
            return
        path = self.file(LOCK)
        try:
            self._created += ckpt.make_dirs(self.path)
            if _is_link(path):  # a lock file is never a link (symbolic or hard): replace it
                os.unlink(path)
            existed = os.path.lexists(path)
            fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NONBLOCK", 0)
                         | getattr(os, "O_NOFOLLOW", 0), 0o666)  # a pipe: refused below
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                os.close(fd)
                raise OSError(errno.EINVAL, "%s is not a regular file (remove it)" % LOCK)
        except OSError as error:
            raise RunDirWriteError(self.path, error, "write in the run folder") from None
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as error:
                holder = os.read(fd, 64).decode("ascii", "replace").strip()
                os.close(fd)
                if error.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise RunDirWriteError(path, error, "lock") from None
                pid = int(holder) if holder.isdigit() else None
                raise RunDirBusy("%s is in use by process %s, another run writing to it; wait "
                                 "for it to end, or choose another folder"
                                 % (self.path, pid if pid is not None else "(unknown pid)"),
                                 pid) from None
        try:
            os.ftruncate(fd, 0)
            os.write(fd, b"%d\n" % os.getpid())
        except OSError as error:
            os.close(fd)
            raise RunDirWriteError(path, error) from None
        self._lock_fd = fd
        self._lock_created = not existed

    def unlock(self):
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def held(self):
        """A context manager holding the lock inside (released after only if taken here)."""
        return _Held(self)

    def abandon(self):
        """Undo a claim whose run never started: remove the files written through this
        object, the lock file if it made it, and the folders :meth:`create` made (when
        empty), then let go of the lock."""
        for name in sorted(self._written, reverse=True):
            try:
                os.unlink(self.file(name))
            except OSError:
                pass
        self._written.clear()
        if self._lock_fd is not None and self._lock_created:
            try:
                os.unlink(self.file(LOCK))
            except OSError:
                pass
        self.unlock()
        ckpt.remove_dirs(self._created)
        self._created = []

    # ----------------------------------------------------------------- writing
    def make_folder(self, name):
        """The path of subfolder ``name`` (``trials/x``: several levels), each level made if
        missing and refused (:class:`RunDirWriteError`) when it is a symbolic link (a link
        could lead out of the folder) or not a folder."""
        folder = self.path
        for part in [p for p in name.split(os.sep) if p]:
            folder = os.path.join(folder, part)
            if os.path.islink(folder):
                raise RunDirWriteError(folder, "it is a symbolic link; refusing to write through "
                                               "it (remove the link)", "write into")
            try:
                os.mkdir(folder)
            except FileExistsError:
                if not os.path.isdir(folder):
                    raise RunDirWriteError(folder, "it is not a folder", "write into") from None
            except OSError as error:
                raise RunDirWriteError(folder, error, "create") from None
        return folder

    def _target(self, name):
        """Path for writing run-folder file ``name``; its subfolders are made, and refused
        when they are symbolic links (see :meth:`make_folder`)."""
        folder, base = os.path.split(name)
        return os.path.join(self.make_folder(folder), base)

    def open_append(self, name):
        """File descriptor appending to file ``name`` of the folder (a log), never through a
        link (:func:`dltut.runs.checkpoint.open_for_append`); RunDirWriteError naming the file
        and the reason otherwise."""
        path = self._target(name)
        try:
            fd = ckpt.open_for_append(path)
        except OSError as error:
            raise RunDirWriteError(path, error, "append to") from None
        return fd

    def check_appendable(self, name):
        """RunDirWriteError if file ``name`` is there but could not be appended to (a link,
        a hard link, not a regular file); nothing is created or changed."""
        path = self.file(name)
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            return
        except OSError as error:
            raise RunDirWriteError(path, error, "append to") from None
        reason = ckpt.append_refusal(info)
        if reason is not None:
            raise RunDirWriteError(path, reason, "append to")

    def write_with(self, name, writer):
        """Write run-folder file ``name`` by calling ``writer(path)`` (which must write
        atomically, as everything in :mod:`dltut.runs.checkpoint` does); returns the path."""
        path = self._target(name)
        try:
            writer(path)
        except OSError as error:
            raise RunDirWriteError(path, error) from None
        self._written.add(name)
        return path

    def write_bytes(self, name, data):
        return self.write_with(name, lambda path: ckpt.atomic_write(path, data))

    def write_json(self, name, value):
        return self.write_bytes(name, (ckpt.to_json(value, indent=2) + "\n").encode())

    def append_history(self, record, name=HISTORY):
        """Append one record to ``history.jsonl`` (or the JSON-lines file ``name``, e.g.
        :data:`PRETRAINING_HISTORY`), never through a link; a failed append is cut back
        off, so the file stays whole lines.  A hard link there is refused too (a resumed run
        rewrites the file from its checkpoint first, which replaces any link)."""
        line = (ckpt.to_json(record) + "\n").encode()
        fd = self.open_append(name)
        path = self.file(name)
        try:
            size = os.fstat(fd).st_size
            try:
                view = memoryview(line)
                while view:
                    view = view[os.write(fd, view):]
            except BaseException:
                try:
                    os.ftruncate(fd, size)
                except OSError:
                    pass
                raise
        except OSError as error:
            raise RunDirWriteError(path, error, "append to") from None
        finally:
            os.close(fd)
        self._written.add(name)

    def write_history(self, records, name=HISTORY):
        """Replace ``history.jsonl`` (or the JSON-lines file ``name``) with ``records``."""
        text = "".join(ckpt.to_json(record) + "\n" for record in records)
        return self.write_bytes(name, text.encode())

    def save_checkpoint(self, state, meta=None, name=CHECKPOINT):
        """Atomically write ``checkpoint.npz`` (or ``name``, e.g.
        ``PRETRAINING_CHECKPOINT``) from a trainer's ``state_dict()``."""
        return self.write_with(name, lambda path: ckpt.save_checkpoint(path, state, meta))

    def save_best_model(self, values, meta=None):
        return self.write_with(BEST_MODEL, lambda path: ckpt.save_params(path, values, meta))

    def save_snapshot(self, epoch, values, meta=None):
        return self.write_with(snapshot_file(epoch),
                               lambda path: ckpt.save_params(path, values, meta))

    def save_layer(self, index, values, meta=None):
        """Save pre-trained layer ``index``'s parameters to ``layers/NN.npz``."""
        return self.write_with(layer_file(index), lambda path: ckpt.save_params(path, values, meta))

    def remove(self, name):
        """Delete run-folder file ``name`` if present (a link is removed, not followed)."""
        try:
            os.unlink(self.file(name))
        except FileNotFoundError:
            pass
        except OSError as error:
            raise RunDirWriteError(self.file(name), error, "remove") from None

    # ----------------------------------------------------------------- reading
    def read_json(self, name):
        """The JSON document in run-folder file ``name``; None when there is no such file."""
        path = self.file(name)
        if not _regular_file(path):
            return None
        try:
            with open(path, encoding="utf-8") as handle:
                return json.load(handle)
        except (OSError, UnicodeDecodeError, ValueError) as error:
            raise RunDirError("%s is not readable JSON (%s)" % (path, error)) from None

    def read_config(self):
        """``config.json`` as a dict with an ``args`` dict; RunDirError otherwise."""
        config = self.read_json(CONFIG)
        if config is None:
            raise RunDirError("%s holds no %s" % (self.path, CONFIG))
        if not isinstance(config, dict) or not isinstance(config.get("args"), dict):
            raise RunDirError("%s is damaged: it must be a JSON object whose \"args\" is an "
                              "object of settings" % self.file(CONFIG))
        return config

    def read_history(self, name=HISTORY):
        """The records of ``history.jsonl`` (or of ``name``); [] when there is none yet."""
        path = self.file(name)
        if not _regular_file(path):
            return []
        try:
            return ckpt.read_records(path)
        except ckpt.CheckpointError as error:
            raise RunDirError(str(error)) from None
        except (OSError, UnicodeDecodeError) as error:
            raise RunDirError("cannot read %s (%s)" % (path, error)) from None

    def load_checkpoint(self, name=CHECKPOINT):
        """``(state, meta)`` from ``checkpoint.npz`` or ``name`` (see
        :func:`dltut.runs.checkpoint.load_checkpoint`)."""
        return ckpt.load_checkpoint(self.file(name))

    def load_params(self, name=BEST_MODEL):
        """``(values, meta)`` of a parameter file in the folder (the best model by default)."""
        return ckpt.load_params(self.file(name))

    def snapshots(self):
        """Run-folder names of the snapshots present, in epoch order."""
        folder = self.file(SNAPSHOTS)
        if not os.path.isdir(folder):
            return []
        return [os.path.join(SNAPSHOTS, name) for name in sorted(os.listdir(folder))
                if name.endswith(".npz")]

    def layers(self):
        """``[(index, run-folder name)]`` of the pre-trained layers saved, in order."""
        folder = self.file(LAYERS)
        if not os.path.isdir(folder):
            return []
        found = []
        for name in sorted(os.listdir(folder)):
            stem, ext = os.path.splitext(name)
            if ext == ".npz" and stem.isdigit():
                found.append((int(stem), os.path.join(LAYERS, name)))
        return found


class _Held:
    def __init__(self, run):
        self.run, self.taken = run, False

    def __enter__(self):
        if not self.run.locked:
            self.run.lock()
            self.taken = True
        return self.run

    def __exit__(self, *exc):
        if self.taken:
            self.run.unlock()
        return False


def as_run_dir(value):
    """None, a :class:`RunDir`, or a path made into one."""
    if value is None or isinstance(value, RunDir):
        return value
    return RunDir(value)
