"""Convolution, max-pooling, bias and tanh over blocks of the minibatch, as compiled Theano Ops.

Theano 1.0.5's CPU convolution (``CorrMM``) unrolls one image at a time and makes one small
matrix product per image.  The Ops here unroll a block of images at once ("im2col") and make
one large product per block, in the forward pass and in both gradients:

* :class:`ConvPool`: ``out = act(max_pool(conv(x, W)) + b)`` and a ``mask`` of the positions
  that are their pooling window's maximum (the backward pass routes the gradient there);
* :class:`ConvPoolGradWeights`: the gradient with respect to the filters ``W``;
* :class:`ConvPoolGradInputs`: the gradient with respect to the images ``x`` (Theano leaves it
  out of the graph when nothing needs it, as for LeNet's first layer, whose input is the data).

``conv`` is the tutorial's ``conv2d``: a true 2-D convolution (filters flipped), 'valid'
border, summed over the input channels::

    conv(x, W)[n, k, y, x'] = sum_{c, i, j} x[n, c, y + i, x' + j] * W[k, c, fh-1-i, fw-1-j]
    x: (batch, c, h, w), W: (k, c, fh, fw) -> (batch, k, h - fh + 1, w - fw + 1)

``max_pool`` takes non-overlapping ``poolsize`` windows and drops the border rows and columns
that do not fill one (``pool_2d(ignore_border=True)``, :func:`dltut.layers.max_pool`); its
gradient goes to *every* position of a window equal to the window's maximum, as Theano's does.
``act`` is ``tanh`` or the identity; :class:`dltut.layers.LeNetConvPoolLayer` applies any other
activation with Theano on the identity's output.

The work: a block of ``n`` images is unrolled into ``col``, ``(c * fh * fw, n * cols)`` (row
``(c, i, j)``; one column per convolution output inside a pooling window -- the outputs pooling
drops are never computed), the flipped filters into ``Wf``, ``(k, c * fh * fw)``.  Then

* forward: ``Y = Wf . col``, pooled, biased and activated while the block is in the cache;
* filters: ``dWf = sum over blocks of dY . col^T``;
* images: ``dcol = Wf^T . dY``, added back into the images' pixels ("col2im");

where ``dY`` is the gradient of the pooled pre-activation routed back through ``mask``.  When
the pooled rows are long (LeNet's first layer) an image's columns are ordered by position in
the window, so that pooling and its gradient run over contiguous slices; otherwise row by row.
``block_bytes`` bounds ``col`` to keep a block in a core's cache (0: the whole minibatch at
once, slower); with OpenBLAS the blocks are spread over its threads (each product then
single-threaded).  The products call the BLAS Theano links (``blas.ldflags``; Theano's
numpy-based stand-in when that is empty).

Each Op has C code (float32 and float64, any strides; most of it in ``conv.cpp`` beside this
module, read at import) and a numpy ``perform`` for Theano without a compiler.

Rounding: each forward output sums the same products as ``CorrMM`` in the same order; the
filter gradient is summed per block of images and then over the blocks in order (``CorrMM``:
image by image), so its last bits differ, though not with the number of threads.  float32 tanh
is computed in double and rounded once (correctly rounded; glibc's ``tanhf``, which Theano's
graph calls, is often one unit off in the last place).
"""
import hashlib
import importlib.resources

import numpy
import theano
import theano.tensor as T
from theano.gof import Apply, Op
from theano.gradient import DisconnectedType, grad_not_implemented, grad_undefined
from theano.tensor import blas_headers
from theano.tensor.blas import ldflags

__all__ = ["FUSED_ACTIVATIONS", "DEFAULT_BLOCK_BYTES", "SUPPORTED_DTYPES", "SUPPORT_CODE",
           "ConvPool", "ConvPoolGradWeights", "ConvPoolGradInputs", "check_shapes", "conv_shape",
           "np_conv_kbhw", "np_pool_kbhw", "np_unpool_kbhw", "np_conv_grad_weights",
           "np_conv_grad_inputs", "conv_pool", "conv2d"]

#: Activations the Ops apply themselves (any other is applied by Theano on ``linear``).
FUSED_ACTIVATIONS = ("linear", "tanh")

#: Default bound on the unrolled block (bytes): a few images' ``col`` that stay in a core's
#: L2 cache with their products (``bench/conv_layers.py --block-bytes ...`` times other sizes;
#: docs/guide/performance.md has what it measured).
DEFAULT_BLOCK_BYTES = 1 << 20

