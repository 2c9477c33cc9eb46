"""Where Theano computes: the CPU, or a GPU through Theano's ``gpuarray`` backend (an NVIDIA
GPU by CUDA, or any OpenCL device, e.g. the CPU itself through Debian's pocl).

Theano reads its device once, when it is first imported, and a device it cannot open makes
that import fail with a long traceback.  This module decides the device *before* Theano is
imported, after checking -- without importing Theano -- that the GPU path can work:

    import dltut
    from dltut.runtime import device

    device.use_device("cuda")        # before the first ``import theano``
    import theano                    # now on the GPU, or on the CPU after a one-line warning

Device names, as Theano spells them: ``cpu``; ``cuda`` (any CUDA device) or ``cudaN``;
``openclP:D`` (OpenCL platform P's device D, e.g. ``opencl0:0``).

The checks for CUDA (:func:`gpu_preflight`), in order, each failure a one-line reason that
says what is missing and how to fix it:

1. pygpu (libgpuarray's Python binding, 0.7.x) imports and speaks libgpuarray API 2;
2. the NVIDIA driver's ``libcuda.so`` loads;
3. the driver sees a CUDA device (``cuInit``, ``cuDeviceGetCount``);
4. ``libnvrtc.so`` (CUDA's run-time compiler, which builds every GPU kernel) loads and is not
   newer than the driver;
5. ``libcublas.so`` (the matrix products) loads;
6. a C++ compiler exists (Theano's GPU ops are C++ that it compiles).

For OpenCL (:func:`opencl_preflight`): pygpu as above; the OpenCL loader ``libOpenCL.so``
loads and has the platform and device asked for; pygpu opens a context on it; CLBlast (the
OpenCL BLAS libgpuarray uses for the matrix products) loads; a C++ compiler exists.
``make gpu-setup DEVICE=opencl`` installs what is missing (docs/opencl.md).

libgpuarray opens the unversioned names ``libcuda.so``, ``libnvrtc.so`` and ``libcublas.so``;
``make gpu-setup`` (``scripts/gpu_setup.sh``, see ``docs/gpu.md``) links them into
``<venv>/lib/dltut-cuda/``, which this module searches as well.

On the GPU, dltut adds ``floatX=float32`` (the GPU backend computes in float32) and
``dnn.enabled=False`` (cuDNN 8 and later dropped functions Theano 1.0.5 calls; convolutions
then use ``GpuCorrMM`` and pooling ``GpuPool``) unless the user gave those settings.  On an
OpenCL device two of Theano's kernels need fixing first: :mod:`dltut.compat.opencl`.

This module must not import Theano.  It imports pygpu (and so numpy) only inside the checks.
"""
import ctypes
import importlib
import importlib.util
import os
import re
import shutil
import sys

from . import flags

__all__ = ["GPU_DEFAULT_FLAGS", "GPUARRAY_API_MAJOR", "REQUIRE_GPU_ENV", "STATE", "GPUUnavailable",
           "ALLOWED_FORMS", "cuda_lib_dir", "gpu_env_file", "normalise_device", "is_gpu_device",
           "is_opencl_device", "requested_device", "current_device", "describe_device",
           "gpu_preflight", "opencl_preflight", "use_device", "check_requested_device"]

#: Settings added for a GPU device (CUDA or OpenCL), each only if the user did not set it.
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


#: The device names dltut accepts, for error messages.
ALLOWED_FORMS = ("'cpu', 'cuda', 'cudaN' (CUDA device N) or 'openclP:D' (OpenCL platform P's "
                 "device D, as `clinfo -l` numbers them from 0: e.g. 'opencl0:0')")

_OPENCL_NAME = re.compile(r"^opencl(\d+):(\d+)$")


