r"""The RNN-RBM (Boulanger-Lewandowski, Bengio & Vincent, ICML 2012): a sequence model of
polyphonic music in which a recurrent network sets, at every time step, the biases of a
restricted Boltzmann machine over the notes sounding at that step.

A piece is a piano roll: a binary matrix ``v`` of shape ``(T, n_visible)`` whose row ``t``
holds the MIDI pitches ``r[0] .. r[1] - 1`` sounding at time ``t * dt``.  At each step an RBM
with the shared weights ``W`` (``n_visible x n_hidden``) models ``v_t``; its biases depend on
the past through the state ``u_{t-1}`` of an RNN of ``n_hidden_recurrent`` tanh units:

.. math::

    b_v^{(t)} &= b_v + u_{t-1} W_{uv}, \qquad b_h^{(t)} = b_h + u_{t-1} W_{uh},\\
    u_t &= \tanh(b_u + v_t W_{vu} + u_{t-1} W_{uu}), \qquad u_0 = 0.

Given a sequence the recurrence is deterministic, so all the biases are computed first (one
``theano.scan``) and the ``T`` conditional RBMs are then trained as one batch by contrastive
divergence: a Gibbs chain of ``k`` steps (15 in training) started at the data gives the
negative particles ``v~``, and the cost

.. math::

    C = \frac{1}{T} \sum_t \left[F_t(v_t) - F_t(\tilde v_t)\right], \qquad
    F_t(v) = -v \cdot b_v^{(t)} - \sum_j \log\left(1 + e^{b_{h,j}^{(t)} + (v W)_j}\right)

differentiated with ``v~`` held constant, estimates the gradient of the negative
log-likelihood with respect to all eight parameters (through the biases, back through time
into the RNN).  Generation runs the recurrence forward, drawing each ``v_t`` from its RBM by a
25-step Gibbs chain started at silence.

Random draws follow the tutorial code: one ``numpy.random.RandomState(0xbeef)`` gives first the
seed of the ``MRG_RandomStreams`` (``randint(2 ** 30)``), then the weights in the order
``W, Wuh, Wuv, Wvu, Wuu`` (normal, scale 0.01 for ``W``, 0.0001 for the rest; biases zero),
then the per-epoch shuffles of the training sequences; the random ops are created in the
tutorial's order (the training chain, its monitor step, then the generation chain), so a
default run prints the original code's numbers.
"""
import sys

import numpy
import theano
import theano.tensor as T
from theano.sandbox.rng_mrg import MRG_RandomStreams
from theano.tensor.xlogx import xlogy0

from .. import checks
from ..init import floatX, zeros
from ..layers import ParamsMixin
from ..updates import sgd_updates

__all__ = ["build_rbm", "build_rnnrbm", "free_energy", "gibbs_step", "rnn_biases",
           "RnnRbm", "EpochChunks", "check_piano_rolls", "pitch_range", "DEFAULT_NUMPY_SEED",
           "PIANO_RANGE"]

#: The seed of the numpy generator the tutorial code seeds at import (``0xbeef``).
DEFAULT_NUMPY_SEED = 0xbeef
#: The 88 keys of a piano as MIDI note numbers, ``r[0]`` included, ``r[1]`` not.
PIANO_RANGE = (21, 109)
#: MIDI note numbers run from 0 to 127.
MIDI_PITCHES = 128
#: Gibbs steps of the training chain (CD-15) and of each generated frame's chain.
K_TRAIN = 15
K_GENERATE = 25
#: Time steps of a generated sequence.
GENERATE_STEPS = 200
#: Standard deviations of the initial weights: the RBM's ``W``, and the four RNN matrices.
W_SCALE = 0.01
RNN_SCALE = 0.0001


def random_streams(numpy_rng):
    """``MRG_RandomStreams(numpy_rng.randint(2 ** 30))``: one draw, as the tutorial seeds its
    streams (the tutorial writes ``1 << 30``: the same number)."""
    return MRG_RandomStreams(seed=numpy_rng.randint(1 << 30))


def pitch_range(r, name="r"):
    """``r`` as a tuple ``(low, high)`` of MIDI note numbers with ``0 <= low < high <= 128``
    (``low`` included, ``high`` not); TypeError/ValueError in one line otherwise."""
    try:
        low, high = r
    except (TypeError, ValueError):
        raise ValueError("%s must be a pair (low, high) of MIDI note numbers, got %r; give e.g. "
                         "(21, 109), the 88 piano keys" % (name, r)) from None
    low = checks.non_negative_int(low, "%s[0]" % name)
    high = checks.positive_int(high, "%s[1]" % name)
    if not low < high <= MIDI_PITCHES:
        raise ValueError("%s must satisfy 0 <= low < high <= %d, got %r; give e.g. (21, 109), "
                         "the 88 piano keys" % (name, MIDI_PITCHES, tuple(r)))
    return low, high


