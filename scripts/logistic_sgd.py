#!/usr/bin/env python
"""Train the tutorial's logistic regression (learning rate 0.13, batch 600) on MNIST.

    python scripts/logistic_sgd.py                 # the tutorial's full run (early stopping, <= 1000 epochs)
    python scripts/logistic_sgd.py --n-epochs 5    # a short run
    python scripts/logistic_sgd.py --help          # every flag, with its default
"""
import sys

try:
    import dltut  # noqa: F401  (sets up Theano's BLAS before numpy/Theano load)
    from dltut.cli.supervised import main_for
except KeyboardInterrupt:  # Ctrl-C while Python starts: one line, no traceback
    print("logistic_sgd.py: interrupted while starting; nothing was written: run it again",
          file=sys.stderr)
    sys.exit(130)

main = main_for("logistic_sgd")

if __name__ == "__main__":
    sys.exit(main())
