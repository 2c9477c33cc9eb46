"""Hybrid (Hamiltonian) Monte Carlo, as the tutorial builds it in Theano.

To sample from ``p(x) ~ exp(-E(x))``, HMC pairs each position ``x`` with a velocity ``v`` of
unit mass and simulates the dynamics of the Hamiltonian ``H(x, v) = E(x) + |v|^2 / 2``:
draw ``v ~ N(0, I)``, take ``n_steps`` leapfrog steps of size ``stepsize`` (which nearly
conserve H), and accept the end point with the Metropolis-Hastings probability
``min(1, exp(H_before - H_after))``.  The step size adapts: it grows by ``stepsize_inc``
while the running acceptance rate is above the target and shrinks by ``stepsize_dec``
below it, within ``[stepsize_min, stepsize_max]``.

Many chains run at once: positions are the rows of a shared matrix, and ``energy_fn``
maps such a matrix to a vector of energies (one per row).  The leapfrog steps are a
``theano.scan``; one call of the compiled ``simulate`` function makes one HMC move of every
chain.  :func:`sample_gaussian` is the tutorial's test: sampling a correlated Gaussian.
"""
import numbers

import numpy
import theano
import theano.tensor as T
from theano.sandbox.rng_mrg import MRG_RandomStreams

from .init import floatX

__all__ = ["kinetic_energy", "hamiltonian", "metropolis_hastings_accept", "simulate_dynamics",
           "hmc_move", "hmc_updates", "HMC_sampler", "gaussian_problem", "gaussian_energy_fn",
           "sample_gaussian"]


def kinetic_energy(vel):
    """``|v|^2 / 2`` of each row (unit mass): (n, d) matrix -> (n,) vector."""
    return 0.5 * (vel ** 2).sum(axis=1)


def hamiltonian(pos, vel, energy_fn):
    """``H = energy_fn(pos) + kinetic_energy(vel)``, one value per row: (n, d) -> (n,)."""
    return energy_fn(pos) + kinetic_energy(vel)


def metropolis_hastings_accept(energy_prev, energy_next, s_rng):
    """Accept each proposal with probability ``min(1, exp(energy_prev - energy_next))``.

    ``energy_prev``, ``energy_next`` : (n,) vectors of Hamiltonians.  Returns a boolean (n,)
    vector: ``exp(energy_prev - energy_next) >= u`` with ``u ~ U(0, 1)`` from ``s_rng``.
    """
    ediff = energy_prev - energy_next
    return (T.exp(ediff) - s_rng.uniform(size=energy_prev.shape)) >= 0


def simulate_dynamics(initial_pos, initial_vel, stepsize, n_steps, energy_fn):
    """``(final_pos, final_vel)`` after ``n_steps`` leapfrog steps of Hamiltonian dynamics.

    The leapfrog scheme interleaves half-step velocities with full-step positions:

        v(t + eps/2) = v(t) - eps/2 dE/dx(x(t))
        x(t + eps)   = x(t) + eps v(t + eps/2)
        v(t + 3eps/2) = v(t + eps/2) - eps dE/dx(x(t + eps))     (the scan, n_steps - 1 times)
        ...
        v(t + n eps) = v(t + (n - 1/2) eps) - eps/2 dE/dx(x(t + n eps))

    Parameters
    ----------
    initial_pos, initial_vel : T.matrix, shape (n, d)
    stepsize : scalar (shared or symbolic)
    n_steps : int, >= 1
    energy_fn : callable, (n, d) matrix -> (n,) vector, differentiable
    """
    if isinstance(n_steps, bool) or not isinstance(n_steps, numbers.Integral) or n_steps < 1:
        raise ValueError("n_steps must be an integer >= 1, got %r" % (n_steps,))
    n_steps = int(n_steps)

    def leapfrog(pos, vel, step):
        # pos = x(t), vel = v(t - step/2)  ->  x(t + step), v(t + step/2)
        dE_dpos = T.grad(energy_fn(pos).sum(), pos)
        new_vel = vel - step * dE_dpos
        new_pos = pos + step * new_vel
        return [new_pos, new_vel], {}

    initial_energy = energy_fn(initial_pos)
    dE_dpos = T.grad(initial_energy.sum(), initial_pos)
    vel_half_step = initial_vel - 0.5 * stepsize * dE_dpos      # v(t + eps/2)
    pos_full_step = initial_pos + stepsize * vel_half_step      # x(t + eps)
    if n_steps == 1:   # no full step in between (a scan cannot run zero times)
        final_pos, final_vel = pos_full_step, vel_half_step
    else:
        (all_pos, all_vel), scan_updates = theano.scan(
            leapfrog, outputs_info=[dict(initial=pos_full_step), dict(initial=vel_half_step)],
            non_sequences=[stepsize], n_steps=n_steps - 1, name="leapfrog")
        if scan_updates:
            raise ValueError("energy_fn must not draw random numbers (its scan has updates %s)"
                             % list(scan_updates))
        final_pos = all_pos[-1]
        final_vel = all_vel[-1]
    # the last half step: v(t + (n - 1/2) eps) -> v(t + n eps)
    energy = energy_fn(final_pos)
    final_vel = final_vel - 0.5 * stepsize * T.grad(energy.sum(), final_pos)
    return final_pos, final_vel