def check_piano_rolls(dataset, n_visible, where="dataset"):
    """The sequences of ``dataset`` as a list of floatX arrays of shape ``(T_i, n_visible)``
    holding 0s and 1s (a copy only where a dtype changes); ValueError in one line naming the
    sequence and what is wrong otherwise."""
    if isinstance(dataset, numpy.ndarray) and dataset.ndim == 2:
        raise ValueError("%s must be a list of piano rolls, got one array of shape %s; wrap it "
                         "in a list: [roll]" % (where, dataset.shape))
    try:
        sequences = list(dataset)
    except TypeError:
        raise TypeError("%s must be a list of piano rolls (arrays of shape (T, %d)), got %s; "
                        "pass e.g. [numpy.zeros((100, %d))]"
                        % (where, n_visible, type(dataset).__name__, n_visible)) from None
    if not sequences:
        raise ValueError("%s holds no sequence; give at least one piano roll (did you fetch the "
                         "data? python -m dltut.data fetch jsb)" % where)
    checked = []
    for index, sequence in enumerate(sequences):
        array = numpy.asarray(sequence)
        what = "sequence %d of %s" % (index, where)
        if array.ndim != 2 or array.shape[1] != n_visible or array.shape[0] == 0:
            raise ValueError("%s has shape %s; piano rolls must have shape (T, %d) with T >= 1 "
                             "(one column per pitch of the model's range)"
                             % (what, array.shape, n_visible))
        if array.dtype.kind not in "biuf" or not numpy.isin(array, (0, 1)).all():
            raise ValueError("%s holds values other than 0 and 1 (dtype %s); a piano roll marks "
                             "each sounding pitch with 1" % (what, array.dtype))
        checked.append(floatX(array))
    return checked


# ------------------------------------------------------------------------------- the RBM
def gibbs_step(v, W, bv, bh, theano_rng):
    """One Gibbs step ``v -> h -> v'`` of an RBM; returns ``(mean_v, v_sample)``.

    Parameters
    ----------
    v : T.vector, shape (n_visible,), or T.matrix, shape (n, n_visible)
        The visible state (``n`` chains at once for a matrix).
    W : shape (n_visible, n_hidden)
    bv, bh : biases, shape (n_visible,) and (n_hidden,), or one row per chain
        (``(n, n_visible)``, ``(n, n_hidden)``): the RNN-RBM's per-time-step biases.
    theano_rng : MRG_RandomStreams
        Two binomial ops are created, the hidden then the visible sample.

    Returns
    -------
    mean_v : ``p(v'_i = 1 | h) = sigmoid(bv_i + (h W^T)_i)``, shaped like ``v``
    v_sample : a binary (floatX) draw from ``mean_v``
    """
    mean_h = T.nnet.sigmoid(T.dot(v, W) + bh)                   # (n, n_hidden)
    h = theano_rng.binomial(size=mean_h.shape, n=1, p=mean_h, dtype=theano.config.floatX)
    mean_v = T.nnet.sigmoid(T.dot(h, W.T) + bv)                 # (n, n_visible)
    v_sample = theano_rng.binomial(size=mean_v.shape, n=1, p=mean_v,
                                   dtype=theano.config.floatX)
    return mean_v, v_sample


def free_energy(v, W, bv, bh):
    """``sum_rows F(v)``: the RBM free energy summed over the rows of ``v``.

    ``F(v) = -v . bv - sum_j log(1 + exp(bh_j + (v W)_j))``; with per-row biases (the
    RNN-RBM's ``(T, n_visible)`` and ``(T, n_hidden)``) each row has its own RBM.  A scalar.
    """
    visible_term = (v * bv).sum()
    hidden_term = T.log(1 + T.exp(T.dot(v, W) + bh)).sum()
    return -visible_term - hidden_term


