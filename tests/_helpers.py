"""Helpers several test files share, in one place: the floatX tolerances (one table), the
numpy softmax, whether a compiled function runs its Scan in C, and comparing two runs (their
JSON-lines records without the times, their arrays bit for bit).

``conftest.py``'s ``tol`` fixture and ``ref.softmax``, and ``_tiny.py``'s ``tolerance()`` and
``softmax``, all read these.  (The other shared modules: ``_tiny.py``, tiny datasets and
models; ``_cli.py``, running the scripts; ``_processes.py``, signals.)
"""
import json

import dltut  # noqa: F401  (Theano set-up before anything imports theano)
import numpy
import theano
from theano.scan_module.scan_op import Scan

#: ``assert_allclose`` tolerances by floatX and by how much the result is checked:
#: "graph": a model's output or gradient through a chain of Theano ops (the ``tol`` fixture);
#: "exact": a short computation whose float32 result must stay within a few units in the last
#: place of float64 (the tiny trainer tests' ``tolerance()``).
TOLERANCES = {
    "graph": {"float32": {"rtol": 1e-4, "atol": 1e-5}, "float64": {"rtol": 1e-10, "atol": 1e-12}},
    "exact": {"float32": {"rtol": 1e-5, "atol": 1e-6}, "float64": {"rtol": 1e-12, "atol": 1e-14}},
}


def tolerances(level="graph", floatX=None):
    """``{"rtol": ..., "atol": ...}`` for ``level`` in the current (or the given) floatX."""
    return dict(TOLERANCES[level][floatX or theano.config.floatX])


def softmax(z):
    """Row-wise softmax, shifted by the row maximum for stability."""
    e = numpy.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def scan_thunks(f):
    """The thunks of the Scan nodes of the compiled function ``f``."""
    return [t for t, node in zip(f.fn.thunks, f.fn.nodes) if isinstance(node.op, Scan)]


def uses_compiled_scan(f):
    """True if every Scan of ``f`` runs compiled (dltut.compat.scan), not Scan's Python loop."""
    thunks = scan_thunks(f)
    assert thunks, "no Scan node in the compiled function"
    return all(getattr(t.perform, "__func__", None) is not Scan.execute for t in thunks)


def assert_one_error(kind, build, fragments):
    """``build()`` raises ``kind`` in one line holding each of ``fragments`` and a
    ``; <what to do>`` part (the library's argument checks, dltut.checks)."""
    import pytest
    with pytest.raises(kind) as info:
        build()
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, message
    assert "; " in message and "\n" not in message, message


def without_elapsed(history):
    """The records of a history without their ``elapsed`` times (which differ run to run)."""
    return [{k: v for k, v in record.items() if k != "elapsed"} for record in history]


def read_jsonl(path):
    """The records of a JSON-lines file (a run folder's history)."""
    with open(path) as handle:
        return [json.loads(line) for line in handle]


def assert_same_arrays(a, b):
    """Two lists of arrays are equal bit for bit, dtypes and shapes included."""
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert x.dtype == y.dtype and x.shape == y.shape
        numpy.testing.assert_array_equal(x, y)
