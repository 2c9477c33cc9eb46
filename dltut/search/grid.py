"""The search's dimensions and their narrowing: the settings a search varies, the values of
its first round, and the values of each later one.

* **Dimensions** (:func:`parse_log_grid`, :func:`parse_grid`, :data:`PRESETS`): a setting of
  the experiment, named by its flag (``learning-rate``) or its field (``learning_rate``),
  with the values of the first round.  A ``--log-grid`` narrows in later rounds; a
  ``--grid`` is a list of choices, held at its best value once narrowing starts.
* **Narrowing** (:func:`narrow`): after each round, each log dimension gets ``N`` new
  log-spaced values between the neighbours of the best point among the values tried so far
  (only on the inside at the edge of the range).  A point already tried is not run again.
* **Points** (:func:`point_name`, :func:`point_argv`): a point of the grids as its trial
  folder's name and as the experiment's flags.
"""
import argparse
import math

from ..cli.common import CLIError
from ..cli.supervised import SESSION_FLAGS

__all__ = ["SIGNIFICANT_DIGITS", "NOT_SEARCHABLE", "PRESETS", "PRESET_ALIASES", "Dimension",
           "scalar_text", "round_significant", "searchable", "parse_grid", "log_values",
           "parse_log_grid", "preset_spec", "narrow", "next_round", "at_edge", "point_name",
           "point_argv"]

#: Significant digits kept of each value a log grid makes (1e-2 * 10**(1/3) -> 0.0215).
SIGNIFICANT_DIGITS = 3
#: Flags that are not settings of the model or its training.
NOT_SEARCHABLE = set(SESSION_FLAGS) | {"help", "save_every", "checkpoint_every", "dataset"}

#: The tutorial's advice as ready dimensions: ``--preset NAME``.
PRESETS = {
    # "try several log-spaced values (10^-1, 10^-2, ...) and narrow the grid"
    "learning-rate": "learning_rate=1e-4:1e-1:4",
    # "typical values to try for the L1/L2 regularization parameter are 10^-2, 10^-3, ..."
    "regularisation": "L2_reg=1e-5:1e-2:4",
    # "a typical number of hidden units vs. generalization performance graph is U-shaped"
    "hidden-units": "n_hidden=25:1600:7",
}
PRESET_ALIASES = {"regularization": "regularisation", "l2": "regularisation",
                  "lr": "learning-rate", "n-hidden": "hidden-units"}

_INTEGER_TYPES = ("positive_int", "non_negative_int", "seed_int")
_FLOAT_TYPES = ("positive_float", "non_negative_float", "finite_float")


# =========================================================================== dimensions
class Dimension:
    """One searched setting: its parser action and the values of the first round.

    Attributes
    ----------
    name : str, the setting's field name (``learning_rate``), as in ``config.json``
    flag : str, its flag (``--learning-rate``)
    values : tuple, the first round's values (floats, ints, strings; tuples of them for a
        setting that takes several values, such as ``n_hidden``)
    log : bool, whether it narrows (a ``--log-grid``)
    spec : str, as given (``learning-rate=1e-4:1e-1:4``), for messages
    """

    def __init__(self, action, values, log, spec):
        self.action, self.values, self.log, self.spec = action, tuple(values), log, spec
        self.name = action.dest
        self.flag = action.option_strings[-1]
        self.multi = action.nargs == "+"
        self.kind = _kind(action)

    def text(self, value):
        """The value as it appears in folder names, tables and command lines."""
        if self.multi:
            return "x".join(scalar_text(v) for v in value)
        return scalar_text(value)

    def argv(self, value):
        items = value if self.multi else (value,)
        return [self.flag] + [scalar_text(v) for v in items]

    def number(self, value):
        """The value as one positive number (for log axes and narrowing), or None."""
        if self.multi:
            if len(value) != 1:
                return None
            value = value[0]
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
            return float(value)
        return None

    def as_json(self):
        return {"name": self.name, "flag": self.flag, "log": self.log, "spec": self.spec,
                "values": [list(v) if self.multi else v for v in self.values]}

    def from_json(self, value):
        return tuple(value) if self.multi else value

    def __repr__(self):
        return "Dimension(%s, %s)" % (self.spec, [self.text(v) for v in self.values])


def _kind(action):
    name = getattr(action.type, "__name__", "")
    if name in _INTEGER_TYPES:
        return "int"
    if name in _FLOAT_TYPES:
        return "float"
    return "text"