def build_rbm(v, W, bv, bh, k, theano_rng):
    """A k-step Gibbs chain of an RBM started at ``v``, its CD-k cost and a monitor.

    Parameters
    ----------
    v : T.vector, shape (n_visible,), or T.matrix, shape (n, n_visible)
        The start of the chain: the training data (a matrix: ``n`` chains in parallel), or
        the silence a generated frame starts from (a vector).
    W, bv, bh : the RBM's parameters (see :func:`gibbs_step`; biases may be per row)
    k : int or scalar variable
        Length of the chain (``theano.scan`` of k :func:`gibbs_step` s).
    theano_rng : MRG_RandomStreams
        The source of every sample; four binomial ops are created, in this order: the
        chain's hidden and visible samples, then those of the monitor's extra step.

    Returns
    -------
    v_sample : shaped like ``v``
        The end of the chain: the negative particles.
    cost : scalar
        ``(sum F(v) - sum F(v_sample)) / n``: with ``v_sample`` held constant
        (``consider_constant``), its gradient is the CD-k estimate of the gradient of the
        mean negative log-likelihood of ``v``.
    monitor : scalar
        ``sum_i [v_i log m_i + (1 - v_i) log(1 - m_i)] / n`` with ``m`` the visible means
        of one more Gibbs step from ``v_sample``: a (negative) cross-entropy of the data
        under the model's samples, printed during training; it rises towards 0 as the
        model learns.  ``n`` is ``v.shape[0]`` (the number of visible units for a vector).
    updates : OrderedUpdates
        The random states the chain's scan advances (give them to ``theano.function``).
    """
    if not isinstance(k, theano.Variable):
        k = checks.positive_int(k, "k (Gibbs steps)")
    chain, updates = theano.scan(lambda v_previous: gibbs_step(v_previous, W, bv, bh,
                                                                 theano_rng)[1],
                                 outputs_info=[v], n_steps=k)
    v_sample = chain[-1]                            # (k, n, n_visible) -> (n, n_visible)
    mean_v = gibbs_step(v_sample, W, bv, bh, theano_rng)[0]
    monitor = xlogy0(v, mean_v) + xlogy0(1 - v, 1 - mean_v)
    monitor = monitor.sum() / v.shape[0]
    cost = (free_energy(v, W, bv, bh) - free_energy(v_sample, W, bv, bh)) / v.shape[0]
    return v_sample, cost, monitor, updates


# ------------------------------------------------------------------------------- the RNN
def _shared_normal(numpy_rng, shape, scale, name):
    """A floatX shared matrix of one ``numpy_rng.normal(0, scale, shape)`` draw."""
    return theano.shared(floatX(numpy_rng.normal(scale=scale, size=shape)), name=name)


def _shared_zeros(size, name):
    return theano.shared(zeros((size,)), name=name)


def rnn_biases(v, params, u0=None):
    """The deterministic recurrence over a sequence: ``(u_t, bv_t, bh_t)``.

    Parameters
    ----------
    v : T.matrix, shape (T, n_visible)
        A piano roll.
    params : sequence of 8 shared variables
        ``W, bv, bh, Wuh, Wuv, Wvu, Wuu, bu`` (an :class:`RnnRbm`'s ``params``).
    u0 : vector, shape (n_hidden_recurrent,), optional
        The RNN's state before the first step (zeros by default).

    Returns
    -------
    u_t : T.matrix, shape (T, n_hidden_recurrent)
        ``u_t = tanh(bu + v_t Wvu + u_{t-1} Wuu)``.
    bv_t : T.matrix, shape (T, n_visible)
        ``bv + u_{t-1} Wuv``: the visible biases of step t's RBM (from the state *before* t).
    bh_t : T.matrix, shape (T, n_hidden)
        ``bh + u_{t-1} Wuh``.
    updates : OrderedUpdates
        The scan's updates (none: the recurrence draws nothing).
    """
    W, bv, bh, Wuh, Wuv, Wvu, Wuu, bu = params
    if u0 is None:
        u0 = T.zeros((Wuu.get_value(borrow=True).shape[0],))

    def step(v_t, u_tm1, *_):
        bv_t = bv + T.dot(u_tm1, Wuv)                           # (n_visible,)
        bh_t = bh + T.dot(u_tm1, Wuh)                           # (n_hidden,)
        u_t = T.tanh(bu + T.dot(v_t, Wvu) + T.dot(u_tm1, Wuu))  # (n_hidden_recurrent,)
        return [u_t, bv_t, bh_t]

    (u_t, bv_t, bh_t), updates = theano.scan(step, sequences=v, outputs_info=[u0, None, None],
                                             non_sequences=list(params))
    return u_t, bv_t, bh_t, updates


