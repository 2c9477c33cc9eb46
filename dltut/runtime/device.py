"""Where Theano computes: the CPU, or an NVIDIA GPU through Theano's ``gpuarray`` backend.

Theano reads its device once, when it is first imported, and a device it cannot open makes
that import fail with a long traceback.  This module decides the device *before* Theano is
imported, after checking -- without importing Theano -- that the GPU path can work:

    import dltut
    from dltut.runtime import device

    device.use_device("cuda")        # before the first ``import theano``
    import theano                    # now on the GPU, or on the CPU after a one-line warning

The checks (:func:`gpu_preflight`), in order, each failure a one-line reason that says what is
missing and how to fix it:

1. pygpu (libgpuarray's Python binding, 0.7.x) imports and speaks libgpuarray API 2;
2. the NVIDIA driver's ``libcuda.so`` loads;
3. the driver sees a CUDA device (``cuInit``, ``cuDeviceGetCount``);
4. ``libnvrtc.so`` (CUDA's run-time compiler, which builds every GPU kernel) loads and is not
   newer than the driver;
5. ``libcublas.so`` (the matrix products) loads;
6. a C++ compiler exists (Theano's GPU ops are C++ that it compiles).

libgpuarray opens the unversioned names ``libcuda.so``, ``libnvrtc.so`` and ``libcublas.so``;
``make gpu-setup`` (``scripts/gpu_setup.sh``, see ``docs/gpu.md``) links them into
``<venv>/lib/dltut-cuda/``, which this module searches as well.

On the GPU, dltut adds ``floatX=float32`` (the GPU backend computes in float32) and
``dnn.enabled=False`` (cuDNN 8 and later dropped functions Theano 1.0.5 calls; convolutions
then use ``GpuCorrMM`` and pooling ``GpuPool``) unless the user gave those settings.

This module must not import Theano.  It imports pygpu (and so numpy) only inside the checks.
"""
import ctypes
import importlib
import importlib.util
import os
import shutil
import sys

from . import flags

__all__ = ["GPU_DEFAULT_FLAGS", "GPUARRAY_API_MAJOR", "REQUIRE_GPU_ENV", "STATE", "GPUUnavailable",
           "cuda_lib_dir", "gpu_env_file", "normalise_device", "requested_device",
           "current_device", "describe_device", "gpu_preflight", "use_device",
           "check_requested_device"]

#: Settings added for a CUDA device, each only if the user did not set it.
GPU_DEFAULT_FLAGS = (("floatX", "float32"), ("dnn.enabled", "False"))

#: The libgpuarray API major version that Theano 1.0.5's C code is written against.
GPUARRAY_API_MAJOR = 2

#: Environment variable: when set to 1, a GPU asked for in the user's Theano configuration
#: that cannot be used is an error at ``import dltut`` instead of a fallback to the CPU.
REQUIRE_GPU_ENV = "DLTUT_REQUIRE_GPU"

#: What the last :func:`use_device` decided (for ``python -m dltut.info`` and the scripts).
STATE = {}

# preflight results by device name; one check per process (cuInit is not free)
_PREFLIGHT_CACHE = {}
_WARNED = set()


class GPUUnavailable(RuntimeError):
    """A GPU was required but cannot be used; ``reason`` is the one-line explanation."""

    def __init__(self, reason):
        super().__init__("GPU unavailable: " + reason)
        self.reason = reason


# ---------------------------------------------------------------------------------------
# names and places

def cuda_lib_dir():
    """The folder where ``make gpu-setup`` links the CUDA libraries: ``<venv>/lib/dltut-cuda``."""
    return os.path.join(sys.prefix, "lib", "dltut-cuda")


def gpu_env_file():
    """The shell file ``make gpu-setup`` writes (``source`` it for ``LD_LIBRARY_PATH``)."""
    return os.path.join(sys.prefix, "lib", "dltut-gpu", "env.sh")


def normalise_device(device):
    """``device`` as Theano spells it: ``"cpu"``, ``"cuda"`` or ``"cudaN"``.

    Raises ``ValueError`` for anything else, naming what was given.
    """
    name = str(device).strip().lower()
    if name == "cpu" or name == "cuda" or (name.startswith("cuda") and name[4:].isdigit()):
        return name
    if name == "gpu" or (name.startswith("gpu") and name[3:].isdigit()):
        raise ValueError(
            "device %r is Theano's old CUDA backend, which Theano 1.0 removed; use 'cuda' "
            "(or 'cuda0', 'cuda1', ...)" % (device,))
    raise ValueError("device must be 'cpu', 'cuda' or 'cudaN' (N a number), not %r; give one of "
                     "those" % (device,))


