"""Run folders: their layout and lock (:mod:`~dltut.runs.rundir`) and the files in them --
parameters, checkpoints and the one atomic write every dltut file goes through
(:mod:`~dltut.runs.checkpoint`)."""