def build_rnnrbm(n_visible, n_hidden, n_hidden_recurrent, numpy_rng=None, theano_rng=None,
                 k=K_TRAIN, k_generate=K_GENERATE, n_steps=GENERATE_STEPS):
    """The symbolic RNN-RBM and its initial parameters (the tutorial's ``build_rnnrbm``).

    Parameters
    ----------
    n_visible : int
        Visible units per time step (pitches of the range).
    n_hidden : int
        Hidden units of each time step's RBM.
    n_hidden_recurrent : int
        Units of the RNN.
    numpy_rng : numpy.random.RandomState, optional
        The weights are drawn from it, normal, in the order ``W`` (scale 0.01), ``Wuh``,
        ``Wuv``, ``Wvu``, ``Wuu`` (scale 0.0001); ``RandomState(0xbeef)`` by default.
    theano_rng : MRG_RandomStreams, optional
        Source of the samples; by default seeded by one ``numpy_rng.randint(2 ** 30)``
        drawn *before* the weights, as the tutorial does at import.
    k, k_generate : int
        Gibbs steps of the training chain (15) and of each generated frame (25).
    n_steps : int
        Length of a generated sequence (200 steps).

    Returns
    -------
    A tuple ``(v, v_sample, cost, monitor, params, updates_train, v_t, updates_generate)``:
    ``v`` a ``T.matrix`` (T, n_visible), the training sequence; ``v_sample`` the chain's
    negative particles (T, n_visible), to be held constant in the gradient of ``cost``;
    ``monitor`` the frame-level monitor of :func:`build_rbm`; ``params`` the list
    ``[W, bv, bh, Wuh, Wuv, Wvu, Wuu, bu]``; ``updates_train`` the random states training
    advances; ``v_t`` a generated sequence (n_steps, n_visible) and ``updates_generate``
    its random states.
    """
    n_visible = checks.positive_int(n_visible, "n_visible")
    n_hidden = checks.positive_int(n_hidden, "n_hidden")
    n_hidden_recurrent = checks.positive_int(n_hidden_recurrent, "n_hidden_recurrent")
    k_generate = checks.positive_int(k_generate, "k_generate (Gibbs steps)")
    n_steps = checks.positive_int(n_steps, "n_steps")
    if numpy_rng is None:
        numpy_rng = numpy.random.RandomState(DEFAULT_NUMPY_SEED)
    checks.random_state(numpy_rng, "numpy_rng")
    if theano_rng is None:
        theano_rng = random_streams(numpy_rng)

    W = _shared_normal(numpy_rng, (n_visible, n_hidden), W_SCALE, "W")
    bv = _shared_zeros(n_visible, "bv")
    bh = _shared_zeros(n_hidden, "bh")
    Wuh = _shared_normal(numpy_rng, (n_hidden_recurrent, n_hidden), RNN_SCALE, "Wuh")
    Wuv = _shared_normal(numpy_rng, (n_hidden_recurrent, n_visible), RNN_SCALE, "Wuv")
    Wvu = _shared_normal(numpy_rng, (n_visible, n_hidden_recurrent), RNN_SCALE, "Wvu")
    Wuu = _shared_normal(numpy_rng, (n_hidden_recurrent, n_hidden_recurrent), RNN_SCALE, "Wuu")
    bu = _shared_zeros(n_hidden_recurrent, "bu")
    params = [W, bv, bh, Wuh, Wuv, Wvu, Wuu, bu]

    # training: all the biases from the sequence, then the T conditional RBMs as one batch
    v = T.matrix("v")
    u0 = T.zeros((n_hidden_recurrent,))
    _, bv_t, bh_t, updates_train = rnn_biases(v, params, u0)
    v_sample, cost, monitor, updates_rbm = build_rbm(v, W, bv_t[:], bh_t[:], k, theano_rng)
    updates_train.update(updates_rbm)

    # generation: each frame drawn from its RBM before it enters the recurrence
    def generate_step(u_tm1, *_):
        bv_t = bv + T.dot(u_tm1, Wuv)
        bh_t = bh + T.dot(u_tm1, Wuh)
        v_t, _, _, chain_updates = build_rbm(T.zeros((n_visible,)), W, bv_t, bh_t, k_generate,
                                             theano_rng)
        u_t = T.tanh(bu + T.dot(v_t, Wvu) + T.dot(u_tm1, Wuu))
        return [v_t, u_t], chain_updates

    (v_t, _), updates_generate = theano.scan(generate_step, outputs_info=[None, u0],
                                             non_sequences=params, n_steps=n_steps)
    return v, v_sample, cost, monitor, params, updates_train, v_t, updates_generate


