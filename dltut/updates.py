"""Update rules: pure functions from parameters and gradients to Theano ``updates``.

``sgd_updates`` is the tutorial's ``param <- param - learning_rate * grad``; the models
(:mod:`dltut.autoencoders`, :mod:`dltut.rbm`) and :func:`dltut.training.compile_functions`
build their updates with these.  The LSTM chapter's optimisers, :func:`sgd`,
:func:`adadelta` and :func:`rmsprop`, take their arguments the Lasagne way,
``(loss_or_grads, params, learning_rate, ...) -> updates`` (an ``OrderedDict``), and compute
what the tutorial's ``lstm.py`` computes in its two functions per optimiser (one storing the
gradient, one applying it) in one step.  A leaf: it imports only theano and numpy.
"""
from collections import OrderedDict
from decimal import Decimal

import numpy
import theano
import theano.tensor as T

__all__ = ["sgd_updates", "momentum_updates", "make_velocities", "updated_shared_variables",
           "get_or_compute_grads", "sgd", "adadelta", "rmsprop"]


def sgd_updates(params, grads, learning_rate):
    """Plain SGD: ``[(param, param - learning_rate * grad), ...]``."""
    return [(param, param - learning_rate * grad) for param, grad in zip(params, grads)]


def momentum_updates(params, grads, learning_rate, momentum, velocities):
    """Classical momentum: ``v <- momentum * v - learning_rate * grad``; ``param <- param + v``.

    ``velocities`` are shared variables shaped like ``params`` (see :func:`make_velocities`).
    """
    updates = []
    for param, grad, velocity in zip(params, grads, velocities):
        new_velocity = momentum * velocity - learning_rate * grad
        updates.append((velocity, new_velocity))
        updates.append((param, param + new_velocity))
    return updates


def make_velocities(params):
    """One zero shared variable per parameter, for :func:`momentum_updates`."""
    return [theano.shared(numpy.zeros_like(p.get_value(borrow=True)), name="v_" + str(p.name))
            for p in params]


def updated_shared_variables(function):
    """The shared variables a compiled Theano ``function`` changes when it is called.

    Those in its ``updates`` and those with a default update: the state of every
    ``MRG_RandomStreams`` draw in its graph.  That is what a checkpoint of a layer trained by
    ``function`` must hold (besides the data, which never changes) for the run to continue
    exactly: a :class:`dltut.training.PretrainLayer`'s ``params`` plus ``state``.
    """
    maker = getattr(function, "maker", None)
    if maker is None:
        raise ValueError("%r is not a compiled Theano function" % (function,))
    return [item.variable for item in maker.inputs
            if item.update is not None
            and isinstance(item.variable, theano.compile.SharedVariable)]


# ------------------------------------------------------------------ the LSTM chapter's rules
def get_or_compute_grads(loss_or_grads, params):
    """``T.grad(loss_or_grads, params)`` for a scalar loss; a list of gradients as it is.

    ValueError when a list's length differs from ``params``'s or a parameter is not a
    shared variable.
    """
    params = list(params)
    for param in params:
        if not isinstance(param, theano.compile.SharedVariable):
            raise ValueError("params must be shared variables, got %r" % (param,))
    if isinstance(loss_or_grads, (list, tuple)):
        if len(loss_or_grads) != len(params):
            raise ValueError("got %d gradients for %d params" % (len(loss_or_grads), len(params)))
        return list(loss_or_grads)
    return theano.grad(loss_or_grads, params)


def _complement(rho):
    """``1 - rho``, for a Python number as the decimals read (0.95 -> 0.05, where binary
    floating point gives 0.050000000000000044): the tutorial writes both constants out."""
    if isinstance(rho, (int, float)) and not isinstance(rho, bool):
        return float(Decimal(repr(1.0)) - Decimal(repr(float(rho))))
    return 1 - rho


