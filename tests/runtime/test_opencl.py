"""Theano's GPU path (the ``gpuarray`` backend) on an OpenCL device: pocl's CPU device,
``opencl0:0``, wherever Debian's OpenCL packages and pygpu are installed (``make gpu-setup
DEVICE=opencl``; ``make test`` as root installs them).  Elsewhere every test here skips with
the preflight's reason.

Theano reads its device once per process, so the runs happen in two child processes
(tests/runtime/opencl_probe.py), both in float32: the tutorial's logistic regression, MLP and
LeNet5 trained for one epoch on a tiny synthetic MNIST-shaped dataset by the scripts' own
``main`` with ``--device opencl0:0 --require-gpu``, and the same on the CPU.  The device's
results must equal the CPU's: the same error rates, the same costs and parameters to float32
rounding.  Marked slow (run once, in the float32 pass): about a minute when Theano's compile
cache holds the modules, a few minutes on a fresh cache (pocl on two busy cores).
"""
import json
import os
import subprocess
import sys

import numpy
import pytest

from _cli import ROOT, child_env, read_history, write_dataset
from dltut.runtime import device

pytestmark = pytest.mark.slow

DEVICE = "opencl0:0"
PROBE = ROOT / "tests" / "runtime" / "opencl_probe.py"
SCRIPTS = ("logistic_sgd", "mlp", "convolutional_mlp")

#: Ops that each script's compiled functions must hold on the device (every function's ops
#: together): the products, the softmax/cross-entropy and its gradient, the convolutions.
GPU_OPS = {
    "logistic_sgd": {"GpuDot22", "GpuGemm", "GpuElemwise",
                     "GpuCrossentropySoftmaxArgmax1HotWithBias",
                     "GpuCrossentropySoftmax1HotWithBiasDx"},
    "mlp": {"GpuDot22", "GpuGemm", "GpuElemwise", "GpuCrossentropySoftmaxArgmax1HotWithBias",
            "GpuCrossentropySoftmax1HotWithBiasDx"},
    "convolutional_mlp": {"GpuCorrMM", "GpuCorrMM_gradWeights", "GpuCorrMM_gradInputs",
                          "GpuDot22", "GpuGemm", "GpuElemwise",
                          "GpuCrossentropySoftmaxArgmax1HotWithBias",
                          "GpuPool", "GpuMaxPoolGrad"},   # the pooling on the device too
}


def _opencl_reason():
    ok, reason = device.gpu_preflight(DEVICE)
    return None if ok else reason


@pytest.fixture(scope="module")
def ready():
    reason = _opencl_reason()
    if reason is not None:
        pytest.skip("no usable OpenCL device here (%s); `make gpu-setup DEVICE=opencl` sets one "
                    "up (docs/opencl.md)" % reason)


def _probe(device_name, dataset, out_dir, *extra):
    env = child_env()
    env["THEANO_FLAGS"] = ",".join(filter(None, [env.get("THEANO_FLAGS"), "floatX=float32"]))
    env["OPENBLAS_NUM_THREADS"] = "1"
    os.makedirs(str(out_dir))
    done = subprocess.run([sys.executable, str(PROBE), device_name, str(dataset), str(out_dir)]
                          + list(extra), cwd=str(out_dir), env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, timeout=1800)
    assert done.returncode == 0, done.stdout + done.stderr
    with open(os.path.join(str(out_dir), "probe.json")) as handle:
        found = json.load(handle)
    found["stdout"], found["stderr"] = done.stdout, done.stderr
    return found


@pytest.fixture(scope="module")
def runs(ready, tmp_path_factory):
    """The two children's findings: ``{"gpu": ..., "cpu": ..., "dirs": {...}}``."""
    base = tmp_path_factory.mktemp("opencl")
    dataset = base / "tiny.pkl.gz"
    write_dataset(dataset, noise=0.1)
    dirs = {"gpu": base / "gpu", "cpu": base / "cpu"}
    return {"gpu": _probe(DEVICE, dataset, dirs["gpu"], "--checks"),
            "cpu": _probe("cpu", dataset, dirs["cpu"]), "dirs": dirs}


def test_the_real_preflight_finds_pocls_device(ready):
    ok, reason = device.gpu_preflight(DEVICE)
    assert ok and reason.startswith(DEVICE + ": ") and "pygpu 0.7." in reason
    assert "\n" not in reason


def test_the_scripts_train_on_the_device_with_require_gpu(runs):
    gpu = runs["gpu"]
    assert gpu["codes"] == {name: 0 for name in SCRIPTS}, gpu["stderr"]
    assert gpu["device"] == DEVICE and gpu["floatX"] == "float32"
    assert "unavailable" not in gpu["stderr"] and "Traceback" not in gpu["stderr"]
    for name in SCRIPTS:
        config = json.loads((runs["dirs"]["gpu"] / name / "config.json").read_text())
        assert config["theano_flags"]["device"] == DEVICE


