"""Saving and loading parameter values, atomically.

Files are ``.npz`` archives holding plain ndarrays (never compiled functions or whole
objects, the tutorial's advice) plus one JSON document, ``meta``:

* ``param_000``, ``param_001``, ... -- the model's parameters in ``model.params`` order;
* other prefixes (``best_``, ``opt_``) for the trainer's extra arrays;
* ``meta`` -- a 0-d string array with JSON (model spec, trainer state, config, ...).

Every file is written to a temporary file in the same folder, flushed to disk and then
renamed over the target, so an interruption leaves either the old file or the new one,
never half of one.  :func:`read_records` reads the JSON-lines history a run folder keeps
beside them.
"""
import io
import json
import os
import tempfile
import zipfile

import numpy


class CheckpointError(ValueError):
    """A parameter file is missing, unreadable or does not fit the model."""


def atomic_write_bytes(path, data):
    """Write ``data`` to ``path`` through a temporary file and ``os.replace``."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix="." + os.path.basename(path) + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def save_arrays(path, arrays, meta=None):
    """Atomically save a ``{name: ndarray}`` dict and a JSON-able ``meta`` dict to ``path``."""
    if "meta" in arrays:
        raise ValueError("'meta' is reserved for the JSON document")
    buffer = io.BytesIO()
    numpy.savez(buffer, meta=numpy.array(json.dumps(meta or {})), **arrays)
    atomic_write_bytes(path, buffer.getvalue())


def load_arrays(path):
    """``({name: ndarray}, meta)`` from a file written by :func:`save_arrays`."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise CheckpointError("no parameter file at %s" % path)
    try:
        loaded = numpy.load(path, allow_pickle=False)
        if not isinstance(loaded, numpy.lib.npyio.NpzFile):
            raise ValueError("it holds a single array, not an .npz archive")
        with loaded as archive:
            arrays = {name: archive[name] for name in archive.files}
        meta = json.loads(str(arrays.pop("meta"))) if "meta" in arrays else {}
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, KeyError) as error:
        raise CheckpointError("%s is not a readable dltut parameter file (%s: %s); it may be "
                              "truncated or corrupt" % (path, type(error).__name__, error)) from None
    return arrays, meta


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
