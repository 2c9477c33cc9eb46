"""Theano's C modules compiled side by side on every core.

Theano 1.0.5 compiles a function's C modules one after another while it links the graph:
one compiler process at a time, each module a second or two, some 30 modules for the MLP
and 40 for LeNet5, so a first run waits 20-40 s on one core while the others idle.  Here
the linker looks ahead: before it makes the node thunks, the C modules the cache does not
hold yet are generated and compiled by several compiler processes at once, each into a
private temporary folder.  Theano then goes its usual way, one node after another, under
its compile lock; when it asks the compiler for a module that was compiled ahead (same
name, same source, same flags), the finished library is copied into Theano's own folder
instead, and everything after that (cache keys, ``key.pkl``, loading) is Theano's.

Anything the look-ahead cannot do -- an op without C code, a key it cannot compute, a
compile that fails -- is left to Theano, which then does what it always did (and reports
any error itself).  ``DLTUT_COMPILE_THREADS`` sets the number of compiler processes
(default: the number of cores; 1 turns the look-ahead off).

Theano 1.0.5 only; other versions are left alone and the measure says so.
"""
import concurrent.futures
import hashlib
import os
import shutil
import tempfile
import threading

from . import record, register
from .cache_keys import THEANO_VERSION, right_theano

__all__ = ["STATS", "register_hooks", "threads"]


_NAME = "parallel compilation"
_LOCAL = threading.local()
#: (module name, source digest, flags) -> path of a library compiled ahead
_READY = {}
_READY_LOCK = threading.Lock()
STATS = {"ahead": 0, "used": 0, "failed": 0}


def register_hooks():
    register("theano.gof.cmodule", after=_patch_compiler)
    register("theano.gof.vm", after=_patch_linker)


def threads():
    """Compiler processes to run at once (``DLTUT_COMPILE_THREADS``, default: the cores)."""
    value = os.environ.get("DLTUT_COMPILE_THREADS", "")
    try:
        n = int(value) if value.strip() else 0
    except ValueError:
        n = 0
    if n <= 0:
        n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, n)


def _job_key(module_name, src_code, location_free_args):
    digest = hashlib.sha256(src_code.encode("utf-8")).hexdigest()
    return (module_name, digest, repr(location_free_args))


def _patch_compiler(cmodule):
    if not right_theano(_NAME):
        return
    gcc = cmodule.GCC_compiler
    original_compile_str = gcc.compile_str
    original_dlimport = cmodule.dlimport

    def dlimport(fullpath, suffix=None):
        if getattr(_LOCAL, "ahead", False):
            return fullpath     # compiled ahead: loaded later, from Theano's own folder
        return original_dlimport(fullpath, suffix)

    def compile_str(module_name, src_code, location=None, include_dirs=None, lib_dirs=None,
                    libs=None, preargs=None, py_module=True, hide_symbols=True):
        args = (include_dirs, lib_dirs, libs, preargs, py_module, hide_symbols)
        if not getattr(_LOCAL, "ahead", False) and location is not None and py_module:
            with _READY_LOCK:
                ready = _READY.pop(_job_key(module_name, src_code, args), None)
            if ready is not None and os.path.isfile(ready):
                # Theano's folder gets what its own compile would have left there
                shutil.copyfile(os.path.join(os.path.dirname(ready), "mod.cpp"),
                                os.path.join(location, "mod.cpp"))
                target = os.path.join(location, os.path.basename(ready))
                shutil.copyfile(ready, target)
                STATS["used"] += 1
                return original_dlimport(target)
        return original_compile_str(module_name, src_code, location=location,
                                    include_dirs=include_dirs, lib_dirs=lib_dirs, libs=libs,
                                    preargs=preargs, py_module=py_module,
                                    hide_symbols=hide_symbols)

    compile_str.__doc__ = original_compile_str.__doc__
    gcc.compile_str = staticmethod(compile_str)
    cmodule.dlimport = dlimport
    _STATE["cmodule"] = cmodule
    record(_NAME, True, "Theano %s compiles a function's C modules one at a time"
           % THEANO_VERSION, "the modules a function needs are compiled ahead, %d at once "
           "(DLTUT_COMPILE_THREADS)" % threads())


