r"""The Elman recurrent network for spoken language understanding (slot filling): each word
of a sentence gets a label (``B-fromloc.city_name``, ``I-fromloc.city_name``, ``O``, ...)
from a recurrent network reading the sentence left to right (Mesnil, He, Deng & Bengio 2013;
the tutorial's ``rnnslu.py`` on ATIS).

A sentence is a sequence of word indices ``w_1 .. w_T``.  Each word is seen through a
*context window* of ``cs`` words centred on it (:func:`contextwin`; positions past either end
are the padding index ``-1``, which picks the embedding matrix's extra last row).  The ``cs``
embeddings of ``de`` numbers each are concatenated into ``x_t`` (``de * cs`` numbers), and

.. math::

    h_t = \sigma(x_t W_x + h_{t-1} W_h + b_h), \qquad
    s_t = \mathrm{softmax}(h_t W + b), \qquad h_0 \text{ learned},

``s_t`` being the probabilities of the ``nc`` labels for word ``t``.  Training takes one
sentence at a time: one SGD step on the mean negative log-likelihood of its labels, every
parameter (the embeddings and ``h_0`` included) moved by ``lr`` times its gradient, then
every row of the embedding matrix scaled back to unit Euclidean length
(:attr:`RNNSLU.normalize`).

Random draws follow the tutorial code: one generator (the tutorial seeds numpy's global one
with 345) draws the embeddings, ``W_x``, ``W_h`` and ``W`` in that order, each uniform on
``[-1, 1)``, cast to floatX and then multiplied by 0.2 (in floatX, as the tutorial's code
does); the biases and ``h_0`` start at zero.
"""
import collections
import functools
import os
import warnings

import numpy
import theano
import theano.tensor as T

from .. import checks
from ..layers import ParamsMixin

__all__ = ["contextwin", "RNNSLU", "SentenceEpochs", "DEFAULT_SEED", "INIT_SCALE", "PADDING"]

#: The seed the tutorial gives numpy's (and Python's) generator.
DEFAULT_SEED = 345
#: The initial weights are uniform on ``[-INIT_SCALE, INIT_SCALE)``.
INIT_SCALE = 0.2
#: The word index of the positions past a sentence's ends (the embeddings' last row).
PADDING = -1


def contextwin(l, win):
    """The context window of every word of a sentence.

    Parameters
    ----------
    l : sequence of int, length T
        The sentence's word indices.
    win : int
        The window's size: odd and at least 1 (7 in the tutorial).

    Returns
    -------
    list of T lists of ``win`` ints
        The window of each word ``t``: the words from ``t - win // 2`` to
        ``t + win // 2``, with :data:`PADDING` (-1) where that runs past the sentence.

    >>> contextwin([10, 11, 12], 3)
    [[-1, 10, 11], [10, 11, 12], [11, 12, -1]]
    """
    win = checks.positive_int(win, "win")
    if win % 2 != 1:
        raise ValueError("win must be odd (a window centred on each word), got %d; give e.g. 7"
                         % win)
    l = list(l)
    pad = win // 2 * [PADDING]
    padded = pad + l + pad
    return [padded[i:i + win] for i in range(len(l))]


def _windows(sentence, win):
    """``contextwin(sentence, win)`` as the int32 matrix (T, win) the compiled functions take."""
    return numpy.asarray(contextwin(sentence, win), dtype=numpy.int32).reshape(-1, win)


