"""scripts/build_pygpu.sh, pygpu 0.7.6 for Python 3.12/3.13 from libgpuarray's sources: its
refusals are one line each (the sources are never in this repository: the build itself runs
where DLTUT_PYGPU_SRC names an unpacked v0.7.6 release and Debian's libgpuarray is unpacked)."""
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "build_pygpu.sh"
VENV = os.path.dirname(os.path.dirname(os.path.abspath(sys.executable)))


def build(*args):
    out = subprocess.run(["bash", str(SCRIPT)] + [str(a) for a in args], capture_output=True,
                         text=True, timeout=900)
    return out.returncode, out.stdout, out.stderr


def one_error_line(stderr):
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("build_pygpu: error: "), stderr
    return lines[0]


@pytest.mark.parametrize("args, fragment", [
    ([], "--venv, --libgpuarray and --out are required"),
    (["--venv", VENV, "--libgpuarray", "{tmp}", "--out", "{tmp}/out"],
     "usr/include/gpuarray/array.h not found: unpack Debian's libgpuarray-dev 0.7.6 there"),
    (["--bogus"], "unknown argument '--bogus'"),
])
def test_a_bad_invocation_is_one_line(tmp_path, args, fragment):
    code, _, stderr = build(*[a.replace("{tmp}", str(tmp_path)) for a in args])
    assert code == 1 and fragment in one_error_line(stderr)


def fake_libgpuarray(tmp_path):
    root = tmp_path / "root"
    (root / "usr" / "include" / "gpuarray").mkdir(parents=True)
    (root / "usr" / "include" / "gpuarray" / "array.h").write_text("")
    (root / "usr" / "lib").mkdir(parents=True)
    (root / "usr" / "lib" / "libgpuarray.so").write_text("")
    return root


def test_sources_that_are_not_libgpuarrays_are_refused(tmp_path):
    root = fake_libgpuarray(tmp_path)
    code, _, stderr = build("--venv", VENV, "--libgpuarray", root, "--out", tmp_path / "out",
                            "--pygpu-src", tmp_path)
    assert code == 1 and "is not libgpuarray's source folder" in one_error_line(stderr)
    code, _, stderr = build("--venv", VENV, "--libgpuarray", root, "--out", tmp_path / "out",
                            "--offline")
    assert code == 1 and "--offline needs --pygpu-src DIR" in one_error_line(stderr)
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("DLTUT_PYGPU_SRC") or not os.environ.get("DLTUT_LIBGPUARRAY"),
                    reason="set DLTUT_PYGPU_SRC (libgpuarray v0.7.6's unpacked sources) and "
                           "DLTUT_LIBGPUARRAY (Debian's libgpuarray 0.7.6 unpacked, as "
                           "gpu_setup.sh leaves it in <venv>/lib/dltut-gpu/root) to build pygpu")
def test_pygpu_builds_and_imports_against_this_numpy(tmp_path):
    code, stdout, stderr = build("--venv", VENV, "--libgpuarray", os.environ["DLTUT_LIBGPUARRAY"],
                                 "--out", tmp_path / "site", "--pygpu-src",
                                 os.environ["DLTUT_PYGPU_SRC"])
    assert code == 0, stderr
    lib = os.path.join(os.environ["DLTUT_LIBGPUARRAY"], "usr", "lib")
    out = subprocess.run(
        [sys.executable, "-W", "error::SyntaxWarning", "-c",
         "import numpy, pygpu, pygpu.gpuarray as g; print(pygpu.__version__, g.api_version()[0],"
         " pygpu.get_include() != '')"],
        env=dict(os.environ, PYTHONPATH=str(tmp_path / "site"), LD_LIBRARY_PATH=lib),
        capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and out.stdout.split() == ["0.7.6", "2", "True"], out.stderr