_STATE = {}


def _uses_default_thunk(op):
    from theano.gof.op import Op
    return getattr(type(op), "make_thunk", None) is Op.make_thunk and \
        getattr(type(op), "make_c_thunk", None) is Op.make_c_thunk


def _plan(order):
    """The compile jobs for the nodes of ``order`` whose modules the cache lacks:
    ``[(job key, callable that compiles into a folder)]``, one per distinct module."""
    import theano
    from theano.gof import cc, cmodule
    from theano.gof.fg import FunctionGraph
    cache = cc.get_module_cache()
    jobs, seen = [], set()
    for node in order:
        op = node.op
        if not _uses_default_thunk(op) or not getattr(op, "_op_use_c_code", theano.config.cxx):
            continue
        if any(getattr(v.type, "dtype", "") == "float16" for v in node.inputs + node.outputs):
            continue
        try:
            fgraph = FunctionGraph(node.inputs, node.outputs)
            linker = cc.CLinker().accept(fgraph, no_recycling=[])
            key = linker.cmodule_key()
            if key is None or cache._get_from_key(key) is not None:
                continue
            for inner in linker.node_order:
                inner.op.prepare_node(inner, {}, None, "c")
            module = linker.get_dynamic_module()
            src_code = module.code()
            if cmodule.get_module_hash(src_code, key) in cache.module_hash_to_key_data:
                continue        # the same code under another key: Theano reuses it
            args = (linker.header_dirs(), linker.lib_dirs(), linker.libraries(),
                    linker.compile_args(), True, True)
        except Exception:  # noqa: BLE001 -- Theano decides what to do with this node
            continue
        job = _job_key(module.code_hash, src_code, args)
        if job in seen:
            continue
        seen.add(job)
        jobs.append((job, linker.c_compiler(), module.code_hash, src_code, args))
    return jobs


def _compile_ahead(job, compiler, module_name, src_code, args, folder):
    include_dirs, lib_dirs, libs, preargs, py_module, hide_symbols = args
    location = tempfile.mkdtemp(prefix="m", dir=folder)
    _LOCAL.ahead = True
    try:
        path = compiler.compile_str(module_name, src_code, location=location,
                                    include_dirs=include_dirs, lib_dirs=lib_dirs, libs=libs,
                                    preargs=preargs, py_module=py_module,
                                    hide_symbols=hide_symbols)
    except Exception:  # noqa: BLE001 -- Theano compiles it again and reports the error
        STATS["failed"] += 1
        return
    finally:
        _LOCAL.ahead = False
    if isinstance(path, str) and os.path.isfile(path):
        with _READY_LOCK:
            _READY[job] = path
        STATS["ahead"] += 1


def _patch_linker(vm):
    if not right_theano(_NAME):
        return
    linker = vm.VM_Linker
    original_make_all = linker.make_all

    def make_all(self, profiler=None, input_storage=None, output_storage=None,
                 storage_map=None):
        folder = None
        n = threads()
        if n > 1 and self.c_thunks is not False and "cmodule" in _STATE:
            try:
                jobs = _plan(self.schedule(self.fgraph))
            except Exception:  # noqa: BLE001
                jobs = []
            if len(jobs) > 1:
                folder = tempfile.mkdtemp(prefix="dltut-compile-")
                with concurrent.futures.ThreadPoolExecutor(min(n, len(jobs))) as pool:
                    for job in jobs:
                        pool.submit(_compile_ahead, *job, folder)
        try:
            return original_make_all(self, profiler=profiler, input_storage=input_storage,
                                     output_storage=output_storage, storage_map=storage_map)
        finally:
            if folder is not None:
                with _READY_LOCK:
                    for job in [j for j, path in _READY.items() if path.startswith(folder)]:
                        del _READY[job]
                shutil.rmtree(folder, ignore_errors=True)

    make_all.__doc__ = original_make_all.__doc__
    linker.make_all = make_all