def _device_index(device):
    """The CUDA device number in ``"cudaN"`` (0 for plain ``"cuda"``)."""
    return int(device[4:]) if device[4:] else 0


def requested_device():
    """The device the user's Theano configuration asks for (THEANO_FLAGS, then .theanorc).

    ``"cpu"`` when neither sets one, as in Theano.
    """
    value = flags.user_setting("device")
    return value.strip() if value and value.strip() else "cpu"


def current_device():
    """The device Theano uses: ``theano.config.device`` once Theano is imported, else the
    device it will take from the configuration when it is imported."""
    theano = sys.modules.get("theano")
    if theano is not None:
        return theano.config.device
    return requested_device()


def describe_device():
    """One line naming the device in use, e.g. ``"cuda0: NVIDIA H200"`` or ``"cpu"``.

    On the GPU this asks Theano's context for the device name, so Theano must be imported.
    """
    theano = sys.modules.get("theano")
    if theano is None:
        return requested_device() + " (Theano not imported yet)"
    name = theano.config.device
    if not name.startswith("cuda"):
        return name
    try:
        from theano.gpuarray.type import get_context
        context = get_context(None)
        return "%s: %s" % (name, context.devname)
    except Exception as error:  # the name is informative only
        return "%s (device name unavailable: %s)" % (name, error)


# ---------------------------------------------------------------------------------------
# the pieces the preflight looks at (module-level so that tests can replace them)

def _import_pygpu():
    """Import pygpu; returns the module, or raises ImportError / another error."""
    if importlib.util.find_spec("pygpu") is None:
        raise ModuleNotFoundError("No module named 'pygpu'", name="pygpu")
    return importlib.import_module("pygpu")


def _load_library(name):
    """``ctypes.CDLL`` of ``name`` as libgpuarray would find it, else from :func:`cuda_lib_dir`.

    Returns ``(library, None)`` or ``(None, error_text)``.
    """
    errors = []
    for candidate in (name, os.path.join(cuda_lib_dir(), name)):
        try:
            return ctypes.CDLL(candidate), None
        except OSError as error:
            errors.append(str(error))
    return None, errors[0]


def _find_cxx():
    """The C++ compiler Theano will use (its ``cxx`` setting, default g++), or None."""
    cxx = flags.user_setting("cxx")
    if cxx is None:
        cxx = "g++"
    cxx = cxx.strip()
    if not cxx:
        return None
    return shutil.which(cxx)


def _cuda_error_name(libcuda, code):
    name = ctypes.c_char_p()
    try:
        if libcuda.cuGetErrorName(code, ctypes.byref(name)) == 0 and name.value:
            return name.value.decode()
    except AttributeError:
        pass
    return "CUDA error %d" % code


