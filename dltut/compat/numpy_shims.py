"""What Theano 1.0.5 imports that today's numpy and Python no longer have.

Applied once, just before Theano's first line runs (:func:`before_theano`):

* **numpy names.**  numpy 1.24 removed the aliases of Python's built-in types, and numpy 2
  ``cast``, ``product`` and ``sctype2char``.  Theano calls ``numpy.complex`` in two places
  and ``numpy.bool`` through ``getattr(numpy, dtype)``; one of the former
  (``theano.tensor.basic``'s constant detection) sits inside a bare ``try/except``, so
  without the alias nothing fails loudly: constants are just not recognised and graphs
  come out less optimised.  The removed names Theano uses (:func:`removed_names`) are put
  back as what they meant.
* **Warnings that are not the user's business.**  Importing Theano's GPU back-end imports
  ``pkg_resources``, which setuptools >= 67 reports as deprecated; that one warning from
  that one module is silenced.
* **numpy.distutils.**  Theano's C compiler module imports ``numpy.distutils`` to ask for
  numpy's include folder.  numpy removed ``numpy.distutils`` for Python 3.12 and in numpy 2;
  where it cannot be imported, a stand-in with that one function (and an empty BLAS
  ``__config__`` probe, which dltut never needs because it sets ``blas.ldflags``) is
  registered under its name.
* **imp.**  Python 3.12 removed the ``imp`` module, which ``theano.tests.breakpoint`` (imported
  by Theano's GPU back-end) imports to look for a debugger.  Where ``imp`` cannot be
  imported, a stand-in with ``find_module`` is visible to that one module while it loads,
  and removed from ``sys.modules`` right after, so no other code sees an ``imp`` module.

* **Pooling's Python code.**  ``Pool.perform`` (and ``MaxPoolRop.perform``) index an
  array with a *list* of slices; numpy 1.23 made that an error (it used to mean a tuple),
  so Theano's Python pooling -- used where C is unavailable, and the reference its C code
  is checked against -- fails.  The two methods are recompiled from Theano's own source
  with a tuple there, nothing else changed.

``distutils`` itself (Theano's compiler module uses ``distutils.sysconfig``) comes from
setuptools on Python 3.12+, which dltut therefore requires there.
"""
import importlib
import importlib.machinery
import importlib.util
import os
import sys
import types
import warnings

from . import recompile_method, record, register

__all__ = ["removed_names", "IMP_USER", "LIST_OF_SLICES", "TUPLE_OF_SLICES", "POOL_METHODS",
           "register_hooks", "before_theano", "restore_aliases", "provide_numpy_distutils",
           "fix_pool_indexing"]

class _Cast(object):
    """numpy 1's ``numpy.cast``: ``numpy.cast[dtype](x)`` is ``asarray(x).astype(dtype)``."""

    def __getitem__(self, dtype):
        import numpy
        return lambda x: numpy.asarray(x).astype(dtype)


def removed_names():
    """(name, value, where Theano uses it) for the numpy names Theano 1.0.5's library code
    uses that numpy removed: the Python-type aliases (numpy 1.24) and three functions
    (numpy 2).  Each value is what the name meant before."""
    import numpy
    return (
        ("complex", complex, "theano/scalar/basic.py, theano/tensor/basic.py"),
        ("bool", bool, "getattr(numpy, dtype) for dtype 'bool' in theano/scalar"),
        ("cast", _Cast(), "gradients in theano/scalar/basic.py, theano/tensor/nnet/bn.py"),
        ("product", numpy.prod, "theano/scalar/basic.py (Mul's gradient)"),
        ("sctype2char", lambda t: numpy.dtype(t).char, "theano/tensor/elemwise.py"),
        ("ComplexWarning", getattr(getattr(numpy, "exceptions", None), "ComplexWarning", None),
         "theano/tensor/nnet/abstract_conv.py (Python convolution)"),
    )


#: The one Theano module that imports ``imp``.
IMP_USER = "theano.tests.breakpoint"

_DONE = False


#: Theano 1.0.5's pooling code indexes with a list of slices, which numpy 1.23 stopped
#: reading as a tuple: (class, method) -> the expression, and the same with a tuple.
LIST_OF_SLICES = "[[region_slices[i][r[i]] for i in xrange(nd)]]"
TUPLE_OF_SLICES = "[tuple(region_slices[i][r[i]] for i in xrange(nd))]"
POOL_METHODS = (("Pool", "perform", 1), ("MaxPoolRop", "perform", 2))


def register_hooks():
    register("theano", before=before_theano)
    register("theano.tensor.signal.pool", after=fix_pool_indexing)
    register(IMP_USER, before=_lend_imp, after=_take_back_imp)


def before_theano():
    """Apply the shims (idempotent).  Imports numpy."""
    global _DONE
    if _DONE:
        return
    _DONE = True
    import numpy
    restore_aliases(numpy)
    provide_numpy_distutils(numpy)
    warnings.filterwarnings("ignore", message="pkg_resources is deprecated",
                            category=UserWarning, module="theano.gpuarray.linalg")


