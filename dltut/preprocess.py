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

   * ``"mnist"`` (the default): MNIST's framing, above, with the strokes brought to
     MNIST's pen width (:func:`fit_mnist` with ``stroke=True``): a bold font's strokes are
     thinned, a light font's or a fine pen's thickened, toward the widths MNIST's training
     digits have at the same scale (:data:`MNIST_STROKE_WIDTHS`; see :func:`stroke_width`
     and :func:`normalise_stroke`); a digit already drawn with a pen like MNIST's is left
     as it is;
   * ``"frame"``: MNIST's framing alone, the strokes as they are (the default before);
   * ``"resize"`` (:func:`fit_resize`): the whole picture resized to 28x28, as
     ``predict.py`` did first (it stretches a picture that is not square and keeps its
     margins, so the digit can come out small, off-centre or distorted).

   ``deskew=True`` also straightens a slanted digit by its image moments
   (:func:`deskew`) before it is framed (off by default: MNIST's own digits are not
   deskewed, so a model trained on them knows slanted digits).

notebooks/06_your_own_digit.ipynb and ``tools/measure_user_digits.py`` measure them on
user-style pictures (``notebooks/digits/``) with a trained MLP and LeNet5.
"""
import numpy

__all__ = ["FITS", "MNIST_BOX", "MNIST_CENTRE", "CROP_THRESHOLD", "STRETCH_PERCENTILE",
           "STROKE_SUPERSAMPLE", "MNIST_STROKE_WIDTHS", "read_ink", "background_level",
           "ink_image", "fit_resize", "ink_box", "centre_of_mass", "stroke_width",
           "mnist_stroke_widths", "normalise_stroke", "deskew", "fit_mnist", "check_fit",
           "preprocess"]

#: The ways of fitting the ink into the model's field (see :func:`preprocess`).
FITS = ("mnist", "frame", "resize")
#: MNIST's framing: the ink is scaled to fit this box (pixels) inside the 28x28 field ...
MNIST_BOX = 20
#: ... and moved so that its centre of mass lands here, as a fraction of the field's size
#: (14/28: row and column 14 of 0..27, where MNIST's training digits have theirs).
MNIST_CENTRE = 0.5
#: Pixels with less ink than this fraction of the strongest are background when cropping.
CROP_THRESHOLD = 0.1
#: The ink is stretched so that this percentile of the inked pixels becomes 1.
STRETCH_PERCENTILE = 99.0
#: Stroke widths are measured and changed on the cropped ink scaled so that its longer side
#: is this many times :data:`MNIST_BOX` (4: quarter-pixel steps at the model's scale).
STROKE_SUPERSAMPLE = 4
#: The stroke width (:func:`stroke_width`, in pixels of the 20x20 box) of MNIST's training
#: digits: (25th, 50th, 75th percentile) over all 50 000 of the tutorial's training set,
#: measured with :func:`mnist_stroke_widths`.  :func:`normalise_stroke` brings a digit's
#: width into this range (to its nearer end); a digit already inside it is left alone.
MNIST_STROKE_WIDTHS = (1.875, 2.375, 2.875)


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


def _crop(ink):
    top, bottom, left, right = ink_box(ink)
    return ink[top:bottom, left:right]


def _scaled_to(crop, longer):
    """``crop`` resized (Lanczos) so that its longer side is ``longer`` pixels, aspect kept."""
    scale = longer / float(max(crop.shape))
    size = (max(1, int(round(crop.shape[1] * scale))), max(1, int(round(crop.shape[0] * scale))))
    return _resized(crop, size)


def _disk(radius):
    r = int(numpy.ceil(radius))
    rows, cols = numpy.indices((2 * r + 1, 2 * r + 1)) - r
    return rows ** 2 + cols ** 2 <= radius ** 2 + 1e-9


def stroke_width(ink, threshold=0.5):
    """The typical width of the strokes in ``ink`` (light on dark, in [0, 1]), in pixels.

    The ink is cut at ``threshold``; each inked pixel's distance to the nearest background
    pixel is a half-width; along the middle of a stroke (where that distance is a local
    maximum) a stroke ``w`` pixels wide has ``w/2 + 1/4`` on average over the two parities,
    so the width is twice the median over the middle pixels, less 1/2.  0 for no ink.
    """
    from scipy import ndimage
    mask = numpy.asarray(ink) > threshold
    if not mask.any():
        return 0.0
    distance = ndimage.distance_transform_edt(numpy.pad(mask, 1))[1:-1, 1:-1]
    middle = mask & (distance >= ndimage.maximum_filter(distance, size=3))
    return max(0.0, 2.0 * float(numpy.median(distance[middle])) - 0.5)


def _box_width(crop, box=MNIST_BOX, supersample=STROKE_SUPERSAMPLE):
    """``(fine, width)``: ``crop`` scaled so that its longer side is ``box * supersample``,
    and its stroke width in pixels of the ``box`` scale."""
    fine = _scaled_to(crop, box * supersample)
    return fine, stroke_width(fine) / supersample


def mnist_stroke_widths(images, box=MNIST_BOX, percentiles=(25, 50, 75)):
    """Percentiles of the stroke widths (pixels of a ``box`` square) of MNIST-like digits.

    ``images``: rows of 28x28 digits (e.g. MNIST's training set), each cropped and scaled
    to the ``box`` exactly as :func:`fit_mnist` does a picture before measuring it.
    """
    widths = []
    for row in numpy.asarray(images, dtype=numpy.float64):
        image = row.reshape(28, 28)
        if image.max() <= 0:
            continue
        widths.append(_box_width(_crop(image / image.max()), box)[1])
    return tuple(float(v) for v in numpy.percentile(widths, percentiles))


def normalise_stroke(crop, box=MNIST_BOX, target=None, supersample=STROKE_SUPERSAMPLE):
    """The cropped ink ``crop`` with its strokes brought to MNIST's pen width, cropped again.

    Its stroke width is measured (:func:`stroke_width`) with the crop scaled to fit
    ``box * supersample`` pixels; when it is outside ``target`` = ``(low, high)`` (default:
    :data:`MNIST_STROKE_WIDTHS`' 25th and 75th percentiles, pixels of the ``box`` scale), the
    ink is eroded (thinned) or dilated (thickened) with a disk, in grey levels, by as much
    as brings it to the nearer end once the digit is scaled back to the ``box``
    (thickening also widens the digit, which shrinks it a little when it is fitted again).
    Returns ``(ink, before, after)``: the ink, cropped (at the fine scale when changed, else
    ``crop`` itself), and the widths before and after (pixels of the ``box`` scale).
    """
    from scipy import ndimage
    if target is None:
        target = (MNIST_STROKE_WIDTHS[0], MNIST_STROKE_WIDTHS[2])
    low, high = target
    fine, width = _box_width(crop, box, supersample)
    if width <= 0 or low <= width <= high:
        return crop, width, width
    goal = low if width < low else high
    # grow (or shrink) by r fine pixels on each side: the width becomes w + 2r, the longer
    # side H + 2r, and fitted back into H the width is (w + 2r) H / (H + 2r) = goal
    longer, w, g = float(max(fine.shape)), width * supersample, goal * supersample
    radius = longer * (g - w) / (2.0 * (longer - g))
    if abs(radius) < 1.0:  # less than a fine pixel (1/4 of the box's) a side: left alone
        return crop, width, width
    pad = int(numpy.ceil(abs(radius))) + 1
    padded = numpy.pad(fine, pad)
    if radius > 0:
        changed = ndimage.grey_dilation(padded, footprint=_disk(radius))
    else:
        # thinned, but where a stroke is thinner than the erosion takes away (a serif font's
        # hairlines), it is kept: the ink within half the goal's width of the strokes'
        # middle lines stays (a part thinner than that stays whole)
        changed = ndimage.grey_erosion(padded, footprint=_disk(-radius))
        mask = padded > 0.5
        distance = ndimage.distance_transform_edt(mask)
        middle = mask & (distance >= ndimage.maximum_filter(distance, size=3))
        near = ndimage.binary_dilation(middle, structure=_disk(g / 2.0))
        changed = numpy.maximum(changed, padded * near)
    if changed.max() <= CROP_THRESHOLD:  # eroded away: keep the strokes as they were
        return crop, width, width
    changed = _crop(changed)
    return changed, width, _box_width(changed, box, supersample)[1]


def deskew(ink):
    """``ink`` sheared horizontally so that its slant, by image moments, is zero.

    With the ink's centre of mass ``(r0, c0)``, its slant is ``s = mu11 / mu20`` (the
    covariance of column and row over the variance of the rows): the column drifts by
    ``s`` pixels per row.  Each row ``r`` is moved by ``-s (r - r0)``; the field is widened
    to hold the sheared ink.  (The deskewing often used with MNIST-trained classifiers.)
    """
    from scipy import ndimage
    ink = numpy.asarray(ink, dtype=numpy.float64)
    total = ink.sum()
    if total <= 0:
        return ink
    rows, cols = numpy.indices(ink.shape)
    r0, c0 = (rows * ink).sum() / total, (cols * ink).sum() / total
    mu20 = ((rows - r0) ** 2 * ink).sum() / total
    if mu20 <= 0:
        return ink
    slant = ((rows - r0) * (cols - c0) * ink).sum() / total / mu20
    grow = int(numpy.ceil(abs(slant) * ink.shape[0])) + 1  # the most a row can move
    padded = numpy.pad(ink, ((0, 0), (grow, grow)))
    # output (r, c) takes input (r, c + s (r - r0)): ink at input column c lands at
    # c - s (r - r0)
    matrix = numpy.array([[1.0, 0.0], [slant, 1.0]])
    offset = numpy.array([0.0, -slant * r0])
    out = ndimage.affine_transform(padded, matrix, offset=offset, order=1)
    return numpy.clip(out, 0.0, 1.0)


def fit_mnist(ink, shape=(28, 28), box=None, steps=None, stroke=False, skew=False):
    """MNIST's framing: crop the ink, scale it to fit a ``box`` x ``box`` square keeping its
    aspect ratio, and place it in a ``shape`` field with its centre of mass at the centre.

    ``box`` defaults to MNIST's 20 in 28, scaled with ``shape``.  The move is by whole
    pixels (as MNIST's was), so the centre of mass lands within half a pixel of the centre.
    ``stroke=True`` first brings the strokes to MNIST's pen width (:func:`normalise_stroke`,
    measured at the 20x20 scale); ``skew=True`` first straightens the digit (:func:`deskew`).
    ``steps``, a list, receives ``(name, image)`` for the crop and the scaled ink.
    """
    height, width = shape
    if box is None:
        box = max(1, int(round(MNIST_BOX * min(height, width) / 28.0)))
    crop = _crop(ink)
    if steps is not None:
        steps.append(("cropped to the ink, %dx%d" % crop.shape, crop))
    if skew:
        crop = _crop(deskew(_scaled_to(crop, MNIST_BOX * STROKE_SUPERSAMPLE)))
        if steps is not None:
            steps.append(("deskewed", crop))
    if stroke:
        crop, before, after = normalise_stroke(crop)
        if steps is not None:
            steps.append(("strokes %.1f -> %.1f px wide" % (before, after), crop))
    scaled = _scaled_to(crop, box)
    if steps is not None:
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


def check_fit(fit, deskew=False):
    """ValueError unless ``fit`` is one of :data:`FITS` and ``deskew`` goes with it (the
    same check for :func:`preprocess` and predict.py's ``--fit``/``--deskew``)."""
    if fit not in FITS:
        raise ValueError("fit must be one of %s, got %r" % (", ".join(FITS), fit))
    if deskew not in (True, False):
        raise ValueError("deskew must be True or False, got %r" % (deskew,))
    if deskew and fit == "resize":
        raise ValueError("deskewing needs the digit framed (fit 'mnist' or 'frame'), not "
                         "fit 'resize'; drop deskew or choose another fit")


def preprocess(path, shape=(28, 28), fit="mnist", invert="auto", steps=None, deskew=False):
    """An image file as a model input: a flat float64 row of ``h * w`` values in [0, 1].

    Parameters
    ----------
    path : path-like
    shape : (h, w)
        The model's image size (28x28 for MNIST).
    fit : one of :data:`FITS`
        "mnist" (MNIST's framing with the strokes brought to MNIST's pen width, the
        default), "frame" (MNIST's framing alone) or "resize" (the whole picture resized).
    invert : "auto", True or False
        See :func:`ink_image`.
    steps : list, optional
        Receives ``(name, image)`` for each step, for showing them (as in notebook 6).
    deskew : bool
        Straighten a slanted digit first (:func:`deskew`; "mnist" and "frame" only).

    Raises
    ------
    ValueError
        A file that cannot be read, a blank picture, a bad ``fit`` or ``deskew``.
    """
    check_fit(fit, deskew)
    grey, alpha = read_ink(path)
    if steps is not None:
        steps.append(("as read, %dx%d" % grey.shape, grey / 255.0))
        if alpha is not None:
            steps.append(("opacity (the ink)", alpha))
    ink = ink_image(grey, alpha, invert)
    if steps is not None:
        steps.append(("ink, light on dark", ink))
    if fit == "resize":
        field = fit_resize(ink, shape)
    else:
        field = fit_mnist(ink, shape, steps=steps, stroke=fit == "mnist", skew=deskew)
    if steps is not None:
        steps.append(("%s: %dx%d" % ("whole picture resized" if fit == "resize"
                                     else "MNIST's framing", shape[0], shape[1]), field))
    return field.reshape(-1)
