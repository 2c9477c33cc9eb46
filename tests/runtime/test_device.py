"""Tests of dltut.runtime.device on a machine without a GPU: the missing pieces are simulated.

Every test sets THEANO_FLAGS and THEANORC itself, so the outcome does not depend on the
flags the suite runs under (float32 or the default float64), and hides any imported Theano
behind a stand-in so that the "before Theano is imported" paths can be exercised.
"""
import os
import types

import pytest

from dltut.runtime import device
from dltut.runtime.flags import parse_theano_flags

# the real pieces, before the fixture below replaces them
REAL_PIECES = {name: getattr(device, name)
               for name in ("_import_pygpu", "_load_library", "_find_cxx", "_opencl_devices",
                            "_open_context")}
REAL_LOAD_LIBRARY = device._load_library


class FakeLibrary:
    """Stands in for a ctypes library; ``functions`` maps a name to a Python callable."""

    def __init__(self, **functions):
        self._functions = functions

    def __getattr__(self, name):
        try:
            return self._functions[name]
        except KeyError:
            raise AttributeError(name) from None


def _set_int(pointer, value):
    pointer._obj.value = value


def fake_libcuda(n_devices=1, init_code=0, driver=13000, name=b"Fake GPU"):
    def cu_device_get_name(buffer, size, handle):
        buffer.value = name
        return 0

    return FakeLibrary(
        cuInit=lambda flags: init_code,
        cuGetErrorName=lambda code, out: 1,
        cuDriverGetVersion=lambda out: _set_int(out, driver) or 0,
        cuDeviceGetCount=lambda out: _set_int(out, n_devices) or 0,
        cuDeviceGet=lambda out, index: _set_int(out, index) or 0,
        cuDeviceGetName=cu_device_get_name,
        cuDeviceGetAttribute=lambda out, attribute, handle: _set_int(
            out, 9 if attribute == 75 else 0) or 0,
    )


def fake_libnvrtc(version=(12, 4)):
    def nvrtc_version(major, minor):
        _set_int(major, version[0])
        _set_int(minor, version[1])
        return 0

    return FakeLibrary(nvrtcVersion=nvrtc_version)


#: What the simulated OpenCL loader lists: one platform with one device.
FAKE_OPENCL = [("Fake Platform", [("Fake CPU", "OpenCL 3.0 Fake HSTR: details")])]


def fake_pygpu(version="0.7.6", api=2):
    gpuarray = types.SimpleNamespace(api_version=lambda: (api, 0))
    return types.SimpleNamespace(__version__=version, gpuarray=gpuarray)


def flags():
    return parse_theano_flags()


@pytest.fixture(autouse=True)
def clean(monkeypatch, tmp_path):
    """No Theano in sys.modules, no .theanorc, empty THEANO_FLAGS, a fresh cache, a working
    (simulated) GPU stack; each test breaks the piece it is about."""
    monkeypatch.delitem(__import__("sys").modules, "theano", raising=False)
    monkeypatch.setenv("THEANORC", str(tmp_path / "no-theanorc"))
    monkeypatch.setenv("THEANO_FLAGS", "")
    monkeypatch.delenv(device.REQUIRE_GPU_ENV, raising=False)
    monkeypatch.setattr(device, "_PREFLIGHT_CACHE", {})
    monkeypatch.setattr(device, "_WARNED", set())
    monkeypatch.setattr(device, "STATE", {})
    libraries = {"libcuda.so": fake_libcuda(), "libnvrtc.so": fake_libnvrtc(),
                 "libcublas.so": FakeLibrary(), "libOpenCL.so": FakeLibrary(),
                 "libclblast.so": FakeLibrary()}
    monkeypatch.setattr(device, "_import_pygpu", fake_pygpu)
    monkeypatch.setattr(device, "_opencl_devices", lambda library: FAKE_OPENCL)
    monkeypatch.setattr(device, "_open_context", lambda pygpu, name: "Fake CPU")
    monkeypatch.setattr(device, "_load_library", lambda name: (libraries[name], None))
    monkeypatch.setattr(device, "_find_cxx", lambda: "/usr/bin/g++")
    return libraries


def missing(name):
    def load(requested):
        if requested == name:
            return None, "%s: cannot open shared object file: No such file or directory" % name
        return {"libcuda.so": fake_libcuda(), "libnvrtc.so": fake_libnvrtc(),
                "libcublas.so": FakeLibrary(), "libOpenCL.so": FakeLibrary(),
                "libclblast.so": FakeLibrary()}[requested], None
    return load


