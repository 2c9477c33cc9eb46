#!/usr/bin/env python
"""Train the tutorial's LeNet5 (conv 20 and 50 filters, tanh 500, batch 500) on MNIST.

    python scripts/convolutional_mlp.py                 # the tutorial's full run (early stopping, <= 200 epochs)
    python scripts/convolutional_mlp.py --n-epochs 5    # a short run
    python scripts/convolutional_mlp.py --help          # every flag, with its default
"""
import sys

try:
    import dltut  # noqa: F401  (sets up Theano's BLAS before numpy/Theano load)
    from dltut.cli.supervised import main_for
except KeyboardInterrupt:  # Ctrl-C while Python starts: one line, no traceback
    print("convolutional_mlp.py: interrupted while starting; nothing was written: run it again",
          file=sys.stderr)
    sys.exit(130)

main = main_for("convolutional_mlp")

if __name__ == "__main__":
    sys.exit(main())