def hmc_move(s_rng, positions, energy_fn, stepsize, n_steps):
    """One HMC move of every chain: ``(accept, final_pos)``.

    Draws velocities ``N(0, I)`` from ``s_rng``, simulates ``n_steps`` leapfrog steps from
    ``positions`` (a shared (n, d) matrix) and decides with Metropolis-Hastings which end
    points to accept (``accept``: boolean (n,)).  ``final_pos`` holds every proposal,
    accepted or not.
    """
    initial_vel = s_rng.normal(size=positions.shape)
    final_pos, final_vel = simulate_dynamics(initial_pos=positions, initial_vel=initial_vel,
                                             stepsize=stepsize, n_steps=n_steps,
                                             energy_fn=energy_fn)
    accept = metropolis_hastings_accept(
        energy_prev=hamiltonian(positions, initial_vel, energy_fn),
        energy_next=hamiltonian(final_pos, final_vel, energy_fn), s_rng=s_rng)
    return accept, final_pos


def hmc_updates(positions, stepsize, avg_acceptance_rate, final_pos, accept,
                target_acceptance_rate, stepsize_inc, stepsize_dec, stepsize_min, stepsize_max,
                avg_acceptance_slowness):
    """The updates after a move: ``[(positions, ...), (stepsize, ...), (avg_acceptance_rate, ...)]``.

    * positions: ``final_pos`` where accepted, unchanged elsewhere;
    * stepsize: times ``stepsize_inc`` if the running acceptance rate is above
      ``target_acceptance_rate``, else times ``stepsize_dec``, clipped to
      ``[stepsize_min, stepsize_max]`` (the rate *before* this move decides);
    * avg_acceptance_rate: the exponential moving average
      ``slowness * avg + (1 - slowness) * mean(accept)``.
    """
    # accept: (n,) -> (n, 1, ...) to broadcast over the other axes of the positions
    accept_matrix = accept.dimshuffle(0, *(("x",) * (final_pos.ndim - 1)))
    new_positions = T.switch(accept_matrix, final_pos, positions)
    _new_stepsize = T.switch(avg_acceptance_rate > target_acceptance_rate,
                             stepsize * stepsize_inc, stepsize * stepsize_dec)
    new_stepsize = T.clip(_new_stepsize, stepsize_min, stepsize_max)
    mean_dtype = theano.scalar.upcast(accept.dtype, avg_acceptance_rate.dtype)
    new_acceptance_rate = T.add(
        avg_acceptance_slowness * avg_acceptance_rate,
        (1.0 - avg_acceptance_slowness) * accept.mean(dtype=mean_dtype))
    return [(positions, new_positions), (stepsize, new_stepsize),
            (avg_acceptance_rate, new_acceptance_rate)]


