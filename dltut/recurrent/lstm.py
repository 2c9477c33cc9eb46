r"""The LSTM sentiment classifier of the tutorial's ``lstm.py`` (after Hochreiter &
Schmidhuber 1997, with forget gates, Gers et al. 2000, without peepholes).

A sentence is a sequence of word indices ``w_1 .. w_T``.  Each word is looked up in an
embedding ``Wemb`` (``n_words x dim_proj``) and the sequence of embeddings ``x_t`` is read by
one layer of ``dim_proj`` LSTM units:

.. math::

    a_t &= x_t W + h_{t-1} U + b \qquad \text{(four blocks of } dim\_proj\text{ columns)}\\
    i_t &= \sigma(a_t^{(0)}), \quad f_t = \sigma(a_t^{(1)}), \quad o_t = \sigma(a_t^{(2)}),
    \quad \tilde c_t = \tanh(a_t^{(3)})\\
    c_t &= f_t \odot c_{t-1} + i_t \odot \tilde c_t, \qquad h_t = o_t \odot \tanh(c_t),
    \qquad h_0 = c_0 = 0.

Sentences of a minibatch have different lengths: they are padded with zeros to the longest
one and a mask ``m_t`` (1 for a word, 0 for padding) keeps ``h`` and ``c`` unchanged over the
padding, :math:`c_t \leftarrow m_t c_t + (1 - m_t) c_{t-1}` (and the same for ``h``).  The
sentence's representation is the mean of its hidden states over its own words,
:math:`\bar h = \sum_t m_t h_t / \sum_t m_t`; dropout (p = 0.5) may be applied to it while
training (``use_noise`` 1; at prediction ``use_noise`` 0 scales it by 0.5 instead), and a
logistic regression (``U``, ``b``; softmax over ``ydim`` classes) reads it.  The cost is the
mean negative log-probability of the labels (``+ 1e-8`` inside the log), plus
``decay_c * sum(U ** 2)`` when ``decay_c > 0``.

Names and random draws follow the tutorial code: one ``numpy.random.RandomState(SEED)``
(the tutorial seeds numpy's global generator with 123) draws, in order, the permutation of
:func:`dltut.datasets.imdb.load_data`, then :func:`init_params`'s weights (``Wemb``
uniform * 0.01; the eight orthogonal blocks of ``lstm_W`` then ``lstm_U`` from the SVD of a
normal matrix each; ``U`` normal * 0.01; biases zero), then each epoch's shuffle
(:func:`get_minibatches_idx`); dropout comes from ``MRG_RandomStreams(SEED)``.  The
optimisers are :mod:`dltut.updates`'s :func:`~dltut.updates.adadelta` (the tutorial's
default), :func:`~dltut.updates.rmsprop` and :func:`~dltut.updates.sgd`.

The parameters live in an ``OrderedDict`` of shared variables (``tparams``) in the order
``Wemb, lstm_W, lstm_U, lstm_b, U, b``, as the tutorial keeps them.
"""
from collections import OrderedDict

import numpy
import theano
import theano.tensor as tensor
from theano.sandbox.rng_mrg import MRG_RandomStreams

from .. import updates as update_rules

__all__ = ["SEED", "OPTIMIZERS", "numpy_floatX", "get_minibatches_idx", "prepare_data",
           "zipp", "unzip", "dropout_layer", "init_params", "init_tparams", "ortho_weight",
           "param_init_lstm", "lstm_layer", "build_model", "weight_decay", "build_optimizer",
           "pred_probs", "pred_error", "model_options"]

#: The tutorial's seed: numpy's generator and the dropout's random streams.
SEED = 123
#: The update rules by the tutorial's names (``optimizer=adadelta`` is its default).
OPTIMIZERS = ("adadelta", "rmsprop", "sgd")


def numpy_floatX(data):
    """``data`` as an array of ``theano.config.floatX``."""
    return numpy.asarray(data, dtype=theano.config.floatX)


