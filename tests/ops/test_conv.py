"""Tests for dltut.ops.conv: the minibatch convolution Ops against Theano's own graph and numpy.

The reference for every value is Theano's ``conv2d`` followed by ``dltut.layers.max_pool``,
the bias and the activation -- the graph ``LeNetConvPoolLayer(implementation="theano")`` builds
-- and, for the forward pass, scipy's true 2-D convolution (tests/conftest.py).  Gradients are
compared with Theano's gradients of that graph and checked with finite differences
(``verify_grad``, float64).  Every case runs in float32 and float64 whatever floatX is.
"""
import os
import subprocess
import sys
import textwrap

import numpy
import pytest
import theano
import theano.tensor as T
from theano.tensor.nnet import conv2d as theano_conv2d

from dltut import layers
from dltut.layers import LeNetConvPoolLayer, max_pool
from dltut.ops import conv

FLOATX = theano.config.floatX
DTYPES = ("float32", "float64")
TOL = {"float32": dict(rtol=2e-4, atol=2e-5), "float64": dict(rtol=1e-10, atol=1e-11)}
SMALL_BLOCKS = 1500       # bytes: a block of one or two images, so that every case has several

# (batch, channels, h, w, filters, fh, fw, poolsize, activation); odd sizes, dropped borders
CASES = [
    (1, 1, 7, 9, 2, 3, 3, (2, 2), "tanh"),        # batch 1; 5x7 output -> 2x3, border dropped
    (2, 3, 9, 8, 4, 3, 2, (2, 2), "linear"),      # 7x7 -> 3x3: pooled rows of 3 (row layout)
    (3, 2, 10, 11, 5, 3, 4, (3, 2), "tanh"),      # 8x8 -> 2x4, a 3x2 window
    (5, 1, 28, 28, 4, 5, 5, (2, 2), "tanh"),      # LeNet's first layer: 12 windows a row
    (4, 3, 12, 12, 3, 5, 5, (2, 2), "linear"),    # LeNet's second layer: 4 windows a row
    (7, 2, 6, 5, 3, 2, 1, (1, 1), "linear"),      # the plain convolution
    (6, 2, 21, 20, 3, 4, 3, (2, 2), "tanh"),      # 18x18 -> 9x9: windowed, odd
    (9, 1, 23, 22, 2, 1, 2, (1, 3), "tanh"),      # 1-row filter, 1x3 window, odd everything
]


def case_id(case):
    batch, c, h, w, k, fh, fw, pool, act = case
    return "%dx%dx%dx%d*%dx%dx%d/%dx%d-%s" % (batch, c, h, w, k, fh, fw, pool[0], pool[1], act)


def tensor(dtype, ndim, name):
    return T.TensorType(dtype, (False,) * ndim)(name)


def reference(x, W, b, poolsize, activation):
    """The tutorial's graph: Theano's conv2d, max_pool, bias, activation."""
    z = max_pool(theano_conv2d(x, W), poolsize) + b.dimshuffle("x", 0, "x", "x")
    return T.tanh(z) if activation == "tanh" else z


