#!/usr/bin/env python
"""Train the tutorial's contractive autoencoder (784-500, contraction 0.1) on MNIST.

    python scripts/cA.py            # the tutorial's run, with its defaults
    python scripts/cA.py --help     # every flag, with its default
"""
import sys

try:
    import dltut  # noqa: F401  (sets up Theano's BLAS before numpy/Theano load)
    from dltut.cli.pretrain import main_for
except KeyboardInterrupt:  # Ctrl-C while Python starts: one line, no traceback
    print("cA.py: interrupted while starting; nothing was written: run it again",
          file=sys.stderr)
    sys.exit(130)

main = main_for("cA")

if __name__ == "__main__":
    sys.exit(main())
