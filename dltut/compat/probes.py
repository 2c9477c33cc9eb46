"""Theano 1.0.5's two compiler probes, remembered between processes.

Before its first C compilation in a process, Theano runs two probes:

* ``GCC_compiler.compile_args`` works out the ``-march``/``-m`` flags that stand for
  ``-march=native`` (three runs of the compiler's preprocessor, then a test program
  compiled and run);
* ``theano.tensor.blas_c.check_force_gemv_init`` compiles and runs a small BLAS program to
  see whether ``dgemv`` reads ``y`` when ``beta`` is 0.

Both answers depend only on the compiler, the CPU, the compiler flags and the BLAS, yet
Theano keeps them in memory only, so every new process pays for them again: about 0.6 s
of a warm start (a second process whose modules are all in the compile cache), most of
what is left once :mod:`dltut.compat.cache_keys` lets it reuse the modules.  Here each
answer is kept in ``dltut-probes.json`` in Theano's compile folder, under a key made of
what it depends on (the compiler's path, size and modification time; ``gcc.cxxflags``;
the CPU's model name and flags; ``blas.ldflags`` for the BLAS probe), and a process that
finds its key there starts with the answer.  A new compiler, CPU (a compile folder shared
over NFS), flag or BLAS gives a new key, so the probes run again.  The flags found are
the same list Theano would find, so the compiled modules' keys do not change.

Theano 1.0.5 only; other versions are left alone and the measure says so.
"""
import atexit
import hashlib
import json
import os
import shutil

from . import record, register
from .cache_keys import THEANO_VERSION, right_theano

__all__ = ["FILE_NAME", "MAX_ENTRIES", "register_hooks", "probe_key"]


#: The file, in theano.config.compiledir.
FILE_NAME = "dltut-probes.json"

#: Entries kept (one per compiler/CPU/flags/BLAS combination seen).
MAX_ENTRIES = 32

_NAME = "compiler probes remembered"
_STATE = {"cached": {}, "found": {}, "saved": False}


def register_hooks():
    register("theano.gof.cmodule", after=_march_flags)
    register("theano.tensor.blas_c", after=_gemv_probe)


def _cpu_identity():
    """The CPU's model name and feature flags (first processor of /proc/cpuinfo), or the
    platform's description where there is no such file."""
    try:
        with open("/proc/cpuinfo") as handle:
            wanted = {}
            for line in handle:
                if not line.strip():
                    break
                name, _, value = line.partition(":")
                name = name.strip()
                if name in ("model name", "flags", "Features", "CPU part", "vendor_id"):
                    wanted[name] = value.strip()
        return json.dumps(wanted, sort_keys=True)
    except OSError:
        import platform
        return "%s %s" % (platform.machine(), platform.processor())


def _compiler_identity():
    import theano
    cxx = theano.config.cxx
    path = shutil.which(cxx) or cxx
    try:
        real = os.path.realpath(path)
        st = os.stat(real)
        return "%s %s %d %d" % (cxx, real, st.st_size, st.st_mtime_ns)
    except OSError:
        return None


def probe_key(probe):
    """The key of ``probe`` ("march" or "gemv") in this process, or None when the compiler
    cannot be identified (then nothing is remembered)."""
    import theano
    compiler = _compiler_identity()
    if compiler is None:
        return None
    parts = [probe, THEANO_VERSION, compiler, theano.config.gcc.cxxflags, _cpu_identity()]
    if probe == "gemv":
        parts.append(theano.config.blas.ldflags)
    return hashlib.sha256("\0".join(parts).encode("utf-8")).hexdigest()[:32]


def _path():
    import theano
    return os.path.join(theano.config.compiledir, FILE_NAME)


def _load():
    try:
        with open(_path()) as handle:
            data = json.load(handle)
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _save():
    """Add this process's probe results to the file (atexit; never raises)."""
    if not _STATE["found"]:
        return
    try:
        from ..runs.checkpoint import atomic_write
        data = _load()
        data.update(_STATE["found"])
        if len(data) > MAX_ENTRIES:
            data = dict(list(data.items())[-MAX_ENTRIES:])
        atomic_write(_path(), json.dumps(data, sort_keys=True).encode("utf-8"))
        _STATE["found"].clear()
    except Exception:  # noqa: BLE001 -- a cache that cannot be written only costs time
        pass


def _remember(key, value):
    _STATE["found"][key] = value
    if not _STATE["saved"]:
        _STATE["saved"] = True
        atexit.register(_save)


def _march_flags(cmodule):
    if not right_theano(_NAME):
        return
    gcc = cmodule.GCC_compiler
    key = probe_key("march")
    if key is None:
        import theano
        record(_NAME, False, "the compiler %r was not found: Theano probes it in every "
               "process" % theano.config.cxx)
        return
    cached = _load().get(key)
    if gcc.march_flags is None and isinstance(cached, list) \
            and all(isinstance(f, str) for f in cached):
        gcc.march_flags = list(cached)
        _STATE["cached"]["march"] = True
    else:
        original = gcc.compile_args

        def compile_args(march_flags=True):
            probing = gcc.march_flags is None and march_flags
            result = original(march_flags)
            if probing and gcc.march_flags is not None:
                _remember(key, list(gcc.march_flags))
            return result

        compile_args.__doc__ = original.__doc__
        gcc.compile_args = staticmethod(compile_args)
    _record()


def _gemv_probe(blas_c):
    if not right_theano(_NAME):
        return
    probe = blas_c.check_force_gemv_init
    key = probe_key("gemv")
    if key is None:
        return
    cached = _load().get(key)
    if probe._force_init_beta is None and isinstance(cached, bool):
        probe._force_init_beta = cached
        _STATE["cached"]["gemv"] = True
    else:
        def save_at_exit():
            if isinstance(probe._force_init_beta, bool):
                _STATE["found"][key] = probe._force_init_beta
                _save()
        atexit.register(save_at_exit)
    _record()


def _record():
    cached = sorted(_STATE["cached"])
    record(_NAME, True, "Theano %s probes the compiler's -march flags and the BLAS's gemv in "
           "every process (about 0.6 s of a warm start)" % THEANO_VERSION,
           "kept in <compiledir>/%s; %s" % (
               FILE_NAME, "this process reused: %s" % ", ".join(cached) if cached
               else "this process probes and records them"))
