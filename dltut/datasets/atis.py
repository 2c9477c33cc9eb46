"""Slot-filling data for the Elman RNN (:mod:`dltut.recurrent.rnnslu`) in the ATIS format of
the tutorial's ``atis.fold0.pkl.gz`` .. ``atis.fold4.pkl.gz``.

Such a file is a gzipped pickle of ``(train_set, valid_set, test_set, dicts)``: each set is
``(lex, ne, y)``, three lists with one integer array per sentence (word indices, named-entity
table indices, label indices; the three arrays of a sentence have the same length), and
``dicts`` maps ``"words2idx"``, ``"labels2idx"`` and ``"tables2idx"`` to ``{name: index}``.

* :func:`load_atis` reads and checks such a file (only numpy arrays and plain containers are
  unpickled), refusing a bad one with one :class:`DatasetError` line that names the file, what
  is wrong and what to do; :func:`atisfold` reads fold ``n`` of a folder, as the tutorial's
  ``atisfold``.
* The real ATIS files cannot be downloaded here (their links are dead), so
  :func:`make_atis_synthetic` (``python -m dltut.data fetch atis-synthetic``) generates a
  **synthetic** slot-filling task in exactly that format: flight requests such as "show me
  flights leaving boston and arriving in new york on monday before 5 pm" made from
  templates, labelled in ATIS's IOB style (``B-fromloc.city_name``, ``I-toloc.city_name``,
  ``B-arrive_time.time``, ``O``, ...).  The labels follow from the words around each word (a
  city after "from" or "leaving" is the departure, a time after "arriving" an arrival time),
  sometimes from further back than the window reaches; it is *not* ATIS, and its F1 says
  nothing about ATIS's.

This module imports no Theano.
"""
import gzip
import io
import pathlib
import pickle

import numpy

from .. import checks
from ..runs.checkpoint import atomic_write
from .formats import SPLIT_NAMES, DatasetError, unpickle_gzip

__all__ = ["ATIS_FOLDS", "ATIS_DICTS", "ATIS_SYNTHETIC_FILE", "ATIS_SYNTHETIC_SIZES",
           "atis_filename", "load_atis", "atisfold", "make_atis_synthetic", "save_atis",
           "fetch_atis_synthetic", "describe_atis_synthetic"]

#: The tutorial's folds: ``atis.fold0.pkl.gz`` .. ``atis.fold4.pkl.gz``.
ATIS_FOLDS = range(5)
#: The keys of a file's ``dicts`` (``tables2idx`` may be absent: the model does not use it).
ATIS_DICTS = ("words2idx", "labels2idx", "tables2idx")
#: The synthetic file's name in the data folder.
ATIS_SYNTHETIC_FILE = "atis.synthetic.pkl.gz"
#: Sentences of the synthetic file's train, valid and test sets.
ATIS_SYNTHETIC_SIZES = (1000, 200, 200)

_HINT = ("give a file in the tutorial's ATIS format (atis.fold3.pkl.gz) or make one with: "
         "python -m dltut.data fetch atis-synthetic")


def atis_filename(fold):
    """``atis.fold<fold>.pkl.gz`` for ``fold`` in 0..4."""
    checks.one_of(fold, "fold", ATIS_FOLDS)
    return "atis.fold%d.pkl.gz" % fold


def _unpickle(path):
    return unpickle_gzip(path, _HINT)


def _index(name, mapping, path):
    """A ``{str: int}`` dict of ``dicts`` checked: indices 0..n-1, each once."""
    if not isinstance(mapping, dict) or not mapping:
        raise DatasetError("%s: dicts[%r] is %s, expected a non-empty {name: index} dict; %s"
                           % (path, name, type(mapping).__name__, _HINT))
    keys_ok = all(isinstance(k, str) for k in mapping)
    values = sorted(v for v in mapping.values() if isinstance(v, (int, numpy.integer)))
    if not keys_ok or values != list(range(len(mapping))):
        raise DatasetError("%s: dicts[%r] must map names to the indices 0..%d, each once; %s"
                           % (path, name, len(mapping) - 1, _HINT))
    return mapping


def _sentences(path, split, field, value, n_values, lengths=None):
    """The list of int32 arrays of ``split``'s ``field``, each checked."""
    where = "%s: the %s set's %s" % (path, split, field)
    if not isinstance(value, (list, tuple)):
        raise DatasetError("%s is a %s, expected a list of integer arrays; %s"
                           % (where, type(value).__name__, _HINT))
    out = []
    for i, sentence in enumerate(value):
        array = numpy.asarray(sentence)
        if array.ndim != 1 or array.dtype.kind not in "iu" or array.size == 0:
            raise DatasetError("%s, sentence %d, is an array of shape %s and dtype %s, expected "
                               "a non-empty 1-d integer array; %s"
                               % (where, i, array.shape, array.dtype, _HINT))
        if lengths is not None and array.size != lengths[i]:
            raise DatasetError("%s, sentence %d, has %d entries but its words %d; %s"
                               % (where, i, array.size, lengths[i], _HINT))
        if n_values is not None and (array.min() < 0 or array.max() >= n_values):
            raise DatasetError("%s, sentence %d, holds index %d, outside 0..%d of its dict; %s"
                               % (where, i, array.max() if array.max() >= n_values
                                  else array.min(), n_values - 1, _HINT))
        out.append(array.astype(numpy.int32))
    if lengths is not None and len(out) != len(lengths):
        raise DatasetError("%s has %d sentences, its words %d; %s"
                           % (where, len(out), len(lengths), _HINT))
    return out


