"""Theano set-up that must happen before Theano is first imported.

Theano 1.0.5 reads its configuration once, at import, from ``THEANO_FLAGS`` and the
``.theanorc`` files.  :func:`configure` runs at ``import dltut`` and -- through the start-up
hook (:mod:`dltut.compat.startup`) -- when a program imports Theano first.  It decides:

* ``blas.ldflags``: left unset, Theano probes ``numpy.distutils`` for an attribute that
  today's numpy no longer has and crashes at import.  dltut chooses a working value
  (see :mod:`dltut.runtime.blas`), with the BLAS environment variables it needs.
* ``allow_gc=False``: same results, faster steps.
* ``device``: asking for ``cuda`` (or ``openclP:D``) on a machine that cannot provide it
  makes Theano fail at import; :mod:`dltut.runtime.device` checks first.
* the compatibility measures for this Python and numpy (:mod:`dltut.compat`), which run
  when Theano is imported.

Settings go to Theano through ``THEANO_FLAGS``, written only by :mod:`dltut.runtime.flags`, and
never over a value the user gave there or in a ``.theanorc`` file.  This module must not
import Theano (or numpy: OpenBLAS reads ``OPENBLAS_CORETYPE`` when numpy loads it).
"""
import os
import sys

from .. import compat
from . import blas, device, flags

__all__ = ["STATE", "configure", "user_environ"]

#: What :func:`configure` decided, for ``python -m dltut.info`` (filled in by configure).
STATE = {}


def configure():
    """Prepare the environment so that ``import theano`` works and is fast.  Idempotent.

    Runs at ``import dltut`` and, through the start-up hook (:mod:`dltut.compat`), when
    a program imports Theano before dltut.
    """
    if STATE.get("configured"):
        return STATE
    STATE["user_environ"] = {name: os.environ.get(name)
                             for name in ("THEANO_FLAGS",) + blas.BLAS_ENV_VARS}
    STATE["theano_already_imported"] = "theano" in sys.modules
    user_ldflags = flags.user_setting("blas.ldflags")
    STATE["blas"] = blas.configure_blas(user_ldflags=user_ldflags)
    if not STATE["theano_already_imported"]:
        flags.add_default("blas.ldflags", STATE["blas"].ldflags)
        # Keep intermediate buffers between calls instead of freeing and reallocating them
        # every minibatch (Theano's default): same results, a faster step (bench/README.md
        # has the measurement).
        flags.add_default("allow_gc", "False")
        # a GPU device (cuda, openclP:D) in the user's configuration is checked now, so that
        # an unusable GPU means one warning line and the CPU rather than a failing `import theano`
        STATE["device"] = device.check_requested_device()
        # what Theano 1.0.5 needs on this Python and numpy happens when Theano is imported
        compat.install()
    STATE["configured"] = True
    return STATE


def user_environ():
    """``os.environ`` as the user set it: a copy with dltut's own additions undone.

    dltut writes its choices (``blas.ldflags`` in ``THEANO_FLAGS``, ``OPENBLAS_CORETYPE``)
    into this process's environment, which child processes inherit.  A child that imports
    dltut itself should get the user's environment instead, so that it decides afresh and
    reports the user's settings, not dltut's, as the user's.
    """
    environ = dict(os.environ)
    for name, value in STATE.get("user_environ", {}).items():
        if value is None:
            environ.pop(name, None)
        else:
            environ[name] = value
    return environ