# --- the preflight --------------------------------------------------------------------------

def test_preflight_ok_describes_the_device():
    ok, reason = device.gpu_preflight("cuda")
    assert ok
    assert reason == ("cuda: Fake GPU (compute 9.0), CUDA driver 13.0, NVRTC 12.4, "
                      "pygpu 0.7.6")


def test_preflight_pygpu_missing(monkeypatch):
    def no_pygpu():
        raise ModuleNotFoundError("No module named 'pygpu'", name="pygpu")
    monkeypatch.setattr(device, "_import_pygpu", no_pygpu)
    ok, reason = device.gpu_preflight("cuda")
    assert not ok
    assert reason.startswith("pygpu (libgpuarray's Python binding) is not installed")
    assert "make gpu-setup" in reason
    assert "\n" not in reason


def test_preflight_libgpuarray_not_loadable(monkeypatch):
    def broken():
        raise ImportError("libgpuarray.so.3: cannot open shared object file")
    monkeypatch.setattr(device, "_import_pygpu", broken)
    ok, reason = device.gpu_preflight("cuda")
    assert not ok and "libgpuarray.so.3 cannot be loaded" in reason
    assert "LD_LIBRARY_PATH" in reason


@pytest.mark.parametrize("version, api, expected", [
    ("0.6.9", 2, "needs pygpu 0.7.x"),
    ("0.7.6", 1, "needs API 2"),
])
def test_preflight_wrong_pygpu(monkeypatch, version, api, expected):
    monkeypatch.setattr(device, "_import_pygpu", lambda: fake_pygpu(version, api))
    ok, reason = device.gpu_preflight("cuda")
    assert not ok and expected in reason


def test_preflight_no_driver(monkeypatch):
    monkeypatch.setattr(device, "_load_library", missing("libcuda.so"))
    ok, reason = device.gpu_preflight("cuda")
    assert not ok
    assert reason.startswith("libcuda.so (the NVIDIA driver's CUDA library) cannot be loaded")
    assert "install the NVIDIA driver" in reason and "LD_LIBRARY_PATH" in reason


def test_preflight_cuinit_fails(clean):
    clean["libcuda.so"] = fake_libcuda(init_code=100)
    ok, reason = device.gpu_preflight("cuda")
    assert not ok and "no usable CUDA device" in reason and "nvidia-smi" in reason


def test_preflight_device_index_out_of_range(clean):
    clean["libcuda.so"] = fake_libcuda(n_devices=1)
    assert device.gpu_preflight("cuda0")[0]
    ok, reason = device.gpu_preflight("cuda1")
    assert not ok
    assert reason.startswith("cuda1 asked for, but the driver sees 1 CUDA device(s)")


@pytest.mark.parametrize("library, expected", [
    ("libnvrtc.so", "CUDA's run-time compiler"),
    ("libcublas.so", "CUDA's BLAS"),
])
def test_preflight_cuda_library_missing(monkeypatch, library, expected):
    monkeypatch.setattr(device, "_load_library", missing(library))
    ok, reason = device.gpu_preflight("cuda")
    assert not ok and expected in reason and "make gpu-setup" in reason


def test_preflight_nvrtc_newer_than_driver(clean):
    clean["libcuda.so"] = fake_libcuda(driver=12020)
    clean["libnvrtc.so"] = fake_libnvrtc((13, 0))
    ok, reason = device.gpu_preflight("cuda")
    assert not ok
    assert "CUDA 13.0 but the driver supports CUDA 12.2" in reason
    assert "nvidia-cuda-nvrtc-cu12" in reason


def test_preflight_no_compiler(monkeypatch):
    monkeypatch.setattr(device, "_find_cxx", lambda: None)
    ok, reason = device.gpu_preflight("cuda")
    assert not ok and "g++" in reason


def test_preflight_never_imports_theano():
    device.gpu_preflight("cuda")
    assert "theano" not in __import__("sys").modules


# --- choosing the device --------------------------------------------------------------------

def test_use_device_cpu_sets_device():
    assert device.use_device("cpu") == "cpu"
    assert flags()["device"] == "cpu"
    assert "floatX" not in flags()