class RNNSLU(ParamsMixin):
    """The tutorial's Elman network for slot filling (see the module's docstring).

    Parameters
    ----------
    nh : int
        Hidden units (200 in the tutorial).
    nc : int
        Labels (classes).
    ne : int
        Words of the vocabulary; the embedding matrix has ``ne + 1`` rows, the last one for
        the padding.
    de : int
        Size of a word embedding (50).
    cs : int
        Words of the context window (7): odd.
    rng : numpy.random.RandomState, optional
        Draws the initial weights; default ``RandomState(345)`` (the tutorial seeds numpy's
        global generator with 345, which draws the same numbers).

    Attributes
    ----------
    emb : shared (ne + 1, de)
    wx : shared (de * cs, nh)
    wh : shared (nh, nh)
    w : shared (nh, nc)
    bh : shared (nh,)
    b : shared (nc,)
    h0 : shared (nh,)
    params : ``[emb, wx, wh, w, bh, b, h0]``
    classify : compiled ``f(windows) -> labels``: windows int32 (T, cs), labels int64 (T,)
    sentence_train : compiled ``f(windows, labels, lr) -> nll``: one SGD step on a sentence
        (labels int32 (T,)), returning its mean negative log-likelihood before the step
    normalize : compiled ``f()``: every embedding scaled to unit length

    (The three functions are compiled when first used.)
    """

    def __init__(self, nh, nc, ne, de, cs, rng=None):
        self.nh = checks.positive_int(nh, "nh")
        self.nc = checks.positive_int(nc, "nc")
        self.ne = checks.positive_int(ne, "ne")
        self.de = checks.positive_int(de, "de")
        self.cs = checks.positive_int(cs, "cs")
        if self.cs % 2 != 1:
            raise ValueError("cs must be odd (a window centred on each word), got %d; give e.g. 7"
                             % cs)
        if rng is None:
            rng = numpy.random.RandomState(DEFAULT_SEED)
        rng = checks.random_state(rng)
        fx = theano.config.floatX

        def weights(name, shape):    # drawn, cast to floatX, then scaled (in floatX)
            return theano.shared(name=name, value=numpy.asarray(
                INIT_SCALE * rng.uniform(-1.0, 1.0, shape).astype(fx), dtype=fx))

        self.emb = weights("embeddings", (ne + 1, de))     # the extra last row: padding
        self.wx = weights("wx", (de * cs, nh))
        self.wh = weights("wh", (nh, nh))
        self.w = weights("w", (nh, nc))
        self.bh = theano.shared(name="bh", value=numpy.zeros(nh, dtype=fx))
        self.b = theano.shared(name="b", value=numpy.zeros(nc, dtype=fx))
        self.h0 = theano.shared(name="h0", value=numpy.zeros(nh, dtype=fx))
        self.params = [self.emb, self.wx, self.wh, self.w, self.bh, self.b, self.h0]

        idxs = T.imatrix("idxs")                              # (T, cs) word indices
        x = self.emb[idxs].reshape((idxs.shape[0], de * cs))  # (T, cs, de) -> (T, de * cs)
        y_sentence = T.ivector("y_sentence")                  # (T,) labels

        def recurrence(x_t, h_tm1):
            h_t = T.nnet.sigmoid(T.dot(x_t, self.wx) + T.dot(h_tm1, self.wh) + self.bh)
            s_t = T.nnet.softmax(T.dot(h_t, self.w) + self.b)  # (1, nc)
            return [h_t, s_t]

        with warnings.catch_warnings():   # Theano's note that softmax of a vector gives
            warnings.filterwarnings(       # a (1, nc) row: the tutorial's graph, kept
                "ignore", message="DEPRECATION: If x is a vector, Softmax")
            [h, s], _ = theano.scan(fn=recurrence, sequences=x, outputs_info=[self.h0, None],
                                    n_steps=x.shape[0])
        self.h = h                                            # (T, nh)
        self.p_y_given_x_sentence = s[:, 0, :]                # (T, 1, nc) -> (T, nc)
        self.y_pred = T.argmax(self.p_y_given_x_sentence, axis=1)

        lr = T.scalar("lr")
        self.sentence_nll = -T.mean(T.log(self.p_y_given_x_sentence)
                                    [T.arange(x.shape[0]), y_sentence])
        gradients = T.grad(self.sentence_nll, self.params)
        self.sentence_updates = collections.OrderedDict(
            (p, p - lr * g) for p, g in zip(self.params, gradients))
        self.idxs, self.y_sentence, self.lr = idxs, y_sentence, lr
        norms = T.sqrt((self.emb ** 2).sum(axis=1))           # (ne + 1,)
        self.normalize_updates = {self.emb: self.emb / norms.dimshuffle(0, "x")}

    # The three compiled functions, compiled when first used (a model only built to be
    # loaded, inspected or scored by another need not pay for the training graph).
    @functools.cached_property
    def classify(self):
        return theano.function(inputs=[self.idxs], outputs=self.y_pred)

    @functools.cached_property
    def sentence_train(self):
        return theano.function(inputs=[self.idxs, self.y_sentence, self.lr],
                               outputs=self.sentence_nll, updates=self.sentence_updates)

    @functools.cached_property
    def normalize(self):
        return theano.function(inputs=[], updates=self.normalize_updates)

    def spec(self):
        """The sizes, for checkpoints: a resumed run must build the same network."""
        return {"model": "RNNSLU", "nh": self.nh, "nc": self.nc, "ne": self.ne,
                "de": self.de, "cs": self.cs}

    def train(self, x, y, window_size, learning_rate):
        """One SGD step on sentence ``x`` (word indices) with labels ``y``, then the
        embeddings normalised; returns the sentence's negative log-likelihood (before the
        step)."""
        nll = self.sentence_train(_windows(x, window_size), numpy.asarray(y, numpy.int32),
                                  learning_rate)
        self.normalize()
        return nll

    def predict(self, x, window_size=None):
        """The label index of every word of sentence ``x`` (word indices): an int64 array."""
        return self.classify(_windows(x, self.cs if window_size is None else window_size))

    def save(self, folder):
        """Write every parameter as ``<name>.npy`` into ``folder`` (the tutorial's files)."""
        for param in self.params:
            numpy.save(os.path.join(folder, param.name + ".npy"), param.get_value())

    def load(self, folder):
        """Read the parameters :meth:`save` wrote (shapes and dtypes checked)."""
        self.set_params_values([numpy.load(os.path.join(folder, p.name + ".npy"),
                                           allow_pickle=False) for p in self.params])


