"""dltut: the classic Theano deep learning tutorials as a tested package.

Importing ``dltut`` prepares Theano's configuration (a working ``blas.ldflags``, BLAS
environment variables, the compatibility measures of :mod:`dltut.compat`) *without*
importing Theano yet, so that a script can still choose the device first (see
:mod:`dltut.runtime.device`).  The public names below are imported on first use; ``from dltut
import MLP`` works as usual.  Only classes and functions are exported here, never under a
module's name: ``from dltut import training`` is always the package :mod:`dltut.training`.

The tutorial's modules sit at the top (layers, models, init, autoencoders, rbm, hmc, cg,
data, plot, preprocess, notebook; checks, the argument checks they and the scripts share);
the machinery in sub-packages: :mod:`dltut.training`, :mod:`dltut.runs`, :mod:`dltut.cli`,
:mod:`dltut.search`, :mod:`dltut.ops`, :mod:`dltut.runtime` and :mod:`dltut.compat`. The
module paths of the flat layout before (``dltut.train``, ``dltut.experiment``, ...; see
:data:`MOVED`) still import, for one release, as the modules that replaced them, with a
DeprecationWarning naming the new path.
"""
import importlib
import importlib.machinery
import sys
import warnings

from .runtime import setup as _runtime_setup

_runtime_setup.configure()

#: Old module path -> the module that replaced it (issue 24's sub-packages).  The old paths
#: still import, as the same module object, with a DeprecationWarning; they go in 0.3.
MOVED = {
    "dltut.train": "dltut.training",
    "dltut.experiment": "dltut.cli.supervised",
    "dltut.experiment_pretrain": "dltut.cli.pretrain",
    "dltut.rundir": "dltut.runs.rundir",
    "dltut.checkpoint": "dltut.runs.checkpoint",
    "dltut.conv": "dltut.ops.conv",
    "dltut._setup": "dltut.runtime.setup",
    "dltut.runtime._setup": "dltut.runtime.setup",
    "dltut.flags": "dltut.runtime.flags",
    "dltut.blas": "dltut.runtime.blas",
    "dltut.device": "dltut.runtime.device",
    "dltut.memory": "dltut.runtime.memory",
}
# dltut.search was a module and is now a package exporting the same public names, and
# dltut.info stays a file (``python -m dltut.info``): neither needs an alias.


class _MovedModules:
    """The finder (and loader), last on ``sys.meta_path``, that imports an old path of
    :data:`MOVED` as its new module: ``sys.modules`` then holds the same module object under
    both names."""

    @staticmethod
    def find_spec(fullname, path=None, target=None):
        if fullname not in MOVED:
            return None
        return importlib.machinery.ModuleSpec(fullname, _MovedModules)

    @staticmethod
    def create_module(spec):
        new = MOVED[spec.name]
        warnings.warn("%s has moved to %s; import that instead (the old path goes in dltut "
                      "0.3)" % (spec.name, new), DeprecationWarning, stacklevel=2)
        module = importlib.import_module(new)
        spec.loader_state = module.__spec__   # the import system sets the alias's spec on it
        return module

    @staticmethod
    def exec_module(module):
        module.__spec__ = module.__spec__.loader_state   # its own spec back (reload, -m)


if not any(getattr(finder, "__name__", None) == "_MovedModules" for finder in sys.meta_path):
    sys.meta_path.append(_MovedModules)

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
    "RnnRbm": "recurrent",
    "RNNSLU": "recurrent",
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
    "TrainConfig": "training",
    "TrainResult": "training",
    "Patience": "training",
    "Trainer": "training",
    "TrainState": "training",
    "compile_functions": "training",
    "Pretrainer": "training",
    "PretrainLayer": "training",
    "PretrainResult": "training",
    "CGOptimizer": "training",
    "SequenceTrainer": "training",
    # run folders
    "RunDir": "runs.rundir",
    # checkpoints
    "save_params": "runs.checkpoint",
    "load_params": "runs.checkpoint",
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
