"""The checks of the values a user gives dltut: the library's and the command line's, once.

Each kind of value (a positive integer, a finite number > 0, a seed, a level in [0, 1], a
shape, a random generator, class labels) has one function here.  It takes the value and
the name it was given under, returns it converted (an ``int`` for a whole number), or
raises :class:`TypeError` (not that kind of thing) or :class:`ValueError` (outside what is
allowed) in one line that names the argument, the value, what is allowed and what to do::

    n_in must be a positive integer, got 0; give a whole number of at least 1

The layers, models and loops call them on their arguments; the command line's flag types
(:func:`flag_type`, e.g. ``dltut.cli.common.positive_int``) call the same functions on the
number a flag's text reads as, and argparse puts the flag in front of the same message
(``argument --batch-size: must be a positive integer, got 0; give a whole number of at
least 1``).  This module imports numpy only, so that the parsers stay quick.
"""
import argparse
import math
import numbers

import numpy

__all__ = ["shown_value", "Rule", "finite_float", "positive_float", "non_negative_float",
           "positive_int", "non_negative_int", "SEED_LIMIT", "seed_int", "unit_level",
           "NUMBER_FIX", "number_from_text", "flag_type", "positive_ints", "shape", "random_state",
           "one_of", "labels", "finite_inputs"]


def shown_value(value):
    """``repr(value)``, a numpy scalar as the Python number it holds (numpy 2 writes
    ``np.float64(0.5)`` where numpy 1 wrote ``0.5``: messages read the same on both)."""
    return repr(value.item() if isinstance(value, numpy.generic) else value)


class Rule:
    """What a number must be: ``integer`` or not, ``ok(value)``, described as ``allowed``
    ("> 0"), with ``fix`` saying what to give instead."""

    def __init__(self, name, integer, ok, allowed, fix):
        self.name, self.integer, self.ok = name, integer, ok
        self.allowed, self.fix = allowed, fix

    def message(self, name, problem, shown):
        """``"<name> must be <problem>, got <shown>; <fix>"`` (no name: "must be ...")."""
        return "%smust be %s, got %s; %s" % ("%s " % name if name else "", problem, shown,
                                              self.fix)

    def __call__(self, value, name, shown=None):
        """``value`` checked (and an int if ``integer``); TypeError/ValueError otherwise.
        ``shown`` is how the message writes the value (default ``repr(value)``)."""
        shown = shown_value(value) if shown is None else shown
        if isinstance(value, (bool, numpy.bool_)) or not isinstance(value, numbers.Real):
            kind = self.allowed if self.allowed.startswith("a ") else (
                "a whole number" if self.integer else "a number")
            raise TypeError(self.message(name, kind, "%s (%s)" % (shown, type(value).__name__)))
        if not math.isfinite(value):
            raise ValueError(self.message(name, "a finite number", shown))
        if self.integer:
            if value != int(value):
                raise ValueError(self.message(name, self.allowed if self.allowed.startswith(
                    "a ") else "a whole number", shown))
            value = int(value)
        if not self.ok(value):
            raise ValueError(self.message(name, self.allowed, shown))
        return value

    def __repr__(self):
        return "<check %s>" % self.name


# The kinds of number dltut takes, by name (the flag types of the same name use them).
finite_float = Rule("finite_float", False, lambda v: True, "a finite number",
                    "give an ordinary number (not nan or inf)")
positive_float = Rule("positive_float", False, lambda v: v > 0, "> 0",
                      "give a positive number, e.g. 0.1")
non_negative_float = Rule("non_negative_float", False, lambda v: v >= 0, ">= 0",
                          "give 0 or a positive number")
positive_int = Rule("positive_int", True, lambda v: v >= 1, "a positive integer",
                    "give a whole number of at least 1")
non_negative_int = Rule("non_negative_int", True, lambda v: v >= 0, ">= 0",
                        "give 0 or a positive whole number")
SEED_LIMIT = 2 ** 32
seed_int = Rule("seed_int", True, lambda v: 0 <= v < SEED_LIMIT,
                "in 0..%d (numpy's RandomState)" % (SEED_LIMIT - 1),
                "give a whole number in that range, e.g. 1234")
unit_level = Rule("level", False, lambda v: 0 <= v <= 1, "in [0, 1]",
                  "give a fraction between 0 and 1, e.g. 0.3")

#: How a number is written on the command line, and what to do when it is not.
NUMBER_FIX = "write a number such as 0.1, 20 or 1e-3"