def get_minibatches_idx(n, minibatch_size, shuffle=False, rng=None):
    """``[(number, indices), ...]``: ``range(n)`` cut into minibatches of
    ``minibatch_size`` (the last one holds the rest), shuffled first with ``rng`` (one
    ``shuffle`` of an int32 ``arange``; default numpy's global generator) when ``shuffle``.

    A list, as the tutorial's Python 2 ``zip`` was: it can be walked more than once (its
    training error is computed over the epoch's own minibatches).
    """
    if n < 1 or minibatch_size < 1:
        raise ValueError("need n >= 1 and minibatch_size >= 1, got %r and %r"
                         % (n, minibatch_size))
    idx_list = numpy.arange(n, dtype="int32")
    if shuffle:
        (numpy.random if rng is None else rng).shuffle(idx_list)
    minibatches = [idx_list[start:start + minibatch_size]
                   for start in range(0, n - n % minibatch_size, minibatch_size)]
    if n % minibatch_size:
        minibatches.append(idx_list[n - n % minibatch_size:])
    return list(enumerate(minibatches))


def prepare_data(seqs, labels, maxlen=None):
    """The tutorial's ``imdb.prepare_data``: pad a minibatch of sentences into matrices.

    Returns ``x`` (int64, shape ``(max length, n_samples)``: time first), ``x_mask`` (floatX,
    the same shape, 1 where a word is) and ``labels``.  With ``maxlen`` the sentences of
    ``maxlen`` words or more are dropped first (``(None, None, None)`` if none is left).
    """
    lengths = [len(s) for s in seqs]
    if maxlen is not None:
        kept = [(length, s, y) for length, s, y in zip(lengths, seqs, labels) if length < maxlen]
        if not kept:
            return None, None, None
        lengths = [k[0] for k in kept]
        seqs = [k[1] for k in kept]
        labels = [k[2] for k in kept]
    n_samples = len(seqs)
    x = numpy.zeros((numpy.max(lengths), n_samples), dtype="int64")
    x_mask = numpy.zeros((numpy.max(lengths), n_samples), dtype=theano.config.floatX)
    for idx, s in enumerate(seqs):
        x[:lengths[idx], idx] = s
        x_mask[:lengths[idx], idx] = 1.
    return x, x_mask, labels


def zipp(params, tparams):
    """Set the shared variables ``tparams`` to the arrays ``params`` (same keys)."""
    for key, value in params.items():
        tparams[key].set_value(value)


def unzip(zipped):
    """``OrderedDict`` of copies of the shared variables' values."""
    return OrderedDict((key, value.get_value()) for key, value in zipped.items())


def dropout_layer(state_before, use_noise, trng):
    """Dropout with p = 0.5: ``state_before`` times a binomial mask while ``use_noise`` is 1,
    times 0.5 when it is 0."""
    return tensor.switch(use_noise,
                         state_before * trng.binomial(state_before.shape, p=0.5, n=1,
                                                      dtype=state_before.dtype),
                         state_before * 0.5)


def _p(prefix, name):
    return "%s_%s" % (prefix, name)


def ortho_weight(ndim, rng):
    """An orthogonal ``(ndim, ndim)`` matrix: the ``u`` of the SVD of a standard normal one."""
    u, _, _ = numpy.linalg.svd(rng.randn(ndim, ndim))
    return u.astype(theano.config.floatX)


def param_init_lstm(options, params, prefix="lstm", rng=None):
    """Add the LSTM's ``<prefix>_W`` and ``<prefix>_U`` (each four orthogonal
    ``dim_proj x dim_proj`` blocks side by side: input, forget, output gate, cell) and
    ``<prefix>_b`` (zeros, ``4 * dim_proj``) to ``params``; return it."""
    rng = numpy.random if rng is None else rng
    dim = options["dim_proj"]
    params[_p(prefix, "W")] = numpy.concatenate([ortho_weight(dim, rng) for _ in range(4)], axis=1)
    params[_p(prefix, "U")] = numpy.concatenate([ortho_weight(dim, rng) for _ in range(4)], axis=1)
    params[_p(prefix, "b")] = numpy.zeros((4 * dim,)).astype(theano.config.floatX)
    return params


def model_options(dim_proj=128, n_words=10000, ydim=2, use_dropout=True, encoder="lstm"):
    """The options dict :func:`init_params` and :func:`build_model` read (the tutorial's
    ``model_options``, its defaults), checked."""
    for name, value in (("dim_proj", dim_proj), ("n_words", n_words), ("ydim", ydim)):
        if isinstance(value, bool) or not isinstance(value, (int, numpy.integer)) or value < 1:
            raise ValueError("%s must be a positive integer, got %r" % (name, value))
    if ydim < 2:
        raise ValueError("ydim must be >= 2 classes, got %r" % (ydim,))
    if encoder != "lstm":
        raise ValueError("encoder must be 'lstm' (the tutorial's only one), got %r" % (encoder,))
    return dict(dim_proj=int(dim_proj), n_words=int(n_words), ydim=int(ydim),
                use_dropout=bool(use_dropout), encoder=encoder)


