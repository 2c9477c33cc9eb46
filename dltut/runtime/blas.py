"""Choosing the BLAS that Theano links against, before Theano is imported.

Theano's CPU matrix products (``Dot22``, ``Gemm``, the ``CorrMM`` convolution) call
``sgemm_``/``dgemm_`` from the library named by ``blas.ldflags``.  dltut picks, in order:

1. **MKL** (``libmkl_rt``) when it is installed in this Python's prefix (``pip install mkl``,
   which ``pip install -e .[fast]`` does), in ``$MKLROOT`` or in a system library directory.
2. **OpenBLAS** when a linkable ``libopenblas.so`` exists (Debian: ``libopenblas-dev``).
3. **Nothing** (``blas.ldflags=`` empty): Theano then calls numpy's own BLAS through a slower
   C-API path.  Always works.

The order follows ``bench/blas_bench.py``: on large products MKL and OpenBLAS (with the right
core type) are about equal, on the small products of the tutorials' minibatches MKL was
faster, and without a linked BLAS every step is several times slower.  The site's
performance page (docs/guide/performance.md) has the figures of the project's machines; run the bench for yours.

OpenBLAS builds with ``DYNAMIC_ARCH`` choose their kernels from the CPU model when the library
loads.  Builds older than the CPU (numpy 1.23's bundled 0.3.20, Debian 12's 0.3.21 on recent
Xeons) misdetect it and fall back to old "Prescott" kernels, several times slower.  The environment
variable ``OPENBLAS_CORETYPE`` overrides the detection, so dltut derives a core name from the
instruction sets listed in ``/proc/cpuinfo`` and sets it (unless the user already did),
whatever library Theano links: numpy's bundled OpenBLAS reads it too, and Theano's fallback
path computes with numpy's BLAS.  That only works if ``dltut`` is imported before numpy.

Thread counts are left to the libraries and the user (``OPENBLAS_NUM_THREADS``,
``MKL_NUM_THREADS``): on a 2-core machine busy with other work one thread was fastest,
while large products gain from both cores on an idle one.

This module must not import numpy or Theano, and it never overrides a variable the user set.
"""
import logging
import os
import platform
import re
import site
import sys
import sysconfig
from dataclasses import dataclass, field

__all__ = ["CPUINFO_PATH", "AVX512_SKYLAKEX_FLAGS", "OPENBLAS_CORE_FOR_ISA", "BLAS_ENV_VARS",
           "CpuInfo", "BlasChoice", "read_cpuinfo", "parse_cpuinfo", "openblas_coretype",
           "system_library_dirs", "library_dirs", "find_library_file", "find_blas_libraries",
           "ldflags_for", "quiet_versioned_library_warning", "configure_blas"]

CPUINFO_PATH = "/proc/cpuinfo"

#: AVX-512 subsets that OpenBLAS's SkylakeX kernels use.
AVX512_SKYLAKEX_FLAGS = frozenset({"avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"})

#: Instruction-set class -> OpenBLAS core name.  Only names that every DYNAMIC_ARCH x86-64
#: OpenBLAS of the last years accepts: 0.3.20/0.3.21 know no "SapphireRapids", and their
#: lookup of "Cooperlake" fails ("Core not found") even though they list it; Cooperlake and
#: SapphireRapids use the SkylakeX single-precision kernels anyway.
OPENBLAS_CORE_FOR_ISA = {
    "avx512": "SkylakeX",
    "avx2": "Haswell",        # "Zen" on AMD, see openblas_coretype
    "avx": "Sandybridge",
    "sse4_2": "Nehalem",
}

#: Environment variables that choose a BLAS's threads or kernels (reported by dltut.info).
BLAS_ENV_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_NUM_THREADS", "OPENBLAS_VERBOSE",
                 "MKL_NUM_THREADS", "MKL_THREADING_LAYER", "MKL_ENABLE_INSTRUCTIONS",
                 "MKL_CBWR", "OMP_NUM_THREADS")