def restore_aliases(numpy):
    """Put back the removed names numpy lacks; returns the names added."""
    added = []
    for name, value, _ in removed_names():
        if name not in numpy.__dict__ and value is not None:
            # numpy raises AttributeError (with a hint) for these names
            setattr(numpy, name, value)
            added.append(name)
    record("numpy aliases", bool(added),
           "numpy %s removed names Theano 1.0.5 uses" % numpy.__version__ if added else
           "numpy %s still has the names Theano 1.0.5 uses" % numpy.__version__,
           "restored numpy.%s" % ", numpy.".join(added) if added else "")
    return added


def _importable(name):
    with warnings.catch_warnings():      # numpy.distutils warns that it is deprecated
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            importlib.import_module(name)
        except ImportError:
            return False
    return True


def _stub_module(name, doc, **attrs):
    module = types.ModuleType(name, doc)
    module.__dict__.update(attrs)
    module.__spec__ = importlib.machinery.ModuleSpec(name, None)
    module.__dltut_stub__ = True
    return module


def provide_numpy_distutils(numpy):
    """Register a ``numpy.distutils`` stand-in where the real one cannot be imported."""
    if _importable("numpy.distutils"):
        record("numpy.distutils stand-in", False,
               "numpy.distutils imports on Python %d.%d with numpy %s"
               % (sys.version_info[:2] + (numpy.__version__,)))
        return False

    def get_numpy_include_dirs():
        """numpy's C header folder (what Theano asks numpy.distutils for)."""
        return [numpy.get_include()]

    misc_util = _stub_module("numpy.distutils.misc_util", "dltut's stand-in (numpy's include dir)",
                             get_numpy_include_dirs=get_numpy_include_dirs)
    config = _stub_module("numpy.distutils.__config__",
                          "dltut's stand-in: no BLAS information (dltut sets blas.ldflags)",
                          blas_opt_info={}, show=lambda: None)
    package = _stub_module("numpy.distutils", "dltut's stand-in for numpy.distutils, which "
                           "numpy removed; only what Theano 1.0.5 calls",
                           misc_util=misc_util, __config__=config, __path__=[])
    for module in (package, misc_util, config):
        sys.modules[module.__name__] = module
    numpy.distutils = package
    record("numpy.distutils stand-in", True,
           "numpy.distutils is gone on Python %d.%d with numpy %s; Theano's compiler module "
           "imports it" % (sys.version_info[:2] + (numpy.__version__,)),
           "numpy.distutils.misc_util.get_numpy_include_dirs() -> numpy.get_include()")
    return True


def fix_pool_indexing(pool):
    """Recompile the two pooling ``perform`` methods with a tuple where they index with a
    list of slices (nothing changed, and the measure says so, for an unknown source)."""
    name = "pooling's Python code (numpy >= 1.23 indexing)"
    originals = [(getattr(pool, c), m, getattr(getattr(pool, c), m)) for c, m, _ in POOL_METHODS]
    try:
        for class_name, method_name, expected in POOL_METHODS:
            recompile_method(getattr(pool, class_name), method_name,
                             [(LIST_OF_SLICES, TUPLE_OF_SLICES, expected)])
    except (OSError, TypeError, ValueError) as exc:
        for cls, method_name, function in originals:
            setattr(cls, method_name, function)
        record(name, False, "left as it is: %s" % exc)
        return False
    record(name, True, "numpy >= 1.23 refuses a list of slices as an index, which Theano's "
           "Python pooling (Pool, MaxPoolRop) uses", "indexed with a tuple instead")
    return True


def _imp_stub():
    def find_module(name, path=None):
        """``(file, pathname, description)`` as ``imp.find_module`` returned it, with no open
        file (Theano only asks whether a debugger is installed)."""
        if path is None:
            spec = importlib.util.find_spec(name)
        else:
            spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None:
            raise ImportError("No module named %r" % (name,), name=name)
        if spec.submodule_search_locations:
            return None, list(spec.submodule_search_locations)[0], ("", "", 5)
        origin = spec.origin or ""
        return None, origin, (os.path.splitext(origin)[1], "rb", 1)

    return _stub_module("imp", "dltut's stand-in for the imp module Python 3.12 removed, "
                        "lent to %s while it loads" % IMP_USER, find_module=find_module)


def _lend_imp():
    if "imp" in sys.modules or importlib.util.find_spec("imp") is not None:
        record("imp stand-in", False, "Python %d.%d still has imp" % sys.version_info[:2])
        return
    sys.modules["imp"] = _imp_stub()
    record("imp stand-in", True,
           "Python %d.%d removed imp, which %s (reached through Theano's GPU back-end) imports"
           % (sys.version_info[:2] + (IMP_USER,)),
           "imp.find_module via importlib, visible to that module only")


def _take_back_imp(module):
    if getattr(sys.modules.get("imp"), "__dltut_stub__", False):
        del sys.modules["imp"]
