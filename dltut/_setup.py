"""Theano set-up that must happen before Theano is first imported.

Theano 1.0.5 reads its configuration once, at import, from ``THEANO_FLAGS`` and the
``.theanorc`` files.  Two things in that configuration matter to dltut:

* ``blas.ldflags``: left unset, Theano probes ``numpy.distutils`` for an attribute that
  numpy 1.23 no longer has and crashes at import.  dltut chooses a working value
  (see :mod:`dltut.blas`) and passes it through ``THEANO_FLAGS``.
* ``device``: asking for ``cuda`` on a machine that cannot provide it makes Theano fail
  at import; :mod:`dltut.device` checks first.

Nothing here overrides a value the user gave: a key already present in ``THEANO_FLAGS``
or in one of the ``.theanorc`` files is left alone.  This module must not import Theano
(or numpy: OpenBLAS reads ``OPENBLAS_CORETYPE`` when numpy loads it).
"""
import configparser
import os
import sys

#: What :func:`configure` decided, for ``python -m dltut.info`` (filled in by configure).
STATE = {}


def theanorc_paths():
    """The ``.theanorc`` files Theano would read, in Theano's order (existing ones only)."""
    default = os.pathsep.join(["~/.theanorc", "~/.theanorc.txt"])
    paths = os.environ.get("THEANORC", default).split(os.pathsep)
    return [os.path.expanduser(p) for p in paths if p and os.path.isfile(os.path.expanduser(p))]


def parse_theano_flags(text=None):
    """``THEANO_FLAGS`` as an ordered ``{key: value}`` dict (Theano's own comma syntax).

    Keys are normalised to Theano 1.0's dotted form (``blas__ldflags`` -> ``blas.ldflags``).
    """
    if text is None:
        text = os.environ.get("THEANO_FLAGS", "")
    flags = {}
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        key, sep, value = item.partition("=")
        key = key.strip().replace("__", ".")
        flags[key] = value.strip() if sep else "True"
    return flags


def user_setting(key):
    """The value the user gave for Theano config ``key`` ("section.option"), else None.

    ``THEANO_FLAGS`` wins over ``.theanorc``, as in Theano itself.
    """
    flags = parse_theano_flags()
    if key in flags:
        return flags[key]
    section, _, option = key.rpartition(".")
    section = section or "global"
    for path in theanorc_paths():
        parser = configparser.ConfigParser(interpolation=None)
        try:
            parser.read(path)
        except configparser.Error:
            continue
        if parser.has_option(section, option):
            return parser.get(section, option)
    return None


def add_theano_flag(key, value):
    """Append ``key=value`` to ``THEANO_FLAGS`` (for this process and its children)."""
    if "," in value:
        raise ValueError(
            "THEANO_FLAGS cannot carry a comma, but the value for %s is %r" % (key, value))
    current = os.environ.get("THEANO_FLAGS", "").strip().strip(",")
    os.environ["THEANO_FLAGS"] = (current + "," if current else "") + "%s=%s" % (key, value)


def configure():
    """Prepare the environment so that ``import theano`` works and is fast.  Idempotent."""
    if STATE.get("configured"):
        return STATE
    from . import blas  # local import: blas must not pull in numpy either

    STATE["user_environ"] = {name: os.environ.get(name)
                             for name in ("THEANO_FLAGS",) + blas.BLAS_ENV_VARS}
    STATE["theano_already_imported"] = "theano" in sys.modules
    STATE["blas"] = blas.configure_blas(user_ldflags=user_setting("blas.ldflags"))
    if not STATE["theano_already_imported"]:
        ldflags = STATE["blas"].ldflags
        if user_setting("blas.ldflags") is None:
            add_theano_flag("blas.ldflags", ldflags)
        # Keep intermediate buffers between calls instead of freeing and reallocating them
        # every minibatch (Theano's default): same results, LeNet5's step about 25 % faster.
        if user_setting("allow_gc") is None:
            add_theano_flag("allow_gc", "False")
        # a device=cuda in the user's configuration is checked now, so that an unusable GPU
        # means one warning line and the CPU rather than a failing `import theano`
        from . import device
        STATE["device"] = device.check_requested_device()
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
