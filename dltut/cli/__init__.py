"""The command-line front ends of the scripts: :mod:`~dltut.cli.supervised`
(``logistic_sgd.py``, ``mlp.py``, ``convolutional_mlp.py``), :mod:`~dltut.cli.pretrain` (the
later chapters: dA, cA, SdA, RBM, DBN, logistic_cg) and what they share,
:mod:`~dltut.cli.common` (one-line errors, exit codes, flag types)."""
