"""Theano's C modules compiled with their common headers precompiled.

Every C module Theano 1.0.5 writes begins with the same six ``#include`` lines
(:data:`HEADER_LINES`: ``Python.h``, ``<iostream>``, ``theano_mod_helper.h``, ``<math.h>`` and
numpy's ``arrayobject.h`` and ``arrayscalars.h``), some 70 000 lines once preprocessed.
Reading them is most of the compiler's time for a module: 0.75 s of 0.95 s on this project's
machine, for modules whose own code takes a fifth of a second to compile.  GCC can load such
headers precompiled instead.  So the first time a process compiles a second module with a
given set of compiler flags, those lines are compiled once into a precompiled header
(about 2 s and 50 MB, kept in ``<compiledir>/dltut-pch/<key>/`` for every later process),
and from then on each module whose source starts with them is compiled with
``-include`` that header: about 0.35 s instead of 0.7-0.8.  Only the reading of the headers
is spared; the machine code is the same (``objdump -d`` of modules compiled both ways
compared equal), and Theano's module keys, cache and loading are untouched.

The key of a precompiled header is everything it depends on: the compiler (path, size and
modification time), every flag of the compile up to its output (``-march``, ``-O3``,
``-D``, ``-I`` and the rest), and the size and modification time of the headers found in
the ``-I`` folders, so that a new numpy or Python builds a new one.  GCC itself also refuses
a precompiled header built under other options and then reads the text header, as it would
have anyway.

Whatever goes wrong falls back to Theano's own command: a compiler other than GCC, a
precompiled header that cannot be built (not tried again in that process), or a module
whose compile fails with it (compiled again without, so any error is Theano's as before).
``DLTUT_PCH=0`` turns the measure off.  Theano 1.0.5 only; other versions are left alone
and the measure says so.
"""
import hashlib
import os
import shutil
import tempfile
import threading

from . import record, register
from .cache_keys import THEANO_VERSION, right_theano

__all__ = ["HEADER_LINES", "FOLDER", "STATS", "enabled", "register_hooks", "pch_key"]

_NAME = "precompiled headers"

#: The lines every Theano C module begins with; the precompiled header holds them.
HEADER_LINES = ("#include <Python.h>", "#include <iostream>", '#include "theano_mod_helper.h"',
                "#include <math.h>", "#include <numpy/arrayobject.h>",
                "#include <numpy/arrayscalars.h>")

#: The folder, in theano.config.compiledir, that holds one subfolder per key.
FOLDER = "dltut-pch"

#: The headers whose size and modification time go into the key (where an -I folder has them).
_KEYED_HEADERS = ("Python.h", "patchlevel.h", "pyconfig.h", "theano_mod_helper.h",
                  os.path.join("numpy", "arrayobject.h"), os.path.join("numpy", "_numpyconfig.h"),
                  os.path.join("numpy", "arrayscalars.h"), os.path.join("numpy", "ndarraytypes.h"))

#: built: headers precompiled; used: modules compiled with one; fallback: module compiles
#: that failed with it and were run again without; failed: headers that could not be built.
STATS = {"built": 0, "used": 0, "fallback": 0, "failed": 0}

_LOCK = threading.Lock()
#: key -> "ready" | "failed" | number of modules seen with it and no header yet
_KEYS = {}
_GCC = {}


def enabled():
    """Whether the measure may act in this process (``DLTUT_PCH`` is not ``0``)."""
    return os.environ.get("DLTUT_PCH", "").strip() != "0"


def register_hooks():
    register("theano.gof.cmodule", after=_patch)


def _split(cmd):
    """``(flags, source)`` of a module compile ``[cxx, ..., -o, library, source, -l...]``,
    or None for any other command.  ``flags`` are the arguments before ``-o`` that matter to
    the compiling (not ``-shared`` or the ``-L`` folders, which only the linking reads)."""
    if not isinstance(cmd, (list, tuple)) or "-o" not in cmd or "-shared" not in cmd:
        return None
    at = list(cmd).index("-o")
    if at + 2 >= len(cmd) or not str(cmd[at + 2]).endswith(".cpp"):
        return None
    flags = [a for a in cmd[1:at] if a != "-shared" and not str(a).startswith("-L")]
    return flags, cmd[at + 2]