SUPPORTED_DTYPES = ("float32", "float64")

# --------------------------------------------------------------------------- C implementation
def _read_source(name):
    """The text of ``name``, a C++ file shipped beside this module (package data)."""
    return importlib.resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


#: The Ops' C++ (dltut/ops/conv.cpp): the BLAS calls, the unrolling, the blocks and threads.
#: The leading newline keeps the text, and so the Ops' cache version, what it was when this
#: code was a string here.
SUPPORT_CODE = "\n" + _read_source("conv.cpp")


def _source_version(*texts):
    """A deterministic part of ``c_code_cache_version`` that changes with the C source."""
    digest = hashlib.sha1("\n".join(texts).encode("utf-8")).hexdigest()
    return int(digest[:12], 16)


def _threads_header():
    """C declarations that let the Ops run their blocks on the BLAS's threads (OpenBLAS only:
    its products can be made single-threaded meanwhile; any other BLAS threads each product)."""
    ldflags_text = theano.config.blas.ldflags
    text = "\n#define DLTUT_CONV_LINKED_BLAS %d\n" % bool(ldflags_text.strip())
    if "openblas" in ldflags_text:
        return blas_headers.openblas_threads_text() + text + "#define DLTUT_CONV_OPENBLAS 1\n"
    return text + "#define DLTUT_CONV_OPENBLAS 0\n"


def _typenum(dtype):
    return {"float32": "NPY_FLOAT32", "float64": "NPY_FLOAT64"}[str(dtype)]


def _float_inputs(*variables):
    """The variables as tensors of one float dtype (the widest), or a TypeError naming them."""
    variables = [T.as_tensor_variable(v) for v in variables]
    for v in variables:
        if v.dtype not in SUPPORTED_DTYPES:
            raise TypeError("dltut.conv supports float32 and float64 only; %s has dtype %s"
                            % (v, v.dtype))
    dtype = "float64" if any(v.dtype == "float64" for v in variables) else "float32"
    return [v if v.dtype == dtype else T.cast(v, dtype) for v in variables]


def _check_ndim(variable, ndim, what):
    if variable.ndim != ndim:
        raise TypeError("dltut.conv: %s must be a %d-D tensor, got %s with ndim=%d"
                        % (what, ndim, variable, variable.ndim))


def _check_poolsize(poolsize):
    poolsize = tuple(int(p) for p in poolsize)
    if len(poolsize) != 2 or min(poolsize) < 1:
        raise ValueError("poolsize must be two positive ints, got %r" % (poolsize,))
    return poolsize


class _ConvOp(Op):
    """What the three Ops share: BLAS linking, the C support code, the cache version."""

    def __init__(self, poolsize=(2, 2), block_bytes=None):
        self.poolsize = _check_poolsize(poolsize)
        self.block_bytes = int(DEFAULT_BLOCK_BYTES if block_bytes is None else block_bytes)
        if self.block_bytes < 0:
            raise ValueError("block_bytes must be >= 0 (0: the whole minibatch at once)")

    def c_support_code(self):
        return blas_headers.blas_header_text() + _threads_header() + SUPPORT_CODE

    def c_headers(self):
        return ["<math.h>", "<string.h>", "<stdlib.h>", "<limits.h>", "<atomic>", "<new>",
                "<thread>", "<vector>"]

    def c_libraries(self):
        return ldflags()

    def c_compile_args(self):
        return ldflags(libs=False, flags=True)

    def c_lib_dirs(self):
        return ldflags(libs=False, libs_dir=True)

    def c_header_dirs(self):
        return ldflags(libs=False, include_dir=True)

    def c_code_cache_version(self):
        return (1, _source_version(_threads_header(), SUPPORT_CODE, self._c_template),
                blas_headers.blas_header_version())

    def _c_sub(self, node, sub):
        ph, pw = self.poolsize
        return dict(ph=ph, pw=pw, block_bytes=self.block_bytes, fail=sub["fail"],
                    typenum=_typenum(node.outputs[0].dtype))