class RnnRbm(ParamsMixin):
    """An RNN-RBM with its training and generation functions (the tutorial's ``RnnRbm``).

    Parameters
    ----------
    n_hidden : int
        Hidden units of the conditional RBMs (150).
    n_hidden_recurrent : int
        Units of the RNN (100).
    lr : float
        SGD learning rate (0.001).
    r : (int, int)
        The pitch range, MIDI note numbers ``r[0]`` to ``r[1] - 1``: ``r[1] - r[0]`` visible
        units per step; (21, 109) is the piano's 88 keys.
    dt : float
        Seconds per time step of the piano rolls (0.3); kept for writing MIDI files.
    numpy_rng : numpy.random.RandomState, optional
        Seeds the random streams, draws the weights (:func:`build_rnnrbm`) and then shuffles
        the sequences each epoch (:meth:`train`); ``RandomState(0xbeef)`` by default.
    theano_rng : MRG_RandomStreams, optional

    Attributes
    ----------
    params : list
        ``[W, bv, bh, Wuh, Wuv, Wvu, Wuu, bu]``.
    v, v_sample, cost, monitor, v_t : the symbolic graph of :func:`build_rnnrbm`
    train_function : theano.function, ``(T, n_visible) piano roll -> monitor``
        One SGD step on ``cost`` (``v_sample`` held constant); compiled on first use.
    generate_function : theano.function, ``() -> (200, n_visible)`` piano roll
        Compiled on first use.
    """

    def __init__(self, n_hidden=150, n_hidden_recurrent=100, lr=0.001, r=PIANO_RANGE, dt=0.3,
                 numpy_rng=None, theano_rng=None):
        self.r = pitch_range(r)
        self.dt = checks.positive_float(dt, "dt")
        self.lr = checks.positive_float(lr, "lr")
        self.n_visible = self.r[1] - self.r[0]
        self.n_hidden = checks.positive_int(n_hidden, "n_hidden")
        self.n_hidden_recurrent = checks.positive_int(n_hidden_recurrent, "n_hidden_recurrent")
        if numpy_rng is None:
            numpy_rng = numpy.random.RandomState(DEFAULT_NUMPY_SEED)
        self.numpy_rng = checks.random_state(numpy_rng, "numpy_rng")
        (self.v, self.v_sample, self.cost, self.monitor, self.params, self.updates_train,
         self.v_t, self.updates_generate) = build_rnnrbm(
            self.n_visible, self.n_hidden, self.n_hidden_recurrent, numpy_rng, theano_rng)
        gradient = T.grad(self.cost, self.params, consider_constant=[self.v_sample])
        self.updates_train.update(sgd_updates(self.params, gradient, self.lr))
        self._train_function = self._generate_function = None

    @property
    def train_function(self):
        """``piano roll (T, n_visible) -> monitor``, updating the parameters (compiled once)."""
        if self._train_function is None:
            self._train_function = theano.function([self.v], self.monitor,
                                                   updates=self.updates_train)
        return self._train_function

    @property
    def generate_function(self):
        """``() -> piano roll (200, n_visible)`` drawn from the model (compiled once)."""
        if self._generate_function is None:
            self._generate_function = theano.function([], self.v_t,
                                                      updates=self.updates_generate)
        return self._generate_function

    def train_epoch(self, dataset, batch_size=100):
        """One pass over ``dataset`` (shuffled in place first, with ``numpy_rng``), each
        sequence in chunks of at most ``batch_size`` time steps, one SGD step per chunk.
        Returns the monitors of the chunks (a list, in order)."""
        self.numpy_rng.shuffle(dataset)
        monitors = []
        for sequence in dataset:
            for start in range(0, len(sequence), batch_size):
                monitors.append(self.train_function(sequence[start:start + batch_size]))
        return monitors

    def train(self, dataset, batch_size=100, num_epochs=200, out=None):
        """Train by SGD for ``num_epochs`` epochs of :meth:`train_epoch`, printing the tutorial's
        two lines per epoch (``Epoch 1/200`` and the mean monitor); Ctrl-C stops it between
        chunks ("Interrupted by user.").

        Parameters
        ----------
        dataset : list of arrays, each of shape (T_i, n_visible), 0s and 1s
            The training piano rolls (see :mod:`dltut.datasets.jsb`); copied to floatX, and
            the list shuffled each epoch (the caller's list is left as it is).
        batch_size : int
            Time steps per SGD step (100).
        num_epochs : int
            (200)
        out : file, optional
            Where the lines go (``sys.stdout``).

        Returns
        -------
        list of float
            The mean monitor of each finished epoch.
        """
        batch_size = checks.positive_int(batch_size, "batch_size")
        num_epochs = checks.positive_int(num_epochs, "num_epochs")
        dataset = check_piano_rolls(dataset, self.n_visible)
        out = sys.stdout if out is None else out
        history = []
        try:
            for epoch in range(num_epochs):
                mean = numpy.mean(self.train_epoch(dataset, batch_size))
                history.append(float(mean))
                print("Epoch %i/%i" % (epoch + 1, num_epochs), file=out)
                print(mean, file=out)
                out.flush()
        except KeyboardInterrupt:
            print("Interrupted by user.", file=out)
        return history

    def generate(self):
        """A generated piano roll: a floatX array of 0s and 1s, shape (200, n_visible).

        Write it as MIDI with :func:`dltut.datasets.jsb.write_midi` (``self.r``,
        ``self.dt``)."""
        return self.generate_function()


