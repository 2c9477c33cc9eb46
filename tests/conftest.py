"""Shared test set-up: Theano configured first, floatX-aware tolerances, numpy references."""
import importlib.util
import os
import pathlib
import types


def _pin_openblas_kernels():
    """Give OpenBLAS the kernels dltut picks for this CPU, even where the machine's
    environment names others (seen here: ``OPENBLAS_CORETYPE=Haswell`` on an AVX-512 CPU).

    The float32 numbers the tests compare with -- the tutorial's own code printed on this
    project's machines -- were computed with those kernels; another kernel set rounds the
    products otherwise (the RBM's first PCD-15 mean: -26.582338 with SkylakeX kernels,
    -25.584301 with Haswell ones, in the original code and in dltut alike).  Set before numpy
    loads (it reads the variable once); child processes inherit it.  Returns ``(was, now)``.
    dltut itself never overrides a user's setting (dltut.runtime.blas); only the tests do.
    """
    path = pathlib.Path(__file__).resolve().parent.parent / "dltut" / "runtime" / "blas.py"
    spec = importlib.util.spec_from_file_location("dltut_tests_blas", path)
    blas = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(blas)       # imports neither numpy nor Theano
    core, _ = blas.openblas_coretype(blas.parse_cpuinfo(blas.read_cpuinfo()))
    was = os.environ.get("OPENBLAS_CORETYPE")
    if core and was != core:
        os.environ["OPENBLAS_CORETYPE"] = core
    return was, os.environ.get("OPENBLAS_CORETYPE")


OPENBLAS_CORETYPE_WAS, OPENBLAS_CORETYPE_NOW = _pin_openblas_kernels()

import dltut  # noqa: E402,F401  (first: Theano set-up before anything imports theano)
import numpy
import pytest
from scipy.signal import convolve2d

from _helpers import softmax, tolerances


@pytest.fixture(scope="session")
def mnist_path():
    """The real MNIST file (data/mnist.pkl.gz or $DLTUT_DATA's); the test is skipped without it."""
    from dltut.data import default_mnist_path
    path = default_mnist_path()
    if not path.is_file():
        pytest.skip("%s is absent (fetch it with `python -m dltut.data fetch`)" % path)
    return path


@pytest.fixture(scope="session")
def fashion_mnist_dir():
    """The Fashion-MNIST IDX folder ($DLTUT_FASHION_MNIST or Debian's); skipped without it."""
    from dltut.data import FASHION_ENV_VAR, FASHION_MNIST_DIR, FASHION_MNIST_FILES
    root = pathlib.Path(os.environ.get(FASHION_ENV_VAR) or FASHION_MNIST_DIR)
    if not (root / FASHION_MNIST_FILES["train_images"]).is_file():
        pytest.skip("Fashion-MNIST absent (apt-get install dataset-fashion-mnist)")
    return root


@pytest.fixture(scope="session")
def tol():
    """``assert_allclose`` tolerances for results computed in the current floatX (the
    "graph" row of _helpers.TOLERANCES)."""
    return tolerances("graph")


np_softmax = softmax


def np_conv_valid(x, w):
    """True 2-D convolution (kernel flipped), 'valid', summed over input channels.

    (n, c, h, w) * (k, c, fh, fw) -> (n, k, h - fh + 1, w - fw + 1)
    """
    n, k = x.shape[0], w.shape[0]
    out = numpy.zeros((n, k, x.shape[2] - w.shape[2] + 1, x.shape[3] - w.shape[3] + 1))
    for i in range(n):
        for j in range(k):
            for c in range(x.shape[1]):
                out[i, j] += convolve2d(x[i, c], w[j, c], mode="valid")
    return out


def np_max_pool(a, poolsize):
    """Non-overlapping max pooling over the last two axes; incomplete windows are dropped."""
    ph, pw = poolsize
    h, w = a.shape[-2] // ph, a.shape[-1] // pw
    a = a[..., :h * ph, :w * pw]
    return a.reshape(a.shape[:-2] + (h, ph, w, pw)).max(axis=(-3, -1))


def np_conv_pool(x, w, b, poolsize=(2, 2), activation=numpy.tanh):
    """activation(max_pool(conv(x, w)) + b), b broadcast over batch and image axes."""
    z = np_max_pool(np_conv_valid(x, w), poolsize) + b[None, :, None, None]
    return z if activation is None else activation(z)