class SentenceEpochs:
    """The tutorial's training epochs as numbered steps for dltut's loops, and its end-of-epoch
    rule (:class:`dltut.training.Pretrainer` calls ``steps(index)`` for ``index`` in
    ``range(steps.n_batches)``, epoch after epoch, and ``steps.end_epoch`` from its summary).

    ``steps(0)`` shuffles the training sentences as the tutorial does, Python's
    ``random.shuffle`` seeded with ``seed`` anew every epoch (the same permutation applied
    again to the previous epoch's order), and ``steps(index)`` trains on the index-th sentence
    of that order (:meth:`RNNSLU.train` at the current learning rate), returning its negative
    log-likelihood.

    :meth:`end_epoch` labels the validation and test sentences and scores them
    (:func:`dltut.recurrent.conll.conlleval`).  A validation F1 above the best so far makes a
    *new best*: the parameters are copied aside with both F1s and the epoch.  With ``decay``,
    once the best is 10 or more epochs old, the learning rate is halved and the network set
    back to the best parameters, every epoch until a new best (the tutorial keeps training
    that same network afterwards, so a second halving does not set it back again); below
    ``1e-5`` training should stop (``stop``).

    Everything that changes lives in shared variables (``state``), so that a checkpoint of
    them and the model's parameters continues a run exactly.

    Parameters
    ----------
    model : RNNSLU
    train_set, valid_set, test_set : (lex, ne, y)
        Lists of int arrays per sentence (:func:`dltut.datasets.atis.load_atis`).
    idx2label : dict int -> str
    learning_rate : float
        0.0970806646812754 in the tutorial.
    decay : bool
    seed : int
        The shuffling seed (345).
    """

    #: The learning rate below which the tutorial stops.
    MIN_LEARNING_RATE = 1e-5
    #: Epochs without a new best before the learning rate is halved.
    DECAY_EPOCHS = 10
    _FIELDS = ("clr", "best_valid_f1", "best_test_f1", "best_epoch", "restored", "stop")

    def __init__(self, model, train_set, valid_set, test_set, idx2label, learning_rate=0.0970806646812754,
                 decay=True, seed=DEFAULT_SEED):
        self.model = model
        self.train_lex, _, self.train_y = train_set
        self.valid_set, self.test_set = valid_set, test_set
        self.idx2label = dict(idx2label)
        for name, (lex, _, y) in (("train", train_set), ("valid", valid_set), ("test", test_set)):
            for i, (x, labels) in enumerate(zip(lex, y)):
                if len(x) != len(labels) or len(x) == 0:
                    raise ValueError("%s sentence %d has %d words and %d labels; give one label "
                                     "per word" % (name, i, len(x), len(labels)))
                if numpy.max(x) >= model.ne or numpy.min(x) < 0:
                    raise ValueError("%s sentence %d holds word index %d, outside 0..%d of "
                                     "the model's ne; build the model with ne = the vocabulary's size" % (name, i, numpy.max(x), model.ne - 1))
                if numpy.max(labels) >= model.nc or numpy.min(labels) < 0:
                    raise ValueError("%s sentence %d holds label %d, outside 0..%d of the "
                                     "model's nc; build the model with nc = the number of labels" % (name, i, numpy.max(labels), model.nc - 1))
        self.n_batches = len(self.train_lex)
        if self.n_batches == 0:
            raise ValueError("the training set has no sentences; give at least one")
        self.decay = bool(decay)
        self.seed = checks.seed_int(seed, "seed")
        self.order = theano.shared(numpy.arange(self.n_batches, dtype=numpy.int64),
                                   name="sentence_order")
        self.best_params = [theano.shared(p.get_value(), name="best_" + p.name)
                            for p in model.params]
        values = [checks.positive_float(learning_rate, "learning_rate"), -1.0, -1.0, -1, 0, 0]
        self.numbers = theano.shared(numpy.array(values, dtype=numpy.float64), name="slu_state")

    @property
    def state(self):
        """The shared variables a checkpoint needs besides the model's parameters."""
        return [self.order, self.numbers] + self.best_params

    def _get(self, name):
        return float(self.numbers.get_value()[self._FIELDS.index(name)])

    def _set(self, **values):
        numbers = self.numbers.get_value()
        for name, value in values.items():
            numbers[self._FIELDS.index(name)] = value
        self.numbers.set_value(numbers)

    @property
    def learning_rate(self):
        """The current learning rate (the tutorial's ``clr``)."""
        return self._get("clr")

    @property
    def best(self):
        """``{"epoch", "valid_f1", "test_f1"}`` of the best epoch so far (epoch -1: none)."""
        return {"epoch": int(self._get("best_epoch")), "valid_f1": self._get("best_valid_f1"),
                "test_f1": self._get("best_test_f1")}

    @property
    def stop(self):
        """True once the learning rate fell below :attr:`MIN_LEARNING_RATE`."""
        return bool(self._get("stop"))

    def shuffle(self):
        """The next epoch's order: ``random.seed(seed); random.shuffle(order)``."""
        import random
        order = list(self.order.get_value())
        random.Random(self.seed).shuffle(order)
        self.order.set_value(numpy.array(order, dtype=numpy.int64))

    def __call__(self, index):
        if index == 0:
            self.shuffle()
        sentence = int(self.order.get_value(borrow=True)[index])
        return self.model.train(self.train_lex[sentence], self.train_y[sentence],
                                self.model.cs, self.learning_rate)

    def labels(self, lex):
        """The predicted label names of every sentence of ``lex``."""
        return [[self.idx2label[int(i)] for i in self.model.predict(x)] for x in lex]

    def score(self, dataset):
        """``(predicted label names, conlleval's {"p", "r", "f1"})`` on a ``(lex, ne, y)``."""
        from .conll import conlleval
        predictions = self.labels(dataset[0])
        truth = [[self.idx2label[int(i)] for i in y] for y in dataset[2]]
        return predictions, conlleval(predictions, truth)

    def end_epoch(self, epoch):
        """The tutorial's end of epoch ``epoch`` (0-based): score, keep a new best, decay.

        Returns ``{"valid": ..., "test": ..., "new_best": bool, "halved": bool,
        "restored": bool, "predictions": (valid, test)}``, the scores as conlleval's dicts
        (``restored``: the network was set back to the best parameters).
        """
        valid_predictions, valid = self.score(self.valid_set)
        test_predictions, test = self.score(self.test_set)
        new_best = valid["f1"] > self._get("best_valid_f1")
        if new_best:
            for best, param in zip(self.best_params, self.model.params):
                best.set_value(param.get_value())
            self._set(best_valid_f1=valid["f1"], best_test_f1=test["f1"], best_epoch=epoch,
                      restored=0)
        halved = self.decay and abs(self._get("best_epoch") - epoch) >= self.DECAY_EPOCHS
        restored = False
        if halved:
            self._set(clr=self._get("clr") * 0.5)
            if not self._get("restored"):
                for best, param in zip(self.best_params, self.model.params):
                    param.set_value(best.get_value())
                self._set(restored=1)
                restored = True
        if self._get("clr") < self.MIN_LEARNING_RATE:
            self._set(stop=1)
        return {"valid": valid, "test": test, "new_best": new_best, "halved": halved,
                "restored": restored, "predictions": (valid_predictions, test_predictions)}
