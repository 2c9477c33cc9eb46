"""Logistic regression trained by conjugate gradients (the tutorial's ``logistic_cg.py``).

The model is dltut's :class:`~dltut.layers.LogisticRegression` whose ``W`` and ``b`` are
views of one flat shared vector ``theta`` (``W = theta[:n_in * n_out]`` reshaped to
(n_in, n_out), ``b = theta[n_in * n_out:]``), the form ``scipy.optimize.fmin_cg`` works on.
:class:`dltut.training.CGOptimizer` holds the tutorial's three functions of a ``theta`` value:

* ``train_fn(theta)``: the training cost, the mean over the training set's minibatches of
  the mean negative log-likelihood;
* ``train_fn_grad(theta)``: its gradient, the mean of the minibatch gradients;
* ``callback(theta)``: after each CG iteration, the validation error (logged as the tutorial
  does) and, at a new best, the test error;

and hands them to ``fmin_cg``, inside the loop shell the other loops have: the run folder
(``history.jsonl`` with one record per iteration, ``best_model.npz`` as an ordinary
LogisticRegression, ``checkpoint.npz`` after every iteration), Ctrl-C (stops after the
current iteration) and resume.
"""
import numpy
import theano

from . import checks
from .init import zeros
from .layers import LogisticRegression

__all__ = ["LogisticRegressionCG"]


class LogisticRegressionCG(LogisticRegression):
    """The tutorial's logistic regression with one flat parameter vector ``theta``.

    ``theta`` (shape ``(n_in * n_out + n_out,)``, zeros) is the only parameter; ``W``
    (n_in, n_out) and ``b`` (n_out,) are symbolic views of it, so ``p_y_given_x``,
    ``y_pred``, ``negative_log_likelihood`` and ``errors`` are
    :class:`~dltut.layers.LogisticRegression`'s.

    Attributes
    ----------
    theta : shared variable;  params : ``[theta]``
    """

    def __init__(self, input, n_in, n_out):
        n_in, n_out = checks.positive_int(n_in, "n_in"), checks.positive_int(n_out, "n_out")
        self.theta = theano.shared(zeros((n_in * n_out + n_out,)), name="theta", borrow=True)
        # theta[:n_in*n_out] -> (n_in, n_out);  theta[n_in*n_out:] -> (n_out,)
        W = self.theta[0:n_in * n_out].reshape((n_in, n_out))
        b = self.theta[n_in * n_out:n_in * n_out + n_out]
        super().__init__(input, n_in, n_out, W=W, b=b)
        self.params = [self.theta]

    def unflatten(self, theta_value):
        """``[W, b]`` arrays from a theta value: what a LogisticRegression's ``params`` hold."""
        theta_value = numpy.asarray(theta_value)
        split = self.n_in * self.n_out
        return [theta_value[:split].reshape(self.n_in, self.n_out).copy(),
                theta_value[split:].copy()]

    def spec(self):
        """A LogisticRegression's spec: :meth:`unflatten`'s ``[W, b]`` load into one."""
        return {"name": "LogisticRegression", "n_in": self.n_in, "n_out": self.n_out}

    def __repr__(self):
        return "LogisticRegressionCG(n_in=%d, n_out=%d)" % (self.n_in, self.n_out)


def __getattr__(name):
    """``dltut.cg.CGOptimizer`` and ``CGState`` (there until issue 24) still import, for one
    release, from their new place :mod:`dltut.training.cg`, with a DeprecationWarning."""
    if name in ("CGOptimizer", "CGState", "CG_STOP_REASONS"):
        import importlib
        import warnings
        warnings.warn("dltut.cg.%s has moved to dltut.training.cg; import it from dltut.training "
                      "instead (the old place goes in dltut 0.3)" % name, DeprecationWarning,
                      stacklevel=2)
        return getattr(importlib.import_module("dltut.training.cg"), name)
    raise AttributeError("module %r has no attribute %r" % (__name__, name))
