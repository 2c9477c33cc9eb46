"""Choosing the BLAS that Theano links against, before Theano is imported.

(First version: system OpenBLAS when present, else Theano's numpy-based fallback.)
This module must not import numpy or Theano.
"""
import ctypes.util
from dataclasses import dataclass, field


@dataclass(frozen=True)
class BlasChoice:
    ldflags: str           # the value given to Theano's blas.ldflags
    source: str            # "user", "openblas", "fallback", ...
    reason: str            # one sentence for `python -m dltut.info`
    env: dict = field(default_factory=dict)   # environment variables dltut set


def configure_blas(user_ldflags=None):
    """Decide ``blas.ldflags`` (unless the user gave it) and set any BLAS env variables."""
    if user_ldflags is not None:
        return BlasChoice(user_ldflags, "user", "blas.ldflags given by the user")
    if ctypes.util.find_library("openblas"):
        return BlasChoice("-lopenblas", "openblas", "system OpenBLAS found")
    return BlasChoice("", "fallback",
                      "no BLAS library found; Theano uses its slower numpy-based calls")
