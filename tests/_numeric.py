"""The numpy references and floatX tolerances every test shares (one table, one softmax).

``conftest.py``'s ``tol`` fixture and ``ref.softmax``, and ``_tiny.py``'s ``tolerance()`` and
``softmax``, all read these.
"""
import dltut  # noqa: F401  (Theano set-up before anything imports theano)
import numpy
import theano

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