class ConvPool(_ConvOp):
    """``out = act(max_pool(conv(x, W)) + b)`` and the pooling ``mask``, in one Op.

    Parameters
    ----------
    poolsize : pair of ints (ph, pw)
        Pooling window (and stride); (1, 1) gives the plain convolution.
    activation : "tanh" or "linear"
    block_bytes : int or None
        Upper bound on the images unrolled at once (see the module's docstring); None takes
        :data:`DEFAULT_BLOCK_BYTES`.

    Inputs ``x`` (batch, c, h, w), ``W`` (k, c, fh, fw), ``b`` (k,).  Outputs ``out``
    (batch, k, poh, pow) with ``poh = (h - fh + 1) // ph``, ``pow = (w - fw + 1) // pw``, and
    ``mask``, uint8, (k, batch, ph * pw, poh * pow): ``mask[k, n, u * pw + v, py * pow + px]``
    is 1 where the convolution at ``(py * ph + u, px * pw + v)`` equals its window's maximum.
    """

    __props__ = ("poolsize", "activation", "block_bytes")

    def __init__(self, poolsize=(2, 2), activation="tanh", block_bytes=None):
        super().__init__(poolsize, block_bytes)
        if activation not in FUSED_ACTIVATIONS:
            raise ValueError("ConvPool applies %s itself, not %r"
                             % (" or ".join(FUSED_ACTIVATIONS), activation))
        self.activation = activation

    def __str__(self):
        return "ConvPool{%dx%d, %s}" % (self.poolsize + (self.activation,))

    def make_node(self, x, W, b):
        x, W, b = _float_inputs(x, W, b)
        _check_ndim(x, 4, "the images x")
        _check_ndim(W, 4, "the filters W")
        _check_ndim(b, 1, "the bias b")
        out = T.TensorType(x.dtype, (x.broadcastable[0], W.broadcastable[0], False, False))()
        mask = T.TensorType("uint8", (W.broadcastable[0], x.broadcastable[0], False, False))()
        return Apply(self, [x, W, b], [out, mask])

    def infer_shape(self, node, shapes):
        (batch, _, h, w), (k, _, fh, fw), _ = shapes
        ph, pw = self.poolsize
        poh, pow_ = (h - fh + 1) // ph, (w - fw + 1) // pw
        return [(batch, k, poh, pow_), (k, batch, ph * pw, poh * pow_)]

    def connection_pattern(self, node):
        return [[True, True], [True, True], [True, False]]

    def perform(self, node, inputs, outputs):
        x, W, b = inputs
        check_shapes(x.shape, W.shape, self.poolsize)
        conv = np_conv_kbhw(x, W)
        pooled, mask = np_pool_kbhw(conv, self.poolsize)
        z = pooled.transpose(1, 0, 2, 3) + b[None, :, None, None]
        if self.activation == "tanh":
            # in float64 and rounded once, as the C code does
            z = numpy.tanh(z.astype("float64"))
        outputs[0][0] = numpy.ascontiguousarray(z, dtype=node.outputs[0].dtype)
        outputs[1][0] = mask

    _c_template = """
    if (dltut_conv::conv_pool_forward(%(x)s, %(W)s, %(b)s, &%(out)s, &%(mask)s, %(ph)d, %(pw)d,
                                      %(act)d, %(block_bytes)dL, %(typenum)s)) {
        %(fail)s
    }
    """

    def c_code(self, node, name, inputs, outputs, sub):
        x, W, b = inputs
        out, mask = outputs
        return self._c_template % dict(self._c_sub(node, sub), x=x, W=W, b=b, out=out,
                                       mask=mask, act=int(self.activation == "tanh"))

    def L_op(self, inputs, outputs, output_grads):
        x, W, b = inputs
        out, mask = outputs
        g_out = output_grads[0]
        if isinstance(g_out.type, DisconnectedType):
            return [x.zeros_like(), W.zeros_like(), b.zeros_like()]
        # the gradient of the pooled pre-activation max_pool(conv) + b
        g_z = g_out * (1 - T.sqr(out)) if self.activation == "tanh" else g_out
        g_b = g_z.sum(axis=(0, 2, 3))
        g_W = ConvPoolGradWeights(self.poolsize, self.block_bytes)(x, W, g_z, mask)
        g_x = ConvPoolGradInputs(self.poolsize, self.block_bytes)(W, x, g_z, mask)
        return [g_x, g_W, g_b]