def _zeros_like(param, suffix):
    value = param.get_value(borrow=True)
    return theano.shared(numpy.zeros(value.shape, dtype=value.dtype),
                         name="%s_%s" % (param.name, suffix), broadcastable=param.broadcastable)


def sgd(loss_or_grads, params, learning_rate):
    """Plain SGD the Lasagne way: ``param <- param - learning_rate * grad``."""
    grads = get_or_compute_grads(loss_or_grads, params)
    return OrderedDict((p, p - learning_rate * g) for p, g in zip(params, grads))


def adadelta(loss_or_grads, params, learning_rate=1.0, rho=0.95, epsilon=1e-6):
    """AdaDelta (Zeiler 2012), as the tutorial's ``lstm.py`` computes it.

    Per parameter, with running means ``E[g^2]`` and ``E[dx^2]`` (zero at the start)::

        E[g^2]  <- rho * E[g^2] + (1 - rho) * g^2
        dx      =  -sqrt(E[dx^2] + epsilon) / sqrt(E[g^2] + epsilon) * g
        E[dx^2] <- rho * E[dx^2] + (1 - rho) * dx^2          (the old E[dx^2] in dx)
        param   <- param + learning_rate * dx

    The tutorial has no learning rate (it ignores its ``lrate``): ``learning_rate=1.0``.
    Returns an ``OrderedDict`` of updates, the running means' included (their shared
    variables are named ``<param>_rgrad2`` and ``<param>_rup2``).
    """
    grads = get_or_compute_grads(loss_or_grads, params)
    updates = OrderedDict()
    for param, grad in zip(params, grads):
        running_grad2 = _zeros_like(param, "rgrad2")
        running_up2 = _zeros_like(param, "rup2")
        new_grad2 = rho * running_grad2 + _complement(rho) * (grad ** 2)
        step = -T.sqrt(running_up2 + epsilon) / T.sqrt(new_grad2 + epsilon) * grad
        updates[running_grad2] = new_grad2
        updates[running_up2] = rho * running_up2 + _complement(rho) * (step ** 2)
        if isinstance(learning_rate, (int, float)) and learning_rate == 1:
            updates[param] = param + step  # the tutorial's form, no multiplication by 1
        else:
            updates[param] = param + learning_rate * step
    return updates


def rmsprop(loss_or_grads, params, learning_rate=1e-4, rho=0.95, momentum=0.9, epsilon=1e-4):
    """RMSProp in Graves's form (2013, eq. 38-41) with momentum, as the tutorial's
    ``lstm.py`` computes it (its learning rate 1e-4 and momentum 0.9 are written inside it).

    Per parameter, with running means ``E[g]``, ``E[g^2]`` and a velocity ``v`` (zero at
    the start)::

        E[g]   <- rho * E[g] + (1 - rho) * g
        E[g^2] <- rho * E[g^2] + (1 - rho) * g^2
        v      <- momentum * v - learning_rate * g / sqrt(E[g^2] - E[g]^2 + epsilon)
        param  <- param + v

    Returns an ``OrderedDict`` of updates (shared variables ``<param>_rgrad``,
    ``<param>_rgrad2``, ``<param>_updir``).
    """
    grads = get_or_compute_grads(loss_or_grads, params)
    updates = OrderedDict()
    for param, grad in zip(params, grads):
        running_grad = _zeros_like(param, "rgrad")
        running_grad2 = _zeros_like(param, "rgrad2")
        velocity = _zeros_like(param, "updir")
        new_grad = rho * running_grad + _complement(rho) * grad
        new_grad2 = rho * running_grad2 + _complement(rho) * (grad ** 2)
        new_velocity = momentum * velocity - learning_rate * grad / T.sqrt(
            new_grad2 - new_grad ** 2 + epsilon)
        updates[running_grad] = new_grad
        updates[running_grad2] = new_grad2
        updates[velocity] = new_velocity
        updates[param] = param + new_velocity
    return updates
