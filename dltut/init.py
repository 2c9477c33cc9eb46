"""Weight initialisation and the one ``floatX`` helper.

Every initialiser takes the caller's ``numpy.random.RandomState`` and draws from it exactly
once, so that models built from the same seed are identical and the draws happen in the
tutorial's order.
"""
import numpy
import theano

__all__ = ["floatX", "glorot_bound", "uniform", "INIT_BOUNDS", "init_bound", "zeros"]


def floatX(value):
    """``value`` as a numpy array of Theano's ``floatX`` dtype (no copy if it already is)."""
    return numpy.asarray(value, dtype=theano.config.floatX)


def glorot_bound(fan_in, fan_out):
    """Half-width of the Glorot & Bengio (2010) uniform interval: sqrt(6 / (fan_in + fan_out))."""
    return numpy.sqrt(6.0 / (fan_in + fan_out))


def uniform(rng, bound, size):
    """``rng.uniform(-bound, +bound, size)`` cast to floatX (the tutorial's one draw)."""
    return floatX(rng.uniform(low=-bound, high=bound, size=size))


#: Initialisation schemes for a weight matrix feeding the given activation.
#: Each maps (fan_in, fan_out) to the half-width of a uniform interval::
#:
#:   "glorot"       tanh-style:  sqrt(6/(fan_in+fan_out))       (the tutorial's default)
#:   "glorot_sigmoid" 4x the above, the tutorial's advice for the logistic sigmoid
#:   "fan_in"       the older rule: 1/sqrt(fan_in)
#:   "he"           for ReLU: sqrt(6/fan_in), the uniform form of He et al. (2015)
INIT_BOUNDS = {
    "glorot": glorot_bound,
    "glorot_sigmoid": lambda fan_in, fan_out: 4.0 * glorot_bound(fan_in, fan_out),
    "fan_in": lambda fan_in, fan_out: 1.0 / numpy.sqrt(fan_in),
    "he": lambda fan_in, fan_out: numpy.sqrt(6.0 / fan_in),
}


def init_bound(scheme, fan_in, fan_out):
    """Half-width of the uniform interval for ``scheme`` (a key of :data:`INIT_BOUNDS`)."""
    try:
        rule = INIT_BOUNDS[scheme]
    except KeyError:
        raise ValueError("unknown init %r; choose one of %s"
                         % (scheme, ", ".join(sorted(INIT_BOUNDS)))) from None
    return rule(fan_in, fan_out)


def zeros(shape):
    """A floatX array of zeros (biases, and the logistic regression's W)."""
    return numpy.zeros(shape, dtype=theano.config.floatX)