def test_use_device_cuda_adds_gpu_flags():
    assert device.use_device("cuda") == "cuda"
    assert flags() == {"device": "cuda", "floatX": "float32", "dnn.enabled": "False"}
    assert device.STATE["fallback"] is False


@pytest.mark.parametrize("user_floatx", ["float64", "float32"])
def test_use_device_keeps_users_floatx_and_dnn(monkeypatch, user_floatx):
    monkeypatch.setenv("THEANO_FLAGS", "floatX=%s,dnn__enabled=auto" % user_floatx)
    device.use_device("cuda0")
    assert flags()["floatX"] == user_floatx
    assert flags()["dnn.enabled"] == "auto"
    assert flags()["device"] == "cuda0"
    assert os.environ["THEANO_FLAGS"].count("floatX") == 1


def test_use_device_keeps_floatx_from_theanorc(monkeypatch, tmp_path):
    rc = tmp_path / "theanorc"
    rc.write_text("[global]\nfloatX = float64\n")
    monkeypatch.setenv("THEANORC", str(rc))
    device.use_device("cuda")
    assert "floatX" not in flags()


def test_pygpu_missing_falls_back_to_cpu(monkeypatch, capsys):
    def no_pygpu():
        raise ModuleNotFoundError("No module named 'pygpu'", name="pygpu")
    monkeypatch.setattr(device, "_import_pygpu", no_pygpu)
    monkeypatch.setenv("THEANO_FLAGS", "device=cuda,floatX=float64")
    assert device.use_device("cuda") == "cpu"
    assert flags() == {"floatX": "float64", "device": "cpu"}
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("dltut: GPU requested but unavailable (pygpu (libgpuarray's")
    assert err[0].endswith("; running on the CPU")
    assert device.STATE["fallback"] is True
    # a second request says nothing new
    device.use_device("cuda")
    assert capsys.readouterr().err == ""


def test_require_gpu_raises(monkeypatch):
    monkeypatch.setattr(device, "_load_library", missing("libcuda.so"))
    with pytest.raises(device.GPUUnavailable) as info:
        device.use_device("cuda", require_gpu=True)
    assert info.value.reason.startswith("libcuda.so")
    assert str(info.value).startswith("GPU unavailable: libcuda.so")
    assert "device" not in flags()


def test_device_none_follows_user_configuration(monkeypatch):
    monkeypatch.setenv("THEANO_FLAGS", "device=cuda0")
    assert device.requested_device() == "cuda0"
    assert device.use_device() == "cuda0"
    monkeypatch.setenv("THEANO_FLAGS", "")
    assert device.requested_device() == "cpu"
    assert device.use_device() == "cpu"


def test_explicit_device_replaces_users_device(monkeypatch):
    monkeypatch.setenv("THEANO_FLAGS", "device=cuda,mode=FAST_RUN")
    device.use_device("cpu")
    assert flags() == {"mode": "FAST_RUN", "device": "cpu"}


@pytest.mark.parametrize("bad, expected", [("gpu", "old CUDA backend"), ("tpu", "'cpu'")])
def test_bad_device_names(bad, expected):
    with pytest.raises(ValueError, match=expected):
        device.use_device(bad)


@pytest.mark.parametrize("bad", ["tpu", "opencl", "opencl0", "opencl:0", "openclx:y", "cuda-1",
                                 "cpu0", "", "gpu", "gpu0"])
def test_a_bad_device_is_one_line_naming_it_and_the_allowed_forms(bad):
    with pytest.raises(ValueError) as info:
        device.use_device(bad)
    message = str(info.value)
    assert "\n" not in message
    assert repr(bad) in message
    for form in ("'cpu'", "'cuda'", "'cudaN'", "'openclP:D'"):
        assert form in message


@pytest.mark.parametrize("name, expected", [
    ("opencl0:0", "opencl0:0"), ("OpenCL1:2", "opencl1:2"), (" opencl0:10 ", "opencl0:10"),
    ("cuda", "cuda"), ("cuda3", "cuda3"), ("CPU", "cpu"),
])
def test_good_device_names(name, expected):
    assert device.normalise_device(name) == expected


def test_is_gpu_device():
    assert [device.is_gpu_device(n) for n in ("cpu", "cuda", "cuda1", "opencl0:0")] == \
        [False, True, True, True]
    assert [device.is_opencl_device(n) for n in ("cpu", "cuda", "opencl0:0")] == \
        [False, False, True]


