"""Theano set-up before import: the user's settings always win; the BLAS choice and its
environment variables (dltut/runtime/setup.py, dltut/runtime/blas.py).  No Theano import needed
here."""
import json
import logging
import os
import re
import shutil
import subprocess
import sys

import pytest

from dltut.runtime import setup, blas, flags

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

INTEL_AVX512 = """\
processor	: 0
vendor_id	: GenuineIntel
cpu family	: 6
model		: 143
model name	: Intel(R) Xeon(R) Platinum 8480+
flags		: fpu sse sse2 ssse3 sse4_1 sse4_2 avx avx2 fma avx512f avx512dq avx512cd avx512bw avx512vl avx512_bf16 amx_tile avx512_fp16

processor	: 1
vendor_id	: GenuineIntel
model name	: a second block that must not be read
flags		: fpu
"""
INTEL_AVX2 = "vendor_id : GenuineIntel\nmodel name : Intel(R) Core(TM) i7-6700\nflags : sse4_2 avx avx2 fma\n"
AMD_ZEN3 = "vendor_id : AuthenticAMD\nmodel name : AMD EPYC 7763\nflags : sse4_2 avx avx2 fma\n"
AMD_ZEN4 = ("vendor_id : AuthenticAMD\nmodel name : AMD EPYC 9654\n"
            "flags : sse4_2 avx avx2 fma avx512f avx512cd avx512bw avx512dq avx512vl avx512_bf16\n")
# Knights Landing: AVX-512 F/CD but not BW/DQ/VL, so not SkylakeX kernels
INTEL_KNL = "vendor_id : GenuineIntel\nflags : sse4_2 avx avx2 fma avx512f avx512cd avx512er\n"
INTEL_SNB = "vendor_id : GenuineIntel\nflags : sse4_2 avx\n"
INTEL_NHM = "vendor_id : GenuineIntel\nflags : sse4_1 sse4_2\n"
OLD_X86 = "vendor_id : GenuineIntel\nflags : fpu sse sse2\n"
ARM = "processor : 0\nBogoMIPS : 50.00\nFeatures : fp asimd evtstrm aes\nCPU implementer : 0x41\n"

MKL = "/venv/lib/libmkl_rt.so.3"
OPENBLAS = "/usr/lib/x86_64-linux-gnu/libopenblas.so"


# --- setup: reading the user's settings, adding ours ------------------------------------

@pytest.fixture
def clean_theano_env(monkeypatch, tmp_path):
    """No THEANO_FLAGS and a THEANORC that names no existing file."""
    monkeypatch.delenv("THEANO_FLAGS", raising=False)
    monkeypatch.setenv("THEANORC", str(tmp_path / "absent.theanorc"))
    return tmp_path


def test_parse_theano_flags_syntax():
    parsed = flags.parse_theano_flags(" floatX=float32, ,blas__ldflags=-lopenblas -lgomp,"
                                      "exception_verbosity = high,print_active_device")
    assert parsed == {"floatX": "float32", "blas.ldflags": "-lopenblas -lgomp",
                     "exception_verbosity": "high", "print_active_device": "True"}
    assert flags.parse_theano_flags("") == {}
    assert flags.parse_theano_flags("blas.ldflags=") == {"blas.ldflags": ""}


def test_parse_theano_flags_reads_environment(monkeypatch):
    monkeypatch.setenv("THEANO_FLAGS", "device=cpu,floatX=float32")
    assert flags.parse_theano_flags() == {"device": "cpu", "floatX": "float32"}


def test_user_setting_none_when_unset(clean_theano_env):
    assert flags.user_setting("blas.ldflags") is None
    assert flags.user_setting("floatX") is None


def test_user_setting_from_theano_flags(clean_theano_env, monkeypatch):
    monkeypatch.setenv("THEANO_FLAGS", "floatX=float32,blas.ldflags=")
    assert flags.user_setting("floatX") == "float32"
    assert flags.user_setting("blas.ldflags") == ""     # empty is a value, not "unset"