class HMC_sampler:
    """An HMC sampler over the chains in a shared matrix; build it with
    :meth:`new_from_shared_positions`, then call :meth:`draw`.

    Attributes
    ----------
    positions : shared matrix (n_chains, d)
    stepsize, avg_acceptance_rate : shared floatX scalars (adapted by every move)
    stepsize_min, stepsize_max, target_acceptance_rate : float
    s_rng : MRG_RandomStreams
    simulate : compiled function of no arguments making one move
    """

    def __init__(self, positions, stepsize, stepsize_min, stepsize_max, avg_acceptance_rate,
                 target_acceptance_rate, s_rng, updates, simulate):
        self.positions, self.stepsize = positions, stepsize
        self.stepsize_min, self.stepsize_max = stepsize_min, stepsize_max
        self.avg_acceptance_rate = avg_acceptance_rate
        self.target_acceptance_rate = target_acceptance_rate
        self.s_rng, self._updates, self.simulate = s_rng, updates, simulate

    @classmethod
    def new_from_shared_positions(cls, shared_positions, energy_fn, initial_stepsize=0.01,
                                  target_acceptance_rate=.9, n_steps=20, stepsize_dec=0.98,
                                  stepsize_min=0.001, stepsize_max=0.25, stepsize_inc=1.02,
                                  avg_acceptance_slowness=0.9, seed=12345):
        """Build the move, its updates and the compiled ``simulate`` function.

        Parameters
        ----------
        shared_positions : shared matrix (n_chains, d)
            The chains' starting positions; every draw updates it.
        energy_fn : callable, (n, d) matrix -> (n,) vector
            The energy; its sum must be differentiable with respect to the positions.
        initial_stepsize : float
        target_acceptance_rate : float in (0, 1)
            The average acceptance rate starts here and the step size tracks it.
        n_steps : int
            Leapfrog steps per move.
        stepsize_dec, stepsize_inc : float
            Factors by which the step size shrinks (rate too low) or grows (too high).
        stepsize_min, stepsize_max : float
            Bounds of the step size.
        avg_acceptance_slowness : float in [0, 1)
            Weight of the old average in the moving average of the acceptance rate.
        seed : int
            Seed of the sampler's ``MRG_RandomStreams`` (velocities and acceptance draws).
        """
        if not 0 < target_acceptance_rate < 1:
            raise ValueError("target_acceptance_rate must be in (0, 1), got %r"
                             % (target_acceptance_rate,))
        if not 0 < stepsize_min <= stepsize_max:
            raise ValueError("need 0 < stepsize_min <= stepsize_max, got %r and %r"
                             % (stepsize_min, stepsize_max))
        if not 0 <= avg_acceptance_slowness < 1:
            raise ValueError("avg_acceptance_slowness must be in [0, 1), got %r"
                             % (avg_acceptance_slowness,))
        if shared_positions.ndim != 2:
            raise ValueError("shared_positions must be a matrix (n_chains, d), got ndim=%d"
                             % shared_positions.ndim)
        stepsize = theano.shared(floatX(initial_stepsize), name="hmc_stepsize")
        avg_acceptance_rate = theano.shared(floatX(target_acceptance_rate),
                                            name="avg_acceptance_rate")
        s_rng = MRG_RandomStreams(seed)
        accept, final_pos = hmc_move(s_rng, shared_positions, energy_fn, stepsize, n_steps)
        simulate_updates = hmc_updates(
            shared_positions, stepsize, avg_acceptance_rate, final_pos=final_pos, accept=accept,
            stepsize_min=stepsize_min, stepsize_max=stepsize_max, stepsize_inc=stepsize_inc,
            stepsize_dec=stepsize_dec, target_acceptance_rate=target_acceptance_rate,
            avg_acceptance_slowness=avg_acceptance_slowness)
        simulate = theano.function([], [], updates=simulate_updates, name="hmc_simulate")
        return cls(positions=shared_positions, stepsize=stepsize, stepsize_min=stepsize_min,
                   stepsize_max=stepsize_max, avg_acceptance_rate=avg_acceptance_rate,
                   target_acceptance_rate=target_acceptance_rate, s_rng=s_rng,
                   updates=simulate_updates, simulate=simulate)

    def draw(self, **kwargs):
        """Make one HMC move and return a copy of the new positions, (n_chains, d).
        ``kwargs`` go to ``positions.get_value`` (``borrow=False`` is the default)."""
        self.simulate()
        kwargs.setdefault("borrow", False)
        return self.positions.get_value(**kwargs)


