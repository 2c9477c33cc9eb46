"""Theano's compiled ``scan`` loop on Python 3.11 and later.

``theano.scan`` runs its steps either in Python (``Scan.execute``) or in a C extension,
``scan_perform``, that Theano compiles on first use from ``scan_perform.c``, C code Cython
0.28 generated in 2018.  That C code no longer compiles on Python 3.11+ (the code-object
constructor changed, thread-state and frame internals became private, a deprecated
unicode macro was removed), and Theano catches only ``ImportError`` around the attempt,
so the compiler error ends the user's program.

dltut builds the extension itself, the first time a scan is compiled, before Theano
tries (:func:`ensure_compiled`, run when Theano imports ``scan_perform_ext``):

* Cython's switches for CPython internals it may use are turned off with ``-D`` flags
  (``CYTHON_USE_PYLONG_INTERNALS``, ``CYTHON_FAST_THREAD_STATE``, ``CYTHON_FAST_PYCALL``,
  ``CYTHON_USE_UNICODE_INTERNALS``), so the generic C API is used instead;
* the fragments that have no switch are rewritten (:data:`EDITS`), each to the public
  API doing the same: code objects for tracebacks come from ``PyCode_NewEmpty``, the
  traceback's line number is not poked into the frame, a raise attaches its traceback
  with ``PyErr_Fetch/Restore``, an unsigned conversion tests the sign by comparison
  instead of ``Py_SIZE`` (which is no longer an int's sign on 3.12), and
  ``PyUnicode_GET_SIZE`` becomes ``PyUnicode_GET_LENGTH``;
* the result goes where Theano looks for it (``<compiledir>/scan_perform``) with the
  version Theano expects, so Theano imports it and never compiles the original.

Theano's file on disk is not changed; the edited copy is compiled under Theano's
compile lock.  When building is impossible (no C compiler, or a compiler error), dltut
prints one warning line and Theano runs scan in Python (slower, same results).
"""
import os
import re
import sys
import warnings

from . import numpy2, record, register

__all__ = ["MODULE", "CYTHON_SWITCHES", "NUMPY_FLAG_NAMES", "EDITS", "NUMPY2_EDITS",
           "ScanBuildError", "register_hooks", "edit_source", "expected_version", "built_version",
           "first_error", "compile_args", "build", "SIZE_WARNING", "ensure_compiled", "status"]

MODULE = "theano.scan_module.scan_perform_ext"

#: Defines that switch Cython 0.28's generated code to the public C API.
CYTHON_SWITCHES = ("CYTHON_USE_PYLONG_INTERNALS=0", "CYTHON_FAST_THREAD_STATE=0",
                   "CYTHON_FAST_PYCALL=0", "CYTHON_USE_UNICODE_INTERNALS=0")

#: Macros Theano itself defines when it compiles scan_perform.c (the NumPy 1.7 names).
NUMPY_FLAG_NAMES = ("ENSUREARRAY", "ENSURECOPY", "ALIGNED", "WRITEABLE", "UPDATE_ALL",
                    "C_CONTIGUOUS", "F_CONTIGUOUS")

_HELPERS = r"""
/* dltut: public-API replacements for what Python 3.11 made private (see dltut.compat.scan) */
static const char *__dltut_text(PyObject *o, const char *otherwise) {
    if (o && PyUnicode_Check(o)) {
        const char *t = PyUnicode_AsUTF8(o);
        if (t) return t;
        PyErr_Clear();
    }
    if (o && PyBytes_Check(o)) return PyBytes_AS_STRING(o);
    return otherwise;
}
static PyCodeObject *__dltut_PyCode_New(PyObject *filename, PyObject *name, int firstlineno) {
    return PyCode_NewEmpty(__dltut_text(filename, "scan_perform.pyx"),
                           __dltut_text(name, "?"), firstlineno);
}
static int __dltut_PyLong_AsByteArray(PyLongObject *v, unsigned char *bytes, size_t n,
                                      int little_endian, int is_signed) {
#if PY_VERSION_HEX >= 0x030D0000
    return _PyLong_AsByteArray(v, bytes, n, little_endian, is_signed, 1);
#else
    return _PyLong_AsByteArray(v, bytes, n, little_endian, is_signed);
#endif
}
"""