def scalar_text(value):
    if isinstance(value, float):
        return "%.12g" % value
    return str(value)


def round_significant(value, digits=SIGNIFICANT_DIGITS):
    """``value`` rounded to ``digits`` significant digits (0.0046415888 -> 0.00464)."""
    if value == 0 or not math.isfinite(value):
        return value
    return float("%.*g" % (digits, value))


def _normalise(name):
    return name.strip().lstrip("-").replace("-", "_").lower()


def searchable(parser):
    """``{normalised name: action}`` of the settings of ``parser`` a search may vary; each
    is there under its field name and its flag name (``l2_reg`` for ``L2_reg`` and
    ``--L2-reg``)."""
    found = {}
    for action in parser._actions:
        if not action.option_strings or action.dest in NOT_SEARCHABLE or action.nargs == 0:
            continue
        found[_normalise(action.dest)] = action
        for option in action.option_strings:
            found[_normalise(option)] = action
    return found


def _lookup(parser, name, origin):
    action = searchable(parser).get(_normalise(name))
    if action is None:
        names = sorted({a.option_strings[-1].lstrip("-") for a in searchable(parser).values()},
                       key=str.lower)
        raise CLIError("%s: %s has no setting %r; a search can vary: %s"
                       % (origin, parser.prog, name.strip(), ", ".join(names)))
    return action


def _split_spec(text, origin, shape):
    name, sep, rest = text.partition("=")
    if not sep or not name.strip() or not rest.strip():
        raise CLIError("%s %s: expected %s" % (origin, text, shape))
    return name.strip(), rest.strip()


def _convert(action, text, origin):
    """One value of ``action`` from text, checked as its flag checks it."""
    text = text.strip()
    try:
        value = action.type(text) if action.type is not None else text
    except argparse.ArgumentTypeError as error:
        raise CLIError("%s: %s %s (see %s --help)" % (origin, action.option_strings[-1], error,
                                                  "the experiment's")) from None
    if action.choices is not None and value not in action.choices:
        raise CLIError("%s: %s must be one of %s, got %r"
                       % (origin, action.option_strings[-1],
                          ", ".join(map(str, action.choices)), text))
    return value


def parse_grid(parser, text, origin="--grid"):
    """A :class:`Dimension` from ``NAME=v1,v2,...`` (values in the order given, repeats
    dropped).  A setting that takes several values writes each as ``20x50``."""
    shape = "NAME=v1,v2,... (e.g. L2-reg=0,1e-4,1e-3)"
    name, rest = _split_spec(text, origin, shape)
    where = "%s %s" % (origin, text)
    action = _lookup(parser, name, where)
    values = []
    for item in rest.split(","):
        if not item.strip():
            raise CLIError("%s: an empty value; expected %s" % (where, shape))
        if action.nargs == "+":
            value = tuple(_convert(action, part, where) for part in item.strip().split("x"))
        else:
            value = _convert(action, item, where)
        if value not in values:
            values.append(value)
    return Dimension(action, values, log=False, spec=text)


def log_values(lo, hi, n, integer=False):
    """``n`` log-spaced values from ``lo`` to ``hi`` inclusive (one value: their geometric
    mean), rounded to :data:`SIGNIFICANT_DIGITS` significant digits (to whole numbers for
    an integer setting), repeats dropped."""
    if n == 1:
        points = [math.sqrt(lo * hi)]
    else:
        points = [lo * (hi / lo) ** (k / (n - 1)) for k in range(n)]
    return _rounded(points, integer)


def _rounded(points, integer):
    values = []
    for point in points:
        value = int(round(point)) if integer else round_significant(point)
        if integer:
            value = max(value, 1)
        if value not in values:
            values.append(value)
    return values


