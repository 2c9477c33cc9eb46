"""From a picture of a digit to the row of pixels a model trained on MNIST expects.

MNIST's digits are light ink on black, 28x28, with values in [0, 1].  They were made from
scans in a particular way: the ink was cropped, scaled to fit a 20x20 box keeping its
aspect ratio (anti-aliased, hence the grey edges), and placed in the 28x28 field so that
its centre of mass falls on the centre (measured on MNIST's training set: row 13.99,
column 14.00, each within 0.3 pixels).  A model trained on them has only ever seen digits
framed that way.

:func:`preprocess` turns an image file into such a row, step by step:

1. **read** (:func:`read_ink`): greyscale on the 0..255 scale, and the alpha channel when
   the picture has transparent parts;
2. **ink** (:func:`ink_image`): how much ink each pixel holds, in [0, 1], light on dark:
   the opacity where the background is transparent, else the grey level, inverted when the
   picture is dark ink on a light background (its border is light), minus the background
   level and stretched so that the strongest ink is 1;
3. **fit** into the model's field, one of :data:`FITS`:

   * ``"mnist"`` (:func:`fit_mnist`, the default): MNIST's own framing, above;
   * ``"resize"`` (:func:`fit_resize`): the whole picture resized to 28x28, as
     ``predict.py`` did before (it stretches a picture that is not square and keeps its
     margins, so the digit can come out small, off-centre or distorted).

notebooks/06_your_own_digit.ipynb measures both on user-style pictures
(``notebooks/digits/``) with a trained MLP and LeNet5.
"""
import numpy

#: The ways of fitting the ink into the model's field (see :func:`preprocess`).
FITS = ("mnist", "resize")
#: MNIST's framing: the ink is scaled to fit this box (pixels) inside the 28x28 field ...
MNIST_BOX = 20
#: ... and moved so that its centre of mass lands here, as a fraction of the field's size
#: (14/28: row and column 14 of 0..27, where MNIST's training digits have theirs).
MNIST_CENTRE = 0.5
#: Pixels with less ink than this fraction of the strongest are background when cropping.
CROP_THRESHOLD = 0.1
#: The ink is stretched so that this percentile of the inked pixels becomes 1.
STRETCH_PERCENTILE = 99.0


def read_ink(path):
    """``(grey, alpha)`` of an image file: grey on the 0..255 scale (transparent parts put on
    white), shape (h, w); ``alpha`` in [0, 1], shape (h, w), or None when every pixel is
    opaque.  ValueError names a file that cannot be read (see :func:`dltut.plot.read_image`).
    """
    from .plot import read_image
    grey, alpha = read_image(path, alpha=True)
    if alpha is not None and alpha.min() >= 1.0:
        alpha = None
    return grey, alpha


def _border(image):
    return numpy.concatenate([image[0], image[-1], image[:, 0], image[:, -1]])


def background_level(ink):
    """How much "ink" the background holds: the border's median plus three times its spread
    (the median absolute deviation, scaled to a standard deviation), so that uneven light
    and grain on photographed paper go, while a digit touching the border does not move it."""
    border = _border(ink)
    median = numpy.median(border)
    spread = 1.4826 * numpy.median(numpy.abs(border - median))
    return median + 3.0 * spread


def ink_image(grey, alpha=None, invert="auto"):
    """How much ink each pixel holds: an array like ``grey`` with values in [0, 1], ink high.

    Parameters
    ----------
    grey : ndarray, shape (h, w), values in [0, 255]
    alpha : ndarray, shape (h, w), values in [0, 1], or None
        Where part of the picture is transparent (alpha below 1/2 somewhere), the opacity is
        the ink, whatever its colour: white ink on a transparent background is as visible
        as black ink.
    invert : "auto", True or False
        Whether the grey picture is dark ink on a light background.  "auto": when its
        border is lighter than mid-grey.  Ignored when the opacity is the ink.

    The background level (:func:`background_level`) is subtracted (unless that would leave
    nothing: a picture inked up to its edges is kept whole) and the ink is divided by
    the :data:`STRETCH_PERCENTILE` th percentile of the inked pixels, then clipped to [0, 1],
    so that faint pencil and bold marker both reach MNIST's full-strength strokes.
    """
    grey = numpy.asarray(grey, dtype=numpy.float64)
    if grey.ndim != 2 or min(grey.shape) < 2:
        raise ValueError("a greyscale image of at least 2x2 pixels is needed, got shape %s"
                         % (grey.shape,))
    if alpha is not None and numpy.min(alpha) < 0.5:
        ink = numpy.asarray(alpha, dtype=numpy.float64)
    else:
        ink = grey / 255.0
        if invert == "auto":
            invert = bool(_border(ink).mean() > 0.5)
        elif invert not in (True, False):
            raise ValueError("invert must be 'auto', True or False, got %r" % (invert,))
        if invert:
            ink = 1.0 - ink
    cleaned = numpy.clip(ink - background_level(ink), 0.0, None)
    if cleaned.any():
        ink = cleaned
    # else nothing stands out from the border (ink up to the edges, a texture): keep it all
    inked = ink[ink > 0]
    if inked.size == 0:
        raise ValueError("the picture is blank: no ink to read")
    top = numpy.percentile(inked, STRETCH_PERCENTILE)
    return numpy.clip(ink / top, 0.0, 1.0)