@dataclass(frozen=True)
class CpuInfo:
    """What ``/proc/cpuinfo`` says about the first processor."""

    vendor: str = ""                 # "GenuineIntel", "AuthenticAMD", ... ("" if unknown)
    model_name: str = ""
    flags: frozenset = frozenset()
    machine: str = ""                # platform.machine(): "x86_64", "aarch64", ...

    @property
    def isa(self):
        """The best x86-64 instruction-set class: "avx512", "avx2", "avx", "sse4_2",
        "x86-64" (older), or "unknown" (no flags: not x86, or no /proc/cpuinfo)."""
        if not self.flags:
            return "unknown"
        if AVX512_SKYLAKEX_FLAGS <= self.flags:
            return "avx512"
        if {"avx2", "fma"} <= self.flags:
            return "avx2"
        if "avx" in self.flags:
            return "avx"
        if "sse4_2" in self.flags:
            return "sse4_2"
        return "x86-64"


@dataclass(frozen=True)
class BlasChoice:
    ldflags: str           # the value given to Theano's blas.ldflags
    source: str            # "user", "mkl", "openblas" or "fallback"
    reason: str            # one sentence for `python -m dltut.info`
    env: dict = field(default_factory=dict)   # environment variables dltut set: name -> value
    notes: tuple = ()      # why each variable was or was not set, and other caveats
    library: str = ""      # the library file chosen ("" for "user" and "fallback")
    cpu_isa: str = "unknown"
    coretype: str = ""     # the OPENBLAS_CORETYPE dltut derived from the CPU ("" if none)


def read_cpuinfo(path=CPUINFO_PATH):
    """The first processor's block of ``/proc/cpuinfo`` ("" where there is none)."""
    lines = []
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                if not line.strip():
                    if lines:
                        break
                    continue
                lines.append(line)
    except OSError:
        return ""
    return "".join(lines)


def parse_cpuinfo(text, machine=None):
    """A :class:`CpuInfo` from ``/proc/cpuinfo`` text (only its first processor is read)."""
    fields = {}
    for line in text.splitlines():
        if not line.strip():
            if fields:
                break
            continue
        key, sep, value = line.partition(":")
        if sep:
            fields.setdefault(key.strip().lower(), value.strip())
    return CpuInfo(
        vendor=fields.get("vendor_id", ""),
        model_name=fields.get("model name", ""),
        flags=frozenset(fields.get("flags", "").split()),
        machine=platform.machine() if machine is None else machine,
    )


def openblas_coretype(cpu):
    """``(core name or None, why)``: the ``OPENBLAS_CORETYPE`` that fits ``cpu``."""
    isa = cpu.isa
    if isa == "unknown":
        return None, "no x86 instruction-set flags in /proc/cpuinfo; OpenBLAS detects the CPU itself"
    if isa == "avx2" and cpu.vendor in ("AuthenticAMD", "HygonGenuine"):
        return "Zen", "AMD CPU with AVX2 and FMA but no AVX-512"
    name = OPENBLAS_CORE_FOR_ISA.get(isa)
    if name is None:
        return None, "CPU older than SSE4.2; OpenBLAS detects it itself"
    why = {
        "avx512": "CPU has AVX-512 F/CD/BW/DQ/VL",
        "avx2": "CPU has AVX2 and FMA but no AVX-512",
        "avx": "CPU has AVX but no AVX2",
        "sse4_2": "CPU has SSE4.2 but no AVX",
    }[isa]
    return name, why


# --- finding libraries ------------------------------------------------------------------

def system_library_dirs():
    """Directories the linker searches by default on common Linux systems (existing only)."""
    multiarch = sysconfig.get_config_var("MULTIARCH") or ""
    dirs = []
    if multiarch:
        dirs += ["/usr/local/lib/" + multiarch, "/usr/lib/" + multiarch, "/lib/" + multiarch]
    dirs += ["/usr/local/lib", "/usr/lib64", "/lib64", "/usr/lib"]
    return [d for d in dirs if os.path.isdir(d)]


