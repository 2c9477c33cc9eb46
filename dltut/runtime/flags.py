"""Theano's configuration as the user gave it, and the one place dltut changes it.

Theano 1.0.5 reads its settings once, when it is first imported, from ``THEANO_FLAGS`` and
the ``.theanorc`` files.  dltut passes its own choices (``blas.ldflags``, ``allow_gc``,
``device``, ...) through ``THEANO_FLAGS`` too, and only for keys the user left unset.
This module reads both sources the way Theano does and is the only module that writes
``THEANO_FLAGS``.  It imports nothing from dltut, numpy or Theano.
"""
import configparser
import os

__all__ = ["theanorc_paths", "parse_theano_flags", "user_setting", "add_theano_flag",
           "set_theano_flag", "add_default"]


def theanorc_paths():
    """The ``.theanorc`` files Theano would read, in Theano's order (existing ones only)."""
    default = os.pathsep.join(["~/.theanorc", "~/.theanorc.txt"])
    paths = os.environ.get("THEANORC", default).split(os.pathsep)
    return [os.path.expanduser(p) for p in paths if p and os.path.isfile(os.path.expanduser(p))]


def _normalise_key(key):
    return key.strip().replace("__", ".")


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
        flags[_normalise_key(key)] = value.strip() if sep else "True"
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


def _check_value(key, value):
    if "," in value:
        raise ValueError(
            "THEANO_FLAGS cannot carry a comma, but the value for %s is %r" % (key, value))


def add_theano_flag(key, value):
    """Append ``key=value`` to ``THEANO_FLAGS`` (for this process and its children)."""
    _check_value(key, value)
    current = os.environ.get("THEANO_FLAGS", "").strip().strip(",")
    os.environ["THEANO_FLAGS"] = (current + "," if current else "") + "%s=%s" % (key, value)


def set_theano_flag(key, value):
    """Set ``key=value`` in ``THEANO_FLAGS``, replacing every entry for ``key`` there."""
    _check_value(key, value)
    kept = [item.strip() for item in os.environ.get("THEANO_FLAGS", "").split(",")
            if item.strip() and _normalise_key(item.partition("=")[0]) != key]
    os.environ["THEANO_FLAGS"] = ",".join(kept)
    add_theano_flag(key, value)


def add_default(key, value):
    """``add_theano_flag(key, value)`` unless the user set ``key``; True if it was added."""
    if user_setting(key) is not None:
        return False
    add_theano_flag(key, value)
    return True