def number_from_text(text, integer=False):
    """The number a flag's ``text`` reads as ("1e6" is a fine way to write a million; "nan"
    and "inf" are left to the rule to refuse); ValueError (naming the text and how to write
    one) if it reads as none, or (``integer``) as a fraction."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise ValueError("must be a number, got %r; %s" % (text, NUMBER_FIX)) from None
    if not math.isfinite(value):
        return value  # the rule says what it allows instead
    if integer and value != int(value):
        raise ValueError("must be a whole number, got %s; give one without a fraction, "
                         "e.g. %d" % (text, max(1, round(value))))
    return int(value) if integer else value


def flag_type(rule, name=None):
    """An argparse ``type`` that reads a number from the flag's text and checks it with
    ``rule`` (a :class:`Rule` or any ``rule(value, name, shown)``); the message is the
    rule's, without a name (argparse names the flag)."""
    integer = getattr(rule, "integer", False)

    def check(text):
        try:
            return rule(number_from_text(text, integer), None, shown=text)
        except (TypeError, ValueError) as error:
            raise argparse.ArgumentTypeError(str(error)) from None
    check.__name__ = name or getattr(rule, "name", "number")
    check.rule = rule
    return check


# --------------------------------------------------------------------------- not numbers
def positive_ints(value, name, count=None):
    """``value`` (one int, or a sequence of ``count`` or, without ``count``, one or more
    ints) as a tuple of positive ints; TypeError/ValueError naming ``name``."""
    items = [value]
    if not (numpy.isscalar(value) or value is None):
        try:
            items = list(value)  # a list, a tuple, an array, a range, ...
        except TypeError:
            pass
    if not items or (count is not None and len(items) != count):
        wanted = "%d positive integers" % count if count else "one or more positive integers"
        raise ValueError("%s must be %s, got %r; give %s" % (name, wanted, value, wanted))
    return tuple(positive_int(item, "entry %d of %s=%r" % (i, name, value)
                              if len(items) > 1 else name)
                 for i, item in enumerate(items))


def shape(value, name, length, first_may_be_none=False):
    """A shape: a tuple of ``length`` positive ints (the first may be None, e.g. an unknown
    batch size, when ``first_may_be_none``)."""
    try:
        items = tuple(value)
    except TypeError:
        raise TypeError("%s must be a tuple of %d positive integers, got %r; give %d "
                        "positive integers" % (name, length, value, length)) from None
    if len(items) != length:
        raise ValueError("%s must have %d entries, got %r; give %d positive integers"
                         % (name, length, value, length))
    checked = []
    for i, item in enumerate(items):
        if i == 0 and first_may_be_none and item is None:
            checked.append(None)
            continue
        checked.append(positive_int(item, "entry %d of %s=%r" % (i, name, value)))
    return tuple(checked)


def random_state(rng, name="rng"):
    """``rng`` if it is a ``numpy.random.RandomState`` (what the tutorial's classes draw
    their weights from); TypeError otherwise."""
    if not isinstance(rng, numpy.random.RandomState):
        raise TypeError("%s must be a numpy.random.RandomState, got %r; pass e.g. "
                        "numpy.random.RandomState(1234)" % (name, rng))
    return rng


def one_of(value, name, choices):
    """``value`` if it is one of ``choices``; ValueError naming them otherwise."""
    if value not in choices:
        raise ValueError("%s must be one of %s, got %r; choose one of them"
                         % (name, ", ".join(map(str, choices)), value))
    return value


def labels(y, where, n_classes=None, too_high="relabel the data"):
    """Class labels: ``y`` as a 1-D integer array whose values lie in ``[0, n_classes)``
    (any value >= 0 without ``n_classes``).  Floats holding whole numbers are converted to
    int64; ``where`` starts every message ("train split of mnist.pkl.gz: ...") and
    ``too_high`` says what to do about a label of ``n_classes`` or more."""
    y = numpy.asarray(y)
    if y.dtype.kind == "f":
        bad = ~numpy.isfinite(y) | (y != numpy.round(y))
        if bad.any():
            raise ValueError("%s: y has dtype %s with non-integer values (e.g. %r at index "
                             "%d); labels must be whole class numbers 0, 1, 2, ..."
                             % (where, y.dtype, y[bad][0].item(), numpy.flatnonzero(bad)[0]))
        y = y.astype(numpy.int64)
    elif y.dtype.kind not in "iu":
        raise ValueError("%s: y has dtype %s; labels must be whole class numbers 0, 1, 2, ..."
                         % (where, y.dtype))
    if y.size:
        low, high = int(y.min()), int(y.max())
        if low < 0 or (n_classes is not None and high >= n_classes):
            expected = ("0 to %d (%d classes)" % (n_classes - 1, n_classes)
                        if n_classes is not None else "0 or more")
            fix = ("labels must be class numbers from 0; relabel the data"
                   if low < 0 or n_classes is None else
                   too_high % {"needed": high + 1})
            raise ValueError("%s: labels span [%d, %d]; expected %s: %s"
                             % (where, low, high, expected, fix))
    return y


def finite_inputs(x, where):
    """ValueError (naming ``where``) unless every value of the array ``x`` is finite."""
    x = numpy.asarray(x)
    if x.size and x.dtype.kind in "fc" and not (numpy.isfinite(x.min())
                                                and numpy.isfinite(x.max())):
        bad = numpy.argwhere(~numpy.isfinite(x))[0]
        raise ValueError("%s: x contains NaN or infinite values (e.g. %r at %s); remove or "
                         "replace those examples" % (where, x[tuple(bad)].item(),
                                                    tuple(int(i) for i in bad)))
    return x
