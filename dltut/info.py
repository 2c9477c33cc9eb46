"""``python -m dltut.info [--no-bench] [--json]``: what dltut and Theano run on here.

The code is :mod:`dltut.runtime.info`; this file keeps the command (``-m`` needs a file) and
``import dltut.info``, which gives that module itself.
"""
import sys

from .runtime import info as _info

if __name__ == "__main__":
    sys.exit(_info.main())
else:
    sys.modules[__name__] = _info