class EpochChunks:
    """The tutorial's epoch as numbered minibatches, for dltut's loops
    (:class:`dltut.training.Pretrainer` calls ``chunks(index)`` for ``index`` in
    ``range(chunks.n_batches)``, epoch after epoch).

    ``chunks(0)`` shuffles the order of the sequences with the model's ``numpy_rng`` (as
    :meth:`RnnRbm.train_epoch` shuffles its list: the same draws, the same order), and
    ``chunks(index)`` trains on the index-th chunk of at most ``batch_size`` time steps of
    the sequences in that order, returning its monitor.  The number of chunks is the same
    every epoch.  The order and the generator's state live in shared variables (``state``),
    so a checkpoint of them (with the parameters and random streams) continues an epoch
    exactly where it stopped.

    Parameters
    ----------
    model : RnnRbm
    dataset : list of piano rolls, each (T_i, n_visible)
    batch_size : int
        Time steps per chunk (100).
    """

    def __init__(self, model, dataset, batch_size=100):
        self.model = model
        self.dataset = check_piano_rolls(dataset, model.n_visible)
        self.batch_size = checks.positive_int(batch_size, "batch_size")
        self.n_batches = sum(-(-len(sequence) // self.batch_size) for sequence in self.dataset)
        self.order = theano.shared(numpy.arange(len(self.dataset), dtype=numpy.int64),
                                   name="sequence_order")
        _, keys, position, has_gauss, gauss = model.numpy_rng.get_state()
        self.rng_keys = theano.shared(numpy.array(keys, dtype=numpy.uint32),
                                      name="shuffle_rng_keys")
        self.rng_rest = theano.shared(numpy.array([position, has_gauss, gauss], numpy.float64),
                                      name="shuffle_rng_rest")
        self._chunks, self._chunks_of = None, None

    @property
    def state(self):
        """The shared variables a checkpoint needs besides the model's: the order of this
        epoch and the shuffling generator's state."""
        return [self.order, self.rng_keys, self.rng_rest]

    def chunk_list(self):
        """``[(sequence index, first step), ...]`` of this epoch, in training order."""
        order = self.order.get_value(borrow=True)
        if self._chunks_of is None or not numpy.array_equal(order, self._chunks_of):
            self._chunks_of = order.copy()
            self._chunks = [(int(s), start) for s in order
                            for start in range(0, len(self.dataset[s]), self.batch_size)]
        return self._chunks

    def shuffle(self):
        """The next epoch's order: the generator's state is taken from ``state`` (a
        checkpoint may have set it), the order shuffled in place, the state saved back."""
        position, has_gauss, gauss = self.rng_rest.get_value()
        self.model.numpy_rng.set_state(("MT19937", self.rng_keys.get_value(), int(position),
                                        int(has_gauss), float(gauss)))
        order = self.order.get_value()
        self.model.numpy_rng.shuffle(order)
        self.order.set_value(order)
        _, keys, position, has_gauss, gauss = self.model.numpy_rng.get_state()
        self.rng_keys.set_value(numpy.array(keys, dtype=numpy.uint32))
        self.rng_rest.set_value(numpy.array([position, has_gauss, gauss], numpy.float64))

    def __call__(self, index):
        if index == 0:
            self.shuffle()
        sequence, start = self.chunk_list()[index]
        return self.model.train_function(self.dataset[sequence][start:start + self.batch_size])
