#!/usr/bin/env python
"""Train the tutorial's logistic regression with conjugate gradients (scipy.optimize.fmin_cg) on MNIST.

    python scripts/logistic_cg.py            # the tutorial's run, with its defaults
    python scripts/logistic_cg.py --help     # every flag, with its default
"""
import sys

try:
    import dltut  # noqa: F401  (sets up Theano's BLAS before numpy/Theano load)
    from dltut.cli.pretrain import main_for
except KeyboardInterrupt:  # Ctrl-C while Python starts: one line, no traceback
    print("logistic_cg.py: interrupted while starting; nothing was written: run it again",
          file=sys.stderr)
    sys.exit(130)

main = main_for("logistic_cg")

if __name__ == "__main__":
    sys.exit(main())