def parse_log_grid(parser, text, origin="--log-grid"):
    """A narrowing :class:`Dimension` from ``NAME=LO:HI:N``: ``N`` log-spaced values from
    ``LO`` to ``HI``; CLIError (one line) for an unknown name, a non-number, ``LO <= 0``,
    ``LO >= HI`` or ``N < 1``."""
    shape = "NAME=LO:HI:N (e.g. learning-rate=1e-4:1e-1:4)"
    name, rest = _split_spec(text, origin, shape)
    where = "%s %s" % (origin, text)
    action = _lookup(parser, name, where)
    kind = _kind(action)
    if kind == "text":
        raise CLIError("%s: %s is not a number; list its values with --grid %s=%s"
                       % (where, action.option_strings[-1], name,
                          ",".join(map(str, action.choices or ("a", "b")))))
    parts = rest.split(":")
    if len(parts) != 3:
        raise CLIError("%s: expected %s" % (where, shape))
    bounds = []
    for label, part in zip(("LO", "HI"), parts[:2]):
        try:
            value = float(part)
        except ValueError:
            raise CLIError("%s: %s must be a number, got %r" % (where, label, part)) from None
        if not math.isfinite(value):
            raise CLIError("%s: %s must be a finite number, got %s" % (where, label, part))
        bounds.append(value)
    lo, hi = bounds
    try:
        n = float(parts[2])
    except ValueError:
        raise CLIError("%s: N must be a whole number, got %r" % (where, parts[2])) from None
    if not math.isfinite(n) or n != int(n):
        raise CLIError("%s: N must be a whole number, got %r" % (where, parts[2]))
    n = int(n)
    if n < 1:
        raise CLIError("%s: N must be at least 1, got %d" % (where, n))
    if lo <= 0:
        raise CLIError("%s: a log grid needs LO > 0, got %s (list 0 with --grid instead)"
                       % (where, parts[0]))
    if lo >= hi:
        raise CLIError("%s: LO must be smaller than HI, got %s >= %s" % (where, parts[0],
                                                                          parts[1]))
    values = log_values(lo, hi, n, integer=kind == "int")
    checked = []
    for value in values:
        value = _convert(action, scalar_text(value), where)
        checked.append((value,) if action.nargs == "+" else value)
    return Dimension(action, checked, log=True, spec=text)


def preset_spec(name):
    """The ``--log-grid`` text of preset ``name``; CLIError for an unknown one."""
    key = PRESET_ALIASES.get(name.strip().lower(), name.strip().lower())
    if key not in PRESETS:
        raise CLIError("--preset %s: no such preset; choose one of %s"
                       % (name, ", ".join(sorted(PRESETS))))
    return PRESETS[key]


# =========================================================================== narrowing
def narrow(tried, best, n, integer=False):
    """The next round's values of one log dimension.

    Parameters
    ----------
    tried : iterable of positive numbers, every value of this dimension asked for so far
    best : positive number, its value at the best point so far
    n : int, the number of points per round
    integer : bool, round to whole numbers

    Returns
    -------
    list: ``n`` values spaced evenly in log space strictly between the neighbours of
    ``best`` among ``tried`` (the next smaller and the next larger value); at the edge of
    the range, where one neighbour is missing, between ``best`` and the other one.  Values
    rounded like :func:`log_values`; [] when ``best`` has no neighbour at all.
    """
    values = sorted(set(float(v) for v in tried) | {float(best)})
    i = values.index(float(best))
    lo = values[i - 1] if i > 0 else values[i]
    hi = values[i + 1] if i + 1 < len(values) else values[i]
    if lo == hi:
        return []
    points = [lo * (hi / lo) ** (k / (n + 1)) for k in range(1, n + 1)]
    return _rounded(points, integer)


def next_round(dimensions, tried, best):
    """Per dimension, the next round's values: narrowed for a log dimension
    (:func:`narrow`), the best value for a ``--grid`` one.  ``tried[i]`` holds every value of
    dimension ``i`` asked for so far; ``best`` is the best point (a tuple of values)."""
    grids = []
    for i, dim in enumerate(dimensions):
        number = dim.number(best[i])
        if not dim.log or number is None:
            grids.append([best[i]])
            continue
        numbers = [dim.number(v) for v in tried[i]]
        values = narrow([v for v in numbers if v is not None], number, len(dim.values),
                        integer=dim.kind == "int")
        values = [(v,) if dim.multi else v for v in values]
        grids.append(values or [best[i]])
    return grids


def at_edge(dimension, tried, best):
    """True when ``best`` is the smallest or the largest value tried of a log dimension
    (the best value might lie beyond the range searched)."""
    numbers = [dimension.number(v) for v in tried]
    numbers = [v for v in numbers if v is not None]
    value = dimension.number(best)
    return dimension.log and value is not None and len(numbers) > 1 and (
        value <= min(numbers) or value >= max(numbers))


# =========================================================================== trials
def point_name(dimensions, point):
    """The trial folder's name: ``learning_rate=0.01,L2_reg=0.0001``."""
    return ",".join("%s=%s" % (dim.name, dim.text(value)) for dim, value in zip(dimensions,
                                                                                 point))


def point_argv(dimensions, point):
    return [arg for dim, value in zip(dimensions, point) for arg in dim.argv(value)]

