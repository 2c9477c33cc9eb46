#!/usr/bin/env python
"""Train an RBM on MNIST with PCD-15, then sample from it (the tutorial's rbm.py).

    python scripts/rbm.py                        # the tutorial's run: 15 epochs, then 10 x 1000 Gibbs steps
    python scripts/rbm.py --training-epochs 1    # a short run
    python scripts/rbm.py --resume runs/rbm-...  # continue a stopped run (Ctrl-C writes a checkpoint)
    python scripts/rbm.py --help                 # every flag, with its default

Prints the tutorial's lines (``Training epoch 0, cost is  -90.023155``: the epoch's mean of
the pseudo-likelihood proxy) and writes a run folder (``runs/rbm-<timestamp>/`` or
``--out``, the tutorial's ``output_folder``): ``filters_at_epoch_N.png`` after each epoch,
``samples.png`` (the chains side by side, one row per ``--plot-every`` Gibbs steps) with
``samples.npz``, the pre-training checkpoint and records, ``config.json``, ``summary.json``.
"""
import sys

try:
    import dltut  # noqa: F401  (sets up Theano's BLAS before numpy/Theano load)
    from dltut.cli.pretrain import main_for
except KeyboardInterrupt:  # Ctrl-C while Python starts: one line, no traceback
    print("rbm.py: interrupted while starting; nothing was written: run it again",
          file=sys.stderr)
    sys.exit(130)

main = main_for("rbm")

if __name__ == "__main__":
    sys.exit(main())
