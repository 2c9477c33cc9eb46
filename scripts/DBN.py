#!/usr/bin/env python
"""Pre-train a deep belief network layer by layer (CD-k), then fine-tune it as a classifier
(the tutorial's DBN.py).

    python scripts/DBN.py                                   # the tutorial's run (3 x 1000 units, 100 pre-training epochs per layer)
    python scripts/DBN.py --pretraining-epochs 1 --training-epochs 1   # a short run
    python scripts/DBN.py --resume runs/DBN-...             # continue a stopped run (Ctrl-C writes a checkpoint)
    python scripts/DBN.py --help                            # every flag, with its default

Pre-training prints ``Pre-training layer 0, epoch 0, cost  -98.53650726013184`` (the epoch's
mean reconstruction cost; float32 with OpenBLAS's SkylakeX kernels, -98.53218840637207 with its
Zen kernels, as the tutorial's DBN.py prints) and checkpoints into ``pretraining.npz``; fine-tuning is dltut's
one supervised trainer with the tutorial's early stopping (patience: 4 epochs'
minibatches), checkpointing into ``checkpoint.npz``.  Both resume exactly.  The run folder
also gets the first layer's filters, ``pretraining_curves.png`` and ``best_model.npz`` (a
sigmoid MLP that ``predict.py`` reads).
"""
import sys

try:
    import dltut  # noqa: F401  (sets up Theano's BLAS before numpy/Theano load)
    from dltut.cli.pretrain import main_for
except KeyboardInterrupt:  # Ctrl-C while Python starts: one line, no traceback
    print("DBN.py: interrupted while starting; nothing was written: run it again",
          file=sys.stderr)
    sys.exit(130)

main = main_for("DBN")

if __name__ == "__main__":
    sys.exit(main())
