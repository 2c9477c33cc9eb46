"""Update rules: pure functions from parameters and gradients to Theano ``updates``.

``sgd_updates`` is the tutorial's ``param <- param - learning_rate * grad``; the models
(:mod:`dltut.autoencoders`, :mod:`dltut.rbm`) and :func:`dltut.training.compile_functions`
build their updates with these.  A leaf: it imports only theano and numpy.
"""
import numpy
import theano

__all__ = ["sgd_updates", "momentum_updates", "make_velocities", "updated_shared_variables"]


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
