#!/usr/bin/env python
"""Train the tutorial's MLP (784-500-10, tanh, L2 1e-4, batch 20) on MNIST.

    python scripts/mlp.py                 # the tutorial's full run (early stopping, <= 1000 epochs)
    python scripts/mlp.py --n-epochs 5    # a short run
    python scripts/mlp.py --help          # every flag, with its default
"""
import sys

try:
    import dltut  # noqa: F401  (sets up Theano's BLAS before numpy/Theano load)
    from dltut.cli.supervised import main_for
except KeyboardInterrupt:  # Ctrl-C while Python starts: one line, no traceback
    print("mlp.py: interrupted while starting; nothing was written: run it again",
          file=sys.stderr)
    sys.exit(130)

main = main_for("mlp")

if __name__ == "__main__":
    sys.exit(main())
