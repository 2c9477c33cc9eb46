"""The recurrent chapters: sequence models built on ``theano.scan``.

* :mod:`~dltut.recurrent.rnnrbm`: the RNN-RBM of polyphonic music (Boulanger-Lewandowski et
  al. 2012), the tutorial's ``build_rbm``, ``build_rnnrbm`` and ``RnnRbm``.

Model modules like :mod:`dltut.rbm`: they import Theano, numpy and dltut's layers, init,
updates and checks only.
"""
from .rnnrbm import EpochChunks, RnnRbm, build_rbm, build_rnnrbm

__all__ = ["RnnRbm", "EpochChunks", "build_rbm", "build_rnnrbm"]
