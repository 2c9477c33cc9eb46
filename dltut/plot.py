"""Figures: tiled filter images, learning curves, the convolution demo, samples, searches.

Reading images and tiling them into one are :mod:`dltut.plots.images` (re-exported here).

Nothing here imports matplotlib at module import.  Figures that are only saved are drawn on
a bare :class:`matplotlib.figure.Figure` (no pyplot, no backend, no window), so saving a
plot never changes the backend a notebook or an application has chosen.  Only
:func:`pyplot`, used when the caller asks to *show* a figure, loads pyplot, and it picks
the non-interactive Agg backend only when no backend has been chosen yet and there is no
display to show on.
"""
import io
import math
import os
import sys

import numpy

from .plots.images import (  # noqa: F401 -- re-exported: dltut.plot's names before the split
    check_pair, grid_shape, read_image, scale_to_unit_interval, tile_raster_images)

__all__ = ["CURVES_FIGSIZE", "CURVES_DPI", "CONV_DEMO_FIGSIZE", "CONV_DEMO_DPI",
           "MIN_FILTER_PIXELS", "has_display", "pyplot", "new_figure", "filter_rows",
           "save_filters", "TEMPLATES_WIDTH", "TEMPLATES_ROW_INCHES", "TEMPLATES_DPI",
           "TEMPLATES_COLUMNS", "TEMPLATES_PERCENTILE", "draw_class_templates",
           "save_class_templates", "save_learning_curves", "draw_learning_curves",
           "PRETRAINING_KEYS", "save_pretraining_curves", "draw_conv_demo",
           "save_conv_demo_figure", "SAMPLES_TILE_INCHES", "SAMPLES_DPI", "save_samples",
           "save_hmc_figure", "SEARCH_FIGSIZE", "SEARCH_DPI", "save_search_curves",
           "save_hidden_units_curve", "PIANO_ROLL_FIGSIZE", "PIANO_ROLL_DPI",
           "draw_piano_roll", "save_piano_roll", "check_pair", "grid_shape", "read_image",
           "scale_to_unit_interval", "tile_raster_images"]

#: Learning-curve figure size in inches and its resolution: 800 x 600 pixels.
CURVES_FIGSIZE = (8.0, 6.0)
CURVES_DPI = 100

#: Convolution-demo figure size in inches and its resolution: 1200 x 600 pixels.
CONV_DEMO_FIGSIZE = (12.0, 6.0)
CONV_DEMO_DPI = 100

#: ``save_filters`` upscales each filter until its longer side is at least this many pixels.
MIN_FILTER_PIXELS = 40


# ---------------------------------------------------------------------------------------
# matplotlib access


def has_display():
    """True if an interactive window could be opened (an X11/Wayland display, or not Unix)."""
    if sys.platform.startswith(("linux", "freebsd", "openbsd", "netbsd")):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