def init_params(options, rng=None):
    """The initial parameters as numpy arrays, ``OrderedDict`` in the tutorial's order:
    ``Wemb`` (``n_words x dim_proj``, uniform [0, 0.01)), the LSTM's
    (:func:`param_init_lstm`), ``U`` (``dim_proj x ydim``, normal * 0.01), ``b`` (zeros)."""
    rng = numpy.random if rng is None else rng
    floatX = theano.config.floatX
    params = OrderedDict()
    params["Wemb"] = (0.01 * rng.rand(options["n_words"], options["dim_proj"])).astype(floatX)
    params = param_init_lstm(options, params, prefix=options.get("encoder", "lstm"), rng=rng)
    params["U"] = 0.01 * rng.randn(options["dim_proj"], options["ydim"]).astype(floatX)
    params["b"] = numpy.zeros((options["ydim"],)).astype(floatX)
    return params


def init_tparams(params):
    """``OrderedDict`` of shared variables named by their keys, holding ``params``."""
    return OrderedDict((key, theano.shared(value, name=key)) for key, value in params.items())


def lstm_layer(tparams, state_below, options, prefix="lstm", mask=None):
    """The hidden states ``h_1 .. h_T`` of the LSTM over ``state_below``.

    Parameters
    ----------
    state_below : tensor3, shape (n_timesteps, n_samples, dim_proj)
        The embedded words, time first.
    mask : matrix, shape (n_timesteps, n_samples)
        1 for a word, 0 for padding: over padding ``h`` and ``c`` keep their values.

    Returns
    -------
    tensor3, shape (n_timesteps, n_samples, dim_proj)
    """
    if mask is None:
        raise ValueError("lstm_layer needs the mask (1 for words, 0 for padding)")
    nsteps = state_below.shape[0]
    n_samples = state_below.shape[1] if state_below.ndim == 3 else 1
    dim = options["dim_proj"]

    def _slice(_x, n, dim):
        if _x.ndim == 3:
            return _x[:, :, n * dim:(n + 1) * dim]
        return _x[:, n * dim:(n + 1) * dim]

    def _step(m_, x_, h_, c_):
        preact = tensor.dot(h_, tparams[_p(prefix, "U")])     # (n_samples, 4 * dim)
        preact += x_
        i = tensor.nnet.sigmoid(_slice(preact, 0, dim))
        f = tensor.nnet.sigmoid(_slice(preact, 1, dim))
        o = tensor.nnet.sigmoid(_slice(preact, 2, dim))
        c = tensor.tanh(_slice(preact, 3, dim))
        c = f * c_ + i * c
        c = m_[:, None] * c + (1. - m_)[:, None] * c_          # padding: keep c
        h = o * tensor.tanh(c)
        h = m_[:, None] * h + (1. - m_)[:, None] * h_          # padding: keep h
        return h, c

    # the input part of every step at once: (T, n_samples, dim) -> (T, n_samples, 4 * dim)
    state_below = (tensor.dot(state_below, tparams[_p(prefix, "W")]) + tparams[_p(prefix, "b")])
    rval, _ = theano.scan(_step, sequences=[mask, state_below],
                          outputs_info=[tensor.alloc(numpy_floatX(0.), n_samples, dim),
                                        tensor.alloc(numpy_floatX(0.), n_samples, dim)],
                          name=_p(prefix, "_layers"), n_steps=nsteps)
    return rval[0]


