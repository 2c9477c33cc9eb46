"""Tiny datasets and models for the trainer tests (tests/training/test_trainer.py,
tests/training/test_resume.py).

Everything here is small enough that a whole training run takes a fraction of a second:
a few hundred examples of 16 features, 3 classes.  Randomness is explicit (a seed per call).
"""
import numpy

import dltut  # noqa: F401  (Theano set-up before anything imports theano)
import theano
import theano.tensor as T

from _helpers import softmax, tolerances  # noqa: F401 -- softmax: the tests' name
from dltut.data import shared_dataset
from dltut.layers import LogisticRegression
from dltut.models import MLP

N_FEATURES = 16
N_CLASSES = 3


def blobs(n, seed=0, n_features=N_FEATURES, n_classes=N_CLASSES, spread=1.0, centers_seed=1234):
    """``n`` examples from ``n_classes`` Gaussian blobs: x float64 (n, n_features), y int64 (n,).

    The class centres come from ``centers_seed`` (shared by the train/valid/test splits), the
    examples from ``seed``.  The centres are about 4.5 apart and each blob has standard
    deviation ``spread`` per feature, so with spread=1 the classes overlap a little (a linear
    model gets a few per cent wrong), never enough for chance (67 % wrong) to look good.
    """
    centers = numpy.random.RandomState(centers_seed).normal(0.0, 0.8, size=(n_classes, n_features))
    rng = numpy.random.RandomState(seed)
    y = numpy.arange(n) % n_classes
    rng.shuffle(y)
    x = centers[y] + rng.normal(0.0, spread, size=(n, n_features))
    return x, y.astype(numpy.int64)


def splits(sizes=(300, 100, 100), seed=0, **kwargs):
    """Train, validation and test ``(x, y)`` numpy pairs from :func:`blobs`."""
    return [blobs(n, seed=seed + 17 * i, **kwargs) for i, n in enumerate(sizes)]


def shared(split_list):
    """The tutorial's six shared variables: ``[(shared_x, int32 y), ...]``."""
    return [shared_dataset(x, y) for x, y in split_list]


def symbols():
    """The tutorial's ``x = T.matrix('x')``, ``y = T.ivector('y')``."""
    return T.matrix("x"), T.ivector("y")


def logreg(n_in=N_FEATURES, n_out=N_CLASSES):
    """``(model, x, y)``: a zero-initialised LogisticRegression on fresh symbols."""
    x, y = symbols()
    return LogisticRegression(x, n_in, n_out), x, y


def mlp(seed=1234, n_in=N_FEATURES, n_hidden=8, n_out=N_CLASSES):
    """``(model, x, y)``: an MLP(n_in-n_hidden-n_out, tanh) whose weights come from ``seed``."""
    x, y = symbols()
    return MLP(numpy.random.RandomState(seed), x, n_in, n_hidden, n_out), x, y


# ------------------------------------------------------------------ numpy references
def forward(values, x):
    """Class probabilities of a dense model (LogisticRegression or tanh MLP) in numpy.

    ``values`` is ``model.get_params_values()``: ``[W_1, b_1, ..., W_out, b_out]``.
    """
    h = numpy.asarray(x, dtype=numpy.float64)
    pairs = [(numpy.asarray(values[i], numpy.float64), numpy.asarray(values[i + 1], numpy.float64))
             for i in range(0, len(values), 2)]
    for W, b in pairs[:-1]:
        h = numpy.tanh(h.dot(W) + b)
    W, b = pairs[-1]
    return softmax(h.dot(W) + b)


def error_rate(values, x, y):
    """Fraction of ``(x, y)`` misclassified by the dense model with parameter ``values``."""
    return float(numpy.mean(forward(values, x).argmax(axis=1) != y))


def logreg_grads(W, b, x, y):
    """Gradient of the mean negative log-likelihood of softmax(x W + b) w.r.t. W and b.

    ``d/dz mean(-log softmax(z)[y]) = (p - onehot(y)) / n``, so
    ``dW = x^T (p - onehot(y)) / n`` and ``db = mean over rows of (p - onehot(y))``.
    """
    x = numpy.asarray(x, numpy.float64)
    p = softmax(x.dot(W) + b)
    delta = p - numpy.eye(W.shape[1])[y]
    return x.T.dot(delta) / len(y), delta.mean(axis=0)


def floatX(value):
    return numpy.asarray(value, dtype=theano.config.floatX)


def tolerance():
    """(rtol, atol) that a float32 run must meet; float64 is held much tighter (the "exact"
    row of _helpers.TOLERANCES)."""
    tol = tolerances("exact")
    return tol["rtol"], tol["atol"]