def pyplot():
    """``matplotlib.pyplot``, choosing the Agg backend only if nothing has chosen one.

    If pyplot is already imported (a notebook, an application) or ``MPLBACKEND`` is set,
    the backend is left exactly as it is.
    """
    import matplotlib

    if ("matplotlib.pyplot" not in sys.modules and not os.environ.get("MPLBACKEND")
            and not has_display()):
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def new_figure(figsize, dpi):
    """A bare Figure with its own Agg canvas: drawing and saving it touches no global state."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, dpi=dpi)
    FigureCanvasAgg(fig)
    return fig


def _save(path, write):
    """Call ``write(binary_file)`` and put what it wrote at ``path`` atomically (the folder is
    created; a link at ``path`` is replaced, not followed); returns ``path`` as a string."""
    from .runs.checkpoint import atomic_write

    buffer = io.BytesIO()
    write(buffer)
    path = os.fspath(path)
    atomic_write(path, buffer.getvalue())
    return path


# ---------------------------------------------------------------------------------------
# filters


def filter_rows(W, image_shape=None, channel=None):
    """First-layer filters of ``W`` as rows of a matrix, and their image shape.

    Parameters
    ----------
    W : ndarray, shape (n_in, n_units) or (n_filters, channels, fh, fw)
        A dense layer's weight matrix (``n_in = h * w``; column ``j`` is unit ``j``'s
        filter), or a convolution layer's filter bank.
    image_shape : (h, w), optional
        For a dense W; by default the square root of ``n_in`` (784 -> 28 x 28).
        For a conv W it must equal (fh, fw) if given.
    channel : int, optional
        For a conv W, the input channel to show; by default the mean over channels
        (which is channel 0 itself for single-channel input such as MNIST).

    Returns
    -------
    rows : ndarray, shape (n_filters, h * w)
    image_shape : (h, w)
    """
    W = numpy.asarray(W)
    if W.ndim == 2:
        n_in, _ = W.shape
        if image_shape is None:
            side = int(round(math.sqrt(n_in)))
            if side * side != n_in:
                raise ValueError("cannot guess the image shape of %d inputs (not a square); "
                                 "pass image_shape" % n_in)
            image_shape = (side, side)
        image_shape = check_pair("image_shape", image_shape, 1)
        if image_shape[0] * image_shape[1] != n_in:
            raise ValueError("W has %d inputs but image_shape %s has %d pixels"
                             % (n_in, image_shape, image_shape[0] * image_shape[1]))
        return W.T, image_shape
    if W.ndim == 4:
        n_filters, n_channels, fh, fw = W.shape
        if image_shape is not None and tuple(image_shape) != (fh, fw):
            raise ValueError("conv filters are %dx%d but image_shape is %s"
                             % (fh, fw, tuple(image_shape)))
        if channel is None:
            maps = W.mean(axis=1)
        else:
            if not 0 <= channel < n_channels:
                raise ValueError("channel %d out of range for %d input channels"
                                 % (channel, n_channels))
            maps = W[:, channel]
        return maps.reshape(n_filters, fh * fw), (fh, fw)
    raise ValueError("W must be (n_in, n_units) or (n_filters, channels, fh, fw), got shape %s"
                     % (W.shape,))


def save_filters(W, path, image_shape=None, tile_shape=None, channel=None, scale=None,
                 spacing=1):
    """Save first-layer filters as one tiled greyscale PNG; return ``path``.

    Each filter is scaled to [0, 1] on its own (see :func:`tile_raster_images`), so the
    picture shows each filter's pattern, not how large its weights are.

    Parameters
    ----------
    W : ndarray, shape (n_in, n_units) or (n_filters, channels, fh, fw)
        See :func:`filter_rows`.  For a logistic regression's W (784, 10) each column is a
        class template.
    path : str or path-like
        Where to write the PNG (its folder is created).
    image_shape : (h, w), optional
        See :func:`filter_rows`.
    tile_shape : (rows, cols), optional
        Default: :func:`grid_shape` of the number of filters.
    channel : int, optional
        See :func:`filter_rows`.
    scale : int, optional
        Integer upscaling factor (nearest neighbour).  Default: the smallest that makes a
        filter's longer side at least :data:`MIN_FILTER_PIXELS` pixels.
    spacing : int
        Blank pixels between filters, before upscaling.

    The PNG is ``scale * (rows * (h + spacing) - spacing)`` pixels high and
    ``scale * (cols * (w + spacing) - spacing)`` wide.
    """
    from PIL import Image

    rows, (h, w) = filter_rows(W, image_shape, channel)
    if tile_shape is None:
        tile_shape = grid_shape(rows.shape[0])
    if scale is None:
        scale = max(1, int(math.ceil(MIN_FILTER_PIXELS / max(h, w))))
    scale = int(scale)
    if scale < 1:
        raise ValueError("scale must be a positive integer, got %r" % scale)
    tiled = tile_raster_images(rows, (h, w), tile_shape, (spacing, spacing))
    image = Image.fromarray(tiled, mode="L")
    if scale > 1:
        image = image.resize((image.width * scale, image.height * scale), Image.NEAREST)
    return _save(path, lambda handle: image.save(handle, format="PNG"))


#: Class-template figure: its width and the height per row of templates in inches (two
#: rows: 11 x 4.5 inches), and its resolution (1100 x 450 pixels for ten classes).
TEMPLATES_WIDTH = 11.0
TEMPLATES_ROW_INCHES = 1.75
TEMPLATES_DPI = 100
#: Templates in a row of the class-template figure.
TEMPLATES_COLUMNS = 5
#: The colour scale of the class templates ends at this percentile of ``|W|`` (a few larger
#: weights would wash the rest out; the colour bar's ends say that some go beyond).
TEMPLATES_PERCENTILE = 99.5


def draw_class_templates(fig, W, title=None, image_shape=None):
    """Draw a logistic regression's class templates, the columns of ``W``, onto ``fig``.

    One image per class ("class 0", "class 1", ...) in rows of :data:`TEMPLATES_COLUMNS`,
    on one diverging colour scale shared by all (blue negative, red positive weights, white
    0, clipped at the :data:`TEMPLATES_PERCENTILE` percentile of ``|W|``) with a colour bar.
    Sets ``fig``'s size (:data:`TEMPLATES_WIDTH` wide, ``TEMPLATES_ROW_INCHES`` a row
    plus a margin) and its layout engine ("constrained"); returns ``fig``.

    Parameters
    ----------
    W : ndarray, shape (n_in, n_classes)
        ``n_in = h * w`` pixels; column ``k`` is class ``k``'s template.
    title : str, optional
        Default: "columns of W: one template per class".
    image_shape : (h, w), optional
        By default the square root of ``n_in`` (see :func:`filter_rows`).
    """
    W = numpy.asarray(W, dtype=numpy.float64)
    if W.ndim != 2:
        raise ValueError("W must be a logistic regression's (n_in, n_classes) matrix, got "
                         "shape %s" % (W.shape,))
    templates, (h, w) = filter_rows(W, image_shape)
    n = templates.shape[0]
    cols = min(n, TEMPLATES_COLUMNS)
    n_rows = int(math.ceil(n / cols))
    fig.set_size_inches(TEMPLATES_WIDTH, 1.0 + TEMPLATES_ROW_INCHES * n_rows)
    fig.set_layout_engine("constrained")
    axes = fig.subplots(n_rows, cols, squeeze=False)
    finite = numpy.abs(W[numpy.isfinite(W)])
    limit = float(numpy.percentile(finite, TEMPLATES_PERCENTILE)) if finite.size else 0.0
    limit = limit or 1.0  # an all-zero W (before training) still gets a scale
    for k, ax in enumerate(axes.flat):
        if k >= n:
            ax.axis("off")
            continue
        image = ax.imshow(templates[k].reshape(h, w), cmap="RdBu_r", vmin=-limit, vmax=limit)
        ax.set_title("class %d" % k)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(image, ax=axes, shrink=0.8, extend="both", label="weight")
    fig.suptitle(title or "columns of W: one template per class")
    return fig


def save_class_templates(W, path, title=None, image_shape=None):
    """Save :func:`draw_class_templates`'s figure as a PNG (1100 x 450 pixels for ten
    classes; its folder is created); return ``path``."""
    fig = new_figure((TEMPLATES_WIDTH, TEMPLATES_ROW_INCHES), TEMPLATES_DPI)
    draw_class_templates(fig, W, title, image_shape)
    return _save(path, lambda handle: fig.savefig(handle, format="png", dpi=TEMPLATES_DPI))


# ---------------------------------------------------------------------------------------
# learning curves


def _whole_number_ticks(axis):
    """Ticks at whole numbers only (epochs, iterations: no tick at 1.5), 1, 2 or 5 times a
    power of ten apart (not 8)."""
    from matplotlib.ticker import MaxNLocator
    axis.set_major_locator(MaxNLocator(integer=True, steps=[1, 2, 5, 10]))


def _percent(value):
    return None if value is None else 100.0 * float(value)


def save_learning_curves(history, path, title=None):
    """Plot validation/test error and training cost from a training history; return ``path``.

    See :func:`draw_learning_curves` for ``history`` and the panels; the PNG is 800 x 600
    pixels and its folder is created.
    """
    fig = new_figure(CURVES_FIGSIZE, CURVES_DPI)
    draw_learning_curves(fig, history, title)
    return _save(path, lambda handle: fig.savefig(handle, format="png", dpi=CURVES_DPI))


def draw_learning_curves(fig, history, title=None):
    """Draw validation/test error and training cost from a training history onto ``fig``.

    Parameters
    ----------
    history : sequence of dict
        One record per validation with keys ``iteration``, ``epoch``, ``learning_rate``,
        ``train_cost`` (may be None), ``validation_error`` (a fraction, 0.0278 = 2.78 %)
        and ``test_error`` (a fraction, or None: it is only measured at a new best).
    title : str, optional

    Returns ``fig``.  The upper panel shows validation error (%) as a line and test error
    (%) as points, the best validation marked; the lower panel shows the training cost.  The x axis is the
    epoch, or the iteration when there is more than one validation per epoch, with ticks at
    whole numbers only.
    """
    records = list(history)
    if not records:
        raise ValueError("history is empty: nothing to plot")
    for i, record in enumerate(records):
        missing = [k for k in ("iteration", "epoch", "validation_error") if k not in record]
        if missing:
            raise ValueError("history record %d lacks %s" % (i, ", ".join(missing)))

    epochs = [r["epoch"] for r in records]
    if all(a < b for a, b in zip(epochs, epochs[1:])):
        x_key, x_label = "epoch", "epoch"
    else:
        x_key, x_label = "iteration", "iteration (minibatches)"
    x = [r[x_key] for r in records]
    valid = [_percent(r["validation_error"]) for r in records]
    tests = [(r[x_key], _percent(r.get("test_error"))) for r in records
             if r.get("test_error") is not None]
    costs = [(r[x_key], float(r["train_cost"])) for r in records
             if r.get("train_cost") is not None]

    ax_err, ax_cost = fig.subplots(2, 1, sharex=True)

    ax_err.plot(x, valid, "-", color="tab:blue", label="validation error")
    if tests:
        ax_err.plot([t[0] for t in tests], [t[1] for t in tests], "o", color="tab:red",
                    markersize=4, label="test error (at new bests)")
    best = min(range(len(records)), key=lambda i: valid[i])
    note = "best validation %.2f%% at %s %s" % (valid[best], x_key, x[best])
    if records[best].get("test_error") is not None:
        note += ", test %.2f%%" % _percent(records[best]["test_error"])
    ax_err.plot([x[best]], [valid[best]], "*", color="black", markersize=10, label=note)
    ax_err.set_ylabel("error (%)")
    ax_err.grid(True, alpha=0.3)
    ax_err.legend(loc="upper right", fontsize="small")

    if costs:
        ax_cost.plot([c[0] for c in costs], [c[1] for c in costs], "-", color="tab:green")
    else:
        ax_cost.text(0.5, 0.5, "no training cost recorded", ha="center", va="center",
                     transform=ax_cost.transAxes)
    ax_cost.set_ylabel("training cost")
    ax_cost.set_xlabel(x_label)
    ax_cost.grid(True, alpha=0.3)
    for ax in (ax_err, ax_cost):
        _whole_number_ticks(ax.xaxis)
    if len(set(x)) == 1:  # one validation so far (a live plot): whole numbers around it
        ax_cost.set_xlim(x[0] - 1, x[0] + 1)

    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


#: Keys of a pre-training record that are bookkeeping, not figures to plot.
PRETRAINING_KEYS = ("layer", "name", "epoch", "iteration", "elapsed")


def save_pretraining_curves(history, path, title=None):
    """Plot each layer's per-epoch figures from a pre-training history; return ``path``.

    Parameters
    ----------
    history : sequence of dict
        One record per epoch of a layer (:class:`dltut.training.Pretrainer`'s): ``layer``
        (index), ``name``, ``epoch`` (1-based) and the epoch's figures, e.g. ``cost`` (the
        mean reconstruction cost) or ``reconstruction_cost`` and ``jacobian_norm``.
    path : str or path-like
        Where to write the PNG (800 x 600 pixels; its folder is created).
    title : str, optional

    One panel per figure, one line per layer, against the epoch.
    """
    records = list(history)
    if not records:
        raise ValueError("history is empty: nothing to plot")
    for i, record in enumerate(records):
        missing = [k for k in ("layer", "epoch") if k not in record]
        if missing:
            raise ValueError("pre-training record %d lacks %s" % (i, ", ".join(missing)))
    keys = []
    for record in records:
        for key, value in record.items():
            if key not in PRETRAINING_KEYS and key not in keys and isinstance(value, (int, float)):
                keys.append(key)
    if not keys:
        raise ValueError("the pre-training records hold no figures to plot")
    layers = []
    for record in records:
        if record["layer"] not in [layer for layer, _ in layers]:
            layers.append((record["layer"], record.get("name") or "layer %s" % record["layer"]))

    fig = new_figure(CURVES_FIGSIZE, CURVES_DPI)
    axes = fig.subplots(len(keys), 1, sharex=True, squeeze=False)[:, 0]
    for ax, key in zip(axes, keys):
        for layer, name in layers:
            points = [(r["epoch"], float(r[key])) for r in records
                      if r["layer"] == layer and isinstance(r.get(key), (int, float))]
            if points:
                ax.plot([p[0] for p in points], [p[1] for p in points], "o-", markersize=3,
                        label=name)
        ax.set_ylabel("%s\n(epoch mean)" % key.replace("_", " "))
        ax.grid(True, alpha=0.3)
        ax.legend(loc="upper right", fontsize="small")
    axes[-1].set_xlabel("epoch (of each layer)")
    _whole_number_ticks(axes[-1].xaxis)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return _save(path, lambda handle: fig.savefig(handle, format="png", dpi=CURVES_DPI))


# ---------------------------------------------------------------------------------------
# convolution demo


def _feature_maps(maps, name):
    """(1, k, h, w) or (k, h, w) -> (k, h, w)."""
    maps = numpy.asarray(maps)
    if maps.ndim == 4:
        if maps.shape[0] != 1:
            raise ValueError("%s holds a batch of %d images; expected 1" % (name, maps.shape[0]))
        maps = maps[0]
    if maps.ndim != 3 or maps.shape[0] < 2:
        raise ValueError("%s must be (1, k, h, w) or (k, h, w) with k >= 2, got shape %s"
                         % (name, maps.shape))
    return maps


def draw_conv_demo(fig, img, filtered, pooled):
    """Draw the tutorial's 2x3 convolution demo onto matplotlib figure ``fig``.

    Row 1: the input image, feature maps 0 and 1 after convolution (+ bias, sigmoid).
    Row 2: the input image, feature maps 0 and 1 after 2x2 max pooling (+ bias, sigmoid).

    Parameters
    ----------
    img : ndarray, shape (h, w, 3), values in [0, 1]
    filtered : ndarray, shape (1, 2, h', w') or (2, h', w')
    pooled : ndarray, shape (1, 2, h'', w'') or (2, h'', w'')
    """
    img = numpy.asarray(img)
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError("img must be (h, w, 3), got shape %s" % (img.shape,))
    filtered = _feature_maps(filtered, "filtered")
    pooled = _feature_maps(pooled, "pooled")
    img = numpy.clip(img.astype(numpy.float64), 0.0, 1.0)

    axes = fig.subplots(2, 3)
    for row, (maps, stage) in enumerate([(filtered, "convolution"), (pooled, "2x2 max pool")]):
        axes[row, 0].imshow(img)
        axes[row, 0].set_title("input %dx%d" % img.shape[:2], fontsize="small")
        for k in range(2):
            axes[row, k + 1].imshow(maps[k], cmap="gray")
            axes[row, k + 1].set_title("%s, map %d, %dx%d" % ((stage, k) + maps[k].shape),
                                       fontsize="small")
    for ax in axes.flat:
        ax.axis("off")
    return fig


def save_conv_demo_figure(img, filtered, pooled, path):
    """Save the 2x3 convolution demo figure (see :func:`draw_conv_demo`); return ``path``.

    The PNG is 1200 x 600 pixels; its folder is created.
    """
    fig = new_figure(CONV_DEMO_FIGSIZE, CONV_DEMO_DPI)
    draw_conv_demo(fig, img, filtered, pooled)
    fig.tight_layout()
    return _save(path, lambda handle: fig.savefig(handle, format="png", dpi=CONV_DEMO_DPI))


# ---------------------------------------------------------------------------------------
# sampling: an RBM's Gibbs chains, HMC on a Gaussian

#: Samples figure: inches per tile (a 28 x 28 image) and resolution.
SAMPLES_TILE_INCHES = 0.6
SAMPLES_DPI = 100


def save_samples(rows, path, img_shape=(28, 28), steps_between=None, title=None):
    """The tutorial's samples figure: the chains side by side, one row per sampling step.

    Parameters
    ----------
    rows : sequence of ndarray, each (n_chains, h * w)
        What the chains show after each sampling step (the tutorial plots the visible
        units' probabilities); each image is scaled to [0, 1] on its own, as the tutorial's
        :func:`tile_raster_images` call does.
    path : str or path-like
        Where to write the PNG (its folder is created).
    img_shape : (h, w)
    steps_between : int, optional
        Gibbs steps between two rows; labels the rows with the step count.
    title : str, optional

    The image is the tutorial's layout (1-pixel black lines between tiles), with chains
    numbered along the x axis and the sampling step along the y axis.
    """
    rows = [numpy.asarray(r) for r in rows]
    if not rows:
        raise ValueError("no samples to plot")
    n_chains = rows[0].shape[0]
    if any(r.ndim != 2 or r.shape[0] != n_chains for r in rows):
        raise ValueError("every row of samples must be (n_chains=%d, pixels), got shapes %s"
                         % (n_chains, [r.shape for r in rows]))
    h, w = check_pair("img_shape", img_shape, 1)
    image = numpy.vstack([
        numpy.vstack([tile_raster_images(r, (h, w), (1, n_chains), (1, 1)),
                      numpy.zeros((1, n_chains * (w + 1) - 1), dtype=numpy.uint8)])
        for r in rows])[:-1]
    n = len(rows)
    width = max(4.0, SAMPLES_TILE_INCHES * n_chains + 1.2)
    height = max(2.0, SAMPLES_TILE_INCHES * n + 1.0)
    fig = new_figure((width, height), SAMPLES_DPI)
    ax = fig.add_axes([0.9 / width, 0.6 / height, 1 - 1.1 / width, 1 - 1.0 / height])
    ax.imshow(image, cmap="gray", vmin=0, vmax=255, interpolation="nearest", aspect="equal")
    ax.set_xticks([(w + 1) * i + w / 2 - 0.5 for i in range(n_chains)])
    ax.set_xticklabels([str(i + 1) if n_chains <= 20 or i % 5 == 4 or i == 0 else ""
                        for i in range(n_chains)], fontsize="x-small")
    ax.set_yticks([(h + 1) * i + h / 2 - 0.5 for i in range(n)])
    ax.set_yticklabels(["%d" % ((i + 1) * steps_between) if steps_between else str(i + 1)
                        for i in range(n)], fontsize="x-small")
    ax.set_xlabel("chain")
    ax.set_ylabel("Gibbs steps" if steps_between else "sample")
    if title:
        ax.set_title(title, fontsize="small")
    return _save(path, lambda handle: fig.savefig(handle, format="png", dpi=SAMPLES_DPI))


#: Piano-roll figure size in inches and its resolution: 800 x 320 pixels before trimming.
PIANO_ROLL_FIGSIZE = (10.0, 4.0)
PIANO_ROLL_DPI = 80


def draw_piano_roll(ax, roll, r=(21, 109), dt=0.3, title=None):
    """Draw a piano roll on the axes ``ax``: time in seconds across, MIDI note number up,
    a sounding pitch black.

    Parameters
    ----------
    roll : array, shape (T, r[1] - r[0])
        Column ``j`` is MIDI pitch ``r[0] + j``, row ``t`` the step starting at ``t * dt``.
    r : (int, int)
    dt : float
        Seconds per step (for the chorales, whose step is a quarter note, 0.3 s is the
        tempo the generated pieces are written at).
    title : str, optional
    """
    roll = numpy.asarray(roll)
    if roll.ndim != 2 or roll.shape[1] != r[1] - r[0]:
        raise ValueError("roll has shape %s, expected (T, %d) for r=%r; give a piano roll of "
                         "that pitch range" % (roll.shape, r[1] - r[0], tuple(r)))
    ax.imshow(roll.T, origin="lower", aspect="auto", interpolation="nearest", cmap="gray_r",
              vmin=0, vmax=1, extent=(0, dt * len(roll)) + tuple(r))
    ax.set_xlabel("time (s)")
    ax.set_ylabel("MIDI note number")
    if title:
        ax.set_title(title)
    return ax


def save_piano_roll(roll, path, r=(21, 109), dt=0.3, title=None):
    """:func:`draw_piano_roll` as a PNG at ``path`` (its folder is created); returns ``path``."""
    fig = new_figure(PIANO_ROLL_FIGSIZE, PIANO_ROLL_DPI)
    draw_piano_roll(fig.add_subplot(1, 1, 1), roll, r, dt, title)
    return _save(path, lambda handle: fig.savefig(handle, format="png", dpi=PIANO_ROLL_DPI,
                                                  bbox_inches="tight"))


def _ellipse(mean, cov, n_std, points=200):
    """x, y of the ``n_std`` contour of a 2-D Gaussian."""
    values, vectors = numpy.linalg.eigh(numpy.asarray(cov, dtype=numpy.float64))
    angle = numpy.linspace(0, 2 * numpy.pi, points)
    circle = numpy.vstack([numpy.cos(angle), numpy.sin(angle)])
    curve = vectors @ (n_std * numpy.sqrt(numpy.maximum(values, 0))[:, None] * circle)
    return curve[0] + mean[0], curve[1] + mean[1]


def save_hmc_figure(samples, mu, cov, stepsizes, acceptance_rates, burnin, target, path,
                    dims=(0, 1)):
    """HMC on a Gaussian: the kept samples of two dimensions against the target's contours,
    and the step size and running acceptance rate over the draws; returns ``path``.

    Parameters
    ----------
    samples : ndarray, (n, d)
    mu, cov : the target's mean (d,) and covariance (d, d)
    stepsizes, acceptance_rates : sequences, one value after each draw (burn-in included)
    burnin : int, draws discarded before ``samples`` were kept
    target : float, the target acceptance rate
    dims : the two dimensions to scatter
    """
    samples = numpy.asarray(samples, dtype=numpy.float64)
    i, j = dims
    if samples.ndim != 2 or max(i, j) >= samples.shape[1]:
        raise ValueError("samples must be (n, d) with d > %d, got shape %s"
                         % (max(i, j), samples.shape))
    mu = numpy.asarray(mu, dtype=numpy.float64)
    cov = numpy.asarray(cov, dtype=numpy.float64)
    fig = new_figure(CONV_DEMO_FIGSIZE, CONV_DEMO_DPI)
    ax_scatter, ax_trace = fig.subplots(1, 2)
    ax_scatter.plot(samples[:, i], samples[:, j], ".", markersize=2, alpha=0.4,
                    color="tab:blue", label="HMC samples (%d)" % len(samples))
    sub = cov[numpy.ix_([i, j], [i, j])]
    for n_std, style in ((1, "-"), (2, "--")):
        ax_scatter.plot(*_ellipse(mu[[i, j]], sub, n_std), style, color="black",
                        label="target, %d standard deviation%s" % (n_std, "" if n_std == 1 else "s"))
    ax_scatter.plot(*samples[:, [i, j]].mean(axis=0), "x", color="tab:red", markersize=10,
                    label="sample mean")
    ax_scatter.plot(mu[i], mu[j], "+", color="black", markersize=12, label="target mean")
    ax_scatter.set_xlabel("x%d" % i)
    ax_scatter.set_ylabel("x%d" % j)
    ax_scatter.set_aspect("equal", adjustable="datalim")
    ax_scatter.grid(True, alpha=0.3)
    ax_scatter.legend(loc="upper left", fontsize="x-small")
    ax_scatter.set_title("samples of dimensions %d and %d" % (i, j), fontsize="small")

    draws = numpy.arange(1, len(stepsizes) + 1)
    ax_trace.plot(draws, stepsizes, color="tab:green", label="step size")
    ax_trace.set_xlabel("draw")
    ax_trace.set_ylabel("step size")
    ax_trace.axvspan(0, burnin, color="0.9", label="burn-in")
    ax_rate = ax_trace.twinx()
    ax_rate.plot(draws, acceptance_rates, color="tab:orange", label="acceptance rate (running)")
    ax_rate.axhline(target, color="tab:orange", linestyle=":", label="target %.2f" % target)
    ax_rate.set_ylabel("acceptance rate")
    ax_rate.set_ylim(0, 1.05)
    handles = ax_trace.get_legend_handles_labels()
    more = ax_rate.get_legend_handles_labels()
    ax_trace.legend(handles[0] + more[0], handles[1] + more[1], loc="lower right",
                    fontsize="x-small")
    ax_trace.set_title("adaptation", fontsize="small")
    fig.tight_layout()
    return _save(path, lambda handle: fig.savefig(handle, format="png", dpi=CONV_DEMO_DPI))


# ---------------------------------------------------------------------------------------
# hyperparameter search (dltut.search)

#: Search figure size in inches and its resolution: 900 x 500 pixels.
SEARCH_FIGSIZE = (9.0, 5.0)
SEARCH_DPI = 100


def save_search_curves(series, path, x_label, line_label=None, best=None, title=None,
                       order=None, diverged=0):
    """Validation error against one searched setting on a log axis, one line per value of a
    second setting; return ``path``.

    Parameters
    ----------
    series : dict, label -> [(x, validation error in %), ...]
        One line each; ``label`` is the second setting's value as text (None: one line).
        ``x`` must be > 0 (a log axis).
    path : str or path-like, where to write the PNG (900 x 500 pixels)
    x_label, line_label : str, the names of the two settings
    best : (x, error in %), optional, the chosen point (marked with a star)
    title : str, optional
    order : callable(label) -> number, optional, sorts the lines (and their colours)
    diverged : int, trials left out because they diverged (said in the legend)
    """
    if not series:
        raise ValueError("no points to plot")
    for label, points in series.items():
        if any(x <= 0 for x, _ in points):
            raise ValueError("%s must be > 0 on a log axis; line %s has %s"
                             % (x_label, label, [x for x, _ in points]))
    labels = sorted(series, key=order) if order is not None else list(series)
    fig = new_figure(SEARCH_FIGSIZE, SEARCH_DPI)
    ax = fig.subplots()
    from matplotlib import cm
    colours = cm.viridis(numpy.linspace(0.0, 0.85, max(len(labels), 1)))
    for colour, label in zip(colours, labels):
        points = sorted(series[label])
        name = "%s = %s" % (line_label, label) if line_label and label is not None else None
        ax.plot([p[0] for p in points], [p[1] for p in points], "o-", color=colour,
                markersize=4, label=name)
    if best is not None:
        ax.plot([best[0]], [best[1]], "*", color="red", markersize=14, zorder=5,
                label="chosen: %s = %.3g, %.2f%%" % (x_label, best[0], best[1]))
    if diverged:
        ax.plot([], [], " ", label="%d diverged trial%s not drawn"
                % (diverged, "" if diverged == 1 else "s"))
    ax.set_xscale("log")
    values = [p[1] for points in series.values() for p in points]
    if min(values) > 0 and max(values) / min(values) > 4:
        # a bad setting's 50 % would flatten the differences near the best one
        from matplotlib import ticker
        ax.set_yscale("log")
        ax.yaxis.set_major_locator(ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(ticker.FuncFormatter(lambda y, _: "%g" % y))
        ax.yaxis.set_minor_formatter(ticker.NullFormatter())
    ax.set_xlabel("%s (log scale)" % x_label)
    ax.set_ylabel("validation error (%%%s)" % (", log scale" if ax.get_yscale() == "log"
                                                else ""))
    ax.grid(True, which="both", alpha=0.3)
    # beside the axes, where it hides no point
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0,
              ncol=2 if len(labels) > 14 else 1)
    if title:
        ax.set_title(title, fontsize="medium")
    fig.tight_layout()
    return _save(path, lambda handle: fig.savefig(handle, format="png", dpi=SEARCH_DPI))


def save_hidden_units_curve(rows, path, title=None):
    """The hidden-units U-curve: validation and test error against the number of hidden
    units on a log axis; return ``path``.

    ``rows``: ``[(n_hidden, validation error %, test error %), ...]``.  The lowest
    validation error is marked: the choice is made on it, the test curve is only shown.
    """
    rows = sorted(rows)
    if len(rows) < 2:
        raise ValueError("a curve needs at least two sizes, got %d" % len(rows))
    fig = new_figure(SEARCH_FIGSIZE, SEARCH_DPI)
    ax = fig.subplots()
    units = [r[0] for r in rows]
    ax.plot(units, [r[1] for r in rows], "o-", color="tab:blue", label="validation error")
    ax.plot(units, [r[2] for r in rows], "s--", color="tab:red", markersize=4,
            label="test error (shown, not used to choose)")
    best = min(rows, key=lambda r: r[1])
    ax.plot([best[0]], [best[1]], "*", color="black", markersize=14, zorder=5,
            label="lowest validation error: %d units, %.2f%%" % (best[0], best[1]))
    ax.set_xscale("log")
    ax.set_xticks(units)
    ax.set_xticklabels([str(int(u)) for u in units])
    ax.minorticks_off()
    ax.set_xlabel("hidden units (log scale)")
    ax.set_ylabel("error (%)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")
    if title:
        ax.set_title(title, fontsize="medium")
    fig.tight_layout()
    return _save(path, lambda handle: fig.savefig(handle, format="png", dpi=SEARCH_DPI))
