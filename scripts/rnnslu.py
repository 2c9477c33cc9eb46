#!/usr/bin/env python
"""Train the Elman RNN for slot filling (the tutorial's rnnslu.py).

    python scripts/rnnslu.py                              # 60 epochs on the synthetic task
    python scripts/rnnslu.py --dataset atis.fold3.pkl.gz  # on a file of the ATIS format
    python scripts/rnnslu.py --dataset ATIS/ --fold 0     # atis.fold0.pkl.gz of a folder
    python scripts/rnnslu.py --resume runs/rnnslu-...     # continue a stopped run
    python scripts/rnnslu.py --help                       # every flag, with its default

Prints the tutorial's ``NEW BEST: epoch ... valid F1 ... best test F1 ...`` lines and a line
per epoch, and writes a run folder (``runs/rnnslu-<timestamp>/`` or ``--out``): the
checkpoint and records, ``config.json``, ``summary.json``, the best parameters
(``best_model.npz``) and their predictions in conlleval's format (``best.valid.txt``,
``best.test.txt``).  ATIS itself cannot be downloaded: without ``--dataset`` a synthetic
slot-filling task in its format is generated once (``python -m dltut.data fetch
atis-synthetic``).
"""
import sys

try:
    import dltut  # noqa: F401  (sets up Theano's BLAS before numpy/Theano load)
    from dltut.cli.rnnslu import main
except KeyboardInterrupt:  # Ctrl-C while Python starts: one line, no traceback
    print("rnnslu.py: interrupted while starting; nothing was written: run it again",
          file=sys.stderr)
    sys.exit(130)

if __name__ == "__main__":
    sys.exit(main())
