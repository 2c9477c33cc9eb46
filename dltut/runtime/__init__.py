"""What dltut does before and around Theano: the set-up at ``import dltut``
(:mod:`~dltut.runtime.setup`), Theano's flags (:mod:`~dltut.runtime.flags`), the BLAS
(:mod:`~dltut.runtime.blas`), the device (:mod:`~dltut.runtime.device`), memory limits
(:mod:`~dltut.runtime.memory`) and the report of ``python -m dltut.info``
(:mod:`~dltut.runtime.info`).

Importing this package imports nothing: ``import dltut`` runs :mod:`~dltut.runtime.setup`,
which must not import numpy or Theano.
"""
