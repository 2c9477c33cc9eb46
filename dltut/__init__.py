"""dltut: the classic Theano deep learning tutorials as a tested package.

Importing ``dltut`` prepares Theano's configuration (a working ``blas.ldflags``, BLAS
environment variables, the compatibility measures of :mod:`dltut.compat`) *without*
importing Theano yet, so that a script can still choose the device first (see
:mod:`dltut.device`).  The public names below are imported on first use; ``from dltut
import MLP`` works as usual.  Only classes and functions are exported here, never under a
module's name: ``from dltut import train`` is always the module :mod:`dltut.train`.
"""
import importlib

from . import _setup

_setup.configure()

__version__ = "0.2.0"

# public name -> module that defines it (explicit re-exports, resolved lazily)
_EXPORTS = {
    # layers and models
    "LogisticRegression": "layers",
    "HiddenLayer": "layers",
    "LeNetConvPoolLayer": "layers",
    "MLP": "models",
    "LeNet5": "models",
    "RBM": "rbm",
    "DBN": "rbm",
    "HMC_sampler": "hmc",
    "dA": "autoencoders",
    "cA": "autoencoders",
    "SdA": "autoencoders",
    "LogisticRegressionCG": "cg",
    "CGOptimizer": "cg",
    # helpers
    "floatX": "init",
    # data
    "load_mnist": "data",
    "fetch_mnist": "data",
    "load_dataset": "data",
    "shared_dataset": "data",
    "shared_datasets": "data",
    "synthetic_dataset": "data",
    # figures
    "tile_raster_images": "plot",
    # training
    "TrainConfig": "train",
    "TrainResult": "train",
    "Patience": "train",
    "Trainer": "train",
    "TrainState": "train",
    "compile_functions": "train",
    "Pretrainer": "train",
    "PretrainLayer": "train",
    "PretrainResult": "train",
    # run folders
    "RunDir": "rundir",
    # checkpoints
    "save_params": "checkpoint",
    "load_params": "checkpoint",
    "build_model": "models",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError("module 'dltut' has no attribute %r" % name)
    value = getattr(importlib.import_module("." + module, __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
