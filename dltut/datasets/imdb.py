"""Sentences with a sentiment label in the format of the tutorial's ``imdb.pkl``, and a
synthetic stand-in for it.

The format (what the tutorial's ``imdb_preprocess.py`` writes and its ``imdb.py`` reads):
``imdb.pkl`` holds two pickles one after the other, the training set and the test set, each
a pair ``(sentences, labels)``: ``sentences`` a list of lists of word indices (1 is the
unknown word, 0 is never used, so that 0 can pad; 2, 3, ... are the words from the most
frequent on), ``labels`` a list of ints (0 negative, 1 positive).  ``imdb.dict.pkl`` is a
pickled dict from each word to its index.  Either file may be gzipped (``.gz``).

* :func:`read_imdb` reads and checks such a file, unpickling nothing but lists, tuples, ints
  and strings (a pickle can run code; this one needs none), and says in one line what is
  wrong with a bad one (:class:`~dltut.datasets.formats.DatasetError`);
* :func:`load_data` is the tutorial's ``load_data``: the sentences of ``maxlen`` words or
  more dropped from the training set, a random ``valid_portion`` of it held out, words
  ``>= n_words`` made unknown (1), each split sorted by length;
* :func:`make_synthetic_imdb` and :func:`fetch_imdb_synthetic` (``python -m dltut.data fetch
  imdb-synthetic``) write a small file in exactly that format, because IMDB itself cannot be
  had here.  **It is synthetic, not movie reviews**: random "words" drawn with Zipf
  frequencies, a few of which carry a polarity; a sentence's label is the sign of its
  polarity words' sum (see :func:`make_synthetic_imdb`).  An LSTM learns that rule; the
  numbers it reaches say nothing about IMDB.

Like :mod:`dltut.datasets.formats` this module imports no Theano.
"""
import gzip
import io
import pathlib
import pickle

import numpy

from ..runs.checkpoint import atomic_write
from .formats import DatasetError

__all__ = ["IMDB_SYNTHETIC_FILE", "SYNTHETIC_DEFAULTS", "PlainUnpickler", "read_imdb",
           "read_dictionary", "dictionary_path", "load_data", "make_synthetic_imdb",
           "write_imdb", "fetch_imdb_synthetic", "describe_synthetic"]

#: The file ``fetch imdb-synthetic`` writes in the data folder (its dictionary beside it,
#: ``imdb-synthetic.dict.pkl``).
IMDB_SYNTHETIC_FILE = "imdb-synthetic.pkl"
#: The generator's defaults (see :func:`make_synthetic_imdb`).
SYNTHETIC_DEFAULTS = dict(n_train=2000, n_test=500, n_vocabulary=2000, n_polar=50,
                          min_length=5, max_length=120, seed=1234)
_FIX = " (python -m dltut.data fetch imdb-synthetic writes a file in the right format)"


class PlainUnpickler(pickle.Unpickler):
    """Unpickles lists, tuples, dicts, ints and strings only: every global is refused."""

    def find_class(self, module, name):
        raise pickle.UnpicklingError("refusing to load global %s.%s" % (module, name))


def _objects(path, count):
    """The first ``count`` pickled objects of ``path`` (gzipped if it ends in .gz)."""
    path = pathlib.Path(path).expanduser()
    if not path.is_file():
        raise DatasetError("%s: no such file%s" % (path, _FIX))
    try:
        raw = path.read_bytes()
        if path.suffix == ".gz":
            raw = gzip.decompress(raw)
        handle = io.BytesIO(raw)
        unpickler = PlainUnpickler(handle, encoding="latin1")
        return [unpickler.load() for _ in range(count)]
    except EOFError:
        raise DatasetError("%s: it holds fewer than %d pickles; an imdb.pkl holds the training "
                           "set and then the test set%s" % (path, count, _FIX)) from None
    except (pickle.UnpicklingError, OSError, ValueError, TypeError, AttributeError,
            IndexError, KeyError, MemoryError) as error:
        raise DatasetError("%s: not a readable imdb.pkl-style pickle (%s)%s"
                           % (path, str(error) or type(error).__name__, _FIX)) from None


def _checked_split(path, name, value):
    where = "%s, %s set" % (path, name)
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise DatasetError("%s: expected a pair (sentences, labels), got %s%s"
                           % (where, type(value).__name__, _FIX))
    sentences, labels = value
    if not isinstance(sentences, list) or not isinstance(labels, list):
        raise DatasetError("%s: sentences and labels must be lists, got %s and %s"
                           % (where, type(sentences).__name__, type(labels).__name__))
    if len(sentences) != len(labels):
        raise DatasetError("%s: %d sentences but %d labels" % (where, len(sentences), len(labels)))
    if not sentences:
        raise DatasetError("%s: it has no sentences" % where)
    for number, sentence in enumerate(sentences):
        if not isinstance(sentence, list) or not sentence or not all(
                type(word) is int and word >= 1 for word in sentence):
            raise DatasetError("%s: sentence %d must be a non-empty list of word indices "
                               ">= 1, got %s" % (where, number, _short(sentence)))
    for number, label in enumerate(labels):
        if type(label) is not int or label < 0:
            raise DatasetError("%s: label %d must be an int >= 0, got %r"
                               % (where, number, label))
    return sentences, labels


