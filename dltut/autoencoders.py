"""Autoencoders: the denoising autoencoder ``dA``, the contractive ``cA`` and the stacked ``SdA``.

The tutorial's classes, names and semantics (``dA.py``, ``cA.py``, ``SdA.py``), built from
dltut's layers.  Both autoencoders have *tied weights*: the encoder is
``h = sigmoid(x W + b)``, the decoder ``z = sigmoid(h W^T + b')``, and both are trained on
the cross-entropy between the input and its reconstruction,
``L(x, z) = -sum_k [x_k log z_k + (1 - x_k) log(1 - z_k)]``, averaged over the minibatch.

* The **dA** reconstructs ``x`` from a corrupted copy ``x~`` in which each input is set to
  zero with probability ``corruption_level`` (masking noise drawn from Theano's
  ``MRG_RandomStreams``).
* The **cA** adds ``contraction_level * ||J||_F^2``, the squared Frobenius norm of the
  Jacobian ``J = dh/dx`` of the encoder (``J_ji = h_j (1 - h_j) W_ij`` for one example),
  averaged over the minibatch.
* The **SdA** is an MLP of sigmoid :class:`~dltut.layers.HiddenLayer`\\ s with a
  :class:`~dltut.layers.LogisticRegression` on top; each hidden layer shares its ``W`` and
  ``b`` with a dA, which pre-trains it on the output of the layer below.  Fine-tuning then
  trains the whole MLP with the one supervised loop (:class:`dltut.training.Trainer`).

Random draws follow the tutorial: a dA built without a ``theano_rng`` first draws its seed,
``RandomStreams(numpy_rng.randint(2 ** 30))``, then its weights; an SdA draws the seed of
the stream its dAs share, then each hidden layer's weights in order.  Each call of
``get_corrupted_input`` makes a new random state (a shared variable) in the stream, in the
order the calls are made, as in the tutorial.
"""
import theano
import theano.tensor as T
from theano.sandbox.rng_mrg import MRG_RandomStreams as RandomStreams

from . import checks
from .init import init_bound, uniform, zeros
from .layers import ParamsMixin, as_shared_param, check_ndim
from .models import MLP, finetune_functions, minibatch_for
from .updates import sgd_updates, updated_shared_variables

__all__ = ["cross_entropy", "TiedAutoencoder", "dA", "cA", "SdA", "random_state_variables"]


def cross_entropy(x, z):
    """Per-example reconstruction cross-entropy ``-sum_k [x_k log z_k + (1-x_k) log(1-z_k)]``.

    ``x`` (targets in [0, 1]) and ``z`` (reconstructions in (0, 1)) are T.matrix of shape
    (n_examples, n_visible); the result is a T.vector of shape (n_examples,).
    """
    return - T.sum(x * T.log(z) + (1 - x) * T.log(1 - z), axis=1)


def _check_level(value, name):
    """A corruption or contraction level given as a number must be a finite number in
    [0, 1] (corruption) or >= 0 (contraction); symbolic values pass unchecked."""
    if isinstance(value, theano.Variable):
        return value
    rule = checks.unit_level if name.startswith("corruption") else checks.non_negative_float
    return rule(value, name)


