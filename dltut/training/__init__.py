"""Training: the settings (:mod:`~dltut.training.config`), the compiled functions
(:mod:`~dltut.training.functions`), early stopping and learning-rate schedules
(:mod:`~dltut.training.stopping`), the one loop shell (:mod:`~dltut.training.loop`) and the
loops built on it: :class:`Trainer` (:mod:`~dltut.training.trainer`), :class:`Pretrainer`
(:mod:`~dltut.training.pretrainer`), :class:`CGOptimizer` (:mod:`~dltut.training.cg`) and
:class:`SequenceTrainer` (:mod:`~dltut.training.sequences`, the LSTM's).
The update rules are the models' own leaf :mod:`dltut.updates` (re-exported here).

``dltut.train``, the one module all of this was before issue 24, still imports (with a
DeprecationWarning, for one release) as this package, with the same public names.
"""
from ..updates import make_velocities, momentum_updates, sgd_updates, updated_shared_variables
from .cg import CG_STOP_REASONS, CGOptimizer, CGState
from .config import CONFIG_RULES, SCHEDULES, TrainConfig
from .functions import (Compiled, FastStep, check_labels_fit, compile_functions, evaluate,
                        fast_step, label_values, n_classes_of, shared_length, sum_of_squares,
                        supports_fast_step)
from .loop import (CHECKPOINT_SECONDS, CheckpointedLoop, Closing, InterruptFlag, Progress,
                   StopReason, checked, checked_state)
from .pretrainer import (PRETRAIN_STOP_REASONS, PretrainLayer, PretrainResult, PretrainState,
                         Pretrainer)
from .sequences import SEQUENCE_STOP_REASONS, SequenceResult, SequenceState, SequenceTrainer
from .stopping import ConstantRate, InverseDecay, Patience, PlateauHalving, make_schedule
from .trainer import STOP_REASONS, TrainResult, TrainState, Trainer, train

__all__ = ["SCHEDULES", "CONFIG_RULES", "TrainConfig", "sgd_updates", "momentum_updates",
           "make_velocities", "Compiled", "shared_length", "sum_of_squares", "n_classes_of",
           "label_values", "check_labels_fit", "compile_functions", "evaluate", "FastStep",
           "supports_fast_step", "fast_step",
           "Patience", "ConstantRate", "InverseDecay", "PlateauHalving", "make_schedule",
           "STOP_REASONS", "CHECKPOINT_SECONDS", "StopReason", "checked", "checked_state",
           "InterruptFlag", "Progress", "Closing", "CheckpointedLoop",
           "TrainResult", "TrainState", "Trainer", "train",
           "PRETRAIN_STOP_REASONS", "updated_shared_variables", "PretrainLayer",
           "PretrainState", "PretrainResult", "Pretrainer",
           "CG_STOP_REASONS", "CGState", "CGOptimizer",
           "SEQUENCE_STOP_REASONS", "SequenceState", "SequenceResult", "SequenceTrainer"]
