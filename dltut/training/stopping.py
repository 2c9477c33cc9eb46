"""When training stops and how fast it steps: the tutorial's :class:`Patience` rule and the
learning-rate schedules (:class:`ConstantRate`, :class:`InverseDecay`,
:class:`PlateauHalving`, chosen by :func:`make_schedule`).  Plain Python, each with
``state_dict()``/``load_state()`` so that a resumed run continues exactly.
"""
import numpy

from .loop import checked

__all__ = ["Patience", "ConstantRate", "InverseDecay", "PlateauHalving", "make_schedule"]


# --------------------------------------------------------------------------- early stopping
class Patience:
    """The tutorial's patience rule, in plain Python.

    Training looks at ``patience`` minibatches at least.  When a validation loss is a new
    best and beats the previous best by the ``improvement_threshold`` factor, patience
    grows to ``iteration * patience_increase`` (if that is more).  Training stops once
    ``patience <= iteration``.  Iterations count minibatches from 0, as the tutorial's
    ``iter`` does.
    """

    def __init__(self, patience=5000, patience_increase=2, improvement_threshold=0.995):
        self.patience = patience
        self.patience_increase = patience_increase
        self.improvement_threshold = improvement_threshold
        self.best_loss = numpy.inf
        self.best_iteration = None

    def update(self, iteration, loss):
        """Record a validation ``loss`` seen at ``iteration``; True if it is a new best."""
        if loss < self.best_loss:
            if loss < self.best_loss * self.improvement_threshold:
                self.patience = max(self.patience, iteration * self.patience_increase)
            self.best_loss = loss
            self.best_iteration = iteration
            return True
        return False

    def should_stop(self, iteration):
        return self.patience <= iteration

    def state_dict(self):
        return {"patience": self.patience, "best_loss": self.best_loss,
                "best_iteration": self.best_iteration}

    def load_state(self, state):
        """Restore :meth:`state_dict`'s values (``best_loss`` None means inf, as strict JSON
        writes it); ValueError if one is missing or not a number."""
        patience = checked(state.get("patience"), "patience", "number", 0)
        best_loss = state.get("best_loss")
        best_loss = numpy.inf if best_loss is None else checked(best_loss, "best_loss", "number")
        best_iteration = checked(state.get("best_iteration"), "best_iteration", "int", 0, none=True)
        self.patience, self.best_loss, self.best_iteration = patience, best_loss, best_iteration


# --------------------------------------------------------------------------- schedules
class ConstantRate:
    """The tutorial's schedule: the learning rate never changes."""

    replaces_patience = False

    def __init__(self, eta0):
        self.eta0 = eta0
        self.rate = eta0

    def epoch_start(self, epoch):
        """The rate for epoch ``epoch`` (1-based)."""
        return self.rate

    def after_validation(self, improved):
        """``(rate, stop)`` after a validation; ``improved`` says if it was a new best."""
        return self.rate, False

    def state_dict(self):
        return {"rate": self.rate}

    def load_state(self, state):
        self.rate = checked(state.get("rate"), "rate", "number", 0)


class InverseDecay(ConstantRate):
    """``eta = eta0 / (1 + decay * t)``, t the number of completed epochs (so epoch 1 uses eta0)."""

    def __init__(self, eta0, decay=0.001):
        super().__init__(eta0)
        self.decay = decay

    def epoch_start(self, epoch):
        self.rate = self.eta0 / (1.0 + self.decay * (epoch - 1))
        return self.rate


class PlateauHalving(ConstantRate):
    """"No improvement in n": cut the rate instead of stopping; stop at the floor.

    After ``n`` validations in a row without a new best, the rate is divided by ``factor``
    (2 halves it).  When a cut would take it below ``eta0 * min_fraction`` (eta0/1024 by
    default), training stops instead.  Patience does not stop training under this schedule.
    """

    replaces_patience = True

    def __init__(self, eta0, n=10, factor=2.0, min_fraction=1.0 / 1024):
        super().__init__(eta0)
        self.n, self.factor, self.floor = n, factor, eta0 * min_fraction
        self.since_best = 0

    def after_validation(self, improved):
        if improved:
            self.since_best = 0
            return self.rate, False
        self.since_best += 1
        if self.since_best < self.n:
            return self.rate, False
        self.since_best = 0
        if self.rate / self.factor < self.floor * (1 - 1e-9):
            return self.rate, True
        self.rate = self.rate / self.factor
        return self.rate, False

    def state_dict(self):
        return {"rate": self.rate, "since_best": self.since_best}

    def load_state(self, state):
        rate = checked(state.get("rate"), "rate", "number", 0)
        self.since_best = checked(state.get("since_best"), "since_best", "int", 0)
        self.rate = rate


def make_schedule(config):
    if config.schedule == "inverse":
        return InverseDecay(config.learning_rate, config.decay)
    if config.schedule == "plateau":
        return PlateauHalving(config.learning_rate, config.plateau_n, config.plateau_factor,
                              config.min_lr_fraction)
    return ConstantRate(config.learning_rate)
