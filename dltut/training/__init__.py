"""Training: the compiled functions, SGD updates, early stopping, learning-rate schedules and
the loops (:class:`Trainer`, :class:`Pretrainer`).

For now all of it lives in :mod:`dltut.training.trainer` (formerly ``dltut.train``, which
still imports, with a DeprecationWarning, for one release); this package exports its public
names, so ``from dltut.training import Trainer`` keeps working when the module is split.
"""
from .trainer import (SCHEDULES, TrainConfig, sgd_updates, momentum_updates, make_velocities,
                      Compiled, shared_length, sum_of_squares, compile_functions, evaluate,
                      Patience, ConstantRate, InverseDecay, PlateauHalving, make_schedule,
                      STOP_REASONS, CHECKPOINT_SECONDS, TrainResult, checked_state, TrainState,
                      Trainer, PRETRAIN_STOP_REASONS, updated_shared_variables, PretrainLayer,
                      PretrainState, PretrainResult, Pretrainer, train)

__all__ = ["SCHEDULES", "TrainConfig", "sgd_updates", "momentum_updates", "make_velocities",
           "Compiled", "shared_length", "sum_of_squares", "compile_functions", "evaluate",
           "Patience", "ConstantRate", "InverseDecay", "PlateauHalving", "make_schedule",
           "STOP_REASONS", "CHECKPOINT_SECONDS", "TrainResult", "checked_state", "TrainState",
           "Trainer", "PRETRAIN_STOP_REASONS", "updated_shared_variables", "PretrainLayer",
           "PretrainState", "PretrainResult", "Pretrainer", "train"]
