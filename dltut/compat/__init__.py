"""Theano 1.0.5 on today's Python and numpy: every change dltut makes, where, and why.

Theano 1.0.5 (2020) predates Python 3.12 and numpy 1.24/2.x.  Nothing in Theano's files is
edited; instead dltut steps in at import time, through one import hook:

* :func:`install` puts :data:`HOOK` first on ``sys.meta_path``.  It looks only at a few
  module names (:func:`register`).  When one of them is about to be imported it runs that
  name's *before* function, lets the normal machinery find the module, and runs the
  name's *after* function on the module object right after the module's own code ran
  (before anything else can use it).
* ``import dltut`` calls :func:`install` (through :func:`dltut.runtime.setup.configure`).  So that
  ``import theano`` may come first too, in scripts, notebooks and pytest, dltut's
  installation puts ``dltut-startup.pth`` into site-packages: Python runs its one line at
  start-up, which installs a finder that waits for ``theano`` and then imports dltut
  (:mod:`dltut.compat.startup`).

Each measure records whether it is active and why (:func:`describe`, shown by
``python -m dltut.info``).  The measures live in :mod:`dltut.compat.numpy_shims`
(Python 3.12 and numpy >= 1.24), :mod:`dltut.compat.numpy2` (numpy 2's C API and
promotion rules), :mod:`dltut.compat.scipy_shims` (scipy's moved private functions),
:mod:`dltut.compat.scan` (the compiled ``scan``), :mod:`dltut.compat.cache_keys` (two
bugs that kept Theano's compile cache from being reused across processes),
:mod:`dltut.compat.probes` (Theano's compiler probes, remembered between processes),
:mod:`dltut.compat.pch` (the headers every C module begins with, precompiled once),
:mod:`dltut.compat.opencl` (two GPU kernels made valid OpenCL, on OpenCL devices only) and
:mod:`dltut.compat.gpu_argmax` (the errors' argmax kept on the GPU).

This package imports neither numpy nor Theano when it is imported; the measures import
numpy when Theano is about to load.
"""
import importlib.abc
import importlib.machinery
import sys
import threading
from collections import OrderedDict

__all__ = ["MEASURES", "record", "describe", "register", "recompile_method", "TheanoImportHook",
           "HOOK", "install", "startup_hook_ran"]

#: name -> {"active": bool, "why": str, "detail": str}, in the order the measures ran
MEASURES = OrderedDict()

# module name -> ([before functions], [after functions])
_HOOKS = {}
_LOCK = threading.RLock()
_INSTALLED = False
_STARTUP = {"seen": False}


def record(name, active, why, detail=""):
    """Note what a measure decided (shown by ``python -m dltut.info``)."""
    MEASURES[name] = {"active": bool(active), "why": why, "detail": detail}


def describe():
    """The measures as a list of ``(name, active, why, detail)``, in the order they ran."""
    return [(name, m["active"], m["why"], m["detail"]) for name, m in MEASURES.items()]


def register(module_name, before=None, after=None):
    """Run ``before()`` when ``module_name`` is about to be imported, ``after(module)`` when
    its code has run.  Registering the same function twice has no further effect."""
    with _LOCK:
        befores, afters = _HOOKS.setdefault(module_name, ([], []))
        if before is not None and before not in befores:
            befores.append(before)
        if after is not None and after not in afters:
            afters.append(after)


def recompile_method(cls, method_name, edits):
    """Replace ``cls.method_name`` by the same function compiled from Theano's own source
    with ``edits`` applied: ``(old, new, expected count)`` text replacements.

    Raises ValueError (changing nothing) when a count differs -- a Theano other than 1.0.5
    -- or OSError when the source is not available.
    """
    import inspect
    import textwrap
    function = getattr(cls, method_name)
    source = textwrap.dedent(inspect.getsource(function))
    for old, new, expected in edits:
        count = source.count(old)
        if count != expected:
            raise ValueError("%s.%s: expected %r %d times, found it %d times"
                             % (cls.__name__, method_name, old, expected, count))
        source = source.replace(old, new)
    module = sys.modules[function.__module__]
    code = compile(source, inspect.getsourcefile(function), "exec")
    namespace = {}
    exec(code, module.__dict__, namespace)
    new = namespace[method_name]
    new.__doc__ = function.__doc__
    setattr(cls, method_name, new)
    return new


class _AfterLoader(importlib.abc.Loader):
    """Delegates to the real loader and calls the *after* functions once the module ran."""

    def __init__(self, loader, afters):
        self._loader = loader
        self._afters = afters

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._loader.exec_module(module)
        for after in self._afters:
            after(module)

    def __getattr__(self, name):          # get_source, get_data, is_package, ...
        return getattr(self._loader, name)


class TheanoImportHook(importlib.abc.MetaPathFinder):
    """The finder on ``sys.meta_path`` that runs the registered measures."""

    def find_spec(self, fullname, path=None, target=None):
        hooks = _HOOKS.get(fullname)
        if hooks is None:
            return None
        befores, afters = hooks
        for before in list(befores):
            before()
        spec = _find_elsewhere(self, fullname, path, target)
        if spec is None or spec.loader is None or not afters:
            return spec
        spec.loader = _AfterLoader(spec.loader, list(afters))
        return spec


def _is_startup_finder(finder):
    return getattr(finder, "_dltut_startup_hook", False)


def _find_elsewhere(skip, fullname, path, target):
    """The spec the rest of ``sys.meta_path`` finds for ``fullname`` (our hooks skipped)."""
    for finder in list(sys.meta_path):
        if finder is skip or _is_startup_finder(finder):
            continue
        find_spec = getattr(finder, "find_spec", None)
        if find_spec is None:
            continue
        spec = find_spec(fullname, path, target)
        if spec is not None:
            return spec
    return None


#: The one hook instance.
HOOK = TheanoImportHook()


def install():
    """Register dltut's measures and put :data:`HOOK` first on ``sys.meta_path``.

    Idempotent.  Call it before Theano is imported; measures for modules that are already
    imported cannot run any more and say so in :func:`describe`.
    """
    global _INSTALLED
    with _LOCK:
        if _INSTALLED:
            return HOOK
        from . import (cache_keys, gpu_argmax, numpy2, numpy_shims, opencl, parallel_compile,
                       pch, probes, scan, scipy_shims)
        numpy_shims.register_hooks()
        cache_keys.register_hooks()
        probes.register_hooks()
        parallel_compile.register_hooks()
        pch.register_hooks()
        numpy2.register_hooks()
        scipy_shims.register_hooks()
        scan.register_hooks()
        opencl.register_hooks()
        gpu_argmax.register_hooks()
        # the start-up finder (dltut-startup.pth) has done its job once dltut is here
        if any(_is_startup_finder(f) for f in sys.meta_path):
            _STARTUP["seen"] = True
            sys.meta_path[:] = [f for f in sys.meta_path if not _is_startup_finder(f)]
        if HOOK not in sys.meta_path:
            sys.meta_path.insert(0, HOOK)
        _INSTALLED = True
    return HOOK


def startup_hook_ran():
    """Whether ``dltut-startup.pth`` had installed its finder in this interpreter (it is
    taken off ``sys.meta_path`` once dltut is imported)."""
    return _STARTUP["seen"] or any(_is_startup_finder(f) for f in sys.meta_path)
