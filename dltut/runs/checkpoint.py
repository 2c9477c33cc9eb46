"""Files, written atomically and read back defensively: the formats a run folder holds.

Parameter files are ``.npz`` archives holding plain ndarrays (never compiled functions or
whole objects, the tutorial's advice) plus one JSON document, ``meta``:

* ``param_000``, ``param_001``, ... -- the model's parameters in ``model.params`` order;
* other prefixes (``best_``, ``opt_``) for the trainer's extra arrays;
* ``meta`` -- a 0-d string array with JSON (model spec, trainer state, config, ...).

:func:`atomic_write` is the package's one way to write a file: a temporary file in the same
folder, flushed and fsync'ed, renamed over the target, and the folder fsync'ed, so an
interruption (Ctrl-C, ``kill -9``, a full disk) leaves either the old file or the new one,
never half of one.  A symbolic link at the target is replaced, never written through.

JSON is written strictly (:func:`to_json`): a non-finite float becomes ``null``, since
``NaN`` and ``Infinity`` are not JSON.  :func:`read_records` reads the JSON-lines history a
run folder keeps beside the parameter files.  Which file is which inside a run folder is
:mod:`dltut.runs.rundir`'s business; this module only knows formats.
"""
import errno
import hashlib
import io
import json
import math
import os
import stat
import tempfile
import zipfile

import numpy

from ..runtime.memory import MemoryLimitError, check_fits

__all__ = ["CHECKPOINT_FORMAT", "CHECKPOINT_VERSION", "CheckpointError", "new_file_mode",
           "fsync_dir", "make_dirs", "remove_dirs", "atomic_write", "open_for_append",
           "append_refusal", "printable", "finite_or_none", "to_json", "save_arrays",
           "load_arrays", "numbered", "unnumbered", "save_params", "load_params", "load_into",
           "save_checkpoint", "load_checkpoint", "read_records"]

#: Identifies a training checkpoint (as opposed to a plain parameter file).
CHECKPOINT_FORMAT = "dltut-checkpoint"
CHECKPOINT_VERSION = 1


class CheckpointError(ValueError):
    """A parameter file is missing, unreadable or does not fit the model."""


