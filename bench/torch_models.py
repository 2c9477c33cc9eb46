"""The PyTorch side of ``bench/bench_cpu.py``: each tutorial model's training step written
plainly in PyTorch, started from dltut's initial parameter values.

One class per kind of model.  Each holds its parameters as float32 tensors (in dltut's order,
``params``) and has ``step(xb, yb)``: one SGD update on a minibatch, returning what dltut's
training function returns for it (a 0-d tensor, or a tuple of them for the cA).  The step is
an ordinary Python function over tensors, so ``torch.compile(model.step)`` compiles the
whole of it (forward, backward, update; the minibatch is sliced outside, so that its shape
never changes).  ``reset()`` puts back the initial values (and the persistent chain, the
pseudo-likelihood's bit index and the random generator's seed, ``seed``).

What each step computes is the tutorial's, term by term:

* ``Classifier`` (logistic regression, the MLPs with tanh or sigmoid units, LeNet5): softmax
  cross-entropy (+ L1/L2 of the weights), ``torch.optim.SGD``.
* ``DenoisingAutoencoder``: masking noise (``torch.rand < 1 - corruption``), tied weights,
  the reconstruction cross-entropy summed over the pixels and averaged over the minibatch
  (``binary_cross_entropy_with_logits`` on the decoder's pre-activation: the stable form
  Theano's graph optimiser also rewrites ``log(sigmoid)`` to), SGD on ``W, b, b'``.
* ``ContractiveAutoencoder``: the same without noise, plus ``contraction * sum(J**2) / n``
  with the Jacobian ``J = h(1-h) * W`` built per example, shape (n, n_visible, n_hidden), as
  the tutorial builds it; returns ``(mean reconstruction cost, sum(J**2) / n)``.
* ``RBMModel``: the positive phase's hidden sample, a Gibbs chain of ``k`` steps (h -> v ->
  h) from the persistent chain (PCD) or from that sample (CD), the gradient of
  ``mean F(v_data) - mean F(v_chain_end)`` by autograd with the chain end held constant, SGD;
  returns the tutorial's monitoring cost, computed with the parameters before the update:
  the pseudo-likelihood proxy (PCD; bit index cycling over the pixels) or the reconstruction
  cross-entropy of the chain's last visible pre-activation (CD).

Samples come from torch's generator, not Theano's MRG streams: a sampling step cannot match
dltut's draws, only their distribution.  ``bench_cpu.py`` compares what can be compared
exactly (the noise-free steps, the free energy, the first pseudo-likelihood cost).
"""
import numpy

__all__ = ["Classifier", "DenoisingAutoencoder", "ContractiveAutoencoder", "RBMModel",
           "free_energy_numpy", "SEED"]

#: torch.manual_seed of every reset (a model's ``seed``, this by default): each epoch of a
#: sampling model draws the same numbers.
SEED = 1234


def _tensors(torch, values):
    return [torch.from_numpy(numpy.array(v, dtype="float32", copy=True)) for v in values]


class TorchModel:
    """What every kind shares: parameters (trainable, ``requires_grad``), their initial values,
    ``reset()`` and ``numpy_params()``."""

    def __init__(self, torch, values, learning_rate):
        self.torch = torch
        self.initial = _tensors(torch, values)
        self.params = [v.clone().requires_grad_(True) for v in self.initial]
        self.lr = float(learning_rate)
        self.optimizer = torch.optim.SGD(self.params, lr=self.lr)
        self.seed = SEED

    def reset(self):
        with self.torch.no_grad():
            for param, value in zip(self.params, self.initial):
                param.copy_(value)
        self.torch.manual_seed(self.seed)

    def numpy_params(self):
        return [p.detach().numpy().copy() for p in self.params]

    def update(self, loss):
        """``loss.backward()`` then one ``torch.optim.SGD`` step."""
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()