def build_model(tparams, options):
    """The classifier's graph: ``(use_noise, x, mask, y, f_pred_prob, f_pred, cost)``.

    ``x`` (int64 matrix, (n_timesteps, n_samples)), ``mask`` (floatX, the same shape) and
    ``y`` (int64 vector) are its inputs; ``use_noise`` (a shared floatX scalar, 0 at first)
    switches dropout on; ``f_pred_prob(x, mask)`` gives the class probabilities (n_samples,
    ydim), ``f_pred(x, mask)`` their argmax; ``cost`` is the mean negative log-likelihood.
    """
    trng = MRG_RandomStreams(SEED)
    use_noise = theano.shared(numpy_floatX(0.))        # dropout on (1) or off (0)
    x = tensor.matrix("x", dtype="int64")
    mask = tensor.matrix("mask", dtype=theano.config.floatX)
    y = tensor.vector("y", dtype="int64")
    n_timesteps, n_samples = x.shape[0], x.shape[1]
    # (T, n_samples) word indices -> (T, n_samples, dim_proj) embeddings
    emb = tparams["Wemb"][x.flatten()].reshape([n_timesteps, n_samples, options["dim_proj"]])
    proj = lstm_layer(tparams, emb, options, prefix=options.get("encoder", "lstm"), mask=mask)
    # mean over each sentence's own steps: (T, n_samples, dim) -> (n_samples, dim)
    proj = (proj * mask[:, :, None]).sum(axis=0)
    proj = proj / mask.sum(axis=0)[:, None]
    if options["use_dropout"]:
        proj = dropout_layer(proj, use_noise, trng)
    pred = tensor.nnet.softmax(tensor.dot(proj, tparams["U"]) + tparams["b"])
    f_pred_prob = theano.function([x, mask], pred, name="f_pred_prob")
    f_pred = theano.function([x, mask], pred.argmax(axis=1), name="f_pred")
    off = 1e-6 if pred.dtype == "float16" else 1e-8
    cost = -tensor.log(pred[tensor.arange(n_samples), y] + off).mean()
    return use_noise, x, mask, y, f_pred_prob, f_pred, cost


def weight_decay(cost, tparams, decay_c):
    """``cost + decay_c * sum(U ** 2)`` (the classifier's weights only), ``cost`` itself
    when ``decay_c`` is 0."""
    if decay_c < 0:
        raise ValueError("decay_c must be >= 0, got %r" % (decay_c,))
    if decay_c == 0:
        return cost
    decay = theano.shared(numpy_floatX(decay_c), name="decay_c")
    return cost + decay * (tparams["U"] ** 2).sum()


def build_optimizer(optimizer, cost, tparams, inputs, lrate=0.0001):
    """``f_train(x, mask, y) -> cost``: one update of ``tparams`` by ``optimizer``
    ("adadelta", "rmsprop" or "sgd", :mod:`dltut.updates`), compiled.

    It computes what the tutorial's ``f_grad_shared`` and ``f_update`` compute one after
    the other, in one call.  ``lrate`` is SGD's learning rate; as in the tutorial AdaDelta
    and RMSProp ignore it (their rates are their own).
    """
    params = list(tparams.values())
    grads = tensor.grad(cost, wrt=params)
    if optimizer == "adadelta":
        rule = update_rules.adadelta(grads, params)
    elif optimizer == "rmsprop":
        rule = update_rules.rmsprop(grads, params)
    elif optimizer == "sgd":
        rule = update_rules.sgd(grads, params, numpy_floatX(lrate))
    else:
        raise ValueError("optimizer must be one of %s, got %r" % (", ".join(OPTIMIZERS), optimizer))
    return theano.function(list(inputs), cost, updates=rule, name="%s_f_train" % optimizer)


def pred_probs(f_pred_prob, prepare_data, data, iterator, verbose=False):
    """The class probabilities of every sentence of ``data`` (``(sentences, labels)``), an
    array ``(n_samples, 2)``, computed by the minibatches of ``iterator``."""
    n_samples = len(data[0])
    probs = numpy.zeros((n_samples, 2)).astype(theano.config.floatX)
    n_done = 0
    for _, index in iterator:
        x, mask, _ = prepare_data([data[0][t] for t in index],
                                  numpy.array(data[1])[index], maxlen=None)
        probs[index, :] = f_pred_prob(x, mask)
        n_done += len(index)
        if verbose:
            print("%d/%d samples classified" % (n_done, n_samples))
    return probs


def pred_error(f_pred, prepare_data, data, iterator, verbose=False):
    """The fraction of ``data``'s sentences ``f_pred`` gets wrong (a floatX number),
    predicted by the minibatches of ``iterator``."""
    right = 0
    for _, index in iterator:
        x, mask, _ = prepare_data([data[0][t] for t in index],
                                  numpy.array(data[1])[index], maxlen=None)
        preds = f_pred(x, mask)
        targets = numpy.array(data[1])[index]
        right += (preds == targets).sum()
    return 1. - numpy_floatX(right) / len(data[0])
