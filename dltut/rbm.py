"""Restricted Boltzmann machines and deep belief networks (the tutorial's ``RBM`` and ``DBN``).

An RBM over binary visible units ``v`` (n_visible) and hidden units ``h`` (n_hidden) has the
energy ``E(v, h) = -v.vbias - h.hbias - v W h`` and, summing out ``h``, the free energy

    F(v) = -v.vbias - sum_j log(1 + exp(hbias_j + (v W)_j)),    p(v) = exp(-F(v)) / Z.

Both conditionals factorise: ``p(h_j = 1 | v) = sigmoid(hbias_j + (v W)_j)`` and
``p(v_i = 1 | h) = sigmoid(vbias_i + (W h)_i)``, so a Gibbs step samples a whole layer at
once.  The gradient of the mean negative log-likelihood is
``dF(v_data)/dtheta - E_model[dF(v)/dtheta]``; contrastive divergence (CD-k) estimates the
model term with a Gibbs chain of k steps started at the data, persistent CD (PCD-k)
continues one chain from update to update instead.

A DBN stacks RBMs: the hidden layer of RBM ``i`` is the input of RBM ``i + 1``, and each
RBM shares its ``W`` and ``hbias`` with a sigmoid :class:`~dltut.layers.HiddenLayer` of an
MLP that, with a :class:`~dltut.layers.LogisticRegression` on top, is fine-tuned as a
classifier by the one supervised trainer (:mod:`dltut.training`).

Random draws follow the tutorial: initial weights from the caller's
``numpy.random.RandomState`` in the tutorial's order, samples from Theano's
``MRG_RandomStreams`` seeded with ``numpy_rng.randint(2 ** 30)``, each random op created in
the order the tutorial creates it, so default runs draw the original code's numbers.
"""

import numpy
import theano
import theano.tensor as T
from theano.sandbox.rng_mrg import MRG_RandomStreams

from . import checks
from .init import floatX, init_bound, uniform, zeros
from .layers import HiddenLayer, LogisticRegression, ParamsMixin, as_shared_param, check_ndim
from .models import Classifier, finetune_functions

__all__ = ["DEFAULT_NUMPY_SEED", "random_streams", "RBM", "persistent_chain", "build_sampler",
           "DBN"]

#: The seed of the numpy generator an RBM makes when it is given none (the tutorial's).
DEFAULT_NUMPY_SEED = 1234


def random_streams(numpy_rng):
    """The tutorial's Theano random streams: ``MRG_RandomStreams(numpy_rng.randint(2 ** 30))``
    (one draw from ``numpy_rng``)."""
    return MRG_RandomStreams(numpy_rng.randint(2 ** 30))


def _positive_int(value, name):
    """:func:`dltut.checks.positive_int` (a wrong type is a ValueError here too, as it was)."""
    try:
        return checks.positive_int(value, name)
    except TypeError as error:
        raise ValueError(str(error)) from None