def normalise_device(device):
    """``device`` as Theano spells it: ``"cpu"``, ``"cuda"``, ``"cudaN"`` or ``"openclP:D"``.

    Raises ``ValueError`` for anything else: one line naming what was given and the allowed
    forms.
    """
    name = str(device).strip().lower()
    if name == "cpu" or name == "cuda" or (name.startswith("cuda") and name[4:].isdigit()):
        return name
    if _OPENCL_NAME.match(name):
        return name
    if name == "gpu" or (name.startswith("gpu") and name[3:].isdigit()):
        raise ValueError("device %r is Theano's old CUDA backend, which Theano 1.0 removed; "
                         "give %s" % (device, ALLOWED_FORMS))
    raise ValueError("device %r is not one dltut knows; give %s" % (device, ALLOWED_FORMS))


def is_gpu_device(name):
    """Whether Theano device ``name`` is a ``gpuarray`` one (CUDA or OpenCL), not the CPU."""
    name = str(name).strip().lower()
    return name.startswith("cuda") or name.startswith("opencl")


def is_opencl_device(name):
    """Whether Theano device ``name`` is an OpenCL one (``openclP:D``)."""
    return str(name).strip().lower().startswith("opencl")


def _device_index(device):
    """The CUDA device number in ``"cudaN"`` (0 for plain ``"cuda"``)."""
    return int(device[4:]) if device[4:] else 0


def _opencl_indices(device):
    """``(platform, device)`` of ``"openclP:D"``."""
    match = _OPENCL_NAME.match(device)
    return int(match.group(1)), int(match.group(2))


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
    if not is_gpu_device(name):
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

def _check_pygpu(setup_hint):
    """``(pygpu module, None)``, or ``(None, one-line reason)`` when it cannot serve Theano."""
    try:
        pygpu = _import_pygpu()
    except ModuleNotFoundError as error:
        if getattr(error, "name", None) not in (None, "pygpu"):
            return None, ("pygpu cannot be imported: it needs %r, which is missing; %s"
                          % (error.name, setup_hint))
        return None, ("pygpu (libgpuarray's Python binding) is not installed in %s; %s"
                      % (sys.prefix, setup_hint))
    except ImportError as error:
        text = str(error)
        if "libgpuarray" in text:
            return None, ("pygpu is installed but libgpuarray.so.3 cannot be loaded (%s); "
                          "%s again, or put its folder on LD_LIBRARY_PATH" % (text, setup_hint))
        return None, "pygpu cannot be imported (%s); %s" % (text, setup_hint)
    except Exception as error:  # e.g. pygpu built for another numpy ABI
        return None, ("pygpu cannot be imported (%s: %s); Debian's pygpu 0.7.6 needs "
                      "numpy 1.x" % (type(error).__name__, error))
    version = getattr(pygpu, "__version__", "unknown")
    if not str(version).startswith("0.7."):
        return None, ("pygpu %s found, but Theano 1.0.5 needs pygpu 0.7.x; %s"
                      % (version, setup_hint))
    try:
        api = pygpu.gpuarray.api_version()[0]
    except Exception as error:
        return None, "pygpu %s does not report its libgpuarray API (%s)" % (version, error)
    if api != GPUARRAY_API_MAJOR:
        return None, ("libgpuarray API %s found, but Theano 1.0.5 needs API %d (libgpuarray "
                      "0.7.x); %s" % (api, GPUARRAY_API_MAJOR, setup_hint))
    return pygpu, None


def gpu_preflight(device="cuda"):
    """Check, without importing Theano, that Theano can run on GPU ``device``.

    Returns ``(ok, reason)``: when ``ok``, ``reason`` describes the device (name, compute
    capability, driver, pygpu); otherwise it is one line naming what is missing and the fix.
    OpenCL devices (``openclP:D``) go to :func:`opencl_preflight`.
    """
    device = normalise_device(device)
    if device == "cpu":
        return True, "cpu"
    if is_opencl_device(device):
        return opencl_preflight(device)
    setup_hint = "run `make gpu-setup` (docs/gpu.md)"

    # 1. pygpu
    pygpu, reason = _check_pygpu(setup_hint)
    if pygpu is None:
        return False, reason
    version = getattr(pygpu, "__version__", "unknown")

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


