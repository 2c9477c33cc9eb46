"""The recurrent chapters: sequence models built on ``theano.scan``.

* :mod:`~dltut.recurrent.rnnrbm`: the RNN-RBM of polyphonic music (Boulanger-Lewandowski et
  al. 2012), the tutorial's ``build_rbm``, ``build_rnnrbm`` and ``RnnRbm``.
* :mod:`~dltut.recurrent.rnnslu`: the Elman network for slot filling (the tutorial's
  ``RNNSLU`` and ``contextwin``), scored by CoNLL chunk F1 (:mod:`~dltut.recurrent.conll`).
* :mod:`~dltut.recurrent.lstm`: the LSTM sentiment classifier of the tutorial's ``lstm.py``
  (``init_params``, ``lstm_layer``, ``build_model``, ``pred_error``, ...), imported as a
  module (``from dltut.recurrent import lstm``): its names are the tutorial's functions.

Model modules like :mod:`dltut.rbm`: they import Theano, numpy and dltut's layers, init,
updates and checks only.
"""
from .conll import conlleval
from . import lstm
from .rnnrbm import EpochChunks, RnnRbm, build_rbm, build_rnnrbm
from .rnnslu import RNNSLU, SentenceEpochs, contextwin

__all__ = ["RnnRbm", "EpochChunks", "build_rbm", "build_rnnrbm", "RNNSLU", "SentenceEpochs",
           "contextwin", "conlleval", "lstm"]