class RBM(ParamsMixin):
    """A restricted Boltzmann machine with binary visible and hidden units.

    Parameters
    ----------
    input : T.matrix, shape (n_examples, n_visible), optional
        The data the cost is computed on; a new ``T.matrix('input')`` by default.  In a DBN
        it is the output of the layer below.
    n_visible, n_hidden : int
    W : ndarray or shared variable, shape (n_visible, n_hidden), optional
        Given weights (a DBN passes its sigmoid layer's, which the two then share); by
        default one ``numpy_rng.uniform`` draw in +-4 sqrt(6 / (n_visible + n_hidden)).
    hbias : ndarray or shared variable, shape (n_hidden,), optional
        Hidden biases (zeros by default; a DBN passes its sigmoid layer's ``b``).
    vbias : ndarray or shared variable, shape (n_visible,), optional
        Visible biases (zeros by default).
    numpy_rng : numpy.random.RandomState, optional
        Source of the initial weights (``RandomState(1234)`` by default).
    theano_rng : MRG_RandomStreams, optional
        Source of every sample; by default ``MRG_RandomStreams(numpy_rng.randint(2 ** 30))``,
        drawn *before* the weights, as the tutorial does.

    Attributes
    ----------
    params : list
        ``[W, hbias, vbias]``.
    bit_i_idx : shared int or None
        The index of the bit the pseudo-likelihood cost flips next, once
        :meth:`get_pseudo_likelihood_cost` has built it.
    """

    def __init__(self, input=None, n_visible=784, n_hidden=500, W=None, hbias=None, vbias=None,
                 numpy_rng=None, theano_rng=None):
        self.n_visible = _positive_int(n_visible, "n_visible")
        self.n_hidden = _positive_int(n_hidden, "n_hidden")
        if numpy_rng is None:
            numpy_rng = numpy.random.RandomState(DEFAULT_NUMPY_SEED)
        if W is None or theano_rng is None:
            checks.random_state(numpy_rng, "numpy_rng")
        if theano_rng is None:
            theano_rng = random_streams(numpy_rng)
        if W is None:
            W = uniform(numpy_rng, init_bound("glorot_sigmoid", self.n_visible, self.n_hidden),
                        (self.n_visible, self.n_hidden))
        self.W = as_shared_param(W, (self.n_visible, self.n_hidden), "W")
        self.hbias = as_shared_param(zeros(self.n_hidden) if hbias is None else hbias,
                                     (self.n_hidden,), "hbias")
        self.vbias = as_shared_param(zeros(self.n_visible) if vbias is None else vbias,
                                     (self.n_visible,), "vbias")
        if input is None:
            input = T.matrix("input")
        check_ndim(input, 2, "RBM input")
        self.input = input
        self.theano_rng = theano_rng
        self.params = [self.W, self.hbias, self.vbias]
        self.bit_i_idx = None

    # ------------------------------------------------------------------ energies and conditionals
    def free_energy(self, v_sample):
        """``F(v) = -v.vbias - sum_j softplus(hbias_j + (v W)_j)``, one value per row.

        ``v_sample`` : T.matrix, shape (n, n_visible)  ->  T.vector, shape (n,)
        """
        wx_b = T.dot(v_sample, self.W) + self.hbias         # (n, n_hidden)
        vbias_term = T.dot(v_sample, self.vbias)            # (n,)
        hidden_term = T.sum(T.log(1 + T.exp(wx_b)), axis=1)  # (n,)
        return -hidden_term - vbias_term

    def propup(self, vis):
        """``[pre_sigmoid, sigmoid(pre_sigmoid)]`` of the hidden units given visible ``vis``.

        ``vis`` (n, n_visible) -> two (n, n_hidden) matrices.  The pre-sigmoid activation is
        returned too: :meth:`get_reconstruction_cost` needs it (see there).
        """
        pre_sigmoid_activation = T.dot(vis, self.W) + self.hbias
        return [pre_sigmoid_activation, T.nnet.sigmoid(pre_sigmoid_activation)]

    def sample_h_given_v(self, v0_sample):
        """``[pre_sigmoid_h1, h1_mean, h1_sample]``: hidden probabilities given ``v0_sample``
        and one binary (floatX) sample of them, each (n, n_hidden)."""
        pre_sigmoid_h1, h1_mean = self.propup(v0_sample)
        h1_sample = self.theano_rng.binomial(size=h1_mean.shape, n=1, p=h1_mean,
                                             dtype=theano.config.floatX)
        return [pre_sigmoid_h1, h1_mean, h1_sample]

    def propdown(self, hid):
        """``[pre_sigmoid, sigmoid(pre_sigmoid)]`` of the visible units given hidden ``hid``:
        (n, n_hidden) -> two (n, n_visible) matrices."""
        pre_sigmoid_activation = T.dot(hid, self.W.T) + self.vbias
        return [pre_sigmoid_activation, T.nnet.sigmoid(pre_sigmoid_activation)]

    def sample_v_given_h(self, h0_sample):
        """``[pre_sigmoid_v1, v1_mean, v1_sample]``: visible probabilities given ``h0_sample``
        and one binary (floatX) sample of them, each (n, n_visible)."""
        pre_sigmoid_v1, v1_mean = self.propdown(h0_sample)
        v1_sample = self.theano_rng.binomial(size=v1_mean.shape, n=1, p=v1_mean,
                                             dtype=theano.config.floatX)
        return [pre_sigmoid_v1, v1_mean, v1_sample]

    def gibbs_hvh(self, h0_sample):
        """One Gibbs step from the hidden state: h -> v -> h.  Returns the six values of
        :meth:`sample_v_given_h` then :meth:`sample_h_given_v`."""
        pre_sigmoid_v1, v1_mean, v1_sample = self.sample_v_given_h(h0_sample)
        pre_sigmoid_h1, h1_mean, h1_sample = self.sample_h_given_v(v1_sample)
        return [pre_sigmoid_v1, v1_mean, v1_sample, pre_sigmoid_h1, h1_mean, h1_sample]

    def gibbs_vhv(self, v0_sample):
        """One Gibbs step from the visible state: v -> h -> v.  Returns the six values of
        :meth:`sample_h_given_v` then :meth:`sample_v_given_h`."""
        pre_sigmoid_h1, h1_mean, h1_sample = self.sample_h_given_v(v0_sample)
        pre_sigmoid_v1, v1_mean, v1_sample = self.sample_v_given_h(h1_sample)
        return [pre_sigmoid_h1, h1_mean, h1_sample, pre_sigmoid_v1, v1_mean, v1_sample]

    # ------------------------------------------------------------------ learning
    def get_cost_updates(self, lr=0.1, persistent=None, k=1):
        """One CD-k (``persistent`` None) or PCD-k update: ``(monitoring_cost, updates)``.

        The negative phase is a ``theano.scan`` of k :meth:`gibbs_hvh` steps, started from a
        hidden sample of the data (CD) or from the persistent chain (PCD).  The gradient is
        that of ``mean F(input) - mean F(chain_end)`` with the chain end held constant (no
        gradient flows through the sampling), and each parameter moves by ``-lr`` times it.

        Parameters
        ----------
        lr : float or scalar variable
            The learning rate (cast to floatX).
        persistent : shared variable, shape (n_chains, n_hidden), optional
            The state of the persistent chain (hidden units).  Its update to the last
            hidden sample of the chain is part of ``updates``, so the next call continues
            from there.
        k : int
            Gibbs steps per update.

        Returns
        -------
        monitoring_cost : scalar
            The pseudo-likelihood proxy (:meth:`get_pseudo_likelihood_cost`) for PCD, the
            reconstruction cross-entropy (:meth:`get_reconstruction_cost`) for CD; neither
            is the quantity the gradient follows.
        updates : OrderedUpdates
            Parameters, the random streams of the chain, and for PCD the persistent chain
            and the pseudo-likelihood's bit index.
        """
        k = _positive_int(k, "k (Gibbs steps)")
        if persistent is not None:
            shape = persistent.get_value(borrow=True).shape
            if len(shape) != 2 or shape[1] != self.n_hidden:
                raise ValueError("the persistent chain must be (n_chains, n_hidden=%d), got %s"
                                 % (self.n_hidden, shape))
        # positive phase (its sample starts a CD chain; PCD's chain starts from `persistent`)
        pre_sigmoid_ph, ph_mean, ph_sample = self.sample_h_given_v(self.input)
        chain_start = ph_sample if persistent is None else persistent
        # negative phase: k Gibbs steps; None marks the outputs that are not fed back
        (pre_sigmoid_nvs, nv_means, nv_samples, pre_sigmoid_nhs, nh_means, nh_samples), \
            updates = theano.scan(self.gibbs_hvh,
                                  outputs_info=[None, None, None, None, None, chain_start],
                                  n_steps=k, name="gibbs_hvh")
        chain_end = nv_samples[-1]
        cost = T.mean(self.free_energy(self.input)) - T.mean(self.free_energy(chain_end))
        gparams = T.grad(cost, self.params, consider_constant=[chain_end])
        for gparam, param in zip(gparams, self.params):
            updates[param] = param - gparam * T.cast(lr, dtype=theano.config.floatX)
        if persistent is not None:
            updates[persistent] = nh_samples[-1]
            monitoring_cost = self.get_pseudo_likelihood_cost(updates)
        else:
            monitoring_cost = self.get_reconstruction_cost(updates, pre_sigmoid_nvs[-1])
        return monitoring_cost, updates

    def get_pseudo_likelihood_cost(self, updates):
        """A stochastic approximation of the log pseudo-likelihood of the (rounded) input.

        ``log PL(x) = sum_i log p(x_i | x_without_i)``, and for an RBM
        ``p(x_i | x_without_i) = sigmoid(F(x with bit i flipped) - F(x))``.  Rather than all
        n_visible terms, each call uses one bit ``i`` for every example and multiplies by
        n_visible; ``i`` is the shared ``bit_i_idx``, which ``updates`` advances to
        ``(i + 1) % n_visible``, so successive minibatches cycle through the bits.
        """
        bit_i_idx = theano.shared(value=0, name="bit_i_idx")
        self.bit_i_idx = bit_i_idx
        xi = T.round(self.input)                     # binarised input
        fe_xi = self.free_energy(xi)
        # xi with column bit_i_idx replaced by its complement (a new matrix, xi is unchanged)
        xi_flip = T.set_subtensor(xi[:, bit_i_idx], 1 - xi[:, bit_i_idx])
        fe_xi_flip = self.free_energy(xi_flip)
        cost = T.mean(self.n_visible * T.log(T.nnet.sigmoid(fe_xi_flip - fe_xi)))
        updates[bit_i_idx] = (bit_i_idx + 1) % self.n_visible
        return cost

    def get_reconstruction_cost(self, updates, pre_sigmoid_nv):
        """Mean over the minibatch of ``sum_i x_i log s_i + (1 - x_i) log(1 - s_i)``, with
        ``s = sigmoid(pre_sigmoid_nv)`` the reconstruction after the chain (a log-likelihood:
        higher is better, as the tutorial prints it).

        It takes the *pre-sigmoid* activation: computed outside the scan, ``log(sigmoid(a))``
        is a pattern Theano rewrites to the stable ``-softplus(-a)``; the sigmoid inside the
        scan would hide it, and ``log(0)`` (for ``|a|`` beyond about 30) would give -inf or
        NaN.  ``updates`` is not changed (the signature is the tutorial's).
        """
        return T.mean(T.sum(
            self.input * T.log(T.nnet.sigmoid(pre_sigmoid_nv))
            + (1 - self.input) * T.log(1 - T.nnet.sigmoid(pre_sigmoid_nv)),
            axis=1))

    def spec(self):
        return {"name": "RBM", "n_visible": self.n_visible, "n_hidden": self.n_hidden}

    def __repr__(self):
        return "RBM(n_visible=%d, n_hidden=%d)" % (self.n_visible, self.n_hidden)


