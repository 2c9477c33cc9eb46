#!/usr/bin/env python
"""Train an LSTM sentiment classifier (the tutorial's lstm.py).

    python scripts/lstm.py                             # the tutorial's run, on synthetic data
    python scripts/lstm.py --max-epochs 1              # a short run
    python scripts/lstm.py --dataset imdb.pkl          # the real IMDB file, if you have it
    python scripts/lstm.py --resume runs/lstm-...      # continue a stopped run
    python scripts/lstm.py --help                      # every flag, with its default

Prints the tutorial's lines (``Epoch  0 Update  10 Cost  ...`` every --disp-freq updates,
``Train  ... Valid  ... Test  ...`` every --valid-freq, ``Early Stop!``) and writes a run
folder (``runs/lstm-<timestamp>/`` or ``--out``): checkpoint.npz, history.jsonl (one record
per validation), best_model.npz, config.json and summary.json.  Without --dataset it trains on
data/imdb-synthetic.pkl (``python -m dltut.data fetch imdb-synthetic``, written the first
time): synthetic sentences in the imdb.pkl format, NOT movie reviews.
"""
import sys

try:
    import dltut  # noqa: F401  (sets up Theano's BLAS before numpy/Theano load)
    from dltut.cli.lstm import main
except KeyboardInterrupt:  # Ctrl-C while Python starts: one line, no traceback
    print("lstm.py: interrupted while starting; nothing was written: run it again",
          file=sys.stderr)
    sys.exit(130)

if __name__ == "__main__":
    sys.exit(main())