def _short(value):
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def read_imdb(path):
    """``(train_set, test_set)`` of an ``imdb.pkl``-style file, each ``(sentences, labels)``,
    checked: lists of non-empty lists of ints >= 1 and as many int labels >= 0, the training
    set with at least two classes.  DatasetError (one line, naming the file) otherwise."""
    train, test = (_checked_split(path, name, value)
                   for name, value in zip(("training", "test"), _objects(path, 2)))
    if len(set(train[1])) < 2:
        raise DatasetError("%s: the training set has only label %s; a classifier needs two"
                           % (path, train[1][0]))
    return train, test


def dictionary_path(path):
    """Where the word dictionary of ``path`` lies: ``imdb.pkl`` -> ``imdb.dict.pkl``."""
    path = pathlib.Path(path)
    name = path.name
    for suffix in (".pkl.gz", ".pkl"):
        if name.endswith(suffix):
            return path.with_name(name[:-len(suffix)] + ".dict" + suffix)
    return path.with_name(name + ".dict.pkl")


def read_dictionary(path):
    """The ``{word: index}`` dict of an ``imdb.dict.pkl``-style file (bytes keys of a Python 2
    pickle decoded as latin-1); DatasetError otherwise."""
    (words,) = _objects(path, 1)
    if not isinstance(words, dict) or not all(
            isinstance(w, (str, bytes)) and type(i) is int and i >= 1 for w, i in words.items()):
        raise DatasetError("%s: expected a dict from words to indices >= 1" % path)
    return {w.decode("latin-1") if isinstance(w, bytes) else w: i for w, i in words.items()}


def load_data(path, n_words=100000, valid_portion=0.1, maxlen=None, sort_by_len=True,
              rng=None):
    """The tutorial's ``load_data``: ``(train, valid, test)``, each ``(sentences, labels)``.

    Parameters
    ----------
    path : str or path-like
        An ``imdb.pkl``-style file (:func:`read_imdb`).
    n_words : int
        Vocabulary kept: word indices ``>= n_words`` become 1 (unknown).
    valid_portion : float
        Fraction of the training set (after the ``maxlen`` cut) held out for validation.
    maxlen : int or None
        Training sentences of ``maxlen`` words or more are dropped (the test set is kept
        whole).
    sort_by_len : bool
        Sort each split by sentence length (stable), for less padding per minibatch.
    rng : numpy.random.RandomState, optional
        Draws the permutation that splits off the validation set (one ``permutation``
        call); default ``numpy.random``'s global generator, as the tutorial.
    """
    if isinstance(n_words, bool) or not isinstance(n_words, (int, numpy.integer)) or n_words < 2:
        raise ValueError("n_words must be an integer >= 2, got %r" % (n_words,))
    if not 0 <= valid_portion < 1:
        raise ValueError("valid_portion must be in [0, 1), got %r" % (valid_portion,))
    if maxlen is not None and (isinstance(maxlen, bool) or maxlen < 2):
        raise ValueError("maxlen must be None or an integer >= 2, got %r" % (maxlen,))
    rng = numpy.random if rng is None else rng
    (train_x, train_y), (test_x, test_y) = read_imdb(path)
    if maxlen:
        kept = [(x, y) for x, y in zip(train_x, train_y) if len(x) < maxlen]
        if not kept:
            raise DatasetError("%s: no training sentence is shorter than maxlen=%d; raise "
                               "--maxlen" % (path, maxlen))
        train_x, train_y = [x for x, _ in kept], [y for _, y in kept]
    n_samples = len(train_x)
    sidx = rng.permutation(n_samples)
    n_train = int(numpy.round(n_samples * (1. - valid_portion)))
    valid = ([train_x[s] for s in sidx[n_train:]], [train_y[s] for s in sidx[n_train:]])
    train = ([train_x[s] for s in sidx[:n_train]], [train_y[s] for s in sidx[:n_train]])
    if not train[0] or (valid_portion > 0 and not valid[0]):
        raise DatasetError("%s: %d training sentences (after the maxlen cut) are too few to "
                           "hold out valid_portion=%g" % (path, n_samples, valid_portion))

    def known(sentences):
        return [[1 if w >= n_words else w for w in s] for s in sentences]

    splits = []
    for sentences, labels in (train, valid, (test_x, test_y)):
        sentences = known(sentences)
        if sort_by_len:
            order = sorted(range(len(sentences)), key=lambda i: len(sentences[i]))
            sentences = [sentences[i] for i in order]
            labels = [labels[i] for i in order]
        splits.append((sentences, list(labels)))
    return tuple(splits)


# --------------------------------------------------------------------------- synthetic data
def describe_synthetic():
    return ("imdb-synthetic: NOT movie reviews; random word indices with Zipf frequencies, "
            "some words positive, some negative, the label the sign of their sum "
            "(dltut.datasets.imdb.make_synthetic_imdb)")