def pch_key(cxx, flags):
    """The key of the precompiled header for a compile by ``cxx`` with ``flags`` (see the
    module's text), or None when the compiler cannot be found."""
    path = shutil.which(cxx) or cxx
    try:
        st = os.stat(os.path.realpath(path))
    except OSError:
        return None
    parts = [THEANO_VERSION, os.path.realpath(path), str(st.st_size), str(st.st_mtime_ns)]
    parts += list(flags) + list(HEADER_LINES)
    for flag in flags:
        if flag.startswith("-I"):
            for name in _KEYED_HEADERS:
                try:
                    h = os.stat(os.path.join(flag[2:], name))
                    parts.append("%s %d %d" % (os.path.join(flag[2:], name), h.st_size,
                                               h.st_mtime_ns))
                except OSError:
                    pass
    return hashlib.sha256("\0".join(parts).encode("utf-8")).hexdigest()[:32]


def _is_gcc(cxx, run):
    if cxx not in _GCC:
        try:
            out = run([cxx, "--version"])
            text = out[0].decode("utf-8", "replace") if isinstance(out[0], bytes) else str(out[0])
            _GCC[cxx] = out[2] == 0 and "clang" not in text.lower() and (
                "free software foundation" in text.lower() or "g++" in text or "gcc" in text.lower())
        except Exception:  # noqa: BLE001 -- no answer: no precompiled header
            _GCC[cxx] = False
    return _GCC[cxx]


def _starts_with_header(source):
    try:
        with open(source) as handle:
            first = [handle.readline().rstrip("\n") for _ in HEADER_LINES]
    except OSError:
        return False
    return tuple(first) == HEADER_LINES


def _build(folder, cxx, flags, run):
    """Precompile the header into ``folder``; True when it is there afterwards."""
    header = os.path.join(folder, "dltut_pch.h")
    gch = header + ".gch"
    if os.path.isfile(gch):
        return True
    from ..runs.checkpoint import atomic_write
    atomic_write(header, ("\n".join(HEADER_LINES) + "\n").encode("utf-8"))
    fd, tmp_gch = tempfile.mkstemp(dir=folder, suffix=".gch.tmp")
    os.close(fd)
    try:
        out = run([cxx] + list(flags) + ["-x", "c++-header", "-o", tmp_gch, header])
        if out[2] != 0 or os.path.getsize(tmp_gch) == 0:
            return False
        os.replace(tmp_gch, gch)        # whole or not at all: a reader never sees half
        return True
    finally:
        if os.path.exists(tmp_gch):
            os.remove(tmp_gch)


def _header_for(cmd, run):
    """The header to ``-include`` in the module compile ``cmd``, or None."""
    import theano
    split = _split(cmd)
    if split is None or not enabled():
        return None
    flags, source = split
    cxx = cmd[0]
    if cxx != theano.config.cxx or not _is_gcc(cxx, run) or not _starts_with_header(source):
        return None
    key = pch_key(cxx, flags)
    if key is None:
        return None
    folder = os.path.join(theano.config.compiledir, FOLDER, key)
    header = os.path.join(folder, "dltut_pch.h")
    with _LOCK:
        state = _KEYS.get(key, 0)
        if state == "failed":
            return None
        if state == "ready" or os.path.isfile(header + ".gch"):
            _KEYS[key] = "ready"
            return header
        if state == 0:
            # a flag set seen once may stay alone: the header pays from the second module on
            _KEYS[key] = 1
            return None
        try:
            ok = _build(folder, cxx, flags, run)
        except Exception:  # noqa: BLE001 -- could not build: compile as Theano does
            ok = False
        _KEYS[key] = "ready" if ok else "failed"
        STATS["built" if ok else "failed"] += 1
        return header if ok else None


def _patch(cmodule):
    if not right_theano(_NAME):
        return
    original = cmodule.output_subprocess_Popen

    def output_subprocess_Popen(command, **params):
        header = None
        try:
            header = _header_for(command, original)
        except Exception:  # noqa: BLE001 -- anything unexpected: Theano's own command
            header = None
        if header is None:
            return original(command, **params)
        at = list(command).index("-o") + 2
        out = original(list(command[:at]) + ["-include", header] + list(command[at:]), **params)
        if out[2] == 0:
            STATS["used"] += 1
            return out
        STATS["fallback"] += 1
        return original(command, **params)

    output_subprocess_Popen.__doc__ = original.__doc__
    cmodule.output_subprocess_Popen = output_subprocess_Popen
    if enabled():
        record(_NAME, True, "parsing the six headers every Theano C module begins with is most "
               "of the compiler's time for a module",
               "compiled once per compiler and flag set into <compiledir>/%s, then "
               "-include'd (DLTUT_PCH=0 turns it off)" % FOLDER)
    else:
        record(_NAME, False, "DLTUT_PCH=0")