#: (what, old text, new text, how many times the old text occurs in Theano 1.0.5's file)
EDITS = (
    ("helpers after Python.h",
     '#include "Python.h"\n',
     '#include "Python.h"\n' + _HELPERS, 1),
    ("code objects through PyCode_NewEmpty",
     "  #define __Pyx_PyCode_New(a, k, l, s, f, code, c, n, v, fv, cell, fn, name, fline, lnos)\\\n"
     "          PyCode_New(a, k, l, s, f, code, c, n, v, fv, cell, fn, name, fline, lnos)\n"
     "  #define __Pyx_DefaultClassType PyType_Type",
     "  #define __Pyx_PyCode_New(a, k, l, s, f, code, c, n, v, fv, cell, fn, name, fline, lnos)\\\n"
     "          __dltut_PyCode_New(fn, name, fline)\n"
     "  #define __Pyx_DefaultClassType PyType_Type", 1),
    ("no write to frame->f_lineno",
     "#define __Pyx_PyFrame_SetLineNumber(frame, lineno)  (frame)->f_lineno = (lineno)",
     "#define __Pyx_PyFrame_SetLineNumber(frame, lineno)  ((void)(frame), (void)(lineno))", 1),
    ("raise: traceback through PyErr_Fetch/Restore",
     "#if CYTHON_COMPILING_IN_PYPY\n        PyObject *tmp_type, *tmp_value, *tmp_tb;\n"
     "        PyErr_Fetch(",
     "#if 1 /* dltut: public API on every Python */\n"
     "        PyObject *tmp_type, *tmp_value, *tmp_tb;\n        PyErr_Fetch(", 1),
    ("an int's sign by comparison, not Py_SIZE",
     "#if CYTHON_COMPILING_IN_CPYTHON\n            if (unlikely(Py_SIZE(x) < 0)) {",
     "#if 0 /* dltut: Py_SIZE is no int's sign on Python 3.12+ */\n"
     "            if (unlikely(Py_SIZE(x) < 0)) {", 3),
    ("PyUnicode_GET_LENGTH for the removed PyUnicode_GET_SIZE",
     "PyUnicode_GET_SIZE(", "PyUnicode_GET_LENGTH(", 7),
    ("_PyLong_AsByteArray with Python 3.13's extra argument",
     "int ret = _PyLong_AsByteArray((PyLongObject *)v,",
     "int ret = __dltut_PyLong_AsByteArray((PyLongObject *)v,", 3),
)

#: Edits for numpy 2, whose PyArray_Descr has these fields only behind accessors.
NUMPY2_EDITS = (
    ("dtype.subarray through PyDataType_SUBARRAY",
     "__pyx_v_d->subarray->shape", "PyDataType_SUBARRAY(__pyx_v_d)->shape", 2),
    ("dtype.names through PyDataType_NAMES",
     "__pyx_v_descr->names", "PyDataType_NAMES(__pyx_v_descr)", 2),
    ("dtype.fields through PyDataType_FIELDS",
     "__pyx_v_descr->fields", "PyDataType_FIELDS(__pyx_v_descr)", 2),
)

_STATE = {"done": False, "error": None}


class ScanBuildError(RuntimeError):
    """The compiled scan could not be built; the message says why."""


def register_hooks():
    register(MODULE, before=ensure_compiled)


def edit_source(text, numpy_2=False):
    """Theano's ``scan_perform.c`` with :data:`EDITS` (and :data:`NUMPY2_EDITS`) applied.

    Raises :class:`ScanBuildError` when an expected fragment is missing or repeated (a
    Theano other than 1.0.5's file).
    """
    for what, old, new, expected in EDITS + (NUMPY2_EDITS if numpy_2 else ()):
        count = text.count(old)
        if count != expected:
            raise ScanBuildError("scan_perform.c is not the file dltut knows (%s: found %d "
                                 "times, expected %d)" % (what, count, expected))
        text = text.replace(old, new)
    return text


def expected_version(scan_module_dir):
    """The version Theano's ``scan_perform_ext.py`` requires, read from its source."""
    path = os.path.join(scan_module_dir, "scan_perform_ext.py")
    with open(path, encoding="utf-8") as f:
        match = re.search(r"^version = ([0-9.]+)", f.read(), re.MULTILINE)
    if match is None:
        raise ScanBuildError("no version line in %s" % path)
    return match.group(1)


def built_version(location):
    """The ``_version`` in ``<location>/__init__.py`` if the extension is there too, else None."""
    init = os.path.join(location, "__init__.py")
    if not os.path.isfile(init):
        return None
    if not any(name.startswith("scan_perform.") and name.endswith(".so")
               or name.endswith(".pyd") for name in os.listdir(location)):
        return None
    with open(init, encoding="utf-8") as f:
        match = re.search(r"^_version = ([0-9.]+)", f.read(), re.MULTILINE)
    return match.group(1) if match else None


def first_error(output):
    """The first ``error: ...`` of a compiler's output (else its first line), shortened."""
    match = re.search(r"error: ([^\n]*?)(?:\. |\n|$)", output)
    text = match.group(1) if match else (output.strip().splitlines() or ["unknown error"])[0]
    return text[:200]