def library_dirs(prefix=None):
    """Where dltut looks for a BLAS, most specific first: this Python's prefix (a venv or
    conda environment: ``pip install mkl`` puts ``libmkl_rt`` here), the user base,
    ``$MKLROOT/lib``, ``$LIBRARY_PATH``, then the system directories."""
    prefix = sys.prefix if prefix is None else prefix
    dirs = [os.path.join(prefix, "lib")]
    try:
        dirs.append(os.path.join(site.getuserbase(), "lib"))
    except Exception:       # site may be stubbed out in embedded Pythons
        pass
    mklroot = os.environ.get("MKLROOT")
    if mklroot:
        dirs += [os.path.join(mklroot, "lib", "intel64"), os.path.join(mklroot, "lib")]
    dirs += [d for d in os.environ.get("LIBRARY_PATH", "").split(os.pathsep) if d]
    dirs += system_library_dirs()
    seen, out = set(), []
    for d in dirs:
        if d not in seen and os.path.isdir(d):
            seen.add(d)
            out.append(d)
    return out


def _versioned_key(name):
    return [int(x) for x in re.findall(r"\d+", name)]


def find_library_file(stem, dirs, allow_versioned=True):
    """The first ``lib<stem>.so`` (or, failing that, the highest ``lib<stem>.so.N``) in
    ``dirs``; None if there is none.  Only the unversioned file is what ``-l<stem>`` links."""
    for d in dirs:
        plain = os.path.join(d, "lib%s.so" % stem)
        if os.path.exists(plain):
            return plain
        if allow_versioned:
            try:
                names = [n for n in os.listdir(d) if re.fullmatch(r"lib%s\.so(\.\d+)+" % stem, n)]
            except OSError:
                continue
            if names:
                return os.path.join(d, max(names, key=_versioned_key))
    return None


def find_blas_libraries(dirs=None):
    """``{"mkl": path or None, "openblas": path or None}`` for the libraries found."""
    dirs = library_dirs() if dirs is None else dirs
    return {
        # pip's mkl wheels ship only libmkl_rt.so.N (a wheel cannot hold the symlink).
        "mkl": find_library_file("mkl_rt", dirs),
        # libopenblas.so.0 alone (runtime package without -dev) cannot be linked by -lopenblas.
        "openblas": find_library_file("openblas", dirs, allow_versioned=False),
    }


def ldflags_for(path, system_dirs=None):
    """The ``blas.ldflags`` that link the library file ``path``, or None if it cannot be
    written (Theano splits the value on spaces, THEANO_FLAGS on commas).

    A ``-L`` directory is also put on the run-time search path by Theano itself
    (``-Wl,-rpath,DIR``), so the compiled modules find the library without LD_LIBRARY_PATH.
    """
    directory, name = os.path.split(path)
    if any(c in path for c in " ,\t'\""):
        return None
    match = re.fullmatch(r"lib(.+)\.so", name)
    lib = "-l" + match.group(1) if match else "-l:" + name
    system_dirs = system_library_dirs() if system_dirs is None else system_dirs
    if directory in system_dirs and match:
        return lib
    return "-L%s %s" % (directory, lib)


class _LibdirWarningFilter(logging.Filter):
    """Hides Theano's "did not find a dynamic library in the library_dir" warning, which
    it gives for ``-l:libmkl_rt.so.N`` only because it looks for a name ending in ``.so``."""

    def filter(self, record):
        return "did not find a dynamic library in the library_dir" not in record.getMessage()