class TiedAutoencoder(ParamsMixin):
    """What dA and cA share: tied weights, a sigmoid encoder and decoder.

    Parameters
    ----------
    numpy_rng : numpy.random.RandomState
        Source of the initial weights when ``W`` is not given: one ``uniform`` draw in
        ``+-4 sqrt(6 / (n_visible + n_hidden))`` (the tutorial's bound for the sigmoid).
    input : T.matrix, shape (n_examples, n_visible), optional
        The symbolic input (a fresh ``T.matrix("input")`` when None).
    n_visible, n_hidden : int
    W : ndarray or shared variable, shape (n_visible, n_hidden), optional
        Given weights; a shared variable is used as it is (shared with another layer).
    bhid : ndarray or shared variable, shape (n_hidden,), optional
        The hidden biases ``b`` (zeros by default).
    bvis : ndarray or shared variable, shape (n_visible,), optional
        The visible biases ``b_prime`` (zeros by default).

    Attributes
    ----------
    W : shared variable
        The weights, shape (n_visible, n_hidden).
    b : shared variable
        The hidden biases.
    b_prime : shared variable
        The visible biases.
    W_prime : T.matrix
        ``W.T``, the tied decoder weights.
    x : T.matrix
        The symbolic input.
    params : list
        ``[W, b, b_prime]``.
    """

    def __init__(self, numpy_rng, input=None, n_visible=784, n_hidden=500, W=None, bhid=None,
                 bvis=None):
        self.n_visible = checks.positive_int(n_visible, "n_visible")
        self.n_hidden = checks.positive_int(n_hidden, "n_hidden")
        if W is None:
            checks.random_state(numpy_rng, "numpy_rng")
            bound = init_bound("glorot_sigmoid", self.n_visible, self.n_hidden)
            W = uniform(numpy_rng, bound, (self.n_visible, self.n_hidden))
        self.W = as_shared_param(W, (self.n_visible, self.n_hidden), "W")
        # b: the hidden units' biases; b_prime: the visible units'
        self.b = as_shared_param(zeros((self.n_hidden,)) if bhid is None else bhid,
                                 (self.n_hidden,), "b")
        self.b_prime = as_shared_param(zeros((self.n_visible,)) if bvis is None else bvis,
                                       (self.n_visible,), "b_prime")
        self.W_prime = self.W.T  # tied weights
        if input is None:
            input = T.matrix("input")
        check_ndim(input, 2, "%s input" % type(self).__name__)
        self.x = input
        self.params = [self.W, self.b, self.b_prime]

    def get_hidden_values(self, input):
        """``sigmoid(input W + b)``: (n, n_visible) -> (n, n_hidden)."""
        return T.nnet.sigmoid(T.dot(input, self.W) + self.b)

    def get_reconstructed_input(self, hidden):
        """``sigmoid(hidden W^T + b_prime)``: (n, n_hidden) -> (n, n_visible)."""
        return T.nnet.sigmoid(T.dot(hidden, self.W_prime) + self.b_prime)

    def spec(self):
        return {"name": type(self).__name__, "n_visible": self.n_visible,
                "n_hidden": self.n_hidden}

    def __repr__(self):
        return "%s(n_visible=%d, n_hidden=%d)" % (type(self).__name__, self.n_visible,
                                                  self.n_hidden)


class dA(TiedAutoencoder):
    """The denoising autoencoder: reconstruct ``x`` from a corrupted ``x~``.

    ``x~ ~ q(x~ | x)`` (masking noise), ``y = sigmoid(x~ W + b)``,
    ``z = sigmoid(y W^T + b')``, cost ``mean over the minibatch of L(x, z)``.

    Parameters
    ----------
    numpy_rng : numpy.random.RandomState
    theano_rng : MRG_RandomStreams, optional
        The stream the corruption is drawn from; when None, one is made from
        ``numpy_rng.randint(2 ** 30)``, drawn before the weights (the tutorial's order).
    input, n_visible, n_hidden, W, bhid, bvis :
        See :class:`TiedAutoencoder` (an SdA passes its hidden layer's ``W`` and ``b``).
    """

    def __init__(self, numpy_rng, theano_rng=None, input=None, n_visible=784, n_hidden=500,
                 W=None, bhid=None, bvis=None):
        if theano_rng is None:
            theano_rng = RandomStreams(checks.random_state(numpy_rng, "numpy_rng").randint(2 ** 30))
        self.theano_rng = theano_rng
        super().__init__(numpy_rng, input, n_visible, n_hidden, W, bhid, bvis)

    def get_corrupted_input(self, input, corruption_level):
        """``input`` with each entry set to 0 with probability ``corruption_level``.

        The mask is ``binomial(n=1, p=1 - corruption_level)`` in floatX from the MRG stream
        (a new random state per call), multiplied into ``input``; ``corruption_level`` is a
        number in [0, 1] or a symbolic scalar.
        """
        _check_level(corruption_level, "corruption_level")
        return self.theano_rng.binomial(size=input.shape, n=1, p=1 - corruption_level,
                                        dtype=theano.config.floatX) * input

    def get_cost_updates(self, corruption_level, learning_rate):
        """``(cost, updates)`` of one SGD step on the reconstruction cross-entropy.

        ``cost`` is the mean over the minibatch of ``L(x, z)``, with ``z`` reconstructed
        from the corrupted input; ``updates`` are ``(param, param - learning_rate * grad)``
        for ``W``, ``b``, ``b_prime``.  The random state of the corruption updates itself
        (a default update) whenever a function compiled from ``cost`` runs.
        """
        tilde_x = self.get_corrupted_input(self.x, corruption_level)
        y = self.get_hidden_values(tilde_x)
        z = self.get_reconstructed_input(y)
        # (n, n_visible) -> (n,): one cross-entropy per example, then their mean
        cost = T.mean(cross_entropy(self.x, z))
        gparams = T.grad(cost, self.params)
        return cost, sgd_updates(self.params, gparams, learning_rate)


