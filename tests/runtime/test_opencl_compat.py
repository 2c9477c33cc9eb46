"""dltut.compat.opencl without an OpenCL device: when its measures apply, and what they do to
Theano's code.  (Their results on a device: tests/runtime/test_opencl.py.)"""
import ast
import importlib.util
import sys
import types

import dltut  # noqa: F401  (Theano set-up first)
import theano  # noqa: F401  (the CPU, as in every test process)

from dltut import compat
from dltut.compat import opencl


def test_both_measures_are_listed_and_off_on_the_cpu():
    measures = {name: (active, why) for name, active, why, _ in compat.describe()}
    for name in (opencl.NAN_NAME, opencl.NNET_NAME):
        active, why = measures[name]
        assert active is False and "not an OpenCL device" in why


def test_on_the_cpu_maximum_keeps_theanos_code_and_version():
    from theano.scalar import basic
    code = basic.maximum.c_code(opencl._FakeNode(), "n", ("x", "y"), ("z",), {})
    assert opencl.C_NAN in code and opencl.OPENCL_NAN + ")" not in code
    assert "dltut-opencl" not in str(basic.maximum.c_code_cache_version())


def _config(monkeypatch, device, contexts=""):
    fake = types.SimpleNamespace(config=types.SimpleNamespace(device=device, contexts=contexts))
    monkeypatch.setitem(sys.modules, "theano.configdefaults", fake)


def test_opencl_in_use_reads_the_device_and_the_contexts(monkeypatch):
    for device, contexts, expected in [("cpu", "", False), ("cuda0", "", False),
                                       ("opencl0:0", "", True),
                                       ("cpu", "dev0->cuda0;dev1->opencl0:1", True),
                                       ("cpu", "dev0->cuda0", False)]:
        _config(monkeypatch, device, contexts)
        assert opencl.opencl_in_use() is expected, (device, contexts)


def test_bump_version_appends_the_tag_to_a_version_only():
    class Versioned:
        def c_code_cache_version(self):
            return (14,)

    class Unversioned:
        def c_code_cache_version(self):
            return ()

    for cls in (Versioned, Unversioned):
        opencl.bump_version(cls)
    assert Versioned().c_code_cache_version() == (14,) + opencl.VERSION_TAG
    assert Unversioned().c_code_cache_version() == ()


def test_the_nan_replacement():
    class Op:
        def c_code(self, node, name, inputs, outputs, sub):
            return 'z = (y > x ? y : (x >= y ? x : nan("")));'

    opencl._replace_nan(Op)
    assert Op().c_code(None, "n", (), (), {}) == "z = (y > x ? y : (x >= y ? x : NAN));"


def _theanos_kernel_method():
    """The source of Theano's GpuCrossentropySoftmaxArgmax1HotWithBias.gpu_kernels, read from
    its file (importing the module needs pygpu)."""
    path = importlib.util.find_spec("theano.gpuarray").submodule_search_locations[0] + "/nnet.py"
    with open(path) as handle:
        text = handle.read()
    for node in ast.parse(text).body:
        if isinstance(node, ast.ClassDef) and node.name == "GpuCrossentropySoftmaxArgmax1HotWithBias":
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and item.name == "gpu_kernels":
                    return ast.get_source_segment(text, item)
    raise AssertionError("gpu_kernels not found in %s" % path)


def test_the_kernel_edit_moves_local_memory_to_the_kernels_outer_scope():
    source = _theanos_kernel_method()
    loop = "for (ga_int row = GID_0; row < M; row += GDIM_0)"
    # Theano's: declared inside the loop over rows
    for declaration in opencl.LOCAL_MEM_DECLARATIONS:
        assert source.index(declaration) > source.index(loop)
    for old, new, expected in opencl.NNET_EDITS:
        assert source.count(old) == expected, old
        source = source.replace(old, new)
    for declaration in opencl.LOCAL_MEM_DECLARATIONS:
        assert source.count(declaration) == 1
        # now before the loop, and after the kernel's opening brace
        assert source.index("KERNEL void %(kname)s(") < source.index(declaration) \
            < source.index(loop)


def test_the_argmax_measure_is_listed_and_off_on_the_cpu():
    from dltut.compat import gpu_argmax
    measures = {name: (active, why) for name, active, why, _ in compat.describe()}
    if gpu_argmax.NAME not in measures:    # theano.gpuarray.opt is imported only with pygpu
        assert importlib.util.find_spec("pygpu") is None or "theano.gpuarray.opt" not in sys.modules
        return
    active, why = measures[gpu_argmax.NAME]
    assert active is False and "not a GPU device" in why


def test_gpu_in_use_reads_the_device_and_the_contexts(monkeypatch):
    from dltut.compat import gpu_argmax
    for device, contexts, expected in [("cpu", "", False), ("cuda0", "", True),
                                       ("opencl0:0", "", True), ("cpu", "dev0->cuda1", True),
                                       ("cpu", "", False)]:
        _config(monkeypatch, device, contexts)
        assert gpu_argmax.gpu_in_use() is expected, (device, contexts)
