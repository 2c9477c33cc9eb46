"""``python -m dltut.info``: says which blas.ldflags is in effect and who chose it."""
import os
import subprocess
import sys

from dltut.runtime import blas, info

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

REPORT_KEYS = {
    "python", "theano", "numpy", "scipy", "device", "floatX", "compiledir", "openmp",
    "blas_ldflags", "blas_ldflags_from", "blas_source", "blas_reason", "env_set_by_dltut",
    "blas_notes", "blas_env", "cpu_model", "cpu_vendor", "cpu_isa",
    "openblas_coretype_for_cpu", "cpu_count", "cpus_usable", "theano_blas", "numpy_blas",
    "sgemm_gflops", "compat",
}


def run_info(tmp_path, *args, **env_extra):
    """``python -m dltut.info`` in a clean environment: no Theano flags, no .theanorc,
    no BLAS variables (as on a fresh shell)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("THEANO", "OPENBLAS_", "MKL_", "OMP_"))}
    env["THEANORC"] = str(tmp_path / "absent.theanorc")
    env["PYTHONPATH"] = ROOT
    env.update(env_extra)
    out = subprocess.run([sys.executable, "-m", "dltut.info", "--no-bench"] + list(args),
                         env=env, capture_output=True, text=True, timeout=300, cwd=str(tmp_path))
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_info_clean_environment_names_dltut_choice(tmp_path):
    out = run_info(tmp_path)
    expected = blas.configure_blas(environ={}, modules={})
    assert "blas.ldflags  %r  (from dltut: " % expected.ldflags in out
    assert expected.reason in out
    assert "Theano 1.0.5" in out and "floatX float64" in out
    assert "sgemm via T.dot" not in out          # --no-bench
    if expected.coretype:
        assert "dltut set     OPENBLAS_CORETYPE=%s" % expected.coretype in out


def test_info_user_empty_ldflags(tmp_path):
    out = run_info(tmp_path, THEANO_FLAGS="blas.ldflags=")
    assert "blas.ldflags  ''  (from THEANO_FLAGS: blas.ldflags given by the user" in out
    assert "Theano BLAS   none" in out


def test_info_user_theanorc_and_coretype(tmp_path):
    rc = tmp_path / "rc"
    rc.write_text("[global]\nfloatX = float32\n[blas]\nldflags =\n")
    out = run_info(tmp_path, THEANORC=str(rc), OPENBLAS_CORETYPE="Haswell")
    assert "(from .theanorc (%s): " % rc in out
    assert "floatX float32" in out
    assert "OPENBLAS_CORETYPE=Haswell" in out
    assert "dltut set     OPENBLAS_CORETYPE" not in out


def test_info_json(tmp_path):
    import json
    data = json.loads(run_info(tmp_path, "--json", THEANO_FLAGS="blas.ldflags="))
    assert set(data) == REPORT_KEYS
    assert (data["blas_ldflags"], data["blas_ldflags_from"]) == ("", "THEANO_FLAGS")


def test_report_keys_and_values():
    data = info.report(bench=False)
    assert set(data) == REPORT_KEYS
    import theano
    assert data["blas_ldflags"] == theano.config.blas.ldflags
    assert data["floatX"] == theano.config.floatX
    assert data["sgemm_gflops"] is None
    assert data["blas_ldflags_from"] in ("dltut", "THEANO_FLAGS", "user", "theano") or \
        data["blas_ldflags_from"].startswith(".theanorc")
    for lib in data["theano_blas"] + data["numpy_blas"]:
        assert {"path", "kind", "config", "core", "threads"} <= set(lib)


def test_report_bench_gives_positive_rate(monkeypatch):
    monkeypatch.setattr(info, "sgemm_gflops", lambda shape, budget=0.5: 1.0)
    data = info.report(bench=True)
    assert data["sgemm_gflops"] == {"1024x1024x1024": 1.0, "20x784x500": 1.0}
    assert "sgemm via T.dot  1024x1024x1024: 1.0 GFLOP/s" in info.format_report(data)


def test_sgemm_gflops_runs():
    assert info.sgemm_gflops((64, 64, 64), budget=0.05) > 0


def test_ldflags_origin():
    choice = blas.BlasChoice("-lopenblas", "openblas", "OpenBLAS found at /x")
    assert info.ldflags_origin({"blas": choice}, {}) == ("dltut", "OpenBLAS found at /x")
    user = blas.BlasChoice("", "user", "given")
    assert info.ldflags_origin({"blas": user}, {"THEANO_FLAGS": "blas.ldflags="})[0] == "THEANO_FLAGS"
    assert info.ldflags_origin({"blas": choice, "theano_already_imported": True}, {})[0] == "theano"
    assert info.ldflags_origin({}, {})[0] == "unknown"


def test_resolve_ldflags(tmp_path):
    d = tmp_path / "lib"
    d.mkdir()
    (d / "libmkl_rt.so.3").write_bytes(b"")
    (d / "libfoo.so").write_bytes(b"")
    got = info.resolve_ldflags("-L%s -l:libmkl_rt.so.3 -lfoo -lmissing" % d, system_dirs=[])
    assert got == [str(d / "libmkl_rt.so.3"), str(d / "libfoo.so")]
    assert info.resolve_ldflags("", system_dirs=[]) == []


def test_describe_library_reports_unloadable(tmp_path):
    bad = tmp_path / "libbroken.so"
    bad.write_bytes(b"not an ELF file")
    got = info.describe_library(str(bad))
    assert got["kind"] == "unknown" and "error" in got


def test_numerics_names_this_process_settings():
    import theano
    facts = info.numerics()
    assert facts["floatX"] == theano.config.floatX
    assert facts["blas.ldflags"] == theano.config.blas.ldflags
    libraries = [info.describe_library(p) for p in info.resolve_ldflags(facts["blas.ldflags"])]
    if libraries and libraries[0]["kind"] == "openblas":
        assert facts["blas_threads"] >= 1 and facts["blas_core"]


def test_numerics_change():
    before = {"floatX": "float32", "blas.ldflags": "-lopenblas", "blas_core": "SkylakeX",
              "blas_threads": 2}
    assert info.numerics_change(before, dict(before)) == ""
    assert info.numerics_change(None, before) == ""  # a checkpoint from before the record
    line = info.numerics_change(before, dict(before, blas_threads=1, blas_core="Haswell"))
    assert "(blas_core SkylakeX -> Haswell, blas_threads 2 -> 1)" in line
    assert "OPENBLAS_NUM_THREADS" in line
    # a key the old record did not have is not a change
    assert info.numerics_change({"floatX": "float32"}, dict(before)) == ""
