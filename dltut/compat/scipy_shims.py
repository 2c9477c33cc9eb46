"""Theano 1.0.5's Python convolutions on today's scipy.

``theano.tensor.nnet.conv`` (the legacy ``ConvOp``) and ``theano.tensor.nnet.abstract_conv``
(``conv2d``'s ops) implement their Python ``perform`` with private scipy functions
(``_convolve2d``, ``_valfrommode``, ``_bvalfromboundary``) imported from
``scipy.signal.sigtools`` and ``scipy.signal.signaltools``.  scipy moved those modules to
``scipy.signal._sigtools`` and ``scipy.signal._signaltools`` (1.8) and then removed the old
names, so the imports fail inside a ``try`` and both ``perform`` methods refuse to run.
That matters wherever Theano cannot use C for a convolution (no compiler, or a C
implementation it cannot build) and for tests that check the C code against Python.

Right after each of the two modules has run, this measure takes the same functions from
their current places and sets the module's ``imported_scipy_signal`` as Theano intended.
"""
from . import record, register

__all__ = ["MODULES", "NAMES", "register_hooks", "restore_names"]

MODULES = ("theano.tensor.nnet.conv", "theano.tensor.nnet.abstract_conv")

#: name -> (current module, name there)
NAMES = {
    "_convolve2d": ("scipy.signal._sigtools", "_convolve2d"),
    "_valfrommode": ("scipy.signal._signaltools", "_valfrommode"),
    "_bvalfromboundary": ("scipy.signal._signaltools", "_bvalfromboundary"),
    "convolve": ("scipy.signal", "convolve"),
}


def register_hooks():
    for name in MODULES:
        register(name, after=restore_names)


def restore_names(module):
    """Give ``module`` the scipy functions its failed import was after (if it failed)."""
    import importlib
    if getattr(module, "imported_scipy_signal", True):
        record("scipy.signal names for %s" % module.__name__, False,
               "its scipy imports worked")
        return False
    found = {}
    try:
        for name, (where, attr) in NAMES.items():
            found[name] = getattr(importlib.import_module(where), attr)
    except (ImportError, AttributeError) as exc:
        record("scipy.signal names for %s" % module.__name__, False,
               "scipy has no %s (%s); Theano's Python convolution stays unavailable"
               % (name, exc))
        return False
    import scipy
    for name, value in found.items():
        setattr(module, name, value)
    module.imported_scipy_signal = True
    record("scipy.signal names for %s" % module.__name__, True,
           "scipy %s moved the private functions its Python convolution uses"
           % scipy.__version__, "from scipy.signal._sigtools / _signaltools")
    return True