def load_atis(path):
    """``(train_set, valid_set, test_set, dicts)`` from a file of the tutorial's ATIS format.

    Each set is ``(lex, ne, y)``: lists of int32 arrays, one per sentence; word and label
    indices are checked against ``dicts["words2idx"]`` and ``dicts["labels2idx"]``.  A
    missing, damaged or malformed file raises :class:`DatasetError` in one line.
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise DatasetError("%s does not exist; %s" % (path, _HINT))
    data = _unpickle(path)
    if not isinstance(data, (tuple, list)) or len(data) != 4:
        raise DatasetError("%s holds a %s, expected (train_set, valid_set, test_set, dicts); %s"
                           % (path, type(data).__name__, _HINT))
    *sets, dicts = data
    if not isinstance(dicts, dict) or not all(k in dicts for k in ATIS_DICTS[:2]):
        raise DatasetError("%s: dicts must be a dict with words2idx and labels2idx; %s"
                           % (path, _HINT))
    words = _index("words2idx", dicts["words2idx"], path)
    labels = _index("labels2idx", dicts["labels2idx"], path)
    tables = dicts.get("tables2idx")
    n_tables = len(_index("tables2idx", tables, path)) if tables is not None else None
    checked = []
    for split, fields in zip(SPLIT_NAMES, sets):
        if not isinstance(fields, (tuple, list)) or len(fields) != 3:
            raise DatasetError("%s: the %s set is a %s, expected (lex, ne, y); %s"
                               % (path, split, type(fields).__name__, _HINT))
        lex = _sentences(path, split, "lex", fields[0], len(words))
        lengths = [len(s) for s in lex]
        ne = _sentences(path, split, "ne", fields[1], n_tables, lengths)
        y = _sentences(path, split, "y", fields[2], len(labels), lengths)
        if split == "train" and not lex:
            raise DatasetError("%s: the train set has no sentences; %s" % (path, _HINT))
        checked.append((lex, ne, y))
    return checked[0], checked[1], checked[2], dict(dicts)


def atisfold(fold, folder):
    """The tutorial's ``atisfold``: :func:`load_atis` of ``<folder>/atis.fold<fold>.pkl.gz``."""
    return load_atis(pathlib.Path(folder) / atis_filename(fold))


# ------------------------------------------------------------------------- synthetic data
_CITIES = ("boston", "denver", "atlanta", "dallas", "pittsburgh", "baltimore", "oakland",
           "new york", "san francisco", "salt lake city", "washington", "philadelphia",
           "chicago", "miami", "seattle", "phoenix", "houston", "detroit", "orlando",
           "las vegas", "los angeles", "st. louis", "kansas city", "charlotte")
_AIRLINES = ("delta", "united", "american", "continental", "us air", "northwest")
_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_PERIODS = ("morning", "afternoon", "evening", "night")
_TIMES = ("5 pm", "8 am", "noon", "10 am", "3 pm", "6 pm", "7 am", "midnight")
_RELATIVES = ("before", "after", "around")
_OPENINGS = ("show me", "i want", "list", "what are the", "please give me", "i need",
             "i would like", "can you show me", "")


