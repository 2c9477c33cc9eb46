"""The file formats dltut reads datasets from, and the checks every split passes.

* :func:`validate_split`: one ``(x, y)`` split, as every loader returns it;
* :func:`read_pickle`: a gzipped pickle such as the tutorials' ``mnist.pkl.gz``, unpickling
  nothing but numpy arrays and plain containers (:class:`ArrayUnpickler`);
* :func:`read_idx`: the IDX format of the original MNIST distribution (and Fashion-MNIST).

:mod:`dltut.data` finds, fetches and loads the datasets with these (and re-exports every
public name here: ``from dltut.data import read_idx`` keeps working).  Like it, this module
imports no Theano.
"""
import gzip
import pathlib
import pickle
import zlib

import numpy

from .. import checks
from ..runtime.memory import MemoryLimitError, check_fits

__all__ = ["MNIST_N_CLASSES", "IDX_DTYPES", "SPLIT_NAMES", "CHUNK", "DatasetError", "describe", "unpickle_gzip",
           "reason", "validate_split", "validate_splits", "ArrayUnpickler", "read_pickle",
           "read_idx", "images_and_labels"]

#: Number of classes (digits 0-9; Fashion-MNIST has ten clothing classes).
MNIST_N_CLASSES = 10

#: IDX type codes (third magic byte) -> big-endian numpy dtype.
IDX_DTYPES = {
    0x08: numpy.dtype(">u1"),
    0x09: numpy.dtype(">i1"),
    0x0B: numpy.dtype(">i2"),
    0x0C: numpy.dtype(">i4"),
    0x0D: numpy.dtype(">f4"),
    0x0E: numpy.dtype(">f8"),
}

#: Names of the three splits, in the order every loader returns them.
SPLIT_NAMES = ("train", "valid", "test")

#: Bytes read at a time from a file or a download.
CHUNK = 1 << 20


class DatasetError(ValueError):
    """A dataset file is missing, damaged or has the wrong structure.

    The message names the file and says what to do about it.
    """


# ---------------------------------------------------------------------------------------
# validation


def describe(value):
    """A short description of ``value`` for error messages."""
    if isinstance(value, numpy.ndarray):
        return "array of shape %s and dtype %s" % (value.shape, value.dtype)
    if isinstance(value, (tuple, list)):
        return "%s of length %d" % (type(value).__name__, len(value))
    return type(value).__name__


def reason(exc):
    """``str(exc)``, or the exception's type name when the message is empty."""
    return str(exc) or type(exc).__name__


def validate_split(name, x, y, n_features=None, n_classes=MNIST_N_CLASSES, source=None):
    """Check one ``(x, y)`` split and return it as numpy arrays.

    Parameters
    ----------
    name : str
        The split's name for messages ("train", "valid", "test").
    x : array_like, shape (n_examples, n_features)
        Floating-point inputs with finite values in [0, 1].
    y : array_like, shape (n_examples,)
        Integer labels in ``[0, n_classes)``; floats holding whole numbers are accepted
        and converted to int64.
    n_features : int, optional
        Required number of columns of ``x`` (any if None).
    n_classes : int
        Labels must be below this.
    source : str or path-like, optional
        The file the split came from, named in every message.

    Returns
    -------
    x : numpy.ndarray, shape (n_examples, n_features)
        ``x`` itself when it already was a floating-point ndarray (no copy).
    y : numpy.ndarray, shape (n_examples,)

    Raises
    ------
    DatasetError
        Naming the split, the source and the offending shapes or values.
    """
    where = "%s split%s" % (name, " of %s" % source if source is not None else "")

    def fail(problem):
        raise DatasetError("%s: %s" % (where, problem))

    try:
        x = numpy.asarray(x)
        y = numpy.asarray(y)
    except (TypeError, ValueError) as exc:
        fail("x and y must be arrays (%s)" % exc)
    if x.ndim != 2:
        fail("x must be 2-D (n_examples, n_features), got %s" % describe(x))
    if y.ndim != 1:
        fail("y must be 1-D (n_examples,), got %s" % describe(y))
    if len(x) != len(y):
        fail("x has %d examples but y has %d labels (shapes %s and %s)"
             % (len(x), len(y), x.shape, y.shape))
    if len(x) == 0:
        fail("it has no examples")
    if n_features is not None and x.shape[1] != n_features:
        fail("x has %d features per example, expected %d (shape %s)"
             % (x.shape[1], n_features, x.shape))
    if not numpy.issubdtype(x.dtype, numpy.floating):
        fail("x has dtype %s; expected floats in [0, 1] (divide byte pixels by 256)"
             % x.dtype)
    try:  # the checks shared_dataset runs too (dltut.checks)
        checks.finite_inputs(x, where)
        y = checks.labels(y, where, n_classes)
    except ValueError as error:
        raise DatasetError(str(error)) from None
    x_min, x_max = x.min(), x.max()
    if x_min < 0 or x_max > 1:
        fail("x values span [%g, %g]; expected [0, 1]" % (x_min, x_max))
    return x, y