def test_preflight_runs_once_per_process(monkeypatch):
    calls = []
    real = device.gpu_preflight
    monkeypatch.setattr(device, "gpu_preflight", lambda d: calls.append(d) or real(d))
    device.use_device("cuda")
    device.use_device("cuda")
    assert calls == ["cuda"]


# --- Theano already imported -----------------------------------------------------------------

def fake_theano(monkeypatch, device_name):
    module = types.SimpleNamespace(config=types.SimpleNamespace(device=device_name))
    monkeypatch.setitem(__import__("sys").modules, "theano", module)


def test_already_imported_other_device_raises(monkeypatch):
    fake_theano(monkeypatch, "cpu")
    with pytest.raises(RuntimeError, match="already imported with device=cpu"):
        device.use_device("cuda")


def test_already_imported_same_device_is_fine(monkeypatch):
    fake_theano(monkeypatch, "cuda0")
    before = os.environ["THEANO_FLAGS"]
    assert device.use_device("cuda") == "cuda0"
    assert device.use_device("cuda0") == "cuda0"
    assert os.environ["THEANO_FLAGS"] == before
    assert device.current_device() == "cuda0"


def test_current_device_before_import(monkeypatch):
    monkeypatch.setenv("THEANO_FLAGS", "device=cuda1")
    assert device.current_device() == "cuda1"


# --- the import-time hook --------------------------------------------------------------------

def test_hook_does_nothing_for_cpu():
    assert device.check_requested_device() is None
    assert flags() == {}


def test_hook_falls_back_when_users_flags_ask_for_cuda(monkeypatch, capsys):
    monkeypatch.setattr(device, "_load_library", missing("libcuda.so"))
    monkeypatch.setenv("THEANO_FLAGS", "device=cuda")
    assert device.check_requested_device() == "cpu"
    assert flags()["device"] == "cpu"
    assert "running on the CPU" in capsys.readouterr().err


def test_hook_can_be_made_strict(monkeypatch):
    monkeypatch.setattr(device, "_load_library", missing("libcuda.so"))
    monkeypatch.setenv("THEANO_FLAGS", "device=cuda")
    monkeypatch.setenv(device.REQUIRE_GPU_ENV, "1")
    with pytest.raises(device.GPUUnavailable):
        device.check_requested_device()


def test_hook_leaves_imported_theano_alone(monkeypatch):
    fake_theano(monkeypatch, "cpu")
    monkeypatch.setenv("THEANO_FLAGS", "device=cuda")
    assert device.check_requested_device() is None


# --- the real pieces, on this machine -----------------------------------------------------

def test_real_loader_reports_missing_library():
    library, error = REAL_LOAD_LIBRARY("libdltut-no-such-library.so")
    assert library is None and "libdltut-no-such-library.so" in error


def test_real_loader_loads_libc():
    library, error = REAL_LOAD_LIBRARY("libc.so.6")
    assert error is None and hasattr(library, "printf")


def test_real_preflight_gives_one_line(monkeypatch):
    for name, real in REAL_PIECES.items():
        monkeypatch.setattr(device, name, real)
    ok, reason = device.gpu_preflight("cuda")
    assert reason and "\n" not in reason
    if not ok:  # the usual case here: no pygpu, no driver
        assert "make gpu-setup" in reason or "driver" in reason or "g++" in reason
    assert "theano" not in __import__("sys").modules


def test_real_opencl_preflight_gives_one_line(monkeypatch):
    for name, real in REAL_PIECES.items():
        monkeypatch.setattr(device, name, real)
    ok, reason = device.gpu_preflight("opencl0:0")
    assert reason and "\n" not in reason
    if ok:      # pocl and pygpu here (make gpu-setup DEVICE=opencl)
        assert reason.startswith("opencl0:0: ") and "pygpu 0.7." in reason
    else:
        assert "make gpu-setup" in reason or "apt-get install" in reason or "clinfo" in reason
    assert "theano" not in __import__("sys").modules


# --- OpenCL ----------------------------------------------------------------------------------

def test_opencl_preflight_ok_describes_the_device():
    ok, reason = device.gpu_preflight("opencl0:0")
    assert ok
    assert reason == "opencl0:0: Fake CPU (Fake Platform; OpenCL 3.0), CLBlast, pygpu 0.7.6"


