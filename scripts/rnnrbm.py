#!/usr/bin/env python
"""Train an RNN-RBM on Bach's chorales and generate music (the tutorial's rnnrbm.py).

    python scripts/rnnrbm.py                          # the tutorial's run: 200 epochs, 2 pieces
    python scripts/rnnrbm.py --epochs 1               # a short run
    python scripts/rnnrbm.py --dataset Nottingham/    # a folder of train/ valid/ test/ .mid files
    python scripts/rnnrbm.py --resume runs/rnnrbm-... # continue a stopped run
    python scripts/rnnrbm.py --help                   # every flag, with its default

Prints the tutorial's two lines per epoch (``Epoch 1/200`` and the epoch's mean monitor) and
writes a run folder (``runs/rnnrbm-<timestamp>/`` or ``--out``): the checkpoint and records,
``config.json``, ``summary.json``, and per generated piece ``sample<N>.mid`` and
``sample<N>.png``.  The chorales (data/jsb.npz) are built from music21's corpus the first
time (``python -m dltut.data fetch jsb``; needs ``pip install 'dltut[music]'``).
"""
import sys

try:
    import dltut  # noqa: F401  (sets up Theano's BLAS before numpy/Theano load)
    from dltut.cli.rnnrbm import main
except KeyboardInterrupt:  # Ctrl-C while Python starts: one line, no traceback
    print("rnnrbm.py: interrupted while starting; nothing was written: run it again",
          file=sys.stderr)
    sys.exit(130)

if __name__ == "__main__":
    sys.exit(main())
