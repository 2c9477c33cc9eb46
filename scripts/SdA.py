#!/usr/bin/env python
"""Pre-train and fine-tune the tutorial's stacked denoising autoencoder (784-1000-1000-1000-10) on MNIST.

    python scripts/SdA.py            # the tutorial's run, with its defaults
    python scripts/SdA.py --help     # every flag, with its default
"""
import sys

try:
    import dltut  # noqa: F401  (sets up Theano's BLAS before numpy/Theano load)
    from dltut.cli.pretrain import main_for
except KeyboardInterrupt:  # Ctrl-C while Python starts: one line, no traceback
    print("SdA.py: interrupted while starting; nothing was written: run it again",
          file=sys.stderr)
    sys.exit(130)

main = main_for("SdA")

if __name__ == "__main__":
    sys.exit(main())