def test_opencl_preflight_needs_no_cuda(monkeypatch):
    def only_opencl(name):
        if name in ("libOpenCL.so", "libclblast.so"):
            return FakeLibrary(), None
        return None, "%s: cannot open shared object file" % name
    monkeypatch.setattr(device, "_load_library", only_opencl)
    assert device.gpu_preflight("opencl0:0")[0]


def test_opencl_preflight_pygpu_missing(monkeypatch):
    def no_pygpu():
        raise ModuleNotFoundError("No module named 'pygpu'", name="pygpu")
    monkeypatch.setattr(device, "_import_pygpu", no_pygpu)
    ok, reason = device.gpu_preflight("opencl0:0")
    assert not ok and "pygpu" in reason and "make gpu-setup DEVICE=opencl" in reason


@pytest.mark.parametrize("library, expected", [
    ("libOpenCL.so", "ocl-icd-opencl-dev"),
    ("libclblast.so", "libclblast1"),
])
def test_opencl_preflight_library_missing(monkeypatch, library, expected):
    monkeypatch.setattr(device, "_load_library", missing(library))
    ok, reason = device.gpu_preflight("opencl0:0")
    assert not ok and reason.startswith(library) and expected in reason
    assert "\n" not in reason


def test_opencl_preflight_no_platform(monkeypatch):
    monkeypatch.setattr(device, "_opencl_devices", lambda library: [])
    ok, reason = device.gpu_preflight("opencl0:0")
    assert not ok and "no OpenCL platform" in reason and "pocl-opencl-icd" in reason


@pytest.mark.parametrize("name, expected", [
    ("opencl1:0", "opencl1:0 asked for, but OpenCL has 1 platform(s)"),
    ("opencl0:1", "opencl0:1 asked for, but OpenCL platform 0 (Fake Platform) has 1 device(s)"),
])
def test_opencl_preflight_index_out_of_range(name, expected):
    ok, reason = device.gpu_preflight(name)
    assert not ok and reason.startswith(expected) and "clinfo -l" in reason


def test_opencl_preflight_context_fails(monkeypatch):
    def fails(pygpu, name):
        raise RuntimeError("Could not create context:\n  CL_OUT_OF_RESOURCES")
    monkeypatch.setattr(device, "_open_context", fails)
    ok, reason = device.gpu_preflight("opencl0:0")
    assert not ok and "cannot open a context on opencl0:0" in reason
    assert "CL_OUT_OF_RESOURCES" in reason and "\n" not in reason


def test_opencl_preflight_no_compiler(monkeypatch):
    monkeypatch.setattr(device, "_find_cxx", lambda: None)
    ok, reason = device.gpu_preflight("opencl0:0")
    assert not ok and "g++" in reason


def test_use_device_opencl_adds_floatx():
    assert device.use_device("opencl0:0") == "opencl0:0"
    assert flags()["device"] == "opencl0:0" and flags()["floatX"] == "float32"
    assert device.STATE["fallback"] is False


def test_opencl_falls_back_in_one_line_or_raises(monkeypatch, capsys):
    monkeypatch.setattr(device, "_opencl_devices", lambda library: [])
    with pytest.raises(device.GPUUnavailable, match="no OpenCL platform"):
        device.use_device("opencl0:0", require_gpu=True)
    assert device.use_device("opencl0:0") == "cpu"
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no OpenCL platform" in err[0] and "running on the CPU" in err[0]
    assert flags()["device"] == "cpu"


def test_hook_checks_an_opencl_device_in_the_users_flags(monkeypatch, capsys):
    monkeypatch.setattr(device, "_load_library", missing("libOpenCL.so"))
    monkeypatch.setenv("THEANO_FLAGS", "device=opencl0:0")
    assert device.check_requested_device() == "cpu"
    assert "libOpenCL.so" in capsys.readouterr().err
    monkeypatch.setenv("THEANO_FLAGS", "device=opencl0:0")    # the fallback set device=cpu
    monkeypatch.setenv(device.REQUIRE_GPU_ENV, "1")
    with pytest.raises(device.GPUUnavailable, match="libOpenCL.so"):
        device.check_requested_device()


def test_already_imported_opencl(monkeypatch):
    fake_theano(monkeypatch, "opencl0:0")
    assert device.use_device("opencl0:0") == "opencl0:0"
    with pytest.raises(RuntimeError, match="already imported with device=opencl0:0"):
        device.use_device("cuda")