# OpenCL's constants (CL/cl.h)
_CL_DEVICE_TYPE_ALL = 0xFFFFFFFF
_CL_PLATFORM_NAME = 0x0902
_CL_DEVICE_NAME = 0x102B
_CL_DEVICE_VERSION = 0x102F
_CL_PLATFORM_NOT_FOUND_KHR = -1001


def _opencl_string(function, handle, what):
    size = ctypes.c_size_t()
    if function(handle, what, 0, None, ctypes.byref(size)) != 0:
        return "?"
    raw = ctypes.create_string_buffer(size.value + 1)
    if function(handle, what, size.value, raw, None) != 0:
        return "?"
    return raw.value.decode(errors="replace").strip()


def _opencl_devices(libopencl):
    """The OpenCL loader's view: ``[(platform name, [(device name, version), ...]), ...]``.

    Raises ``RuntimeError`` with OpenCL's error code when the platforms cannot be listed;
    no platform at all (the ICD loader without any implementation) is an empty list.
    """
    get_platforms = libopencl.clGetPlatformIDs
    get_platforms.argtypes = [ctypes.c_uint, ctypes.c_void_p, ctypes.POINTER(ctypes.c_uint)]
    get_devices = libopencl.clGetDeviceIDs
    get_devices.argtypes = [ctypes.c_void_p, ctypes.c_uint64, ctypes.c_uint, ctypes.c_void_p,
                            ctypes.POINTER(ctypes.c_uint)]
    info_args = [ctypes.c_void_p, ctypes.c_uint, ctypes.c_size_t, ctypes.c_void_p,
                 ctypes.POINTER(ctypes.c_size_t)]
    libopencl.clGetPlatformInfo.argtypes = info_args
    libopencl.clGetDeviceInfo.argtypes = info_args
    count = ctypes.c_uint()
    code = get_platforms(0, None, ctypes.byref(count))
    if code == _CL_PLATFORM_NOT_FOUND_KHR or (code == 0 and count.value == 0):
        return []
    if code != 0:
        raise RuntimeError("clGetPlatformIDs: OpenCL error %d" % code)
    platforms = (ctypes.c_void_p * count.value)()
    get_platforms(count.value, platforms, None)
    found = []
    for platform in platforms:
        name = _opencl_string(libopencl.clGetPlatformInfo, platform, _CL_PLATFORM_NAME)
        n_devices = ctypes.c_uint()
        devices = []
        if get_devices(platform, _CL_DEVICE_TYPE_ALL, 0, None, ctypes.byref(n_devices)) == 0 \
                and n_devices.value:
            handles = (ctypes.c_void_p * n_devices.value)()
            get_devices(platform, _CL_DEVICE_TYPE_ALL, n_devices.value, handles, None)
            for handle in handles:
                devices.append((
                    _opencl_string(libopencl.clGetDeviceInfo, handle, _CL_DEVICE_NAME),
                    _opencl_string(libopencl.clGetDeviceInfo, handle, _CL_DEVICE_VERSION)))
        found.append((name, devices))
    return found


def _open_context(pygpu, device):
    """Open (and drop) a pygpu context on ``device``; returns the device's name."""
    context = pygpu.gpuarray.init(device)
    return getattr(context, "devname", "?")