class Classifier(TorchModel):
    """Logistic regression, an MLP (``activation`` "tanh" or "sigmoid") or LeNet5 (``conv``:
    True; dltut's filters are flipped here, since Theano's ``conv2d`` convolves and torch's
    correlates).  ``values``: dltut's ``[W0, b0, W1, b1, ...]``."""

    def __init__(self, torch, values, learning_rate, kind, activation="tanh", L1=0.0, L2=0.0,
                 image_shape=(28, 28)):
        values = [numpy.array(v, dtype="float32", copy=True) for v in values]
        if kind == "LeNet5":
            values[0] = values[0][:, :, ::-1, ::-1].copy()
            values[2] = values[2][:, :, ::-1, ::-1].copy()
        super().__init__(torch, values, learning_rate)
        import torch.nn.functional as F
        self.F, self.kind, self.image_shape = F, kind, tuple(image_shape)
        self.act = torch.tanh if activation == "tanh" else torch.sigmoid
        self.weights = self.params[0::2]
        self.l1, self.l2 = float(L1), float(L2)

    def logits(self, x):
        torch, F, p = self.torch, self.F, self.params
        if self.kind == "LogisticRegression":
            return torch.addmm(p[1], x, p[0])
        if self.kind == "MLP":
            h = x
            for W, b in zip(p[0:-2:2], p[1:-2:2]):
                h = self.act(torch.addmm(b, h, W))
            return torch.addmm(p[-1], h, p[-2])
        # LeNet5: (B, 784) -> (B, 1, 28, 28) -> conv, pool, +b, tanh (x2) -> dense
        h = x.reshape(x.shape[0], 1, *self.image_shape)
        for W, b in ((p[0], p[1]), (p[2], p[3])):
            h = torch.tanh(F.max_pool2d(F.conv2d(h, W), 2) + b.view(1, -1, 1, 1))
        h = torch.tanh(torch.addmm(p[5], h.reshape(h.shape[0], -1), p[4]))
        return torch.addmm(p[7], h, p[6])

    def cost(self, xb, yb):
        loss = self.F.cross_entropy(self.logits(xb), yb)
        if self.l2:
            loss = loss + self.l2 * sum((W * W).sum() for W in self.weights)
        if self.l1:
            loss = loss + self.l1 * sum(W.abs().sum() for W in self.weights)
        return loss

    def step(self, xb, yb):
        loss = self.cost(xb, yb)
        self.update(loss)
        return loss.detach()

    def errors(self, x, y):
        """Misclassified examples of ``x`` (in blocks of 1000), no gradient."""
        wrong = 0
        with self.torch.no_grad():
            for start in range(0, len(y), 1000):
                pred = self.logits(x[start:start + 1000]).argmax(1)
                wrong += int((pred != y[start:start + 1000]).sum())
        return wrong


class DenoisingAutoencoder(TorchModel):
    """The dA (and an SdA's first layer in pre-training): ``values`` = dltut's ``[W, b, b']``."""

    def __init__(self, torch, values, learning_rate, corruption):
        super().__init__(torch, values, learning_rate)
        import torch.nn.functional as F
        self.F, self.corruption = F, float(corruption)

    def cost(self, xb):
        torch = self.torch
        W, b, b_prime = self.params
        x_tilde = xb
        if self.corruption > 0:
            x_tilde = xb * (torch.rand_like(xb) < 1 - self.corruption).to(xb.dtype)
        y = torch.sigmoid(torch.addmm(b, x_tilde, W))
        z_pre = torch.addmm(b_prime, y, W.t())
        # mean over the minibatch of the cross-entropy summed over the pixels
        return self.F.binary_cross_entropy_with_logits(z_pre, xb, reduction="sum") / xb.shape[0]

    def step(self, xb, yb=None):
        loss = self.cost(xb)
        self.update(loss)
        return loss.detach()