def validate_splits(splits, n_features, n_classes, source):
    """:func:`validate_split` on all three splits; the first fixes ``n_features`` if None."""
    checked = []
    for name, (x, y) in zip(SPLIT_NAMES, splits):
        x, y = validate_split(name, x, y, n_features=n_features, n_classes=n_classes,
                              source=source)
        n_features = x.shape[1]
        checked.append((x, y))
    return tuple(checked)


# ---------------------------------------------------------------------------------------
# the pickle


def _empty_bytes(*args):
    """``bytes()``: how Python 3 writes ``b""`` in a protocol-2 pickle (an empty split's
    data); anything else asked of ``bytes`` is refused (``bytes(10**12)`` would allocate)."""
    if args:
        raise pickle.UnpicklingError("refusing to call bytes%r" % (args,))
    return b""


class ArrayUnpickler(pickle.Unpickler):
    """Unpickles only plain containers and numpy arrays.

    A pickle can run arbitrary code when loaded; the MNIST pickle needs nothing beyond
    numpy's array reconstruction, so every other global is refused.
    """

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy.core.numeric", "_frombuffer"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),  # how Python 3 writes bytes in protocol 2 pickles
        ("copy_reg", "_reconstructor"),  # Python 2 names, mapped by fix_imports
        ("copyreg", "_reconstructor"),
        ("__builtin__", "object"),
        ("builtins", "object"),
    }

    def find_class(self, module, name):
        if (module, name) in (("__builtin__", "bytes"), ("builtins", "bytes")):
            return _empty_bytes
        # numpy 2 renamed numpy.core to numpy._core: pickles name either, and the installed
        # numpy is asked under its own name (numpy 2's old name only warns, deprecated)
        if module.startswith("numpy._core"):
            module = "numpy.core" + module[len("numpy._core"):]
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError("refusing to load global %s.%s" % (module, name))
        if module.startswith("numpy.core") and int(numpy.__version__.split(".")[0]) >= 2:
            module = "numpy._core" + module[len("numpy.core"):]
        return super().find_class(module, name)


def unpickle_gzip(path, hint):
    """The object in the gzipped pickle at ``path``, read with :class:`ArrayUnpickler` (numpy
    arrays and plain containers only) to the end of the file; any damage is one
    :class:`DatasetError` ending with ``hint``, what to do about a bad file."""
    path = pathlib.Path(path)
    with open(str(path), "rb") as raw:
        if raw.read(2) != b"\x1f\x8b":
            raise DatasetError("%s is not a gzip file; %s" % (path, hint))
    try:
        with gzip.open(str(path), "rb") as f:
            data = ArrayUnpickler(f, encoding="latin1").load()
            # reading on to the end makes gzip check its CRC and length trailer
            extra = f.read(1)
    except (EOFError, zlib.error, OSError) as exc:
        raise DatasetError("%s is truncated or damaged (%s); %s"
                           % (path, reason(exc), hint)) from exc
    except MemoryError as exc:
        # a damaged pickle can claim an object of any size (a few bytes asking for
        # 2**60): that is a bad file, not this machine running out of memory
        raise DatasetError("%s asks for more memory than is free while unpickling: a "
                           "damaged file claims a huge object (if the file is good, "
                           "free some memory); %s" % (path, hint)) from exc
    except Exception as exc:  # unpickling garbage can raise almost any exception type
        raise DatasetError("%s is not a readable pickle of numpy arrays (%s: %s); %s"
                           % (path, type(exc).__name__, exc, hint)) from exc
    if extra:
        raise DatasetError("%s has bytes after the pickle: damaged; %s" % (path, hint))
    return data


def read_pickle(path, hint):
    """The object in the gzipped pickle at ``path``, checked to be three ``(x, y)`` pairs.

    Only numpy arrays and plain containers are unpickled (:func:`unpickle_gzip`); the
    splits themselves are not validated here (:func:`validate_splits`).  ``hint``, what to
    do about a bad file, ends every :class:`DatasetError` message.
    """
    data = unpickle_gzip(path, hint)
    if (not isinstance(data, (tuple, list)) or len(data) != 3
            or not all(isinstance(s, (tuple, list)) and len(s) == 2 for s in data)):
        raise DatasetError("%s holds a %s, expected a tuple of three (x, y) pairs "
                           "(train, valid, test); %s" % (path, describe(data), hint))
    return data