def test_the_compiled_graphs_hold_gpu_ops(runs):
    for name in SCRIPTS:
        ops = set(runs["gpu"]["ops"][name])
        assert GPU_OPS[name] <= ops, (name, sorted(GPU_OPS[name] - ops))
        # on the CPU, the same scripts compile no Gpu op (a check of the check)
        assert not [op for op in runs["cpu"]["ops"][name] if op.startswith("Gpu")]
    # LeNet5's pooling max no longer runs on the host between device ops
    assert not {"CAReduce", "MaxAndArgmax", "Pool", "MaxPoolGrad"} & set(
        runs["gpu"]["ops"]["convolutional_mlp"])


def test_the_shared_datasets_are_on_the_device(runs):
    shared = runs["gpu"]["shared"]
    assert shared["x"] == ["GpuArraySharedVariable", "GpuArray"]
    assert shared["y"] == ["GpuArraySharedVariable", "GpuArray"]


@pytest.mark.parametrize("name", SCRIPTS)
def test_the_devices_results_equal_the_cpus(runs, name):
    gpu_dir, cpu_dir = runs["dirs"]["gpu"] / name, runs["dirs"]["cpu"] / name
    gpu, cpu = read_history(gpu_dir), read_history(cpu_dir)
    assert len(gpu) == len(cpu) > 0
    for on_gpu, on_cpu in zip(gpu, cpu):
        for key in ("validation_error", "validation_error_all", "test_error", "test_error_all"):
            assert on_gpu[key] == on_cpu[key], (key, on_gpu, on_cpu)
        numpy.testing.assert_allclose(on_gpu["train_cost"], on_cpu["train_cost"], rtol=1e-5)
    with numpy.load(str(gpu_dir / "best_model.npz")) as g, \
            numpy.load(str(cpu_dir / "best_model.npz")) as c:
        assert sorted(g.files) == sorted(c.files)
        params = [key for key in c.files if key.startswith("param_")]
        assert params
        for key in params:
            assert g[key].dtype == c[key].dtype == numpy.float32
            numpy.testing.assert_allclose(g[key], c[key], rtol=1e-4, atol=1e-6, err_msg=key)


def test_the_kernel_fixes_are_active(runs):
    measures = runs["gpu"]["measures"]
    assert measures["OpenCL: maximum/minimum's NaN"] is True
    assert measures["OpenCL: softmax kernel's local memory"] is True
    assert measures["GPU: the errors' argmax on the device"] is True


def test_the_errors_argmax_runs_on_the_device(runs):
    found = runs["gpu"]["errors"]
    assert "GpuMaxAndArgmax" in found["ops"] and "Argmax" not in found["ops"]
    scores = numpy.dot(numpy.array(found["x"]), numpy.array(found["W"])) + numpy.array(found["b"])
    y_pred = scores.argmax(axis=1)
    assert found["y_pred"] == y_pred.tolist()
    assert found["error"] == pytest.approx(numpy.mean(y_pred != numpy.array(found["y"])))
    # and in the scripts' own functions: no argmax left on the host
    for name in SCRIPTS:
        assert "Argmax" not in runs["gpu"]["ops"][name], name
        assert "Argmax" in runs["cpu"]["ops"][name], name


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_maximum_and_minimum_with_nans_on_the_device(runs, dtype):
    found = runs["gpu"]["elemwise_" + dtype]
    assert "GpuElemwise" in found["ops"]
    a = numpy.array(found["a"], dtype=dtype)
    b = numpy.array(found["b"], dtype=dtype)
    assert numpy.isnan(a).any() and numpy.isnan(b).any()
    # numpy's maximum/minimum propagate NaN, as Theano's do on the CPU
    numpy.testing.assert_array_equal(numpy.array(found["maximum"], dtype=dtype),
                                     numpy.maximum(a, b))
    numpy.testing.assert_array_equal(numpy.array(found["minimum"], dtype=dtype),
                                     numpy.minimum(a, b))


def test_softmax_cross_entropy_kernel_on_the_device(runs):
    found = runs["gpu"]["xent"]
    assert "GpuCrossentropySoftmaxArgmax1HotWithBias" in found["ops"]
    x = numpy.array(found["x"], dtype="float64") + numpy.array(found["b"], dtype="float64")
    y = numpy.array(found["y"])
    shifted = numpy.exp(x - x.max(axis=1, keepdims=True))
    softmax = shifted / shifted.sum(axis=1, keepdims=True)
    nll = -numpy.log(softmax[numpy.arange(len(y)), y])
    numpy.testing.assert_allclose(found["sm"], softmax, rtol=1e-5, atol=1e-7)
    numpy.testing.assert_allclose(found["nll"], nll, rtol=1e-5, atol=1e-6)
    # (its third output, the argmax, is not checked: Theano's kernel starts its running
    # maximum at NaN, so `row > max` never holds and it returns 0 on CUDA and OpenCL alike;
    # the tutorial's errors use T.argmax, not this output)