def make_synthetic_imdb(n_train=2000, n_test=500, n_vocabulary=2000, n_polar=50, min_length=5,
                        max_length=120, seed=1234):
    """``(train_set, test_set, dictionary)`` of synthetic sentences in the imdb.pkl format.

    The words are ``"w2"``, ``"w3"``, ... with indices 2 .. ``n_vocabulary + 1``, drawn with
    Zipf frequencies (index ``i`` with weight ``1 / (i - 1)``), so that small indices are
    frequent words as in the real file.  ``n_polar`` words among the 200 most frequent
    (every other one from ``w12`` on: ``w12, w14, ...``) are positive and as many
    (``w13, w15, ...``) negative.  A sentence of uniform length in [``min_length``,
    ``max_length``] gets a label 0 or 1 at random, then ``1 + Binomial(length, 0.1)`` words
    of its label's polarity (at most half the sentence) and ``Binomial(that - 1, 0.3)`` of the
    other, at random places; so its label is the sign of (positive words - negative words),
    which an LSTM with mean pooling can learn.  Sentence
    lengths reach past 100 so that the tutorial's ``maxlen=100`` drops some.
    """
    for name, value, low in (("n_train", n_train, 2), ("n_test", n_test, 1),
                             ("n_polar", n_polar, 1), ("min_length", min_length, 4)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError("%s must be an integer >= %d, got %r" % (name, low, value))
    if n_vocabulary < 10 + 4 * n_polar:
        raise ValueError("n_vocabulary must be >= 10 + 4 * n_polar = %d, got %r"
                         % (10 + 4 * n_polar, n_vocabulary))
    if max_length < min_length:
        raise ValueError("max_length must be >= min_length=%d, got %r" % (min_length, max_length))
    rng = numpy.random.RandomState(seed)
    words = numpy.arange(2, n_vocabulary + 2)
    weights = 1.0 / (words - 1.0)
    polar = numpy.arange(12, 12 + 4 * n_polar)
    positive, negative = polar[0::2][:n_polar], polar[1::2][:n_polar]
    neutral = numpy.setdiff1d(words, polar)
    neutral_p = weights[neutral - 2] / weights[neutral - 2].sum()

    def sentences(count):
        xs, ys = [], []
        for _ in range(count):
            length = int(rng.randint(min_length, max_length + 1))
            label = int(rng.randint(2))
            sentence = rng.choice(neutral, size=length, p=neutral_p)
            n_major = min(1 + int(rng.binomial(length, 0.1)), length // 2)
            n_minor = int(rng.binomial(n_major - 1, 0.3))
            major, minor = (positive, negative) if label else (negative, positive)
            places = rng.choice(length, size=n_major + n_minor, replace=False)
            sentence[places[:n_major]] = rng.choice(major, size=n_major)
            sentence[places[n_major:]] = rng.choice(minor, size=n_minor)
            xs.append([int(w) for w in sentence])
            ys.append(label)
        return xs, ys

    train, test = sentences(n_train), sentences(n_test)
    dictionary = {"w%d" % w: int(w) for w in words}
    return train, test, dictionary


def write_imdb(path, train_set, test_set, dictionary=None):
    """Write ``train_set`` then ``test_set`` as two pickles (protocol 2, as the tutorial's
    Python 2 files) to ``path`` (gzipped if it ends in .gz), atomically, and ``dictionary``
    to :func:`dictionary_path` ``(path)``; returns ``path``."""
    path = pathlib.Path(path).expanduser()

    def dumps(*objects):
        buffer = io.BytesIO()
        for value in objects:
            pickle.dump(value, buffer, 2)
        raw = buffer.getvalue()
        return gzip.compress(raw, mtime=0) if path.suffix == ".gz" else raw

    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, dumps(tuple(train_set), tuple(test_set)))
    if dictionary is not None:
        atomic_write(dictionary_path(path), dumps(dict(dictionary)))
    return path


def fetch_imdb_synthetic(dest=None, quiet=False, force=False, **settings):
    """Write ``data/imdb-synthetic.pkl`` (or ``dest``: a file, or a folder to put it in) and
    its dictionary with :func:`make_synthetic_imdb` (``settings`` override its defaults);
    return its path.  A readable file there is kept unless ``force``."""
    from ..data import default_data_dir
    dest = pathlib.Path(dest).expanduser() if dest is not None else default_data_dir()
    if dest.is_dir() or not dest.name.endswith((".pkl", ".pkl.gz")):
        dest = dest / IMDB_SYNTHETIC_FILE
    say = (lambda message: None) if quiet else print
    if dest.is_file() and not force:
        try:
            read_imdb(dest)
        except DatasetError as error:
            raise DatasetError("%s; or pass --force to replace it" % error) from None
        say("%s is there and readable; kept (--force writes it again)" % dest)
        return dest
    say(describe_synthetic())
    options = dict(SYNTHETIC_DEFAULTS, **settings)
    train, test, dictionary = make_synthetic_imdb(**options)
    write_imdb(dest, train, test, dictionary)
    say("train %d sentences, test %d, vocabulary %d words (seed %d)"
        % (len(train[0]), len(test[0]), len(dictionary), options["seed"]))
    return dest