class ContractiveAutoencoder(TorchModel):
    """The cA: ``values`` = dltut's ``[W, b, b']``; returns ``(mean L_rec, L_jacob)``."""

    def __init__(self, torch, values, learning_rate, contraction):
        super().__init__(torch, values, learning_rate)
        import torch.nn.functional as F
        self.F, self.contraction = F, float(contraction)

    def costs(self, xb):
        torch = self.torch
        W, b, b_prime = self.params
        n = xb.shape[0]
        h = torch.sigmoid(torch.addmm(b, xb, W))
        z_pre = torch.addmm(b_prime, h, W.t())
        l_rec = self.F.binary_cross_entropy_with_logits(z_pre, xb, reduction="none").sum(1)
        # (n, 1, n_hidden) * (1, n_visible, n_hidden): the encoder's Jacobian per example
        J = (h * (1 - h)).reshape(n, 1, -1) * W.reshape(1, W.shape[0], W.shape[1])
        l_jacob = (J ** 2).sum() / n
        return l_rec.mean(), l_jacob

    def step(self, xb, yb=None):
        l_rec, l_jacob = self.costs(xb)
        self.update(l_rec + self.contraction * l_jacob)
        return l_rec.detach(), l_jacob.detach()


def free_energy_numpy(v, W, hbias, vbias):
    """``F(v) = -v.vbias - sum_j softplus(hbias_j + (v W)_j)`` per row, in float64."""
    v, W = numpy.asarray(v, "float64"), numpy.asarray(W, "float64")
    wx_b = v @ W + numpy.asarray(hbias, "float64")
    return -(v @ numpy.asarray(vbias, "float64")) - numpy.logaddexp(0, wx_b).sum(1)


class RBMModel(TorchModel):
    """The RBM (``persistent`` True: PCD-k with ``n_chains`` x n_hidden chains) or a DBN's
    first RBM (CD-k): ``values`` = dltut's ``[W, hbias, vbias]``."""

    def __init__(self, torch, values, learning_rate, k, persistent, batch_size):
        super().__init__(torch, values, learning_rate)
        import torch.nn.functional as F
        self.F, self.k = F, int(k)
        n_visible, n_hidden = self.initial[0].shape
        self.n_visible = n_visible
        self.chain = torch.zeros(batch_size, n_hidden) if persistent else None
        self.bit = torch.zeros((), dtype=torch.long)     # the pseudo-likelihood's bit index
        self.columns = torch.arange(n_visible)

    def reset(self):
        super().reset()
        if self.chain is not None:
            self.chain.zero_()
        self.bit.zero_()

    def free_energy(self, v):
        W, hbias, vbias = self.params
        return -(v @ vbias) - self.F.softplus(self.torch.addmm(hbias, v, W)).sum(1)

    def pseudo_likelihood(self, xb):
        """The tutorial's PCD monitoring cost, with bit ``self.bit`` of every example."""
        torch = self.torch
        xi = torch.round(xb)
        # xi with column `bit` complemented (a mask rather than an indexed assignment, which
        # torch.compile would break its graph at)
        flip = self.columns == self.bit
        xi_flip = torch.where(flip, 1 - xi, xi)
        return (self.n_visible * self.F.logsigmoid(
            self.free_energy(xi_flip) - self.free_energy(xi))).mean()

    def step(self, xb, yb=None):
        torch = self.torch
        W, hbias, vbias = self.params
        with torch.no_grad():
            ph_mean = torch.sigmoid(torch.addmm(hbias, xb, W))
            h = torch.bernoulli(ph_mean)           # the positive phase's sample (CD starts here)
            if self.chain is not None:
                h = self.chain
            for _ in range(self.k):                # h -> v -> h
                nv_pre = torch.addmm(vbias, h, W.t())
                v = torch.bernoulli(torch.sigmoid(nv_pre))
                h = torch.bernoulli(torch.sigmoid(torch.addmm(hbias, v, W)))
            if self.chain is not None:
                monitoring = self.pseudo_likelihood(xb)
                self.chain.copy_(h)
                self.bit.add_(1).remainder_(self.n_visible)
            else:   # reconstruction cross-entropy (a log-likelihood: higher is better)
                F = self.F
                monitoring = (xb * F.logsigmoid(nv_pre) + (1 - xb) * F.logsigmoid(-nv_pre)
                              ).sum(1).mean()
        cost = self.free_energy(xb).mean() - self.free_energy(v).mean()
        self.update(cost)
        return monitoring