@pytest.fixture(scope="session")
def ref():
    """Independent numpy forward computations (everything in float64)."""
    return types.SimpleNamespace(
        softmax=np_softmax, conv_valid=np_conv_valid, max_pool=np_max_pool,
        conv_pool=np_conv_pool, sigmoid=lambda z: 1.0 / (1.0 + numpy.exp(-z)),
        relu=lambda z: numpy.maximum(z, 0.0))


def pytest_terminal_summary(terminalreporter):
    """The tally of the fault and bad-input suite (tests/test_faults.py), when it ran."""
    outcome = {}
    for key in ("passed", "failed", "error", "skipped"):
        for report in terminalreporter.stats.get(key, []):
            nodeid = getattr(report, "nodeid", "")
            if "test_faults.py::" not in nodeid:
                continue
            if key in ("failed", "error"):
                outcome[nodeid] = "not clean"
            elif key == "skipped":
                outcome.setdefault(nodeid, "skipped")
            elif report.when == "call":
                outcome.setdefault(nodeid, "clean")
    if outcome:
        counts = {kind: sum(1 for v in outcome.values() if v == kind)
                  for kind in ("clean", "not clean", "skipped")}
        terminalreporter.write_line(
            "fault suite: %d cases, %d clean, %d not clean, %d skipped (clean: one line on "
            "stderr, the promised exit code, no traceback, nothing outside the run folder "
            "changed)" % (counts["clean"] + counts["not clean"], counts["clean"],
                          counts["not clean"], counts["skipped"]))


def pytest_addoption(parser):
    parser.addoption(
        "--one-variant", action="store_true", default=False,
        help="run each parametrized test with its first parameter set only (make test's "
             "passes on the other Pythons; every set runs on the first Python)")
    parser.addoption(
        "--share", default=None, metavar="K/N",
        help="run the K-th of N shares of the test files (K = 1..N; the files in name order, "
             "dealt out in turn), plus tests/test_compat.py in every share: make test's "
             "passes on the other Pythons split the suite between them")


#: Test files every --share runs: the compatibility layer's own tests (what differs
#: between Pythons and numpy versions).
EVERY_SHARE = ("tests/test_compat.py",)


def share_of(value):
    """``(k, n)`` from a --share value ``K/N``; a bad value is one line."""
    import pytest
    try:
        k, n = (int(part) for part in value.split("/"))
        if not 1 <= k <= n:
            raise ValueError
    except ValueError:
        raise pytest.UsageError("--share %r: give K/N with 1 <= K <= N, e.g. 1/2" % value)
    return k, n


def pytest_collection_modifyitems(config, items):
    """With --share K/N, keep the K-th share of the test files; with --one-variant, the first
    parameter set of each test function."""
    share = config.getoption("--share")
    if share:
        k, n = share_of(share)
        files = sorted({item.nodeid.split("::")[0] for item in items})
        mine = {f for i, f in enumerate(files) if i % n == k - 1} | set(EVERY_SHARE)
        keep = [item for item in items if item.nodeid.split("::")[0] in mine]
        if len(keep) < len(items):
            config.hook.pytest_deselected(items=[i for i in items if i not in keep])
            items[:] = keep
    if not config.getoption("--one-variant"):
        return
    seen, keep, drop = set(), [], []
    for item in items:
        key = (item.nodeid.split("::")[0], getattr(item, "cls", None) and item.cls.__name__,
               getattr(item, "originalname", None) or item.name)
        if key in seen:
            drop.append(item)
        else:
            seen.add(key)
            keep.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def pytest_report_header(config):
    """Say when the tests changed the machine's OpenBLAS kernel choice (see above)."""
    if OPENBLAS_CORETYPE_WAS and OPENBLAS_CORETYPE_WAS != OPENBLAS_CORETYPE_NOW:
        return ("OPENBLAS_CORETYPE=%s for the tests (the environment said %s): the recorded "
                "float32 numbers were printed with the kernels dltut picks for this CPU"
                % (OPENBLAS_CORETYPE_NOW, OPENBLAS_CORETYPE_WAS))