def opencl_preflight(device="opencl0:0"):
    """Check, without importing Theano, that Theano can run on OpenCL ``device`` (``openclP:D``).

    Returns ``(ok, reason)`` as :func:`gpu_preflight`: the device's description, or one line
    naming what is missing and the fix.
    """
    device = normalise_device(device)
    platform_index, device_index = _opencl_indices(device)
    setup_hint = "run `make gpu-setup DEVICE=opencl` (docs/opencl.md)"
    packages = "pocl-opencl-icd ocl-icd-libopencl1 ocl-icd-opencl-dev clinfo libclblast1"

    # 1. pygpu
    pygpu, reason = _check_pygpu(setup_hint)
    if pygpu is None:
        return False, reason
    version = getattr(pygpu, "__version__", "unknown")

    # 2. the OpenCL loader, under the unversioned name libgpuarray opens
    libopencl, error = _load_library("libOpenCL.so")
    if libopencl is None:
        return False, ("libOpenCL.so (the OpenCL loader libgpuarray opens) cannot be loaded "
                       "(%s): apt-get install ocl-icd-opencl-dev, or %s" % (error, setup_hint))

    # 3. the platform and the device
    try:
        platforms = _opencl_devices(libopencl)
    except (RuntimeError, AttributeError) as error:
        return False, "the OpenCL loader cannot list its platforms (%s); %s" % (error, setup_hint)
    if not platforms:
        return False, ("no OpenCL platform is installed (an OpenCL implementation registers in "
                       "/etc/OpenCL/vendors): apt-get install pocl-opencl-icd for the CPU's, or "
                       "the GPU vendor's; %s" % setup_hint)
    if platform_index >= len(platforms):
        return False, ("%s asked for, but OpenCL has %d platform(s) (opencl0..opencl%d): see "
                       "`clinfo -l`" % (device, len(platforms), len(platforms) - 1))
    platform_name, devices = platforms[platform_index]
    if device_index >= len(devices):
        return False, ("%s asked for, but OpenCL platform %d (%s) has %d device(s): see "
                       "`clinfo -l`" % (device, platform_index, platform_name, len(devices)))
    device_name, cl_version = devices[device_index]
    cl_version = " ".join(cl_version.split()[:2])       # "OpenCL 3.0", without vendor details

    # 4. a context (what Theano's import will open)
    try:
        _open_context(pygpu, device)
    except Exception as error:
        return False, ("pygpu cannot open a context on %s (%s: %s); check `clinfo`, and that "
                       "these Debian packages are installed: %s"
                       % (device, type(error).__name__, " ".join(str(error).split()), packages))

    # 5. BLAS: libgpuarray opens CLBlast as libclblast.so
    libclblast, error = _load_library("libclblast.so")
    if libclblast is None:
        return False, ("libclblast.so (CLBlast, the OpenCL BLAS libgpuarray uses for the matrix "
                       "products) cannot be loaded (%s); apt-get install libclblast1 and %s, "
                       "which links it into %s" % (error, setup_hint, cuda_lib_dir()))

    # 6. a compiler for Theano's C++ ops
    if _find_cxx() is None:
        return False, ("no C++ compiler (Theano's `cxx`, default g++) was found, and Theano's "
                       "GPU ops are C++: install g++ (apt-get install g++)")

    return True, ("%s: %s (%s; %s), CLBlast, pygpu %s"
                  % (device, device_name, platform_name, cl_version, version))


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
        ``"cpu"``, ``"cuda"``, ``"cudaN"`` or ``"openclP:D"``.  ``None`` takes the device from the user's
        Theano configuration (:func:`requested_device`).  A device given here replaces the
        configuration's ``device`` for this process (a command-line flag is more specific
        than the environment); the user's ``floatX`` and ``dnn.enabled`` are kept.
    require_gpu : bool
        What to do when a GPU (CUDA or OpenCL) was asked for and :func:`gpu_preflight` fails:
        raise :class:`GPUUnavailable` (True), or print one warning line to stderr and use
        the CPU (False).

    Returns
    -------
    str
        The device Theano will use: ``"cpu"`` or the GPU device asked for.

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

    When the user's Theano configuration asks for a GPU device and Theano is not imported
    yet, run the preflight now, so that an unusable GPU means one warning line and the CPU
    rather than a failing ``import theano`` (or :class:`GPUUnavailable` when the environment
    variable ``DLTUT_REQUIRE_GPU=1``).  Returns the device Theano will use, or None when
    the configuration asks for no GPU device dltut knows (Theano then reports a bad name
    itself) or Theano is already imported.
    """
    if "theano" in sys.modules:
        return None
    requested = requested_device().lower()
    if not is_gpu_device(requested):
        return None
    try:
        normalise_device(requested)
    except ValueError:
        return None
    require = os.environ.get(REQUIRE_GPU_ENV, "").strip() in ("1", "true", "True", "yes")
    return use_device(requested, require_gpu=require)