def test_user_setting_from_theanorc(clean_theano_env, monkeypatch):
    rc = clean_theano_env / "theanorc"
    rc.write_text("[global]\nfloatX = float32\n\n[blas]\nldflags = -lmkl_rt\n")
    monkeypatch.setenv("THEANORC", str(rc))
    assert flags.theanorc_paths() == [str(rc)]
    assert flags.user_setting("floatX") == "float32"
    assert flags.user_setting("blas.ldflags") == "-lmkl_rt"
    assert flags.user_setting("device") is None


def test_theano_flags_win_over_theanorc(clean_theano_env, monkeypatch):
    rc = clean_theano_env / "theanorc"
    rc.write_text("[blas]\nldflags = -lmkl_rt\n")
    monkeypatch.setenv("THEANORC", str(rc))
    monkeypatch.setenv("THEANO_FLAGS", "blas__ldflags=-lopenblas")
    assert flags.user_setting("blas.ldflags") == "-lopenblas"


def test_user_setting_skips_broken_theanorc(clean_theano_env, monkeypatch):
    bad, good = clean_theano_env / "bad", clean_theano_env / "good"
    bad.write_text("no section header here\n")
    good.write_text("[blas]\nldflags = -lopenblas\n")
    monkeypatch.setenv("THEANORC", os.pathsep.join([str(bad), str(good)]))
    assert flags.user_setting("blas.ldflags") == "-lopenblas"


def test_add_theano_flag_appends_and_keeps_user_flags(clean_theano_env, monkeypatch):
    flags.add_theano_flag("blas.ldflags", "-lopenblas")
    assert os.environ["THEANO_FLAGS"] == "blas.ldflags=-lopenblas"
    monkeypatch.setenv("THEANO_FLAGS", "floatX=float32,")
    flags.add_theano_flag("blas.ldflags", "-L/x -l:libmkl_rt.so.3")
    assert flags.parse_theano_flags() == {"floatX": "float32",
                                           "blas.ldflags": "-L/x -l:libmkl_rt.so.3"}


def test_add_theano_flag_rejects_comma(clean_theano_env):
    with pytest.raises(ValueError, match="comma"):
        flags.add_theano_flag("blas.ldflags", "-Wl,-rpath,/x")
    assert "THEANO_FLAGS" not in os.environ