class cA(TiedAutoencoder):
    """The contractive autoencoder: reconstruction cost plus the encoder's Jacobian norm.

    ``h = sigmoid(x W + b)``, ``J_ji = dh_j/dx_i = h_j (1 - h_j) W_ij`` per example,
    ``z = sigmoid(h W^T + b')``; cost ``mean L(x, z) + contraction_level * sum(J^2) / n``
    over a minibatch of ``n`` examples.

    Parameters
    ----------
    numpy_rng : numpy.random.RandomState
    input, n_visible, n_hidden, W, bhid, bvis :
        See :class:`TiedAutoencoder`.
    n_batchsize : int
        Examples per minibatch: the Jacobian is shaped, and its norm averaged, for
        minibatches of exactly this many examples (as in the tutorial, whose numbers this
        reproduces to the last digit; a graph that takes any size rounds differently).
    jacobian : {"tutorial", "factorised"}
        How ``L_jacob`` is computed.  ``"tutorial"`` (the default) builds the tutorial's
        Jacobian tensor of shape (n_batchsize, n_visible, n_hidden) and sums its squares:
        the tutorial's numbers to the last digit.  ``"factorised"`` computes the same
        penalty without that tensor, ``sum_kj (h_kj (1 - h_kj))^2 sum_i W_ij^2 / n`` (``n``
        the rows of the minibatch, any number of them): the same function and gradient,
        rounded otherwise (float32 costs differ in their last digits), and about 10x less
        CPU a step at the tutorial's sizes (docs/tutorial/cA.md).

    Attributes
    ----------
    L_rec : T.vector, shape (n,) -- each example's reconstruction cross-entropy
    L_jacob : T.scalar -- ``sum(J ** 2) / n``, the mean squared Frobenius norm
        (both set by :meth:`get_cost_updates`)
    """

    #: the ways of computing the contraction penalty (see ``jacobian`` above)
    JACOBIANS = ("tutorial", "factorised")

    def __init__(self, numpy_rng, input=None, n_visible=784, n_hidden=100, n_batchsize=1,
                 W=None, bhid=None, bvis=None, jacobian="tutorial"):
        self.n_batchsize = checks.positive_int(n_batchsize, "n_batchsize")
        self.jacobian = checks.one_of(jacobian, "jacobian", self.JACOBIANS)
        super().__init__(numpy_rng, input, n_visible, n_hidden, W, bhid, bvis)

    def get_jacobian(self, hidden, W):
        """The Jacobian of the encoder at each example: (n_batchsize, n_visible, n_hidden).

        ``J[k, i, j] = hidden[k, j] * (1 - hidden[k, j]) * W[i, j]``: the derivative of
        hidden unit ``j`` with respect to input ``i`` for example ``k``.  ``hidden`` must
        hold ``n_batchsize`` rows.
        """
        # (n, n_hidden) -> (n, 1, n_hidden)  *  (n_visible, n_hidden) -> (1, n_visible, n_hidden)
        return T.reshape(hidden * (1 - hidden), (self.n_batchsize, 1, self.n_hidden)) * \
            T.reshape(W, (1, self.n_visible, self.n_hidden))

    def factorised_penalty(self, hidden, W):
        """``sum(J ** 2) / n`` without the Jacobian tensor: ``J[k, i, j]**2`` is
        ``(h_kj (1 - h_kj))**2 * W_ij**2``, so the sum over ``i`` needs only the column sums
        of ``W**2``: O(n n_hidden + n_visible n_hidden) instead of O(n n_visible n_hidden).
        ``n`` is the number of rows of ``hidden``."""
        slope = hidden * (1 - hidden)
        n = T.cast(hidden.shape[0], theano.config.floatX)
        return T.sum(T.dot(T.sqr(slope), T.sum(T.sqr(W), axis=0))) / n

    def get_cost_updates(self, contraction_level, learning_rate):
        """``(cost, updates)`` of one SGD step on reconstruction + contraction.

        Also sets ``L_rec`` and ``L_jacob`` (see the class docstring), which the tutorial's
        training function returns instead of the cost.
        """
        _check_level(contraction_level, "contraction_level")
        y = self.get_hidden_values(self.x)
        z = self.get_reconstructed_input(y)
        self.L_rec = cross_entropy(self.x, z)
        # the squared Frobenius norm summed over the minibatch, divided by its size.  (The
        # tutorial's Python 3 port divides with `//`, a floor whose gradient is zero, which
        # silently turns the penalty off; its Python 2 original, and this, divide.)
        if self.jacobian == "tutorial":
            J = self.get_jacobian(y, self.W)
            self.L_jacob = T.sum(J ** 2) / self.n_batchsize
        else:
            self.L_jacob = self.factorised_penalty(y, self.W)
        cost = T.mean(self.L_rec) + contraction_level * T.mean(self.L_jacob)
        gparams = T.grad(cost, self.params)
        return cost, sgd_updates(self.params, gparams, learning_rate)


