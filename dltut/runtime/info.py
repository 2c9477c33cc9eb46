"""What dltut and Theano run on here: ``python -m dltut.info [--no-bench] [--json]``.

Prints the versions, Theano's device, floatX and compile directory, the ``blas.ldflags`` in
effect and who chose it (the user, or dltut and why), the environment variables dltut set,
the CPU and its instruction-set class, what the loaded BLAS libraries report about
themselves (OpenBLAS core and configuration, MKL version, threads), and -- unless
``--no-bench`` -- a quick float32 matrix-product speed through Theano.

:func:`report` returns the same facts as a dict.
"""
import argparse
import ctypes
import json
import os
import platform
import re
import sys
import time

from .. import compat
from . import blas, flags, setup

__all__ = ["resolve_ldflags", "loaded_libraries", "describe_library", "numerics",
           "numerics_change", "numpy_blas", "ldflags_origin", "sgemm_gflops", "compat_report",
           "report", "format_report", "main"]


# --- the BLAS libraries in this process -----------------------------------------------------

def resolve_ldflags(ldflags, system_dirs=None):
    """The library files that ``-l`` tokens in ``ldflags`` name (searching its ``-L``
    directories, then the system ones); names not found are left out."""
    tokens = ldflags.split()
    dirs = [t[2:].strip("'\"") for t in tokens if t.startswith("-L")]
    dirs += blas.system_library_dirs() if system_dirs is None else system_dirs
    found = []
    for t in tokens:
        if not t.startswith("-l"):
            continue
        name = t[3:] if t.startswith("-l:") else "lib%s.so" % t[2:]
        for d in dirs:
            path = os.path.join(d, name)
            if os.path.exists(path):
                found.append(os.path.realpath(path))
                break
    return found


def loaded_libraries(pattern=r"openblas|mkl_rt|libblas|libcblas|atlas"):
    """Real paths of the shared libraries in this process matching ``pattern`` (from
    ``/proc/self/maps``; [] where that file does not exist)."""
    paths = []
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                parts = line.split(None, 5)
                if len(parts) == 6:
                    path = parts[5].strip()
                    name = os.path.basename(path)
                    if re.search(pattern, name) and ".so" in name and path not in paths:
                        paths.append(path)
    except OSError:
        pass
    return paths


def _call_str(lib, names, *args):
    for name in names:
        fn = getattr(lib, name, None)
        if fn is not None:
            fn.restype = ctypes.c_char_p
            value = fn(*args)
            return value.decode(errors="replace").strip() if value else ""
    return None


def _call_int(lib, names):
    for name in names:
        fn = getattr(lib, name, None)
        if fn is not None:
            fn.restype = ctypes.c_int
            return int(fn())
    return None


def describe_library(path):
    """What a BLAS library says about itself: ``{"path", "kind", "config", "core", "threads"}``.

    Loading a library that is not loaded yet makes it choose its kernels now, from the
    environment as it is now -- the same environment Theano's compiled code will see.
    """
    info = {"path": path, "kind": "unknown", "config": None, "core": None, "threads": None}
    try:
        lib = ctypes.CDLL(path)
    except OSError as exc:
        info["error"] = str(exc).splitlines()[0]
        return info
    # numpy's bundled OpenBLAS has its symbols suffixed with 64_ (64-bit integers).
    config = _call_str(lib, ["openblas_get_config", "openblas_get_config64_"])
    if config is not None:
        info["kind"] = "openblas"
        info["config"] = config
        info["core"] = _call_str(lib, ["openblas_get_corename", "openblas_get_corename64_"])
        info["threads"] = _call_int(lib, ["openblas_get_num_threads",
                                          "openblas_get_num_threads64_"])
        return info
    getver = getattr(lib, "mkl_get_version_string", None) or getattr(lib, "MKL_Get_Version_String", None)
    if getver is not None:
        buf = ctypes.create_string_buffer(256)
        getver.argtypes = [ctypes.c_char_p, ctypes.c_int]
        getver(buf, len(buf))
        info["kind"] = "mkl"
        info["config"] = buf.value.decode(errors="replace").strip()
        info["threads"] = _call_int(lib, ["mkl_get_max_threads", "MKL_Get_Max_Threads"])
    return info


def numerics():
    """What decides a run's float rounding besides its code and data, as a dict.

    ``floatX``, ``blas.ldflags``, and the core and thread count the BLAS that Theano links
    reports.  The same products round differently with another BLAS, another OpenBLAS core
    or another number of threads, so a run resumed under a different set continues along a
    (slightly) different path; :func:`numerics_change` says how.  Theano must be importable.
    """
    import theano
    ldflags = theano.config.blas.ldflags
    libraries = [describe_library(path) for path in resolve_ldflags(ldflags)]
    first = libraries[0] if libraries else {}
    return {"floatX": str(theano.config.floatX), "blas.ldflags": ldflags,
            "blas_core": first.get("core"), "blas_threads": first.get("threads")}


