"""``python -m dltut.search``: a search (as ``scripts/search.py``), or, with ``--worker FD
PID``, one local worker process of :class:`dltut.search.LocalPool`."""
import sys

from .cli import main
from .workers import worker_main

if len(sys.argv) == 4 and sys.argv[1] == "--worker":
    sys.exit(worker_main(int(sys.argv[2]), int(sys.argv[3])))
sys.exit(main())