class _ConvGradOp(_ConvOp):
    """Inputs ``(data, shape_only, g_z, mask)``: the gradient ``g_z`` of the pooled
    pre-activation (batch, k, poh, pow) and :class:`ConvPool`'s ``mask``; the second input
    only gives the shape of the result (the filters for the images' gradient and vice versa)."""

    __props__ = ("poolsize", "block_bytes")

    def _make_node(self, data, shape_only, g_z, mask):
        data, shape_only, g_z = _float_inputs(data, shape_only, g_z)
        mask = T.as_tensor_variable(mask)
        for variable, what in ((data, "first input"), (shape_only, "second input"),
                               (g_z, "the output gradient"), (mask, "the mask")):
            _check_ndim(variable, 4, what)
        if mask.dtype != "uint8":
            raise TypeError("dltut.conv: the mask must be uint8 (ConvPool's second output), "
                            "got %s" % mask.dtype)
        out = T.TensorType(data.dtype, shape_only.broadcastable)()
        return Apply(self, [data, shape_only, g_z, mask], [out])

    def infer_shape(self, node, shapes):
        return [shapes[1]]

    def grad(self, inputs, output_grads):
        return [grad_not_implemented(self, i, v) for i, v in enumerate(inputs[:3])] + \
            [grad_undefined(self, 3, inputs[3], "the pooling mask is discrete")]

    _wrt_filters = None        # set by the two subclasses

    def __str__(self):
        return "%s{%dx%d}" % ((type(self).__name__,) + self.poolsize)

    def perform(self, node, inputs, outputs):
        data, shape_only, g_z, mask = inputs
        x, W = (data, shape_only) if self._wrt_filters else (shape_only, data)
        check_shapes(x.shape, W.shape, self.poolsize)
        g_conv = np_unpool_kbhw(g_z, mask, self.poolsize, conv_shape(x.shape, W.shape))
        result = np_conv_grad_weights(x, g_conv, W.shape) if self._wrt_filters else \
            np_conv_grad_inputs(W, g_conv, x.shape)
        outputs[0][0] = result.astype(node.outputs[0].dtype)

    def c_code(self, node, name, inputs, outputs, sub):
        data, shape_only, g_z, mask = inputs
        x, W = (data, shape_only) if self._wrt_filters else (shape_only, data)
        return self._c_template % dict(self._c_sub(node, sub), x=x, W=W, g_z=g_z, mask=mask,
                                       out=outputs[0], wrt_filters=int(self._wrt_filters))

    _c_template = """
    if (dltut_conv::conv_pool_grad(%(x)s, %(W)s, %(g_z)s, %(mask)s, &%(out)s, %(ph)d, %(pw)d,
                                   %(block_bytes)dL, %(typenum)s, %(wrt_filters)d)) {
        %(fail)s
    }
    """


class ConvPoolGradWeights(_ConvGradOp):
    """``dW`` from the images ``x``, the filters ``W`` (for their shape), ``g_z`` and ``mask``."""

    _wrt_filters = True

    def make_node(self, x, W, g_z, mask):
        return self._make_node(x, W, g_z, mask)


class ConvPoolGradInputs(_ConvGradOp):
    """``dx`` from the filters ``W``, the images ``x`` (for their shape), ``g_z`` and ``mask``."""

    _wrt_filters = False

    def make_node(self, W, x, g_z, mask):
        return self._make_node(W, x, g_z, mask)


# --------------------------------------------------------------------------- numpy versions
def check_shapes(image_shape, filter_shape, poolsize):
    """Raise a ValueError unless the images, filters and pooling fit together."""
    if image_shape[1] != filter_shape[1]:
        raise ValueError("dltut.conv: the images %s have %d channels but the filters %s expect %d"
                         % (tuple(image_shape), image_shape[1], tuple(filter_shape),
                            filter_shape[1]))
    if image_shape[2] < filter_shape[2] or image_shape[3] < filter_shape[3]:
        raise ValueError("dltut.conv: images of %d x %d are smaller than the %d x %d filters"
                         % (image_shape[2], image_shape[3], filter_shape[2], filter_shape[3]))


def conv_shape(image_shape, filter_shape):
    """(k, batch, oh, ow): the valid convolution's output, laid out filters first."""
    return (filter_shape[0], image_shape[0], image_shape[2] - filter_shape[2] + 1,
            image_shape[3] - filter_shape[3] + 1)


def _windows(x, fh, fw):
    """(batch, c, h, w) -> read-only view (batch, c, oh, ow, fh, fw) of every fh x fw window."""
    return numpy.lib.stride_tricks.sliding_window_view(x, (fh, fw), axis=(2, 3))