# ---------------------------------------------------------------------------------------
# IDX files


def read_idx(path):
    """Read an IDX file (the format of the original MNIST distribution), gzipped or not.

    The header is two zero bytes, a type code (see :data:`IDX_DTYPES`), the number of
    dimensions, then each dimension as a big-endian uint32; the data follow in C order,
    big-endian.  Gzip is recognised by content, not by file name.

    Parameters
    ----------
    path : path-like

    Returns
    -------
    numpy.ndarray
        Of the stored shape (e.g. (60000, 28, 28) uint8 images or (60000,) uint8 labels),
        in native byte order, writable.

    Raises
    ------
    DatasetError
        Missing file, bad magic, unknown type code, truncated header or data, or extra
        bytes after the data.
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise DatasetError("IDX file %s not found" % path)
    with open(str(path), "rb") as raw:
        is_gzip = raw.read(2) == b"\x1f\x8b"
    opener = gzip.open if is_gzip else open
    try:
        with opener(str(path), "rb") as f:
            magic = f.read(4)
            if len(magic) < 4:
                raise DatasetError("IDX file %s is truncated: %d-byte header, expected 4"
                                   % (path, len(magic)))
            if magic[:2] != b"\x00\x00" or magic[2] not in IDX_DTYPES:
                raise DatasetError("%s is not an IDX file: bad magic %s (expected 00 00, a "
                                   "type code in %s, and the number of dimensions)"
                                   % (path, magic.hex(),
                                      ", ".join("%02x" % c for c in sorted(IDX_DTYPES))))
            dtype, ndim = IDX_DTYPES[magic[2]], magic[3]
            dims_bytes = f.read(4 * ndim)
            if len(dims_bytes) < 4 * ndim:
                raise DatasetError("IDX file %s is truncated in its header (%d dimensions "
                                   "announced)" % (path, ndim))
            shape = tuple(int(d) for d in numpy.frombuffer(dims_bytes, dtype=">u4"))
            n_bytes = int(numpy.prod(shape, dtype=object)) * dtype.itemsize
            if not is_gzip and n_bytes > path.stat().st_size:
                raise DatasetError("IDX file %s is truncated: shape %s needs %d data bytes, "
                                   "the file has %d bytes in all"
                                   % (path, shape, n_bytes, path.stat().st_size))
            try:
                check_fits(n_bytes, "IDX file %s, announcing shape %s," % (path, shape),
                           "is its header damaged?")
            except MemoryLimitError as error:
                raise DatasetError(str(error)) from None
            # Read what the file really holds, a chunk at a time, before making the array:
            # a damaged gzipped file announcing far more than it holds costs no more memory
            # than its real content.
            buffer = bytearray()
            while len(buffer) < n_bytes:
                chunk = f.read(min(CHUNK, n_bytes - len(buffer)))
                if not chunk:
                    break
                buffer += chunk
            got = len(buffer)
            if got < n_bytes:
                raise DatasetError("IDX file %s is truncated: shape %s needs %d data bytes, "
                                   "found %d" % (path, shape, n_bytes, got))
            if f.read(1):
                raise DatasetError("IDX file %s has bytes after the data of shape %s"
                                   % (path, shape))
            array = numpy.frombuffer(buffer, dtype=dtype).reshape(shape)  # writable: a bytearray
    except (EOFError, zlib.error, OSError) as exc:
        raise DatasetError("IDX file %s is truncated or damaged (%s)"
                           % (path, reason(exc))) from exc
    return array.astype(dtype.newbyteorder("="), copy=False)


def images_and_labels(images_path, labels_path):
    """Read one images/labels pair; images (n, h, w) uint8 -> x (n, h*w) float32 / 256."""
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.ndim != 3 or images.dtype != numpy.uint8:
        raise DatasetError("%s: expected uint8 images of shape (n, height, width), got %s"
                           % (images_path, describe(images)))
    if labels.ndim != 1:
        raise DatasetError("%s: expected labels of shape (n,), got %s"
                           % (labels_path, describe(labels)))
    if len(images) != len(labels):
        raise DatasetError("%s has %d images but %s has %d labels"
                           % (images_path, len(images), labels_path, len(labels)))
    # (n, 28, 28) uint8 -> (n, 784) float32; 1/256 is exact, so 255 -> 0.99609375
    x = images.reshape(len(images), -1).astype(numpy.float32)
    x *= numpy.float32(1.0 / 256.0)
    return x, labels.astype(numpy.int64)
