#!/usr/bin/env python
"""Hyperparameter search over one experiment, the tutorial's way (log grids that narrow).

    python scripts/search.py mlp --n-epochs 5 --out searches/mlp \\
        --log-grid learning-rate=1e-3:1e-1:3 --log-grid L2-reg=1e-5:1e-3:3 --rounds 2
    python scripts/search.py mlp --preset hidden-units --out searches/hidden
    python scripts/search.py logistic_sgd --preset learning-rate --out s --scheduler tcp://HOST:8786
    python scripts/search.py --help

Run the same command again to continue a search (finished trials are skipped).
"""
import sys

try:
    import dltut  # noqa: F401  (sets up Theano's BLAS before numpy/Theano load)
    from dltut.search import main
except KeyboardInterrupt:  # Ctrl-C while Python starts: one line, no traceback
    print("search.py: interrupted", file=sys.stderr)
    sys.exit(130)

if __name__ == "__main__":
    sys.exit(main())