def _sentence(rng):
    """One synthetic request: a list of ``(word, label, table)``."""
    out = []

    def pick(options):
        return options[rng.randint(len(options))]

    def add(phrase, slot=None, table="<NOTABLE>"):
        for i, word in enumerate(phrase.split()):
            label = "O" if slot is None else ("B-" if i == 0 else "I-") + slot
            out.append((word, label, table))

    add(pick(_OPENINGS)) if rng.uniform() < 0.9 else None
    plural = rng.uniform() < 0.25
    if plural:
        add("the")
        modifier = pick(("cheapest", "earliest", "latest"))
        add(modifier, "cost_relative" if modifier == "cheapest" else "flight_mod")
    if rng.uniform() < 0.2:
        add("nonstop", "flight_stop")
    if rng.uniform() < 0.2:
        add(pick(_AIRLINES), "airline_name", "airline")
    add(pick(("flights", "fares") if plural else ("flights", "flight", "fares", "a flight")))
    if rng.uniform() < 0.2:
        add("on"), add(pick(_AIRLINES), "airline_name", "airline")
    source, target = [_CITIES[i] for i in rng.choice(len(_CITIES), 2, replace=False)]
    route = rng.randint(4)
    if route == 0:
        add("from"), add(source, "fromloc.city_name", "city")
        add("to"), add(target, "toloc.city_name", "city")
    elif route == 1:
        add("to"), add(target, "toloc.city_name", "city")
        add("from"), add(source, "fromloc.city_name", "city")
    elif route == 2:
        add("leaving"), add(source, "fromloc.city_name", "city")
        add(pick(("and arriving in", "going to", "and flying to")))
        add(target, "toloc.city_name", "city")
    else:
        add("between"), add(source, "fromloc.city_name", "city")
        add("and"), add(target, "toloc.city_name", "city")
    arriving = rng.uniform() < 0.3
    if rng.uniform() < 0.6:
        add("arriving on" if arriving else pick(("on", "leaving on")))
        add(pick(_DAYS), ("arrive" if arriving else "depart") + "_date.day_name", "day")
    kind = "arrive_time" if (arriving if rng.uniform() < 0.7 else not arriving) else "depart_time"
    lead = "arriving" if kind == "arrive_time" else pick(("leaving", ""))
    when = rng.uniform()
    if when < 0.3:
        add(lead), add(pick(_RELATIVES), kind + ".time_relative")
        add(pick(_TIMES), kind + ".time", "time")
    elif when < 0.6:
        add(lead + " in the"), add(pick(_PERIODS), kind + ".period_of_day", "period")
    if rng.uniform() < 0.2:
        add(pick(("and returning on", "and coming back on", "returning")))
        add(pick(_DAYS), "return_date.day_name", "day")
    return out


def make_atis_synthetic(sizes=ATIS_SYNTHETIC_SIZES, seed=1234):
    """``(train_set, valid_set, test_set, dicts)`` of a synthetic slot-filling task in the
    ATIS format (see the module's docstring); ``sizes`` are the sentences of the three sets.
    Deterministic in ``seed``."""
    sizes = tuple(checks.non_negative_int(n, "sizes") for n in sizes)
    if len(sizes) != 3 or sizes[0] < 1:
        raise ValueError("sizes must be three numbers of sentences (train >= 1), got %r"
                         % (sizes,))
    rng = numpy.random.RandomState(seed)
    sets = [[_sentence(rng) for _ in range(n)] for n in sizes]
    every = [item for sentences in sets for sentence in sentences for item in sentence]
    words2idx = {w: i for i, w in enumerate(sorted({w for w, _, _ in every}))}
    labels2idx = {w: i for i, w in enumerate(sorted({w for _, w, _ in every}))}
    tables2idx = {w: i for i, w in enumerate(sorted({w for _, _, w in every}))}
    out = []
    for sentences in sets:
        out.append(tuple([numpy.array([index[item[k]] for item in s], dtype=numpy.int32)
                          for s in sentences] for k, index in enumerate(
                              (words2idx, labels2idx, tables2idx))))
    # (lex, y, ne) -> (lex, ne, y)
    out = [(lex, ne, y) for lex, y, ne in out]
    dicts = {"words2idx": words2idx, "labels2idx": labels2idx, "tables2idx": tables2idx}
    return out[0], out[1], out[2], dicts


def save_atis(path, data):
    """Write ``(train_set, valid_set, test_set, dicts)`` as the tutorial's files are written:
    a gzipped pickle (protocol 2, readable by the tutorial's code), atomically."""
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as f:
        pickle.dump(tuple(data), f, protocol=2)
    atomic_write(path, buffer.getvalue())
    return pathlib.Path(path)


def describe_atis_synthetic(sizes=ATIS_SYNTHETIC_SIZES):
    return ("A synthetic slot-filling task in the ATIS format (%d/%d/%d sentences): flight "
            "requests from templates, not ATIS (whose files cannot be downloaded here)"
            % tuple(sizes))


def fetch_atis_synthetic(dest=None, quiet=False, force=False, sizes=ATIS_SYNTHETIC_SIZES,
                         seed=1234):
    """Write the synthetic file (default ``data/atis.synthetic.pkl.gz``; ``dest`` a file or a
    folder) unless a readable one is there (``force`` rewrites it); returns its path."""
    from ..data import default_data_dir
    dest = pathlib.Path(dest) if dest is not None else default_data_dir()
    if dest.is_dir() or dest.suffix == "" and not dest.exists():
        dest = dest / ATIS_SYNTHETIC_FILE
    say = (lambda *a: None) if quiet else print
    if dest.exists() and not force:
        try:
            load_atis(dest)
        except DatasetError as error:
            raise DatasetError("%s; or replace it with --force" % error) from None
        say("%s is there already (--force makes it anew)" % dest)
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    say(describe_atis_synthetic(sizes))
    return save_atis(dest, make_atis_synthetic(sizes, seed))
