"""Theano 1.0.5's compile cache, reused across processes as it was meant to be.

Theano keeps each compiled C module under a key: the graph's signature and the versions
its ops declare.  A graph whose key is *unversioned* is compiled anew in every process.
Two bugs in Theano 1.0.5 make the graphs of every tutorial model unversioned or
process-dependent, so every new process recompiled five or six modules (4-6 s before a
model could run):

* ``COp.c_code_cache_version`` (``DimShuffle`` and the other ops whose C code lives in
  files) is ``hash()`` of the C code's text: Python salts string hashes per process, so the
  version -- and the key -- differed in every process.  It becomes a SHA-256 of the same
  text.
* ``CLinker.cmodule_key_`` appends each op's ``__props__`` (the names of its parameters) to
  the version and treats any empty entry as "unversioned"; ops without parameters
  (``Dot22``, ``Alloc``, ``ScalarFromTensor``, the softmax/cross-entropy ops, ...) have an
  empty ``__props__``, so every graph containing one was unversioned even though the op
  declares a C version.  An empty ``__props__`` now counts as a value; an op's own
  ``c_code_cache_version`` still decides whether it is versioned.

A third fix concerns processes that share the cache (a search's workers, two notebooks):
``KeyData.save_pkl`` writes a module's ``key.pkl`` in place, and another process's cache
refresh that reads the half-written file takes the module for broken and deletes its
folder (``Deleting (broken cache directory [EOF])``) while the first process uses it.  The
file is now written to a temporary name and renamed, so a reader sees all of it or none.

Keys of graphs that were versioned before do not change, so existing caches stay valid.
Both fixes apply only to Theano 1.0.5 (other versions are left alone and the measure says
so); ``tests/test_compat.py`` checks in fresh processes that a second process compiles
nothing.
"""
import hashlib

from . import recompile_method, record, register

__all__ = ["THEANO_VERSION", "PROPS_EDIT", "register_hooks", "right_theano", "stable_code_version"]

#: The Theano release whose code these fixes were written against.
THEANO_VERSION = "1.0.5"

#: ``CLinker.cmodule_key_``: an empty __props__ must not read as "unversioned".
PROPS_EDIT = ("version.append(node.op.__props__)",
              "version.append(node.op.__props__ or ('no __props__',))", 1)

_STATE = {}


def register_hooks():
    register("theano.gof.op", after=_fix_cop_version)
    register("theano.gof.cc", after=_fix_props_version)
    register("theano.gof.cmodule", after=_fix_key_pkl_writes)


def _theano_version():
    import theano
    return getattr(theano, "__version__", "")


def right_theano(name):
    """True on the Theano these measures were written for; otherwise records ``name`` as
    left alone and returns False (the one check every Theano-internals measure makes)."""
    version = _theano_version()
    if version.split("+")[0] != THEANO_VERSION:
        record(name, False, "written for Theano %s, this is %s: left alone"
               % (THEANO_VERSION, version))
        return False
    return True


def stable_code_version(func_codes):
    """A version number for C code texts that is the same in every process."""
    digest = hashlib.sha256("\0".join(func_codes).encode("utf-8")).hexdigest()
    return int(digest[:15], 16)


def _fix_cop_version(op_module):
    name = "compile cache: COp versions"
    if not right_theano(name):
        return
    cop = op_module.COp

    def c_code_cache_version(self):
        version = (stable_code_version(self.func_codes),)
        if hasattr(self, "params_type"):
            version += (self.params_type.c_code_cache_version(),)
        return version

    c_code_cache_version.__doc__ = cop.c_code_cache_version.__doc__
    cop.c_code_cache_version = c_code_cache_version
    record(name, True, "Theano %s versions C-file ops with Python's per-process string "
           "hash, so no process reused another's modules" % THEANO_VERSION,
           "COp.c_code_cache_version: SHA-256 of the C code")


def _fix_props_version(cc):
    name = "compile cache: ops without parameters"
    if not right_theano(name):
        return
    try:
        recompile_method(cc.CLinker, "cmodule_key_", [PROPS_EDIT])
    except (OSError, TypeError, ValueError) as exc:
        record(name, False, "left as it is: %s" % exc)
        return
    record(name, True, "Theano %s counts an op with an empty __props__ as unversioned, so "
           "graphs with Dot22, Alloc or the softmax ops were compiled in every process"
           % THEANO_VERSION, "CLinker.cmodule_key_: an empty __props__ is a value")


def _fix_key_pkl_writes(cmodule):
    name = "compile cache: whole key files"
    if not right_theano(name):
        return
    import pickle
    from ..runs.checkpoint import atomic_write
    key_data = cmodule.KeyData
    logger = cmodule._logger

    def save_pkl(self):
        try:
            data = pickle.dumps(self, protocol=pickle.HIGHEST_PROTOCOL)
        except pickle.PicklingError:
            logger.warning("Cache leak due to unpickle-able key data %s", self.keys)
            raise
        atomic_write(self.key_pkl, data)

    save_pkl.__doc__ = key_data.save_pkl.__doc__
    key_data.save_pkl = save_pkl
    record(name, True, "Theano %s writes key.pkl in place; a concurrent process's cache "
           "refresh can read it half-written and delete the module" % THEANO_VERSION,
           "KeyData.save_pkl writes a temporary file and renames it")