class SdA(MLP):
    """The stacked denoising autoencoder: a sigmoid MLP whose hidden layers are pre-trained
    as dAs.

    Layer ``i`` is a sigmoid :class:`~dltut.layers.HiddenLayer` fed by layer ``i - 1`` (the
    input for ``i = 0``) and a :class:`dA` on the same input that shares its ``W`` and
    ``b`` (an update of one is an update of the other); a
    :class:`~dltut.layers.LogisticRegression` sits on top.  After pre-training, the SdA is an
    ordinary MLP: fine-tuning trains ``params`` (the hidden layers' and the top layer's; the
    dAs' visible biases are the dAs' own) with the supervised loop.

    Parameters
    ----------
    numpy_rng : numpy.random.RandomState
        Draws the random stream's seed (unless ``theano_rng`` is given), then each hidden
        layer's weights, in order.
    theano_rng : MRG_RandomStreams, optional
        The stream every dA draws its corruption from.
    n_ins : int
    hidden_layers_sizes : sequence of int
        At least one.
    n_outs : int
    corruption_levels : sequence of float
        The corruption each dA is pre-trained with (one per hidden layer), in [0, 1].
    row_input : bool
        Opt-in for minibatches of one example (the tutorial's ``batch_size=1``).  False (the
        default): ``x`` is a ``T.matrix``, the tutorial's graph and numbers to the last digit;
        at batch 1 every product is then a one-row gemm, for which OpenBLAS packs the whole
        weight matrix each time.  True: ``x`` is a ``T.row`` (broadcastable ``(True,
        False)``) and the compiled steps give it each minibatch as a row, so Theano computes
        the products with gemv and the weight gradients with ger: the same steps, summed in
        another order (float32 costs and parameters differ in their last digits), with up to
        3x less CPU at the tutorial's sizes where OpenBLAS's one-row gemm is slow (its
        Haswell kernels; with the SkylakeX kernels 1.0-1.5x: docs/tutorial/SdA.md).  Needs ``batch_size=1`` in
        :meth:`pretraining_functions`, :meth:`build_finetune_functions` and
        :func:`dltut.training.compile_functions` (ValueError otherwise).

    Attributes
    ----------
    x : T.matrix("x") (T.row("x") with ``row_input``), y : T.ivector("y") -- the model's
        own symbolic input and labels
    sigmoid_layers : list of HiddenLayer (``hidden_layers`` of the MLP)
    dA_layers : list of dA
    logLayer : LogisticRegression (``log_regression_layer`` of the MLP)
    params : list -- ``[W_0, b_0, ..., W_top, b_top]``
    finetune_cost : the mean negative log-likelihood of ``y``
    n_layers : int

    ``spec()`` is the MLP's (sigmoid layers, the tutorial's sigmoid initialisation), since
    the fine-tuned network is that MLP: :func:`dltut.models.build_model` rebuilds it from a
    saved ``best_model.npz``.  ``errors(y)`` is a method here, as in dltut's other models
    (the tutorial's SdA keeps ``errors`` as the symbolic error of its own ``y``).
    """

    def __init__(self, numpy_rng, theano_rng=None, n_ins=784, hidden_layers_sizes=(500, 500),
                 n_outs=10, corruption_levels=(0.1, 0.1), row_input=False):
        checks.random_state(numpy_rng, "numpy_rng")
        if not isinstance(row_input, bool):
            raise TypeError("row_input must be True or False, got %s; pass True for minibatches "
                            "of one example computed with gemv" % checks.shown_value(row_input))
        sizes = list(checks.positive_ints(hidden_layers_sizes, "hidden_layers_sizes"))
        levels = [float(checks.unit_level(c, "each corruption level"))
                  for c in corruption_levels]
        if len(levels) != len(sizes):
            raise ValueError("corruption_levels needs one level per hidden layer: %d layers "
                             "(%s), %d levels (%s); give %d levels"
                             % (len(sizes), sizes, len(levels), levels, len(sizes)))
        self.n_layers = len(sizes)
        self.corruption_levels = levels
        if theano_rng is None:
            theano_rng = RandomStreams(numpy_rng.randint(2 ** 30))
        self.theano_rng = theano_rng
        self.row_input = row_input
        # rasterized images, one per row (one image, as a broadcastable row, with row_input)
        self.x = T.row("x") if row_input else T.matrix("x")
        self.y = T.ivector("y")   # their labels
        super().__init__(numpy_rng, self.x, n_ins, sizes, n_outs, activation=T.nnet.sigmoid)
        self.sigmoid_layers = self.hidden_layers
        self.logLayer = self.log_regression_layer
        self.dA_layers = [
            dA(numpy_rng=numpy_rng, theano_rng=theano_rng, input=layer.input,
               n_visible=layer.n_in, n_hidden=layer.n_out, W=layer.W, bhid=layer.b)
            for layer in self.sigmoid_layers]
        self.finetune_cost = self.negative_log_likelihood(self.y)

    def pretraining_functions(self, train_set_x, batch_size):
        """One compiled pre-training step per dA: ``fn(index, corruption=0.2, lr=0.1) -> cost``.

        Each trains dA ``i`` on minibatch ``index`` of ``train_set_x`` (a shared variable of
        shape (n_examples, n_ins)) passed through the layers below it; ``corruption`` and
        ``lr`` are inputs with the tutorial's defaults.  The functions are built in layer
        order, so the dAs' random states are made in the tutorial's order.  With
        ``row_input``, ``batch_size`` must be 1 (ValueError otherwise).
        """
        minibatch_for(self.x, train_set_x, batch_size)      # refuses a row_input batch > 1
        index = T.lscalar("index")
        corruption_level = T.scalar("corruption")
        learning_rate = T.scalar("lr")
        batch_begin = index * batch_size
        batch_end = batch_begin + batch_size
        pretrain_fns = []
        for i, layer in enumerate(self.dA_layers):
            cost, updates = layer.get_cost_updates(corruption_level, learning_rate)
            pretrain_fns.append(theano.function(
                inputs=[index, theano.In(corruption_level, value=0.2),
                        theano.In(learning_rate, value=0.1)],
                outputs=cost, updates=updates,
                givens={self.x: minibatch_for(self.x, train_set_x[batch_begin:batch_end],
                                              batch_size)},
                name="pretrain_layer_%d" % i))
        return pretrain_fns

    def build_finetune_functions(self, datasets, batch_size, learning_rate):
        """The tutorial's ``(train_fn, valid_score, test_score)``.

        ``train_fn(index)`` is one SGD step on training minibatch ``index`` (returning its
        cost); ``valid_score()`` and ``test_score()`` return the error rate of every whole
        minibatch of the validation and test sets (see :func:`dltut.models.finetune_functions`).
        The supervised :class:`~dltut.training.Trainer` fine-tunes an SdA with its own
        functions: ``compile_functions(sda, sda.x, sda.y, datasets, config)``.  With
        ``row_input``, ``batch_size`` must be 1 (ValueError otherwise).
        """
        return finetune_functions(self, datasets, batch_size, learning_rate)

    def __repr__(self):
        sizes = "-".join(str(n) for n in [self.n_in] + self.n_hidden + [self.n_out])
        return "SdA(%s, corruption_levels=%s%s)" % (sizes, self.corruption_levels,
                                                    ", row_input=True" if self.row_input else "")


def random_state_variables(function, params=()):
    """The random-stream states a compiled ``function`` updates: every shared variable it
    updates that is not in ``params`` (see :func:`dltut.updates.updated_shared_variables`)."""
    return [v for v in updated_shared_variables(function)
            if not any(v is p for p in params)]