def _cuda_devices(libcuda):
    """Ask the driver for its devices: ``(driver_version, [(name, (major, minor)), ...])``.

    Raises ``RuntimeError`` with the driver's error name when ``cuInit`` fails.
    """
    code = libcuda.cuInit(0)
    if code != 0:
        raise RuntimeError(_cuda_error_name(libcuda, code))
    version = ctypes.c_int()
    libcuda.cuDriverGetVersion(ctypes.byref(version))
    count = ctypes.c_int()
    code = libcuda.cuDeviceGetCount(ctypes.byref(count))
    if code != 0:
        raise RuntimeError(_cuda_error_name(libcuda, code))
    devices = []
    for index in range(count.value):
        handle = ctypes.c_int()
        libcuda.cuDeviceGet(ctypes.byref(handle), index)
        raw = ctypes.create_string_buffer(256)
        libcuda.cuDeviceGetName(raw, 256, handle)
        major, minor = ctypes.c_int(), ctypes.c_int()
        # CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75, _MINOR = 76
        libcuda.cuDeviceGetAttribute(ctypes.byref(major), 75, handle)
        libcuda.cuDeviceGetAttribute(ctypes.byref(minor), 76, handle)
        devices.append((raw.value.decode(errors="replace"), (major.value, minor.value)))
    return (version.value // 1000, (version.value % 1000) // 10), devices


def _nvrtc_version(libnvrtc):
    major, minor = ctypes.c_int(), ctypes.c_int()
    if libnvrtc.nvrtcVersion(ctypes.byref(major), ctypes.byref(minor)) != 0:
        return None
    return major.value, minor.value


# ---------------------------------------------------------------------------------------
# the preflight

def gpu_preflight(device="cuda"):
    """Check, without importing Theano, that Theano can run on CUDA ``device``.

    Returns ``(ok, reason)``: when ``ok``, ``reason`` describes the device (name, compute
    capability, driver, pygpu); otherwise it is one line naming what is missing and the fix.
    """
    device = normalise_device(device)
    if device == "cpu":
        return True, "cpu"
    setup_hint = "run `make gpu-setup` (docs/gpu.md)"

    # 1. pygpu
    try:
        pygpu = _import_pygpu()
    except ModuleNotFoundError as error:
        if getattr(error, "name", None) not in (None, "pygpu"):
            return False, ("pygpu cannot be imported: it needs %r, which is missing; %s"
                           % (error.name, setup_hint))
        return False, ("pygpu (libgpuarray's Python binding) is not installed in %s; %s"
                       % (sys.prefix, setup_hint))
    except ImportError as error:
        text = str(error)
        if "libgpuarray" in text:
            return False, ("pygpu is installed but libgpuarray.so.3 cannot be loaded (%s); "
                           "%s again, or put its folder on LD_LIBRARY_PATH" % (text, setup_hint))
        return False, "pygpu cannot be imported (%s); %s" % (text, setup_hint)
    except Exception as error:  # e.g. pygpu built for another numpy ABI
        return False, ("pygpu cannot be imported (%s: %s); Debian's pygpu 0.7.6 needs "
                       "numpy 1.x" % (type(error).__name__, error))
    version = getattr(pygpu, "__version__", "unknown")
    if not str(version).startswith("0.7."):
        return False, ("pygpu %s found, but Theano 1.0.5 needs pygpu 0.7.x; %s"
                       % (version, setup_hint))
    try:
        api = pygpu.gpuarray.api_version()[0]
    except Exception as error:
        return False, "pygpu %s does not report its libgpuarray API (%s)" % (version, error)
    if api != GPUARRAY_API_MAJOR:
        return False, ("libgpuarray API %s found, but Theano 1.0.5 needs API %d (libgpuarray "
                       "0.7.x); %s" % (api, GPUARRAY_API_MAJOR, setup_hint))

    # 2. the driver library
    libcuda, error = _load_library("libcuda.so")
    if libcuda is None:
        return False, ("libcuda.so (the NVIDIA driver's CUDA library) cannot be loaded (%s): "
                       "install the NVIDIA driver, or put the folder holding libcuda.so on "
                       "LD_LIBRARY_PATH; `make gpu-setup` links it into %s"
                       % (error, cuda_lib_dir()))

    # 3. a device
    try:
        driver, devices = _cuda_devices(libcuda)
    except RuntimeError as error:
        return False, ("the NVIDIA driver found no usable CUDA device (cuInit: %s): check "
                       "`nvidia-smi` and CUDA_VISIBLE_DEVICES" % error)
    index = _device_index(device)
    if not devices:
        return False, ("the NVIDIA driver sees no CUDA device: check `nvidia-smi` and "
                       "CUDA_VISIBLE_DEVICES")
    if index >= len(devices):
        return False, ("%s asked for, but the driver sees %d CUDA device(s) (cuda0..cuda%d): "
                       "check CUDA_VISIBLE_DEVICES" % (device, len(devices), len(devices) - 1))
    name, capability = devices[index]

    # 4. the run-time compiler
    libnvrtc, error = _load_library("libnvrtc.so")
    if libnvrtc is None:
        return False, ("libnvrtc.so (CUDA's run-time compiler, which libgpuarray needs for "
                       "every kernel) cannot be loaded (%s); %s, which links it into %s"
                       % (error, setup_hint, cuda_lib_dir()))
    nvrtc = _nvrtc_version(libnvrtc)
    if nvrtc is not None and nvrtc > driver:
        return False, ("libnvrtc.so is CUDA %d.%d but the driver supports CUDA %d.%d, so its "
                       "kernels would not load: install nvidia-cuda-nvrtc-cu%d and run "
                       "`make gpu-setup` again, or update the driver"
                       % (nvrtc + driver + (driver[0],)))

    # 5. BLAS
    libcublas, error = _load_library("libcublas.so")
    if libcublas is None:
        return False, ("libcublas.so (CUDA's BLAS, for the matrix products) cannot be loaded "
                       "(%s); %s, which links it into %s" % (error, setup_hint, cuda_lib_dir()))

    # 6. a compiler for Theano's C++ ops
    if _find_cxx() is None:
        return False, ("no C++ compiler (Theano's `cxx`, default g++) was found, and Theano's "
                       "GPU ops are C++: install g++ (apt-get install g++)")

    return True, ("%s: %s (compute %d.%d), CUDA driver %d.%d, NVRTC %s, pygpu %s"
                  % (device, name, capability[0], capability[1], driver[0], driver[1],
                     "%d.%d" % nvrtc if nvrtc else "?", version))


def _cached_preflight(device):
    if device not in _PREFLIGHT_CACHE:
        _PREFLIGHT_CACHE[device] = gpu_preflight(device)
    return _PREFLIGHT_CACHE[device]


# ---------------------------------------------------------------------------------------
# choosing the device

def _same_device(requested, actual):
    if requested == actual:
        return True
    # plain "cuda" asks for "a GPU": any CUDA device Theano opened will do
    return requested == "cuda" and actual.startswith("cuda")


def use_device(device=None, require_gpu=False):
    """Choose Theano's device; call it before Theano is first imported.

    Parameters
    ----------
    device : str or None
        ``"cpu"``, ``"cuda"`` or ``"cudaN"``.  ``None`` takes the device from the user's
        Theano configuration (:func:`requested_device`).  A device given here replaces the
        configuration's ``device`` for this process (a command-line flag is more specific
        than the environment); the user's ``floatX`` and ``dnn.enabled`` are kept.
    require_gpu : bool
        What to do when a CUDA device was asked for and :func:`gpu_preflight` fails:
        raise :class:`GPUUnavailable` (True), or print one warning line to stderr and use
        the CPU (False).

    Returns
    -------
    str
        The device Theano will use: ``"cpu"`` or the CUDA device asked for.

    Raises
    ------
    RuntimeError
        Theano was already imported with another device (it reads the device only once).
    """
    device = normalise_device(requested_device() if device is None else device)
    theano = sys.modules.get("theano")
    if theano is not None:
        actual = theano.config.device
        if not _same_device(device, actual):
            raise RuntimeError(
                "Theano was already imported with device=%s, so dltut cannot switch it to %s: "
                "call dltut.runtime.device.use_device(%r) before the first `import theano` (and "
                "before importing dltut modules that import it, such as dltut.layers)"
                % (actual, device, device))
        STATE.update(requested=device, device=actual, reason="Theano already imported",
                     fallback=False)
        return actual

    if device == "cpu":
        flags.set_theano_flag("device", "cpu")
        STATE.update(requested=device, device="cpu", reason="cpu", fallback=False)
        return "cpu"

    ok, reason = _cached_preflight(device)
    if ok:
        flags.set_theano_flag("device", device)
        for key, value in GPU_DEFAULT_FLAGS:
            flags.add_default(key, value)
        STATE.update(requested=device, device=device, reason=reason, fallback=False)
        return device
    if require_gpu:
        raise GPUUnavailable(reason)
    if reason not in _WARNED:
        _WARNED.add(reason)
        print("dltut: GPU requested but unavailable (%s); running on the CPU" % reason,
              file=sys.stderr)
    # the documented fallback: this process (and its children) only, THEANO_FLAGS included
    flags.set_theano_flag("device", "cpu")
    STATE.update(requested=device, device="cpu", reason=reason, fallback=True)
    return "cpu"


def check_requested_device():
    """Hook for ``dltut.runtime.setup.configure()``, run at ``import dltut``.

    When the user's Theano configuration asks for a CUDA device and Theano is not imported
    yet, run the preflight now, so that an unusable GPU means one warning line and the CPU
    rather than a failing ``import theano`` (or :class:`GPUUnavailable` when the environment
    variable ``DLTUT_REQUIRE_GPU=1``).  Returns the device Theano will use, or None when
    the configuration asks for no CUDA device or Theano is already imported.
    """
    if "theano" in sys.modules:
        return None
    requested = requested_device().lower()
    if not requested.startswith("cuda"):
        return None
    require = os.environ.get(REQUIRE_GPU_ENV, "").strip() in ("1", "true", "True", "yes")
    return use_device(requested, require_gpu=require)