def persistent_chain(n_chains, n_hidden, name="persistent_chain"):
    """A zero floatX shared matrix (n_chains, n_hidden): the start of a PCD chain."""
    return theano.shared(zeros((_positive_int(n_chains, "n_chains"),
                                _positive_int(n_hidden, "n_hidden"))), name=name, borrow=True)


def build_sampler(rbm, persistent_vis_chain, plot_every=1000):
    """``sample_fn()``: ``plot_every`` Gibbs steps (v -> h -> v) of the chains in
    ``persistent_vis_chain`` (a shared (n_chains, n_visible) matrix, which it updates to the
    last visible sample); returns ``[vis_mf, vis_sample]``, the last step's visible
    probabilities and sample, each (n_chains, n_visible).  The tutorial plots ``vis_mf``."""
    plot_every = _positive_int(plot_every, "plot_every")
    (presig_hids, hid_mfs, hid_samples, presig_vis, vis_mfs, vis_samples), updates = \
        theano.scan(rbm.gibbs_vhv, outputs_info=[None, None, None, None, None, persistent_vis_chain],
                    n_steps=plot_every, name="gibbs_vhv")
    updates.update({persistent_vis_chain: vis_samples[-1]})
    return theano.function([], [vis_mfs[-1], vis_samples[-1]], updates=updates, name="sample_fn")


