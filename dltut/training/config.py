"""The settings of a training run (:class:`TrainConfig`), each checked as the command line's
flags check them (:mod:`dltut.checks`)."""
import dataclasses
from dataclasses import dataclass

from .. import checks

__all__ = ["SCHEDULES", "TrainConfig", "CONFIG_RULES"]

SCHEDULES = ("constant", "inverse", "plateau")


# --------------------------------------------------------------------------- configuration
@dataclass(frozen=True)
class TrainConfig:
    """Hyperparameters of a training run.  The defaults are the tutorial's logistic regression."""

    learning_rate: float = 0.13        # eta0: the starting step size
    batch_size: int = 600              # examples per minibatch: 1 = online SGD, n_train = full GD
    n_epochs: int = 1000               # upper bound on passes over the training set
    L1_reg: float = 0.0                # weight of sum(|W|) in the cost (weights only, not biases)
    L2_reg: float = 0.0                # weight of sum(W**2) in the cost
    momentum: float = 0.0              # classical momentum; 0 = the tutorial's plain SGD
    patience: int = 5000               # look at this many minibatches regardless
    patience_increase: float = 2       # on a significant new best: patience = max(patience, iteration * this)
    improvement_threshold: float = 0.995  # "significant" = below best * this
    validation_frequency: int = 0      # minibatches between validations; 0 = min(n_train_batches, patience // 2)
    schedule: str = "constant"         # "constant", "inverse" (eta0 / (1 + decay * epoch)) or "plateau"
    decay: float = 0.001               # d of the "inverse" schedule
    plateau_n: int = 10                # "plateau": validations without a new best before the rate is cut
    plateau_factor: float = 2.0        # "plateau": divide the rate by this (2 halves it; 10 is common too)
    min_lr_fraction: float = 1.0 / 1024  # "plateau": stop once the rate would fall below eta0 * this

    def __post_init__(self):
        for item in dataclasses.fields(self):
            rule = CONFIG_RULES[item.name]
            try:
                rule(getattr(self, item.name), item.name)
            except (TypeError, ValueError) as error:
                raise type(error)("invalid training setting: %s" % error) from None

    def to_dict(self):
        return dataclasses.asdict(self)


#: The check of each TrainConfig field (dltut.checks's, as the command line's flags use them).
CONFIG_RULES = {
    "learning_rate": checks.positive_float, "batch_size": checks.positive_int,
    "n_epochs": checks.positive_int, "L1_reg": checks.non_negative_float,
    "L2_reg": checks.non_negative_float,
    "momentum": checks.Rule("momentum", False, lambda v: 0 <= v < 1, "in [0, 1)",
                            "give e.g. 0.9 (0: the tutorial's plain SGD)"),
    "patience": checks.positive_int, "patience_increase": checks.finite_float,
    "improvement_threshold": checks.finite_float,
    "validation_frequency": checks.non_negative_int,
    "schedule": lambda value, name: checks.one_of(value, name, SCHEDULES),
    "decay": checks.non_negative_float, "plateau_n": checks.positive_int,
    "plateau_factor": checks.Rule("plateau_factor", False, lambda v: v > 1, "> 1",
                                  "give e.g. 2 (halve the rate) or 10"),
    "min_lr_fraction": checks.Rule("min_lr_fraction", False, lambda v: 0 < v <= 1,
                                   "in (0, 1]", "give e.g. 0.001 (1/1024 by default)"),
}