def np_conv_kbhw(x, W):
    """The valid true convolution, laid out (k, batch, oh, ow)."""
    flipped = W[:, :, ::-1, ::-1]
    return numpy.tensordot(flipped, _windows(x, W.shape[2], W.shape[3]),
                           axes=([1, 2, 3], [1, 4, 5]))


def np_pool_kbhw(conv, poolsize):
    """Max-pool (k, batch, oh, ow) planes: ``(pooled, mask)`` as :class:`ConvPool` makes them
    (pooled: (k, batch, poh, pow); mask: (k, batch, ph * pw, poh * pow))."""
    ph, pw = poolsize
    k, batch, oh, ow = conv.shape
    poh, pow_ = oh // ph, ow // pw
    # (k, batch, poh, ph, pow, pw) -> (k, batch, ph, pw, poh, pow)
    windows = conv[:, :, :poh * ph, :pow_ * pw].reshape(k, batch, poh, ph, pow_, pw)
    windows = windows.transpose(0, 1, 3, 5, 2, 4)
    pooled = windows.max(axis=(2, 3))
    mask = (windows == pooled[:, :, None, None]).astype("uint8")
    return pooled, mask.reshape(k, batch, ph * pw, poh * pow_)


def np_unpool_kbhw(g_z, mask, poolsize, conv_shape):
    """(batch, k, poh, pow) gradient -> (k, batch, oh, ow) = ``conv_shape``, where ``mask`` is
    set (zero outside every window)."""
    ph, pw = poolsize
    k, batch, _, _ = conv_shape
    poh, pow_ = g_z.shape[2], g_z.shape[3]
    spread = g_z.transpose(1, 0, 2, 3)[:, :, None, None] * mask.reshape(k, batch, ph, pw, poh,
                                                                          pow_)
    g_conv = numpy.zeros(conv_shape, dtype=g_z.dtype)
    # (k, batch, ph, pw, poh, pow) -> (k, batch, poh, ph, pow, pw)
    g_conv[:, :, :poh * ph, :pow_ * pw] = spread.transpose(0, 1, 4, 2, 5, 3).reshape(
        k, batch, poh * ph, pow_ * pw)
    return g_conv


def np_conv_grad_weights(x, g_conv, filter_shape):
    """d(sum(g_conv * conv(x, W))) / dW, with g_conv laid out (k, batch, oh, ow)."""
    _, _, fh, fw = filter_shape
    flipped = numpy.tensordot(g_conv, _windows(x, fh, fw), axes=([1, 2, 3], [0, 2, 3]))
    return flipped[:, :, ::-1, ::-1]


def np_conv_grad_inputs(W, g_conv, image_shape):
    """d(sum(g_conv * conv(x, W))) / dx, with g_conv laid out (k, batch, oh, ow)."""
    _, _, fh, fw = W.shape
    _, _, oh, ow = g_conv.shape
    flipped = W[:, :, ::-1, ::-1]
    g_x = numpy.zeros(image_shape, dtype=numpy.result_type(W, g_conv))
    for i in range(fh):
        for j in range(fw):
            # (k, batch, oh, ow) x (k, c) -> (batch, oh, ow, c)
            part = numpy.tensordot(g_conv, flipped[:, :, i, j], axes=([0], [0]))
            g_x[:, :, i:i + oh, j:j + ow] += part.transpose(0, 3, 1, 2)
    return g_x


# --------------------------------------------------------------------------- graph helpers
def conv_pool(input, filters, bias, poolsize=(2, 2), activation="tanh", block_bytes=None):
    """``activation(max_pool(conv2d(input, filters)) + bias)`` as one :class:`ConvPool`.

    ``activation`` is "tanh", "linear" or None (the identity).  Returns the symbolic output,
    shape (batch, k, (h - fh + 1) // ph, (w - fw + 1) // pw).
    """
    op = ConvPool(poolsize, "linear" if activation is None else activation, block_bytes)
    return op(input, filters, bias)[0]


def conv2d(input, filters, block_bytes=None):
    """The valid true convolution alone (``theano.tensor.nnet.conv2d(input, filters)``),
    computed by :class:`ConvPool` with a 1x1 window, no bias and no activation."""
    input, filters = _float_inputs(input, filters)
    bias = T.zeros((filters.shape[0],), dtype=filters.dtype)
    return conv_pool(input, filters, bias, (1, 1), "linear", block_bytes)