def _run_import(env_extra, tmp_path, code):
    env = {k: v for k, v in os.environ.items()
           if k not in ("THEANO_FLAGS", "OPENBLAS_CORETYPE", "MKL_THREADING_LAYER")}
    env["THEANORC"] = str(tmp_path / "absent.theanorc")
    env["PYTHONPATH"] = ROOT
    env.update(env_extra)
    out = subprocess.run([sys.executable, "-c", "import dltut, os\n" + code], env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_import_keeps_user_ldflags_and_coretype(tmp_path):
    out = _run_import({"THEANO_FLAGS": "floatX=float32,blas.ldflags=-lfoo",
                       "OPENBLAS_CORETYPE": "Haswell"}, tmp_path,
                      "print(os.environ['THEANO_FLAGS']); print(os.environ['OPENBLAS_CORETYPE'])")
    flags, core = out.splitlines()
    # the user's entries stay first and unchanged; dltut only appends keys the user left out
    assert flags.startswith("floatX=float32,blas.ldflags=-lfoo")
    assert "blas.ldflags" not in flags[len("floatX=float32,blas.ldflags=-lfoo"):]
    assert core == "Haswell"


def test_import_keeps_user_allow_gc(tmp_path):
    out = _run_import({"THEANO_FLAGS": "allow_gc=True"}, tmp_path,
                      "import theano; print(theano.config.allow_gc)")
    assert out.splitlines()[-1] == "True"


def test_import_leaves_theanorc_ldflags_alone(tmp_path):
    rc = tmp_path / "rc"
    rc.write_text("[blas]\nldflags = -lfoo\n")
    out = _run_import({"THEANORC": str(rc)}, tmp_path,
                      "print(os.environ.get('THEANO_FLAGS', ''))")
    assert "blas.ldflags" not in out


def test_import_adds_ldflags_when_user_gave_none(tmp_path):
    out = _run_import({}, tmp_path,
                      "from dltut.runtime import setup, flags\n"
                      "print(repr(flags.parse_theano_flags()['blas.ldflags']))\n"
                      "print(repr(setup.STATE['blas'].ldflags))")
    given, chosen = out.splitlines()
    assert given == chosen


# --- blas: the CPU ----------------------------------------------------------------------

@pytest.mark.parametrize("text, isa, core", [
    (INTEL_AVX512, "avx512", "SkylakeX"),
    (AMD_ZEN4, "avx512", "SkylakeX"),
    (INTEL_KNL, "avx2", "Haswell"),
    (INTEL_AVX2, "avx2", "Haswell"),
    (AMD_ZEN3, "avx2", "Zen"),
    (INTEL_SNB, "avx", "Sandybridge"),
    (INTEL_NHM, "sse4_2", "Nehalem"),
    (OLD_X86, "x86-64", None),
    (ARM, "unknown", None),
    ("", "unknown", None),
])
def test_coretype_from_cpuinfo(text, isa, core):
    cpu = blas.parse_cpuinfo(text, machine="x86_64")
    assert cpu.isa == isa
    assert blas.openblas_coretype(cpu)[0] == core


def test_parse_cpuinfo_reads_first_processor_only():
    cpu = blas.parse_cpuinfo(INTEL_AVX512, machine="x86_64")
    assert cpu.vendor == "GenuineIntel"
    assert cpu.model_name == "Intel(R) Xeon(R) Platinum 8480+"
    assert "avx512_fp16" in cpu.flags and "fpu" in cpu.flags
    assert len(cpu.flags) == 17


def test_read_cpuinfo(tmp_path):
    assert blas.read_cpuinfo(str(tmp_path / "missing")) == ""
    path = tmp_path / "cpuinfo"
    path.write_text("\n" + INTEL_AVX512)
    text = blas.read_cpuinfo(str(path))
    assert "avx512f" in text and "second block" not in text


# --- blas: finding libraries ------------------------------------------------------------

def _touch(directory, *names):
    directory.mkdir(parents=True, exist_ok=True)
    for name in names:
        (directory / name).write_bytes(b"")
    return str(directory)


def test_find_library_file(tmp_path):
    a = _touch(tmp_path / "a", "libmkl_rt.so.2", "libmkl_rt.so.10", "libmkl_rt.so.3.bak",
               "libopenblas.so.0")
    b = _touch(tmp_path / "b", "libopenblas.so", "libmkl_rt.so")
    assert blas.find_library_file("mkl_rt", [a, b]) == os.path.join(a, "libmkl_rt.so.10")
    assert blas.find_library_file("mkl_rt", [b, a]) == os.path.join(b, "libmkl_rt.so")
    # -lopenblas needs the unversioned file: the runtime-only libopenblas.so.0 does not do
    assert blas.find_library_file("openblas", [a], allow_versioned=False) is None
    assert blas.find_blas_libraries([a, b]) == {
        "mkl": os.path.join(a, "libmkl_rt.so.10"), "openblas": os.path.join(b, "libopenblas.so")}
    assert blas.find_blas_libraries([str(tmp_path / "none")]) == {"mkl": None, "openblas": None}


def test_ldflags_for():
    sysdirs = ["/usr/lib/x86_64-linux-gnu"]
    assert blas.ldflags_for(OPENBLAS, sysdirs) == "-lopenblas"
    assert blas.ldflags_for("/opt/ob/lib/libopenblas.so", sysdirs) == "-L/opt/ob/lib -lopenblas"
    assert blas.ldflags_for(MKL, sysdirs) == "-L/venv/lib -l:libmkl_rt.so.3"
    assert blas.ldflags_for("/venv/lib/libmkl_rt.so", sysdirs) == "-L/venv/lib -lmkl_rt"
    assert blas.ldflags_for("/my venv/lib/libmkl_rt.so", sysdirs) is None
    assert blas.ldflags_for("/a,b/lib/libmkl_rt.so", sysdirs) is None


# --- blas: the decision -----------------------------------------------------------------

def choose(cpuinfo=INTEL_AVX512, mkl=None, openblas=None, environ=None, modules=(), user=None):
    environ = {} if environ is None else environ
    choice = blas.configure_blas(user_ldflags=user, cpuinfo=cpuinfo,
                                 libraries={"mkl": mkl, "openblas": openblas},
                                 environ=environ, modules=dict.fromkeys(modules))
    return choice, environ


def test_prefers_mkl_then_openblas_then_fallback():
    c, env = choose(mkl=MKL, openblas=OPENBLAS)
    assert (c.source, c.ldflags, c.library) == ("mkl", "-L/venv/lib -l:libmkl_rt.so.3", MKL)
    assert set(env) == {"OPENBLAS_CORETYPE"}          # MKL's threading is left to MKL
    c, env = choose(openblas=OPENBLAS)
    assert (c.source, c.library) == ("openblas", OPENBLAS)
    assert c.ldflags in ("-lopenblas", "-L/usr/lib/x86_64-linux-gnu -lopenblas")
    assert "MKL_THREADING_LAYER" not in env
    c, env = choose()
    assert (c.source, c.ldflags) == ("fallback", "")
    assert "fast" in c.reason


def test_coretype_set_for_every_choice():
    for kwargs in ({"mkl": MKL}, {"openblas": OPENBLAS}, {}, {"user": "-lopenblas"}, {"user": ""}):
        c, env = choose(**kwargs)
        assert env["OPENBLAS_CORETYPE"] == "SkylakeX"
        assert c.env["OPENBLAS_CORETYPE"] == "SkylakeX"
        assert (c.cpu_isa, c.coretype) == ("avx512", "SkylakeX")


def test_user_ldflags_kept_and_only_reported():
    c, env = choose(mkl=MKL, openblas=OPENBLAS, user="-lopenblas")
    assert (c.source, c.ldflags, c.library) == ("user", "-lopenblas", "")
    assert "MKL_THREADING_LAYER" not in env          # MKL is not in use
    c, _ = choose(user="")
    assert c.ldflags == "" and "fallback" in c.reason


def test_user_environment_respected():
    environ = {"OPENBLAS_CORETYPE": "Haswell", "MKL_NUM_THREADS": "1"}
    c, env = choose(mkl=MKL, environ=environ)
    assert env == {"OPENBLAS_CORETYPE": "Haswell", "MKL_NUM_THREADS": "1"}
    assert c.env == {}
    assert any("OPENBLAS_CORETYPE=Haswell kept" in n for n in c.notes)
    c, env = choose(environ={"OPENBLAS_CORETYPE": "SkylakeX"})
    assert c.env == {} and any("already set by the user" in n for n in c.notes)


def test_no_cpuinfo_sets_no_coretype():
    for text in ("", ARM, OLD_X86):
        c, env = choose(cpuinfo=text, openblas=OPENBLAS)
        assert "OPENBLAS_CORETYPE" not in env and c.coretype == ""
        assert c.source == "openblas"
        assert any("OPENBLAS_CORETYPE not set" in n for n in c.notes)


def test_numpy_imported_too_early_is_noted():
    c, _ = choose(modules=["numpy"])
    assert any("numpy was imported before dltut" in n for n in c.notes)
    c, _ = choose(modules=[])
    assert not any("numpy" in n for n in c.notes)


def test_unusable_path_falls_through():
    c, _ = choose(mkl="/my venv/lib/libmkl_rt.so.3", openblas=OPENBLAS)
    assert c.source == "openblas"
    assert any("space or comma" in n for n in c.notes)


def test_configure_blas_on_this_machine_touches_no_numpy():
    """The real lookups run, and never import numpy or Theano."""
    c = blas.configure_blas(environ={}, modules={})
    assert c.source in ("mkl", "openblas", "fallback")
    code = ("import sys; from dltut.runtime import blas; blas.configure_blas(environ={});"
            "print('numpy' in sys.modules, 'theano' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=dict(os.environ, PYTHONPATH=ROOT), timeout=60)
    assert out.stdout.split() == ["False", "False"], out.stderr


def test_versioned_library_warning_is_quieted():
    blas.quiet_versioned_library_warning()
    blas.quiet_versioned_library_warning()
    logger = logging.getLogger("theano.tensor.blas")
    filters = [f for f in logger.filters if isinstance(f, blas._LibdirWarningFilter)]
    assert len(filters) == 1
    make = lambda msg: logging.LogRecord("theano.tensor.blas", logging.WARNING, "", 0, msg, (), None)
    assert not filters[0].filter(make("We did not find a dynamic library in the library_dir of x"))
    assert filters[0].filter(make("Using NumPy C-API based implementation for BLAS functions."))


def test_user_environ_undoes_only_what_dltut_added(tmp_path):
    code = ("from dltut.runtime import setup\n"
            "env = setup.user_environ()\n"
            "print(repr(env.get('THEANO_FLAGS'))); print(repr(env.get('OPENBLAS_CORETYPE')))\n"
            "print(repr(env.get('MKL_CBWR'))); print(repr(env.get('DLTUT_MARK')))\n"
            "print('blas.ldflags' in os.environ['THEANO_FLAGS'])")
    # nothing set by the user: dltut's additions stay in this process, not in the copy
    flags, core, cbwr, mark, added = _run_import({"DLTUT_MARK": "x"}, tmp_path, code).splitlines()
    assert (flags, core, cbwr, mark, added) == ("None", "None", "None", "'x'", "True")
    # what the user set comes back exactly as given
    flags, core, threads, _, _ = _run_import(
        {"THEANO_FLAGS": "floatX=float32", "MKL_CBWR": "AVX2"}, tmp_path, code).splitlines()
    assert (flags, core, threads) == ("'floatX=float32'", "None", "'AVX2'")


# --- the Makefile: what each target installs -------------------------------------------

def _make(venv, log, *args):
    """``make -C ROOT args`` with ``venv`` as VENV and a stand-in Python that only writes
    its arguments (and PYTHONPATH) to ``log``: what make would run, nothing installed."""
    # the Makefile's own knobs from the caller (PIP_CACHE=yes make test, a parent make's
    # MAKEFLAGS) would change what it runs
    env = {k: v for k, v in os.environ.items()
           if k not in ("PIP_CACHE", "EXTRAS", "NEEDS", "MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    out = subprocess.run(["make", "--no-print-directory", "-C", ROOT, "VENV=%s" % venv,
                          "PYTHON=%s" % os.path.join(venv, "bin", "python"), "OTHER_PYTHONS=",
                          *args], capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0, out.stdout + out.stderr
    with open(log) as f:
        calls = f.read().splitlines()
    open(log, "w").close()
    return [c for c in calls if " -m pip " in " %s " % c and " install " in c]


def _stub_venv(tmp_path):
    """``(venv, log)``: a venv folder whose python only appends its arguments (and
    PYTHONPATH) to ``log``, for :func:`_make`."""
    venv, log = tmp_path / "venv", tmp_path / "calls"
    (venv / "bin").mkdir(parents=True)
    stub = venv / "bin" / "python"
    stub.write_text('#!/bin/sh\necho "PYTHONPATH=$PYTHONPATH $*" >> %s\n' % log)
    stub.chmod(0o755)
    log.write_text("")
    return venv, log


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_installs_what_each_target_needs(tmp_path):
    venv, log = _stub_venv(tmp_path)
    stamp = venv / ".dltut-installed"

    def target_of(call):         # the one pip install of dltut: its PYTHONPATH and target
        path, rest = call.split(" ", 1)
        return path[len("PYTHONPATH="):], rest.split(" -e ")[1]

    # make mlp: dltut and its dependencies only, from no cache, Theano's build folder
    # given as an absolute path (pip runs Theano's setup.py in a folder of its own)
    calls = _make(venv, log, "mlp")
    assert len(calls) == 2 and all("--no-cache-dir" in c for c in calls), calls
    assert "setuptools" in calls[0]
    path, what = target_of(calls[1])
    assert what == "."
    assert path == os.path.join(ROOT, "dltut", "compat", "theano_build")
    assert os.path.isfile(os.path.join(path, "sitecustomize.py"))
    assert stamp.read_text().split() == []
    # make test afterwards adds the test and docs extras (the site's build and browser
    # tests), and only those; then nothing more
    calls = _make(venv, log, "test")
    assert [target_of(c)[1] for c in calls] == [".[docs,test]"]
    assert stamp.read_text().split() == ["docs", "test"]
    assert _make(venv, log, "test-fast") == []
    # make notebook adds JupyterLab and music21/mido (the RNN-RBM notebook's chorales);
    # EXTRAS adds what is asked for, comma- or space-separated
    calls = _make(venv, log, "notebook", "NOTEBOOK_PORT=1")
    assert [target_of(c)[1] for c in calls] == [".[music,notebook]"]
    assert _make(venv, log, "venv", "EXTRAS=dask,test") != []
    assert sorted(stamp.read_text().split()) == ["dask", "docs", "music", "notebook", "test"]
    assert _make(venv, log, "venv", "EXTRAS=") == []
    # a changed setup.py reinstalls everything the stamp lists
    os.utime(str(stamp), (0, 0))
    calls = _make(venv, log, "venv")
    assert target_of(calls[-1])[1] == ".[dask,docs,music,notebook,test]"
    assert sorted(stamp.read_text().split()) == ["dask", "docs", "music", "notebook", "test"]
    # and the notebook server asks no question about Jupyter news
    overrides = venv / "share/jupyter/lab/settings/overrides.d/dltut.json"
    setting = json.loads(overrides.read_text())["@jupyterlab/apputils-extension:notification"]
    assert setting == {"fetchNews": "false", "checkForUpdates": False}


# --- pip install -e .: the start-up file without an extra command ------------------------

def _editable_venv(tmp_path, *pip_flags):
    """A new venv with only dltut installed, editable (``pip install -e``, no dependencies,
    with ``pip_flags``); Theano, numpy, pip and setuptools come from this venv's
    site-packages through a path line (a folder on sys.path, not a site folder: its .pth
    files, this venv's dltut-startup.pth among them, are not read; only setuptools'
    distutils shim is copied).  Returns
    ``(python, its site-packages, environment)``."""
    import sysconfig
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)],
                   check=True, timeout=120)
    python = str(venv / "bin" / "python")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True, env=env).stdout.strip()
    deps = sysconfig.get_paths()["purelib"]
    with open(os.path.join(site, "zz-test-deps.pth"), "w") as f:
        f.write(deps + "\n")
        # setuptools' distutils for Theano on 3.12+, as this venv's site.py sets it up
        shim = os.path.join(deps, "distutils-precedence.pth")
        if os.path.exists(shim):
            f.write(open(shim).read())
    out = subprocess.run([python, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
                          "--no-build-isolation", "--no-cache-dir", "-e", ROOT, *pip_flags],
                         capture_output=True, text=True, cwd=str(tmp_path), env=env, timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    return python, site, env


@pytest.mark.slow
@pytest.mark.parametrize("how", ["editable wheel", "setup.py develop"])
def test_editable_install_lets_theano_come_first(tmp_path, how):
    """``pip install -e .`` alone puts dltut-startup.pth into site-packages, so that
    ``import theano`` before ``import dltut`` works (without it: numpy's np.bool error)."""
    import setuptools
    from dltut.compat import startup
    if how == "setup.py develop" and int(setuptools.__version__.split(".")[0]) >= 80:
        pytest.skip("setuptools %s hands `setup.py develop` to pip's editable wheel (the "
                    "other case)" % setuptools.__version__)
    flags = ["--use-pep517"] if how == "editable wheel" else []
    python, site, env = _editable_venv(tmp_path, *flags)
    assert startup.is_installed(site), os.listdir(site)
    code = ("import sys, theano\n"
            "print('dltut' in sys.modules, theano.__version__)\n"
            "import dltut; print(dltut.__file__)")
    out = subprocess.run([python, "-c", code], capture_output=True, text=True,
                         cwd=str(tmp_path), env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    first, version, where = out.stdout.split()
    # Theano's import handed to dltut first (the start-up finder), and dltut is this tree's
    assert (first, version) == ("True", "1.0.5")
    assert where == os.path.join(ROOT, "dltut", "__init__.py")
    if how == "editable wheel":      # the wheel's RECORD lists it: uninstalling removes it
        out = subprocess.run([python, "-m", "pip", "uninstall", "--yes", "--quiet", "dltut"],
                             capture_output=True, text=True, cwd=str(tmp_path), env=env,
                             timeout=300)
        assert out.returncode == 0, out.stderr
        assert not os.path.exists(startup.pth_path(site))


# --- --help: each flag's default said once ----------------------------------------------

def _help_texts():
    """``(name, --help text)`` of every parser that uses experiment.DefaultsHelpFormatter."""
    import _cli
    from dltut.cli import pretrain as experiment_pretrain, supervised as experiment
    for name in experiment.EXPERIMENTS:
        yield name, experiment.build_parser(name).format_help()
    for name in experiment_pretrain.EXPERIMENTS:
        yield name, experiment_pretrain.build_parser(name).format_help()
    yield "hmc", _cli.script("hmc").build_parser().format_help()
    code, out, _ = _cli.call("reproduce", ["--help"])
    assert code == 0
    yield "reproduce", out


def test_help_says_each_default_once():
    texts = dict(_help_texts())
    assert {"logistic_sgd", "mlp", "convolutional_mlp", "hmc", "reproduce"} <= set(texts)
    for name, text in texts.items():
        flat = " ".join(text.split())      # argparse wraps lines anywhere
        # one flag's help is the text between two flags: none holds two "(default"s
        for chunk in re.split(r"\s--?[A-Za-z]", flat):
            assert chunk.count("(default") <= 1, (name, chunk)
        assert "(default: None)" not in flat, name
    mlp = " ".join(texts["mlp"].split())
    assert "(default: a new runs/mlp-<timestamp>/)" in mlp
    # a plain default is still shown: the tutorial's learning rate
    assert re.search(r"--learning-rate \S+ SGD step size \(eta0 of a schedule\) \(default: 0\.01\)",
                     mlp), mlp


def test_scheduler_without_dask_says_how_to_install_it(monkeypatch):
    """--scheduler without the dask extra: one line naming the install (no traceback)."""
    from dltut.cli.common import CLIError
    import dltut.search as search
    monkeypatch.setitem(sys.modules, "distributed", None)     # import distributed fails
    with pytest.raises(CLIError) as caught:
        search.DaskExecutor("local")
    message = str(caught.value)
    assert "\n" not in message and "make venv EXTRAS=dask" in message, message


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_with_several_goals_installs_what_all_of_them_need(tmp_path):
    # `make mlp test` builds the venv once, as a prerequisite of mlp: with the test extra
    # already (it was built without it, and pytest was then missing for the tests)
    venv, log = _stub_venv(tmp_path)
    calls = _make(venv, log, "mlp", "test")
    assert [c.split(" -e ")[1] for c in calls if " -e " in c] == [".[docs,test]"], calls
    assert (venv / ".dltut-installed").read_text().split() == ["docs", "test"]


# --- make test's passes: tools/run_tests.py and --one-variant ----------------------------

def test_one_variant_keeps_the_first_parameter_set_of_each_test():
    def collected(*flags):
        out = subprocess.run([sys.executable, "-m", "pytest", "-q", "--collect-only",
                              "-p", "no:cacheprovider", *flags, "tests/test_faults.py"],
                             capture_output=True, text=True, cwd=ROOT, timeout=300)
        return [line for line in out.stdout.splitlines() if "::" in line]
    every, one = collected(), collected("--one-variant")
    functions = lambda ids: [i.split("[")[0] for i in ids]  # noqa: E731
    assert len(one) < len(every)
    assert sorted(set(functions(every))) == sorted(functions(one))  # each function once
    firsts = {}
    for node in every:
        firsts.setdefault(node.split("[")[0], node)
    assert sorted(one) == sorted(firsts.values())


def _run_tests_module():
    """tools/run_tests.py, loaded as a module (tools/ is not a package)."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("run_tests", os.path.join(ROOT, "tools",
                                                                         "run_tests.py"))
    run_tests = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(run_tests)
    return run_tests


def test_run_tests_reads_each_pass_and_fails_when_one_fails(tmp_path):
    run_tests = _run_tests_module()
    for line, summary in [("839 passed, 1 skipped in 380.00s (0:06:20)", "839 passed, 1 skipped"),
                          ("===== 2 failed, 837 passed in 1.5s =====", "2 failed, 837 passed"),
                          ("no tests ran in 0.01s", "no tests ran"),
                          ("....... [ 50%]", None)]:
        match = run_tests.SUMMARY.match(line)
        assert (match.group(1) if match else None) == summary
    # two stand-in "Pythons": one passes, one fails; the total counts both, exit 1
    for name, code, text in (("good", 0, "3 passed in 0.1s"), ("bad", 1, "1 failed, 2 passed in 0.1s")):
        stub = tmp_path / name
        stub.write_text("#!/bin/sh\necho '%s'\nexit %d\n" % (text, code))
        stub.chmod(0o755)
    out = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "run_tests.py"),
                          "A=%s:float32" % (tmp_path / "good"), "B=%s:float64:sample" % (tmp_path / "bad")],
                         capture_output=True, text=True, timeout=60,
                         env=dict(os.environ, DLTUT_TEST_LANES="2"))
    assert out.returncode == 1, out.stdout + out.stderr
    assert out.stdout.splitlines()[-1] == "total: 5 passed, 1 failed, 0 skipped"
    assert "failed passes: B" in out.stdout


@pytest.mark.slow   # 15-35 s: an end-to-end run (make test's float32 slow pass)
def test_shares_split_the_test_files_and_all_run_the_compat_tests():
    def files(*flags):
        out = subprocess.run([sys.executable, "-m", "pytest", "-q", "--collect-only",
                              "-p", "no:cacheprovider", "-m", "not slow", *flags],
                             capture_output=True, text=True, cwd=ROOT, timeout=300)
        assert out.returncode == 0, out.stdout + out.stderr
        return {line.split("::")[0] for line in out.stdout.splitlines() if "::" in line}
    every, first, second = files(), files("--share", "1/2"), files("--share", "2/2")
    assert first | second == every                       # every file on some Python
    assert first & second == {"tests/test_compat.py"}    # only the compat tests on both
    assert abs(len(first) - len(second)) <= 2
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "--collect-only",
                          "-p", "no:cacheprovider", "--share", "3/2"],
                         capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert out.returncode != 0 and "--share '3/2': give K/N with 1 <= K <= N" in out.stderr


def _compat_tests_by_floatx_use():
    """``{test name: (reads floatX, marked floatx)}`` for tests/test_compat.py: a test reads
    floatX when its body names FLOATX or ``floatX``, calls a module helper that does, or
    takes the ``tol``/``ctol`` fixtures (tolerances by floatX)."""
    import ast
    tree = ast.parse(open(os.path.join(ROOT, "tests", "test_compat.py")).read())

    def names(node):
        return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)} | \
               {n.attr for n in ast.walk(node) if isinstance(n, ast.Attribute)}
    functions = [n for n in tree.body if isinstance(n, ast.FunctionDef)]
    helpers = {f.name for f in functions if not f.name.startswith("test_")
               and names(f) & {"FLOATX", "floatX"}}
    found = {}
    for f in functions:
        if not f.name.startswith("test_"):
            continue
        reads = bool(names(f) & ({"FLOATX", "floatX"} | helpers)
                     or {a.arg for a in f.args.args} & {"tol", "ctol"})
        marked = any(isinstance(d, ast.Attribute) and d.attr == "floatx"
                     for d in f.decorator_list)
        found[f.name] = (reads, marked)
    return found


def test_the_compat_tests_that_read_floatx_are_the_ones_marked_floatx():
    """make test runs tests/test_compat.py once more in float32 on the Python with numpy 2,
    only the tests marked ``floatx`` (tools/run_tests.py's COMPAT): a compat test whose
    result depends on floatX must carry the mark, and one that does not need not run twice."""
    found = _compat_tests_by_floatx_use()
    assert len(found) > 40
    unmarked = sorted(name for name, (reads, marked) in found.items() if reads and not marked)
    assert not unmarked, "read floatX but are not marked floatx: %s" % unmarked
    marked = {name for name, (_, m) in found.items() if m}
    assert {"test_elemwise_c_vs_python", "test_constant_dtypes_as_with_numpy_1",
            "test_mrg_random_c_vs_python", "test_scan_gradient_through_compiled_scan"} <= marked
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "--collect-only",
                          "-p", "no:cacheprovider"] + _run_tests_module().COMPAT,
                         capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    collected = {line.split("::")[1].split("[")[0] for line in out.stdout.splitlines()
                 if "::" in line}
    assert collected == marked