def random_values(case, dtype, seed):
    batch, c, h, w, k, fh, fw, pool, _ = case
    rng = numpy.random.RandomState(seed)
    x = rng.randn(batch, c, h, w).astype(dtype)
    W = (rng.randn(k, c, fh, fw) / numpy.sqrt(c * fh * fw)).astype(dtype)
    b = (0.1 * rng.randn(k)).astype(dtype)
    out_shape = (batch, k, (h - fh + 1) // pool[0], (w - fw + 1) // pool[1])
    G = rng.randn(*out_shape).astype(dtype)
    return x, W, b, G


def compare_function(case, dtype, block_bytes=None, mode=None,
                     with_reference=True):
    """One function: (dltut out, dx, dW, db) then the same from the reference graph, for
    cost = sum(G * out)."""
    _, _, _, _, _, _, _, pool, act = case
    x, W, b, G = tensor(dtype, 4, "x"), tensor(dtype, 4, "W"), tensor(dtype, 1, "b"), \
        tensor(dtype, 4, "G")
    outs = [conv.ConvPool(pool, act, block_bytes)(x, W, b)[0]]
    if with_reference:
        outs.append(reference(x, W, b, pool, act))
    outputs = []
    for out in outs:
        outputs += [out] + T.grad((G * out).sum(), [x, W, b])
    return theano.function([x, W, b, G], outputs, mode=mode)


def assert_matches(results, dtype, what=""):
    names = ("output", "d/dx", "d/dW", "d/db")
    for name, ours, theirs in zip(names, results[:4], results[4:]):
        assert ours.dtype == dtype and ours.shape == theirs.shape, (what, name)
        numpy.testing.assert_allclose(ours, theirs, err_msg="%s %s" % (what, name), **TOL[dtype])


# ---------------------------------------------------------------------------------------
# the Ops against Theano's conv2d, forward and both gradients


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_conv_pool_matches_theano_conv2d(case, dtype):
    f = compare_function(case, dtype)
    results = f(*random_values(case, dtype, seed=1))
    assert_matches(results, dtype, case_id(case))
    assert numpy.abs(results[2]).max() > 0 and numpy.abs(results[1]).max() > 0


@pytest.mark.parametrize("dtype", DTYPES)
def test_blocks_of_any_size_and_batches_1_to_n(dtype):
    """One compiled function, every batch size from 1 to 9, blocks of one or two images (the
    last one partial) and the whole minibatch as one block."""
    case = (None, 2, 11, 13, 3, 3, 4, (2, 3), "tanh")
    small = compare_function(case, dtype, block_bytes=SMALL_BLOCKS)
    whole = compare_function(case, dtype, block_bytes=0)
    for batch in range(1, 10):
        values = random_values((batch,) + case[1:], dtype, seed=batch)
        for f, what in ((small, "small blocks"), (whole, "one block")):
            assert_matches(f(*values), dtype, "batch %d, %s" % (batch, what))


@pytest.mark.parametrize("dtype", DTYPES)
def test_non_contiguous_inputs_and_gradients(dtype):
    """Transposed and strided views as images and filters, negative strides, and an output
    gradient that arrives transposed."""
    x0, W0, b = tensor(dtype, 4, "x0"), tensor(dtype, 4, "W0"), tensor(dtype, 1, "b")
    G = tensor(dtype, 4, "G")
    x = x0.dimshuffle(0, 1, 3, 2)[:, :, ::2, :]           # non-contiguous views in the graph
    W = W0[:, :, ::-1, :]                                   # negative strides
    outs = [conv.ConvPool((2, 2), "tanh")(x, W, b)[0], reference(x, W, b, (2, 2), "tanh")]
    outputs = []
    for out in outs:
        # the gradient reaching the Op is a transposed view
        outputs += [out] + T.grad((G * out.dimshuffle(0, 1, 3, 2)).sum(), [x0, W0, b])
    f = theano.function([x0, W0, b, G], outputs)
    rng = numpy.random.RandomState(3)
    # x0 (3, 2, 9, 22) -> x (3, 2, 11, 9); 3x2 filters -> 9x8 -> pooled 4x4, viewed (4x4)^T
    big = rng.randn(3, 2, 9, 44).astype(dtype)
    x0_value = big[:, :, :, ::2]                            # a non-contiguous array as input
    W0_value = rng.randn(4, 2, 3, 2).astype(dtype)
    results = f(x0_value, W0_value, rng.randn(4).astype(dtype), rng.randn(3, 4, 4, 4).astype(dtype))
    assert not x0_value.flags.c_contiguous
    assert_matches(results, dtype, "non-contiguous")


@pytest.mark.parametrize("dtype", DTYPES)
def test_forward_matches_scipy_convolution(ref, dtype):
    """Independent of Theano: scipy's convolve2d, numpy pooling, bias, tanh."""
    case = (3, 2, 13, 12, 3, 4, 3, (2, 3), "tanh")
    x, W, b, _ = random_values(case, dtype, seed=4)
    xs, Ws, bs = tensor(dtype, 4, "x"), tensor(dtype, 4, "W"), tensor(dtype, 1, "b")
    out = theano.function([xs, Ws, bs], conv.conv_pool(xs, Ws, bs, (2, 3), "tanh"))(x, W, b)
    expected = ref.conv_pool(x.astype("float64"), W.astype("float64"), b.astype("float64"),
                             (2, 3), numpy.tanh)
    numpy.testing.assert_allclose(out, expected, **TOL[dtype])
    # the check can tell convolution from correlation
    correlation = ref.conv_pool(x.astype("float64"), W[:, :, ::-1, ::-1].astype("float64"),
                                b.astype("float64"), (2, 3), numpy.tanh)
    assert not numpy.allclose(out, correlation, rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("dtype", DTYPES)
def test_conv2d_alone_equals_theano_conv2d(dtype):
    x, W = tensor(dtype, 4, "x"), tensor(dtype, 4, "W")
    G = tensor(dtype, 4, "G")
    outputs = []
    for out in (conv.conv2d(x, W), theano_conv2d(x, W)):
        outputs += [out] + T.grad((G * out).sum(), [x, W])
    f = theano.function([x, W, G], outputs)
    rng = numpy.random.RandomState(5)
    values = [rng.randn(4, 3, 9, 7).astype(dtype), rng.randn(5, 3, 4, 3).astype(dtype),
              rng.randn(4, 5, 6, 5).astype(dtype)]
    results = f(*values)
    for name, ours, theirs in zip(("output", "d/dx", "d/dW"), results[:3], results[3:]):
        numpy.testing.assert_allclose(ours, theirs, err_msg=name, **TOL[dtype])


def test_ties_in_a_window_all_get_the_gradient():
    """As with Theano's max: every position equal to its window's maximum gets the gradient
    (zero images: every convolution output ties)."""
    x, W, b = tensor("float64", 4, "x"), tensor("float64", 4, "W"), tensor("float64", 1, "b")
    results = []
    for out in (conv.conv_pool(x, W, b, (2, 2), "linear"), reference(x, W, b, (2, 2), "linear")):
        results.append(theano.function([x, W, b], T.grad(out.sum(), W))(
            numpy.zeros((2, 1, 6, 6)), numpy.ones((3, 1, 3, 3)), numpy.zeros(3)))
    numpy.testing.assert_array_equal(results[0], results[1])


# ---------------------------------------------------------------------------------------
# finite differences, the Python implementation, threads


@pytest.mark.parametrize("poolsize, activation", [((2, 2), "tanh"), ((1, 1), "linear"),
                                                  ((3, 2), "linear")])
def test_verify_grad_float64(poolsize, activation):
    rng = numpy.random.RandomState(6)
    op = conv.ConvPool(poolsize, activation, block_bytes=SMALL_BLOCKS)

    def fn(x, W, b):
        return op(x, W, b)[0]

    theano.gradient.verify_grad(
        fn, [rng.randn(3, 2, 8, 7), rng.randn(2, 2, 3, 2), rng.randn(2)], rng=rng)


@pytest.mark.parametrize("dtype", DTYPES)
def test_python_implementation_matches_the_c_one(dtype):
    """perform (numpy), used when Theano runs without a compiler, against the C code."""
    case = (3, 2, 11, 10, 3, 3, 2, (2, 2), "tanh")
    c_version = compare_function(case, dtype)
    py_version = compare_function(case, dtype, mode=theano.Mode(linker="py", optimizer="fast_run"),
                                  with_reference=False)
    values = random_values(case, dtype, seed=7)
    for ours_c, ours_py in zip(c_version(*values)[:4], py_version(*values)[:4]):
        numpy.testing.assert_allclose(ours_py, ours_c, **TOL[dtype])


def test_filter_gradient_does_not_depend_on_the_number_of_threads(monkeypatch):
    """One partial sum per block, added in block order: the same bits with 2 and 3 threads
    (the BLAS single-threaded in both), and the same values with 1."""
    case = (11, 3, 12, 12, 4, 5, 5, (2, 2), "tanh")
    f = compare_function(case, "float32", block_bytes=SMALL_BLOCKS)
    values = random_values(case, "float32", seed=8)
    by_threads = {}
    for threads in ("1", "2", "3"):
        monkeypatch.setenv("DLTUT_CONV_THREADS", threads)
        by_threads[threads] = f(*values)[:4]
    for ours2, ours3 in zip(by_threads["2"], by_threads["3"]):
        numpy.testing.assert_array_equal(ours2, ours3)
    for ours1, ours2 in zip(by_threads["1"], by_threads["2"]):
        numpy.testing.assert_allclose(ours1, ours2, **TOL["float32"])


def test_float32_tanh_is_correctly_rounded():
    """The vectorised float32 tanh against numpy's float64 tanh rounded to float32: at most a
    few values a million one unit apart (numpy's float64 is itself within an ulp or two)."""
    rng = numpy.random.RandomState(9)
    bits = rng.randint(0, 2 ** 31, size=2 ** 20).astype("uint32")
    values = bits.view("float32")
    values = values[numpy.isfinite(values)]
    values = numpy.concatenate([values, -values[:1000], numpy.float32(
        [0.0, -0.0, 1e-45, -1e-45, 1e-8, 0.5, 1.0, 9.0, 9.01, 19.9, 20.0, 25.0, 1e30, -1e30,
         numpy.inf, -numpy.inf])])
    x = theano.shared(values.reshape(1, 1, 1, -1))
    W = theano.shared(numpy.ones((1, 1, 1, 1), dtype="float32"))
    b = theano.shared(numpy.zeros(1, dtype="float32"))
    out = theano.function([], conv.conv_pool(x, W, b, (1, 1), "tanh"))().ravel()
    expected = numpy.tanh(values.astype("float64")).astype("float32")
    # (the convolution's sum turns -0.0 into +0.0 before tanh sees it)
    nonzero = expected != 0
    assert numpy.array_equal(numpy.signbit(out[nonzero]), numpy.signbit(expected[nonzero]))
    ulps = numpy.where(out == expected, 0, numpy.abs(
        out.view("int32").astype("int64") - expected.view("int32").astype("int64")))
    assert ulps.max() <= 1
    assert (ulps > 0).sum() <= 10, (ulps > 0).sum()
    nan = theano.function([], conv.conv_pool(theano.shared(numpy.float32([[[[numpy.nan]]]])),
                                             W, b, (1, 1), "tanh"))()
    assert numpy.isnan(nan).all()


# ---------------------------------------------------------------------------------------
# bad input


def test_rejects_other_dtypes():
    with pytest.raises(TypeError, match="float32 and float64.*int32"):
        conv.ConvPool()(T.itensor4("x"), T.tensor4("W"), T.vector("b"))


def test_rejects_wrong_ranks_and_poolsizes():
    with pytest.raises(TypeError, match="4-D"):
        conv.ConvPool()(T.matrix("x"), T.tensor4("W"), T.vector("b"))
    with pytest.raises(ValueError, match="poolsize"):
        conv.ConvPool((0, 2))
    with pytest.raises(ValueError, match="tanh or linear|linear or tanh"):
        conv.ConvPool((2, 2), "sigmoid")


@pytest.mark.parametrize("linker", ["cvm", "py"])
def test_shape_errors_name_the_shapes(linker):
    x, W, b = T.tensor4("x"), T.tensor4("W"), T.vector("b")
    mode = theano.Mode(linker=linker, optimizer="fast_run")
    f = theano.function([x, W, b], conv.conv_pool(x, W, b), mode=mode)
    rng = numpy.random.RandomState(10)
    with pytest.raises(ValueError, match="3 channels.*expect 2"):
        f(rng.rand(2, 3, 8, 8).astype(FLOATX), rng.rand(4, 2, 3, 3).astype(FLOATX),
          numpy.zeros(4, FLOATX))
    with pytest.raises(ValueError, match="smaller than the 5 x 5 filters"):
        f(rng.rand(2, 2, 4, 8).astype(FLOATX), rng.rand(4, 2, 5, 5).astype(FLOATX),
          numpy.zeros(4, FLOATX))


# ---------------------------------------------------------------------------------------
# LeNetConvPoolLayer's two implementations


@pytest.mark.parametrize("activation", ["tanh", None, "sigmoid", "relu"])
def test_layer_implementations_agree(activation):
    rng = numpy.random.RandomState(11)
    x = T.tensor4("x")
    W = rng.randn(4, 2, 3, 3).astype(FLOATX)
    b = rng.randn(4).astype(FLOATX)
    built = {impl: LeNetConvPoolLayer(None, x, (4, 2, 3, 3), (None, 2, 9, 10), W=W, b=b,
                                      activation=activation, implementation=impl)
             for impl in layers.CONV_IMPLEMENTATIONS}
    outputs = []
    for layer in built.values():
        outputs += [layer.output] + T.grad(layer.output.sum(), [x] + layer.params)
    results = theano.function([x], outputs)(rng.randn(5, 2, 9, 10).astype(FLOATX))
    n = len(results) // 2
    for ours, theirs in zip(results[:n], results[n:]):
        numpy.testing.assert_allclose(ours, theirs, **TOL[FLOATX])
    ops = {type(node.op) for node in theano.function([x], built["dltut"].output)
           .maker.fgraph.toposort()}
    assert conv.ConvPool in ops


def test_layer_default_implementation_and_switch(monkeypatch):
    x = T.tensor4("x")
    rng = numpy.random.RandomState(12)
    assert layers.default_conv_implementation() == "dltut"      # the tests run on the CPU
    assert LeNetConvPoolLayer(rng, x, (2, 1, 3, 3), (1, 1, 8, 8)).implementation == "dltut"
    monkeypatch.setattr(layers, "CONV_IMPLEMENTATION", "theano")
    assert LeNetConvPoolLayer(rng, x, (2, 1, 3, 3), (1, 1, 8, 8)).implementation == "theano"
    with pytest.raises(ValueError, match="unknown convolution implementation 'cudnn'"):
        LeNetConvPoolLayer(rng, x, (2, 1, 3, 3), (1, 1, 8, 8), implementation="cudnn")


# ---------------------------------------------------------------------------------------
# without a BLAS library


@pytest.mark.slow   # 15-35 s: an end-to-end run (make test's float32 slow pass)
def test_runs_with_theanos_fallback_blas():
    """blas.ldflags empty: Theano's numpy-based gemm stands in for the BLAS.  It calls Python,
    so the blocks stay on one thread even when DLTUT_CONV_THREADS asks for more."""
    code = textwrap.dedent("""
        import dltut, numpy, theano, theano.tensor as T
        from theano.tensor.nnet import conv2d
        from dltut.ops import conv
        from dltut.layers import max_pool
        assert theano.config.blas.ldflags == ""
        x, W, b = T.tensor4("x"), T.tensor4("W"), T.vector("b")
        ours = conv.conv_pool(x, W, b, block_bytes=1000)    # several blocks
        theirs = T.tanh(max_pool(conv2d(x, W), (2, 2)) + b.dimshuffle("x", 0, "x", "x"))
        outs = [ours, theirs]
        for g_ours, g_theirs in zip(T.grad(ours.sum(), [x, W]), T.grad(theirs.sum(), [x, W])):
            outs += [g_ours, g_theirs]
        rng = numpy.random.RandomState(0)
        r = theano.function([x, W, b], outs)(rng.randn(7, 2, 9, 9), rng.randn(4, 2, 3, 3),
                                             rng.randn(4))
        for a, e in zip(r[::2], r[1::2]):
            numpy.testing.assert_allclose(a, e, rtol=1e-10, atol=1e-11)
        print("ok")
    """)
    env = dict(os.environ)
    env["THEANO_FLAGS"] = ",".join(
        [f for f in env.get("THEANO_FLAGS", "").split(",")
         if f.strip() and not f.strip().startswith(("blas.ldflags", "floatX"))]
        + ["blas.ldflags=", "floatX=float64"])
    env["DLTUT_CONV_THREADS"] = "2"
    done = subprocess.run([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().endswith("ok")