def _resized(image, size):
    """``image`` (floats) resized to ``size`` = (width, height) with Lanczos, clipped to [0, 1]."""
    from PIL import Image
    picture = Image.fromarray(numpy.asarray(image, dtype=numpy.float32), mode="F")
    return numpy.clip(numpy.asarray(picture.resize(size, Image.LANCZOS), dtype=numpy.float64),
                      0.0, 1.0)


def fit_resize(ink, shape=(28, 28)):
    """The whole picture resized to ``shape`` = (h, w), margins and aspect ratio ignored."""
    height, width = shape
    return _resized(ink, (width, height))


def ink_box(ink, threshold=CROP_THRESHOLD):
    """``(top, bottom, left, right)``: the smallest box (bottom/right exclusive) holding every
    pixel with more than ``threshold`` times the strongest ink."""
    rows, cols = numpy.nonzero(ink > threshold * ink.max())
    if rows.size == 0:
        raise ValueError("the picture is blank: no ink to crop")
    return rows.min(), rows.max() + 1, cols.min(), cols.max() + 1


def centre_of_mass(image):
    """``(row, col)`` of the ink's centre of mass, in pixel coordinates (0 = first pixel)."""
    total = image.sum()
    rows, cols = numpy.indices(image.shape)
    return (rows * image).sum() / total, (cols * image).sum() / total


def fit_mnist(ink, shape=(28, 28), box=None, steps=None):
    """MNIST's framing: crop the ink, scale it to fit a ``box`` x ``box`` square keeping its
    aspect ratio, and place it in a ``shape`` field with its centre of mass at the centre.

    ``box`` defaults to MNIST's 20 in 28, scaled with ``shape``.  The move is by whole
    pixels (as MNIST's was), so the centre of mass lands within half a pixel of the centre.
    ``steps``, a list, receives ``(name, image)`` for the crop and the scaled ink.
    """
    height, width = shape
    if box is None:
        box = max(1, int(round(MNIST_BOX * min(height, width) / 28.0)))
    top, bottom, left, right = ink_box(ink)
    crop = ink[top:bottom, left:right]
    scale = box / float(max(crop.shape))
    size = (max(1, int(round(crop.shape[1] * scale))), max(1, int(round(crop.shape[0] * scale))))
    scaled = _resized(crop, size)
    if steps is not None:
        steps.append(("cropped to the ink, %dx%d" % crop.shape, crop))
        steps.append(("scaled to fit %dx%d, %dx%d" % ((box, box) + scaled.shape), scaled))
    field = numpy.zeros((height, width))
    if scaled.sum() <= 0:
        return field
    com_row, com_col = centre_of_mass(scaled)
    row0 = int(round(MNIST_CENTRE * height - com_row))
    col0 = int(round(MNIST_CENTRE * width - com_col))
    # keep the whole digit inside the field (a lopsided digit could otherwise be cut)
    row0 = min(max(row0, 0), height - scaled.shape[0])
    col0 = min(max(col0, 0), width - scaled.shape[1])
    field[row0:row0 + scaled.shape[0], col0:col0 + scaled.shape[1]] = scaled
    return field


def preprocess(path, shape=(28, 28), fit="mnist", invert="auto", steps=None):
    """An image file as a model input: a flat float64 row of ``h * w`` values in [0, 1].

    Parameters
    ----------
    path : path-like
    shape : (h, w)
        The model's image size (28x28 for MNIST).
    fit : one of :data:`FITS`
        "mnist" (MNIST's framing, the default) or "resize" (the whole picture resized).
    invert : "auto", True or False
        See :func:`ink_image`.
    steps : list, optional
        Receives ``(name, image)`` for each step, for showing them (as in notebook 6).

    Raises
    ------
    ValueError
        A file that cannot be read, a blank picture, or a bad ``fit``.
    """
    if fit not in FITS:
        raise ValueError("fit must be one of %s, got %r" % (", ".join(FITS), fit))
    grey, alpha = read_ink(path)
    if steps is not None:
        steps.append(("as read, %dx%d" % grey.shape, grey / 255.0))
        if alpha is not None:
            steps.append(("opacity (the ink)", alpha))
    ink = ink_image(grey, alpha, invert)
    if steps is not None:
        steps.append(("ink, light on dark", ink))
    if fit == "mnist":
        field = fit_mnist(ink, shape, steps=steps)
    else:
        field = fit_resize(ink, shape)
    if steps is not None:
        steps.append(("%s: %dx%d" % ("MNIST's framing" if fit == "mnist"
                                     else "whole picture resized", shape[0], shape[1]), field))
    return field.reshape(-1)