def compile_args():
    """Extra compiler arguments: Cython's switches and Theano's own NumPy macros."""
    args = ["-fwrapv", "-O2", "-fno-strict-aliasing"]
    args += ["-D" + switch for switch in CYTHON_SWITCHES]
    args += ["-DNPY_%s=NPY_ARRAY_%s" % (name, name) for name in NUMPY_FLAG_NAMES]
    return args


def build(force=False):
    """Compile the extension into Theano's compile directory unless it is there already.

    Returns ``"built"`` or ``"cached"``.  Raises :class:`ScanBuildError` (a compiler error,
    a source dltut does not recognise) or ImportError (no C compiler: Theano's own case).
    """
    import theano
    from theano.gof import cmodule, compilelock

    if not theano.config.cxx:
        raise ImportError("no C++ compiler (Theano's cxx flag is empty)")
    scan_dir = os.path.dirname(theano.scan_module.__file__)
    version = expected_version(scan_dir)
    location = os.path.join(theano.config.compiledir, "scan_perform")
    if not force and built_version(location) == version:
        return "cached"
    compilelock.get_lock()
    try:
        if not force and built_version(location) == version:
            return "cached"
        with open(os.path.join(scan_dir, "c_code", "scan_perform.c"), encoding="utf-8") as f:
            code = edit_source(f.read(), numpy_2=numpy2.numpy_is_2())
        os.makedirs(location, exist_ok=True)
        preargs = compile_args() + list(cmodule.GCC_compiler.compile_args())
        try:
            cmodule.GCC_compiler.compile_str("scan_perform", code, location=location,
                                             preargs=preargs, hide_symbols=False)
        except Exception as exc:   # Theano raises a bare Exception with the compiler output
            raise ScanBuildError("the C compiler failed: %s" % first_error(str(exc)))
        finally:
            # compile_str imported the new file as a top-level module "scan_perform";
            # Theano expects the package of that name (with _version), so forget it
            module = sys.modules.get("scan_perform")
            if module is not None and not hasattr(module, "__path__"):
                del sys.modules["scan_perform"]
        from ..runs.checkpoint import atomic_write
        atomic_write(os.path.join(location, "__init__.py"),
                     ("# Theano's scan_perform.c, compiled by dltut.compat.scan\n"
                      "_version = %s\n_built_by = 'dltut'\n" % version).encode("utf-8"))
        return "built"
    finally:
        compilelock.release_lock()


#: Cython checks the sizes of numpy's types when the extension loads; numpy 2's are larger
#: than its 1.x headers' and the check warns (harmlessly: scan uses none of those fields).
SIZE_WARNING = r"numpy\.\w+ size changed, may indicate binary incompatibility"


def ensure_compiled():
    """Before-hook of ``scan_perform_ext``: build the extension, or make Theano use Python.

    Raising ImportError here is what makes Theano fall back to its Python loop.
    """
    if _STATE["error"] is not None:
        raise ImportError(_STATE["error"])
    if _STATE["done"]:
        return
    warnings.filterwarnings("ignore", message=SIZE_WARNING, category=RuntimeWarning)
    try:
        how = build()
    except ImportError as exc:
        _STATE["error"] = str(exc)
        record("compiled scan", False, "scan runs in Python: %s" % exc)
        raise
    except ScanBuildError as exc:
        _STATE["error"] = str(exc)
        record("compiled scan", False, "scan runs in Python (slower): %s" % exc)
        print("dltut: Theano's compiled scan could not be built (%s); scan runs in Python "
              "(slower, same results)" % exc, file=sys.stderr)
        raise ImportError(str(exc))
    _STATE["done"] = True
    record("compiled scan", True,
           "Theano's scan_perform.c does not compile on Python 3.11+ as shipped",
           "%s with public-API edits (%s)" % ("compiled now" if how == "built" else "cached",
                                              "; ".join(edit[0] for edit in EDITS[1:])))



def status():
    """``(state, where)`` of the compiled scan without building anything: state is
    ``"ready"`` (built for this Theano), ``"not built yet"`` (it is built the first time a
    scan is compiled) or ``"unavailable: <reason>"`` after a failed build in this process."""
    import theano
    if _STATE["error"] is not None:
        return "unavailable: %s" % _STATE["error"], ""
    location = os.path.join(theano.config.compiledir, "scan_perform")
    try:
        version = expected_version(os.path.dirname(theano.scan_module.__file__))
    except (OSError, ScanBuildError) as exc:
        return "unavailable: %s" % exc, location
    ready = built_version(location) == version
    return ("ready" if ready else "not built yet"), location