def quiet_versioned_library_warning():
    """Install ``_LibdirWarningFilter`` on Theano's BLAS logger (idempotent; works
    before Theano is imported because loggers are shared by name)."""
    logger = logging.getLogger("theano.tensor.blas")
    if not any(isinstance(f, _LibdirWarningFilter) for f in logger.filters):
        logger.addFilter(_LibdirWarningFilter())


# --- the decision -----------------------------------------------------------------------

def _setdefault_env(environ, name, value, why, env, notes):
    """``environ.setdefault`` that records what happened in ``env``/``notes``."""
    if name in environ:
        if environ[name] != value:
            notes.append("%s=%s kept as the user set it (dltut would have chosen %s: %s)"
                         % (name, environ[name], value, why))
        else:
            notes.append("%s=%s already set by the user" % (name, environ[name]))
        return False
    environ[name] = value
    env[name] = value
    notes.append("%s=%s set by dltut: %s" % (name, value, why))
    return True


def configure_blas(user_ldflags=None, cpuinfo=None, libraries=None, environ=None,
                   modules=None):
    """Decide ``blas.ldflags`` (unless the user gave it) and set BLAS environment defaults.

    Parameters
    ----------
    user_ldflags : str or None
        The user's own ``blas.ldflags`` (THEANO_FLAGS or .theanorc); then it is kept and only
        reported, but ``OPENBLAS_CORETYPE`` is still given a default (numpy's OpenBLAS and
        any OpenBLAS the user names both read it).
    cpuinfo : str or None
        ``/proc/cpuinfo`` text; read from the system when None ("" means no information).
    libraries : dict or None
        ``{"mkl": path or None, "openblas": path or None}``; found on the system when None.
    environ : mapping or None
        The environment to read and update (``os.environ`` when None).
    modules : mapping or None
        ``sys.modules`` when None; used to tell whether numpy was imported too early.

    Returns
    -------
    BlasChoice
    """
    environ = os.environ if environ is None else environ
    modules = sys.modules if modules is None else modules
    cpu = parse_cpuinfo(read_cpuinfo() if cpuinfo is None else cpuinfo)
    env, notes = {}, []

    # 1. Kernel choice for every OpenBLAS this process may load (numpy's included).
    coretype, why = openblas_coretype(cpu)
    if coretype:
        _setdefault_env(environ, "OPENBLAS_CORETYPE", coretype, why, env, notes)
        if "numpy" in modules:
            notes.append("numpy was imported before dltut, so its bundled OpenBLAS had "
                         "already chosen its kernels; import dltut first for OPENBLAS_CORETYPE "
                         "to reach it")
    else:
        notes.append("OPENBLAS_CORETYPE not set: " + why)

    def choice(ldflags, source, reason, library=""):
        return BlasChoice(ldflags, source, reason, env, tuple(notes), library, cpu.isa,
                          coretype or "")

    # 2. The library Theano links.
    if user_ldflags is not None:
        what = "empty: Theano's numpy-based fallback" if not user_ldflags.strip() else user_ldflags
        return choice(user_ldflags, "user", "blas.ldflags given by the user (%s)" % what)

    libraries = find_blas_libraries() if libraries is None else libraries
    mkl, openblas = libraries.get("mkl"), libraries.get("openblas")
    if mkl:
        flags = ldflags_for(mkl)
        if flags is None:
            notes.append("MKL at %s not used: its path holds a space or comma" % mkl)
        else:
            if "-l:" in flags:
                quiet_versioned_library_warning()
            return choice(flags, "mkl", "Intel MKL found at %s" % mkl, mkl)
    if openblas:
        flags = ldflags_for(openblas)
        if flags is None:
            notes.append("OpenBLAS at %s not used: its path holds a space or comma" % openblas)
        else:
            return choice(flags, "openblas", "OpenBLAS found at %s" % openblas, openblas)
    return choice("", "fallback",
                  "no MKL or linkable OpenBLAS found; Theano uses its slower numpy-based calls "
                  "(pip install -e .[fast] adds MKL)")