# --------------------------------------------------------------------------- atomic writes
def new_file_mode(path):
    """Permissions for a file written at ``path``: those of the regular file it replaces,
    else 0666 less the umask (what ``open()`` would give)."""
    try:
        info = os.lstat(path)
        if stat.S_ISREG(info.st_mode):
            return info.st_mode & 0o7777
    except OSError:
        pass
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def fsync_dir(directory):
    """Make a rename in ``directory`` durable (best effort: not every OS allows it)."""
    try:
        fd = os.open(os.fspath(directory), os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def make_dirs(path):
    """``os.makedirs(path)``, returning the folders it created, outermost first (so that
    whoever made them can remove them again)."""
    missing = []
    folder = os.path.abspath(os.fspath(path))
    while not os.path.lexists(folder):
        missing.append(folder)
        parent = os.path.dirname(folder)
        if parent == folder:
            break
        folder = parent
    created = []
    for folder in reversed(missing):
        try:
            os.mkdir(folder)
        except FileExistsError:
            continue
        created.append(folder)
    return created


def remove_dirs(created):
    """Remove the folders :func:`make_dirs` created, innermost first, while they are empty."""
    for folder in reversed(created):
        try:
            os.rmdir(folder)
        except OSError:
            break


def atomic_write(path, data, verify=None):
    """Write ``data`` to ``path`` so that ``path`` is never half-written.

    Parameters
    ----------
    path : path-like
        The file to (re)place.  Its folder is created if missing.  A symbolic link there is
        replaced by the new file; the file it pointed to is left alone.
    data : bytes or iterable of bytes
        The content, whole or in chunks (a download streams through without being held).
    verify : callable(hex_md5), optional
        Called with the md5 of everything written before the file takes ``path``'s place;
        whatever it raises aborts the write (a checksum mismatch, say).

    The new file gets the permissions of the file it replaces, else 0666 less the umask.
    On any failure, an interruption included, the temporary file is removed and ``path``
    keeps its previous content.

    Returns
    -------
    str
        The hex md5 of what was written.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    chunks = [data] if isinstance(data, (bytes, bytearray, memoryview)) else data
    mode = new_file_mode(path)
    digest = hashlib.md5()
    fd, tmp = tempfile.mkstemp(dir=folder, prefix="." + os.path.basename(path) + ".",
                               suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            for chunk in chunks:
                digest.update(chunk)
                handle.write(chunk)
            handle.flush()
            os.chmod(tmp, mode)  # mkstemp made it 0600
            os.fsync(handle.fileno())
        got = digest.hexdigest()
        if verify is not None:
            verify(got)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    fsync_dir(folder)
    return got


# --------------------------------------------------------------------------- appends
def open_for_append(path):
    """A file descriptor appending to ``path`` (created if missing), never through a link.

    The one way dltut appends (a run's ``history.jsonl``, a search's ``train.log`` and
    ``workers.log``): a symbolic link at ``path`` is not followed, and a hard link (a file
    with more than one name, which may be a file of someone else's outside the folder), a
    folder, a pipe or a device is refused; each refusal is an ``OSError`` whose
    ``strerror`` says why and what to do.
    """
    path = os.fspath(path)
    try:
        # O_NONBLOCK: opening a pipe nobody reads would wait forever (refused below)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT
                     | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0),
                     new_file_mode(path))
    except OSError as error:  # a link (ELOOP), a pipe nobody reads (ENXIO), ...
        try:
            reason = append_refusal(os.lstat(path))
        except OSError:
            reason = None
        if reason is None:
            raise
        raise OSError(error.errno, reason, path) from None
    try:
        info = os.fstat(fd)
        reason = append_refusal(info)
        if reason is not None:
            raise OSError(errno.EMLINK if stat.S_ISREG(info.st_mode) else errno.EINVAL,
                          reason, path)
    except BaseException:
        os.close(fd)
        raise
    return fd


def append_refusal(info):
    """Why a file with ``os.lstat`` (or ``os.fstat``) result ``info`` must not be appended
    to, or None when it may: see :func:`open_for_append`."""
    if stat.S_ISLNK(info.st_mode):
        return "it is a symbolic link; refusing to write through it (remove the link)"
    if not stat.S_ISREG(info.st_mode):
        return "it is not a regular file; refusing to write to it (remove it)"
    if info.st_nlink > 1:
        return ("it is a hard link (a file with %d names, maybe one outside the folder); "
                "refusing to write through it (remove it)" % info.st_nlink)
    return None


def printable(value):
    """``value`` as text that is safe to print into a log or a terminal: every character
    that is not printable (newline, carriage return, ESC and the other control characters,
    undecodable bytes of a file name) is written as Python escapes it (``\\n``, ``\\r``,
    ``\\x1b``, ``\\udcff``), so a value read from a file can neither start a line of
    its own nor move the cursor.  Everything else is unchanged."""
    text = os.fsdecode(value) if isinstance(value, bytes) else str(value)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


# --------------------------------------------------------------------------- strict JSON
def finite_or_none(value):
    """``value`` with every non-finite float (NaN, +-inf) replaced by None, recursively;
    numpy scalars and arrays become plain Python values."""
    if isinstance(value, dict):
        return {key: finite_or_none(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_or_none(item) for item in value]
    if isinstance(value, numpy.ndarray):
        return finite_or_none(value.tolist())
    if isinstance(value, numpy.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def to_json(value, indent=None):
    """Strict JSON text of ``value`` (see :func:`finite_or_none`); keys sorted when indented."""
    return json.dumps(finite_or_none(value), allow_nan=False, indent=indent,
                      sort_keys=indent is not None)


# --------------------------------------------------------------------------- .npz files
def save_arrays(path, arrays, meta=None):
    """Atomically save a ``{name: ndarray}`` dict and a JSON-able ``meta`` dict to ``path``."""
    if "meta" in arrays:
        raise ValueError("'meta' is reserved for the JSON document")
    buffer = io.BytesIO()
    numpy.savez(buffer, meta=numpy.array(to_json(meta or {})), **arrays)
    atomic_write(path, buffer.getvalue())


def _check_members(path):
    """Read every member's ``.npy`` header and refuse, before anything is allocated, an
    archive whose headers claim more bytes than the members hold or than memory can take."""
    total = 0
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            with archive.open(info) as member:
                version = numpy.lib.format.read_magic(member)
                if version == (1, 0):
                    shape, _, dtype = numpy.lib.format.read_array_header_1_0(member)
                else:
                    shape, _, dtype = numpy.lib.format.read_array_header_2_0(member)
            if dtype.hasobject:
                raise ValueError("member %s holds Python objects, not plain numbers"
                                 % info.filename)
            n_bytes = math.prod(shape) * dtype.itemsize
            if n_bytes > info.file_size:
                raise ValueError("member %s claims shape %s (%d bytes) but holds %d bytes"
                                 % (info.filename, shape, n_bytes, info.file_size))
            total += info.file_size
    check_fits(total, "the arrays in %s" % path, "is it the file you meant?")


def load_arrays(path):
    """``({name: ndarray}, meta)`` from a file written by :func:`save_arrays`."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise CheckpointError("no parameter file at %s" % path)
    try:
        _check_members(path)
        loaded = numpy.load(path, allow_pickle=False)
        if not isinstance(loaded, numpy.lib.npyio.NpzFile):
            raise ValueError("it holds a single array, not an .npz archive")
        with loaded as archive:
            arrays = {name: archive[name] for name in archive.files}
        meta = json.loads(str(arrays.pop("meta"))) if "meta" in arrays else {}
        if not isinstance(meta, dict):
            raise ValueError("its meta document is a %s, not a JSON object" % type(meta).__name__)
    except MemoryLimitError as error:
        raise CheckpointError("%s: %s" % (path, error)) from None
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, KeyError) as error:
        raise CheckpointError("%s is not a readable dltut parameter file (%s: %s); it may be "
                              "truncated or corrupt" % (path, type(error).__name__, error)) from None
    return arrays, meta


def numbered(prefix, values):
    """``{prefix_000: v0, prefix_001: v1, ...}``."""
    return {"%s_%03d" % (prefix, i): numpy.asarray(v) for i, v in enumerate(values)}


def unnumbered(arrays, prefix):
    """The list saved by :func:`numbered` under ``prefix``, in order."""
    names = sorted(name for name in arrays if name.startswith(prefix + "_"))
    return [arrays[name] for name in names]


def save_params(path, values, meta=None):
    """Save a list of parameter arrays (``model.get_params_values()``) and ``meta``."""
    save_arrays(path, numbered("param", values), meta)


def load_params(path):
    """``(values, meta)``: the parameter arrays in order and the JSON document."""
    arrays, meta = load_arrays(path)
    values = unnumbered(arrays, "param")
    if not values:
        raise CheckpointError("%s holds no parameters (no param_000 array)" % os.fspath(path))
    return values, meta


def load_into(model, path):
    """Load a parameter file into ``model``; a shape or dtype mismatch raises CheckpointError."""
    values, meta = load_params(path)
    try:
        model.set_params_values(values)
    except ValueError as error:
        raise CheckpointError("%s does not fit %r: %s" % (os.fspath(path), model, error)) from None
    return meta


# --------------------------------------------------------------------------- training checkpoints
#: The JSON parts of a trainer's state_dict(), stored in the checkpoint's meta as they are.
_STATE_DOCUMENTS = ("state", "patience", "schedule", "history", "config", "model")
#: The array lists of a trainer's state_dict() and their prefixes in the archive (the
#: pre-training loop's shared variables and its epoch's minibatch costs so far last).
_STATE_ARRAYS = (("params", "param"), ("optimizer_state", "opt"), ("best_params", "best"),
                 ("shared", "shared"), ("costs", "costs"))


def save_checkpoint(path, state, meta=None):
    """Save a trainer's ``state_dict()`` (plus extra JSON facts ``meta``) to ``path``."""
    arrays = {}
    for key, prefix in _STATE_ARRAYS:
        arrays.update(numbered(prefix, state.get(key) or []))
    document = dict(meta or {}, format=CHECKPOINT_FORMAT, version=CHECKPOINT_VERSION)
    document.update((key, state[key]) for key in _STATE_DOCUMENTS if key in state)
    save_arrays(path, arrays, document)


def load_checkpoint(path):
    """``(state, meta)``: a trainer's state as :func:`save_checkpoint` stored it, and the
    whole JSON document.  Only the format is checked here; ``Trainer.load_state`` checks
    that the state fits."""
    arrays, meta = load_arrays(path)
    if meta.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError("%s is not a dltut training checkpoint" % os.fspath(path))
    state = {key: meta[key] for key in _STATE_DOCUMENTS if key in meta}
    for key, prefix in _STATE_ARRAYS:
        state[key] = unnumbered(arrays, prefix)
    state["best_params"] = state["best_params"] or None
    return state, meta


# --------------------------------------------------------------------------- JSON lines
def read_records(path):
    """The JSON objects of a JSON-lines file (a run's ``history.jsonl``), in order.

    Blank lines are skipped.  Raises OSError if the file cannot be read and CheckpointError
    (naming the line) if a line is not a JSON object.
    """
    records = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError as error:
                raise CheckpointError("%s line %d is not JSON: %s" % (path, number, error)) from None
            if not isinstance(record, dict):
                raise CheckpointError("%s line %d is not a JSON object" % (path, number))
            records.append(record)
    return records