def numerics_change(before, now):
    """One line on how ``now`` (a :func:`numerics` dict) differs from ``before``; "" if it
    does not, or if ``before`` is unknown (a checkpoint from an older dltut)."""
    if not before:
        return ""
    changes = ["%s %s -> %s" % (key, before.get(key), now.get(key))
               for key in sorted(now) if key in before and before[key] != now[key]]
    if not changes:
        return ""
    return ("note: this run was saved under other numerics (%s): from here on it rounds "
            "differently from an uninterrupted run; set them back (e.g. OPENBLAS_NUM_THREADS) "
            "for an exact continuation" % ", ".join(changes))


def numpy_blas():
    """numpy's BLAS as the loaded library reports it (numpy must be imported)."""
    import numpy

    libs = [p for p in loaded_libraries() if "numpy" in p or "openblas64" in p]
    if not libs:
        # numpy built against a system BLAS: ask numpy which one
        return [{"path": None, "kind": "unknown",
                 "config": str(getattr(numpy, "__config__", None) and "see numpy.show_config()")}]
    return [describe_library(p) for p in libs]


# --- the report -----------------------------------------------------------------------------

def ldflags_origin(state=None, environ=None):
    """``(where, reason)`` for the blas.ldflags Theano uses: "THEANO_FLAGS",
    ".theanorc (PATH)", "dltut" or "theano" (Theano was imported before dltut)."""
    state = setup.STATE if state is None else state
    environ = os.environ if environ is None else environ
    choice = state.get("blas")
    if state.get("theano_already_imported"):
        return "theano", "Theano was imported before dltut, so dltut could not set blas.ldflags"
    if choice is None:
        return "unknown", "dltut's set-up did not run"
    if choice.source != "user":
        return "dltut", choice.reason
    if "blas.ldflags" in flags.parse_theano_flags(environ.get("THEANO_FLAGS", "")):
        return "THEANO_FLAGS", choice.reason
    for path in flags.theanorc_paths():
        return ".theanorc (%s)" % path, choice.reason
    return "user", choice.reason


def sgemm_gflops(shape=(1024, 1024, 1024), budget=0.5):
    """Float32 (m, k) by (k, n) product speed through a compiled Theano ``T.dot``."""
    import numpy
    import theano
    import theano.tensor as T

    m, k, n = shape
    rng = numpy.random.RandomState(0)
    a = theano.shared(rng.rand(m, k).astype("float32"))
    b = theano.shared(rng.rand(k, n).astype("float32"))
    f = theano.function([], T.dot(a, b))
    f.trust_input = True
    f()
    calls, best = 1, None
    deadline = time.perf_counter() + budget
    while True:
        start = time.perf_counter()
        for _ in range(calls):
            f()
        elapsed = (time.perf_counter() - start) / calls
        best = elapsed if best is None else min(best, elapsed)
        if time.perf_counter() > deadline:
            break
        if elapsed * calls < budget / 10:
            calls *= 2
    return 2.0 * m * k * n / best / 1e9


def compat_report():
    """The start-up hook and the compatibility measures (:mod:`dltut.compat`)."""
    from ..compat import scan, startup
    # the modules dltut's models use, so that every measure on them has run and decided
    import theano.tensor.nnet.abstract_conv  # noqa: F401
    import theano.tensor.nnet.conv  # noqa: F401
    import theano.tensor.signal.pool  # noqa: F401
    import theano.sandbox.rng_mrg  # noqa: F401
    scan_state, scan_where = scan.status()
    return {
        "startup_hook_file": startup.pth_path(),
        "startup_hook_installed": startup.is_installed(),
        "startup_hook_ran": compat.startup_hook_ran(),
        "measures": [{"name": name, "active": active, "why": why, "detail": detail}
                     for name, active, why, detail in compat.describe()],
        "compiled_scan": scan_state,
        "compiled_scan_dir": scan_where,
    }