class DBN(Classifier):
    """A deep belief network: stacked RBMs whose weights an MLP of sigmoid layers shares.

    Layer ``i`` is a sigmoid :class:`~dltut.layers.HiddenLayer` on the output of layer
    ``i - 1`` (on ``x`` for the first) and an :class:`RBM` on the same input with the same
    ``W`` and ``hbias`` (its visible bias is its own).  Pre-training trains the RBMs one after
    another (:meth:`pretraining_functions`), which changes the MLP's weights too; fine-tuning
    trains the MLP with its :class:`~dltut.layers.LogisticRegression` on top as a classifier.

    Parameters
    ----------
    numpy_rng : numpy.random.RandomState
        Source of the initial weights (the sigmoid layers' Glorot x 4 draws, in order).
    theano_rng : MRG_RandomStreams, optional
        Source of the RBMs' samples; ``MRG_RandomStreams(numpy_rng.randint(2 ** 30))`` by
        default, drawn before the weights, as the tutorial does.
    n_ins : int
    hidden_layers_sizes : sequence of int (at least one)
    n_outs : int

    Attributes
    ----------
    x : T.matrix, shape (n, n_ins);  y : T.ivector, shape (n,)
    sigmoid_layers : list of HiddenLayer;  rbm_layers : list of RBM
    logLayer : LogisticRegression (also ``log_regression_layer``)
    params : list
        The MLP's: ``[W0, b0, W1, b1, ..., W_log, b_log]`` (the RBMs' visible biases are not
        part of it).
    finetune_cost : scalar
        ``negative_log_likelihood(y)`` of the top layer.

    The tutorial's ``errors`` attribute (the symbolic error rate on ``y``) is the method
    ``errors(y)`` here, as on every dltut classifier, so that the one trainer fine-tunes it.
    """

    def __init__(self, numpy_rng, theano_rng=None, n_ins=784, hidden_layers_sizes=(500, 500),
                 n_outs=10):
        checks.random_state(numpy_rng, "numpy_rng")
        sizes = [_positive_int(n, "each hidden layer size") for n in hidden_layers_sizes]
        if not sizes:
            raise ValueError("hidden_layers_sizes must hold at least one layer size, got %r; "
                             "give e.g. (500, 500)" % (hidden_layers_sizes,))
        self.n_ins, self.n_outs = _positive_int(n_ins, "n_ins"), _positive_int(n_outs, "n_outs")
        self.hidden_layers_sizes = sizes
        self.n_layers = len(sizes)
        if theano_rng is None:
            theano_rng = random_streams(numpy_rng)
        self.theano_rng = theano_rng
        self.x = T.matrix("x")
        self.y = T.ivector("y")
        self.input = self.x
        self.sigmoid_layers, self.rbm_layers, self.params = [], [], []
        layer_input, input_size = self.x, self.n_ins
        for size in sizes:
            sigmoid_layer = HiddenLayer(numpy_rng, layer_input, input_size, size,
                                        activation=T.nnet.sigmoid)
            self.sigmoid_layers.append(sigmoid_layer)
            self.params.extend(sigmoid_layer.params)
            self.rbm_layers.append(RBM(input=layer_input, n_visible=input_size, n_hidden=size,
                                       W=sigmoid_layer.W, hbias=sigmoid_layer.b,
                                       numpy_rng=numpy_rng, theano_rng=theano_rng))
            layer_input, input_size = sigmoid_layer.output, size
        self.logLayer = LogisticRegression(layer_input, input_size, self.n_outs)
        self.params.extend(self.logLayer.params)
        self._finish(self.logLayer, [layer.W for layer in self.sigmoid_layers] + [self.logLayer.W])
        self.finetune_cost = self.negative_log_likelihood(self.y)

    def pretraining_functions(self, train_set_x, batch_size, k):
        """One compiled CD-k update per RBM, bottom first: ``fn(index, lr=0.1)`` trains RBM
        ``i`` on minibatch ``index`` of ``train_set_x`` and returns its reconstruction cost.

        Parameters
        ----------
        train_set_x : shared matrix, shape (n_examples, n_ins)
        batch_size : int
        k : int
            Gibbs steps per update (CD-k: each chain starts at the data).
        """
        batch_size = _positive_int(batch_size, "batch_size")
        n_examples = train_set_x.get_value(borrow=True).shape[0]
        if batch_size > n_examples:
            raise ValueError("batch_size %d is larger than the training set (%d examples); choose "
                             "batch_size %d or less" % (batch_size, n_examples, n_examples))
        index = T.lscalar("index")
        learning_rate = T.scalar("lr")
        batch_begin = index * batch_size
        batch_end = batch_begin + batch_size
        pretrain_fns = []
        for i, rbm in enumerate(self.rbm_layers):
            cost, updates = rbm.get_cost_updates(learning_rate, persistent=None, k=k)
            pretrain_fns.append(theano.function(
                inputs=[index, theano.In(learning_rate, value=floatX(0.1))], outputs=cost,
                updates=updates, givens={self.x: train_set_x[batch_begin:batch_end]},
                name="pretrain_layer_%d" % i))
        return pretrain_fns

    def build_finetune_functions(self, datasets, batch_size, learning_rate):
        """The tutorial's ``(train_fn, valid_score, test_score)``.

        ``train_fn(index)`` is one SGD step on ``finetune_cost`` for training minibatch
        ``index`` (returning its cost); ``valid_score()`` and ``test_score()`` return the
        error rate of every whole minibatch of the validation and test sets (see
        :func:`dltut.models.finetune_functions`).  The supervised
        :class:`~dltut.training.Trainer` fine-tunes a DBN with its own functions:
        ``compile_functions(dbn, dbn.x, dbn.y, datasets, config)``.

        Parameters
        ----------
        datasets : [(train_x, train_y), (valid_x, valid_y), (test_x, test_y)]
            Shared variables, as :func:`dltut.data.shared_datasets` returns them.
        batch_size : int
        learning_rate : float
        """
        return finetune_functions(self, datasets, batch_size, learning_rate)

    def spec(self):
        """The fine-tuned network as a model spec: a sigmoid MLP with the same parameters in
        the same order, so :func:`dltut.models.build_model` (and ``predict.py``) can use it."""
        return {"name": "MLP", "n_in": self.n_ins, "n_hidden": list(self.hidden_layers_sizes),
                "n_out": self.n_outs, "activation": "sigmoid", "init": "glorot_sigmoid"}

    def __repr__(self):
        return "DBN(%s)" % "-".join(str(n) for n in [self.n_ins] + self.hidden_layers_sizes
                                    + [self.n_outs])