# --------------------------------------------------------------------------- the tutorial's example
def gaussian_problem(dim=5, seed=123, batchsize=3):
    """The tutorial's target and start: ``(mu, cov, cov_inv, initial_positions)``.

    From ``RandomState(seed)``: ``mu = 10 * rand(dim)``, ``cov`` = the symmetrised
    ``rand(dim, dim)`` with a unit diagonal, then ``batchsize`` starting positions from
    ``randn`` (in that order), all floatX except ``cov_inv``, computed as numpy's inverse.
    """
    if int(dim) < 1 or int(batchsize) < 1:
        raise ValueError("dim and batchsize must be positive, got %r and %r" % (dim, batchsize))
    rng = numpy.random.RandomState(seed)
    mu = numpy.array(rng.rand(dim) * 10, dtype=theano.config.floatX)
    cov = numpy.array(rng.rand(dim, dim), dtype=theano.config.floatX)
    cov = (cov + cov.T) / 2.
    cov[numpy.arange(dim), numpy.arange(dim)] = 1.0
    cov_inv = numpy.linalg.inv(cov)
    position = rng.randn(batchsize, dim).astype(theano.config.floatX)
    return mu, cov, cov_inv, position


def gaussian_energy_fn(mu, cov_inv):
    """``E(x) = (x - mu) cov_inv (x - mu)' / 2`` per row: the energy of ``N(mu, inv(cov_inv))``."""
    def gaussian_energy(x):
        return 0.5 * (T.dot((x - mu), cov_inv) * (x - mu)).sum(axis=1)
    return gaussian_energy


def sample_gaussian(burnin=1000, n_samples=1000, dim=5, batchsize=3, target_seed=123,
                    on_draw=None, **sampler_kwargs):
    """The tutorial's test: HMC on a correlated ``dim``-D Gaussian.

    Builds :func:`gaussian_problem` (from ``RandomState(target_seed)``) and a sampler
    (``initial_stepsize=1e-3, stepsize_max=0.5`` unless ``sampler_kwargs``, the arguments of
    :meth:`HMC_sampler.new_from_shared_positions`, say otherwise), discards ``burnin``
    draws and keeps ``n_samples``; ``on_draw(sampler, draws_done, draws_in_all)`` is called
    after each draw.

    Returns
    -------
    sampler : HMC_sampler
    samples : ndarray, shape (n_samples * batchsize, dim)
        The kept draws of all chains, chain after chain (the tutorial's
        ``_samples.T.reshape(dim, -1).T``).
    problem : (mu, cov, cov_inv)
    """
    mu, cov, cov_inv, position = gaussian_problem(dim, target_seed, batchsize)
    kwargs = dict(initial_stepsize=1e-3, stepsize_max=0.5)
    kwargs.update(sampler_kwargs)
    sampler = HMC_sampler.new_from_shared_positions(
        theano.shared(position), gaussian_energy_fn(mu, cov_inv), **kwargs)
    for r in range(burnin):
        sampler.draw()
        if on_draw is not None:
            on_draw(sampler, r + 1, burnin + n_samples)
    draws = []
    for r in range(n_samples):
        draws.append(sampler.draw())
        if on_draw is not None:
            on_draw(sampler, burnin + r + 1, burnin + n_samples)
    # (n_samples, batchsize, dim) -> (n_samples * batchsize, dim)
    samples = numpy.asarray(draws).T.reshape(dim, -1).T
    return sampler, samples, (mu, cov, cov_inv)