def report(bench=True):
    """Everything ``python -m dltut.info`` prints, as a dict (JSON-serialisable)."""
    import numpy
    import theano

    try:
        import scipy
        scipy_version = scipy.__version__
    except ImportError:
        scipy_version = None

    state = setup.STATE
    choice = state.get("blas")
    cpu = blas.parse_cpuinfo(blas.read_cpuinfo())
    where, reason = ldflags_origin(state)
    ldflags = theano.config.blas.ldflags
    try:
        affinity = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        affinity = None

    data = {
        "python": platform.python_version(),
        "theano": theano.__version__,
        "numpy": numpy.__version__,
        "scipy": scipy_version,
        "device": str(theano.config.device),
        "floatX": str(theano.config.floatX),
        "compiledir": str(theano.config.compiledir),
        "openmp": bool(theano.config.openmp),
        "blas_ldflags": ldflags,
        "blas_ldflags_from": where,
        "blas_source": choice.source if choice else None,
        "blas_reason": reason,
        "env_set_by_dltut": dict(choice.env) if choice else {},
        "blas_notes": list(choice.notes) if choice else [],
        "blas_env": {k: os.environ[k] for k in blas.BLAS_ENV_VARS if k in os.environ},
        "cpu_model": cpu.model_name or platform.processor() or None,
        "cpu_vendor": cpu.vendor or None,
        "cpu_isa": cpu.isa,
        "openblas_coretype_for_cpu": blas.openblas_coretype(cpu)[0],
        "cpu_count": os.cpu_count(),
        "cpus_usable": affinity,
        "theano_blas": [describe_library(p) for p in resolve_ldflags(ldflags)],
        "numpy_blas": numpy_blas(),
        "sgemm_gflops": None,
        "compat": compat_report(),
    }
    if bench:
        data["sgemm_gflops"] = {
            "1024x1024x1024": round(sgemm_gflops((1024, 1024, 1024)), 1),
            "20x784x500": round(sgemm_gflops((20, 784, 500)), 1),
        }
    return data


def format_report(data):
    lines = [
        "Python %(python)s   Theano %(theano)s   numpy %(numpy)s   scipy %(scipy)s" % data,
        "Theano device %(device)s, floatX %(floatX)s, openmp %(openmp)s" % data,
        "compiledir    %(compiledir)s" % data,
        "blas.ldflags  %r  (from %s: %s)" % (data["blas_ldflags"], data["blas_ldflags_from"],
                                             data["blas_reason"]),
        "CPU           %s  [%s; vendor %s; %s cores, %s usable]" % (
            data["cpu_model"], data["cpu_isa"], data["cpu_vendor"], data["cpu_count"],
            data["cpus_usable"]),
        "dltut set     %s" % (" ".join("%s=%s" % kv for kv in data["env_set_by_dltut"].items())
                              or "nothing"),
    ]
    lines += ["  note: %s" % n for n in data["blas_notes"]]
    lines.append("BLAS env      %s" % (" ".join("%s=%s" % kv for kv in data["blas_env"].items())
                                       or "none"))
    for title, libs in (("Theano BLAS", data["theano_blas"]), ("numpy BLAS", data["numpy_blas"])):
        if not libs:
            lines.append("%-13s none (Theano calls numpy's BLAS through its C API)" % title)
        for lib in libs:
            lines.append("%-13s %s" % (title, lib.get("path")))
            if lib.get("error"):
                lines.append("              cannot load: %s" % lib["error"])
            else:
                lines.append("              %s; core %s; %s threads" % (
                    lib.get("config") or lib.get("kind"), lib.get("core") or "-",
                    lib.get("threads") if lib.get("threads") is not None else "?"))
    c = data["compat"]
    lines.append("start-up hook %s (%s)%s" % (
        "installed" if c["startup_hook_installed"] else "NOT installed: `import theano` must "
        "come after `import dltut`; run python -m dltut.compat.startup install",
        c["startup_hook_file"], "; it ran at this start-up" if c["startup_hook_ran"] else ""))
    lines.append("compatibility measures (dltut.compat):")
    for m in c["measures"]:
        lines.append("  %-3s %s: %s" % ("on" if m["active"] else "off", m["name"], m["why"]))
        if m["active"] and m["detail"]:
            lines.append("        %s" % m["detail"])
    lines.append("  compiled scan: %s%s" % (c["compiled_scan"], " (%s)" % c["compiled_scan_dir"]
                                            if c["compiled_scan_dir"] else ""))
    if data["sgemm_gflops"]:
        lines.append("sgemm via T.dot  " + ", ".join(
            "%s: %.1f GFLOP/s" % kv for kv in data["sgemm_gflops"].items()))
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m dltut.info", description=__doc__.splitlines()[0])
    parser.add_argument("--no-bench", action="store_true",
                        help="skip the quick matrix-product timing (default: run it)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    data = report(bench=not args.no_bench)
    print(json.dumps(data, indent=2) if args.json else format_report(data))
    return 0


if __name__ == "__main__":
    sys.exit(main())
