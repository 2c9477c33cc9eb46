"""Image arrays without figures: reading image files, and tiling many small images into one
(the original tutorial's ``utils.py``: ``scale_to_unit_interval``, ``tile_raster_images``).

Only numpy here (and Pillow, imported when an image is read or written); no matplotlib.
:mod:`dltut.plot` draws its figures with these and re-exports every public name, so
``from dltut.plot import tile_raster_images`` keeps working.
"""
import math
import warnings

import numpy

__all__ = ["read_image", "scale_to_unit_interval", "check_pair", "tile_raster_images",
           "grid_shape"]


# ---------------------------------------------------------------------------------------
# reading images


def _without_alpha(image):
    """An image with transparency composited on white, as RGB."""
    from PIL import Image

    rgba = image.convert("RGBA")
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(white, rgba).convert("RGB")


def _deep_to_float(image):
    """A greyscale image of more than 8 bits ("I;16", "I", "F") as mode "F" on the 0..255
    scale: 16-bit values over 65535, floats in [0, 1] as fractions, other floats as 0..255."""
    from PIL import Image

    pixels = numpy.asarray(image, dtype=numpy.float64)
    pixels = numpy.where(numpy.isfinite(pixels), pixels, 0.0)
    top = float(pixels.max()) if pixels.size else 0.0
    if image.mode.startswith("I;16") or (image.mode == "I" and top > 255):
        pixels = pixels * (255.0 / (65535.0 if top <= 65535 else top))
    elif image.mode == "F" and pixels.min() >= 0 and top <= 1.0:
        pixels = pixels * 255.0
    return Image.fromarray(numpy.clip(pixels, 0.0, 255.0).astype(numpy.float32), mode="F")


def read_image(path, colour=False, size=None, alpha=False):
    """Read an image file as floats on the 0..255 scale.

    Transparent pixels are put on white (dark ink drawn on a transparent background stays
    visible); 16-bit and floating-point greyscale images are scaled to 0..255 (a float TIFF
    in [0, 1] is taken as fractions); palette, bilevel and other modes are converted.

    Parameters
    ----------
    path : path-like
    colour : bool
        Return (h, w, 3) RGB values (a greyscale image repeated over the three channels)
        instead of (h, w) grey ones.
    size : (width, height), optional
        Resize to this (Lanczos), greyscale only.
    alpha : bool
        Also return the opacity: ``(pixels, opacity)``, opacity of shape (h, w) in [0, 1],
        or None for an image without transparency.

    Returns
    -------
    numpy.ndarray of float64, shape (h, w) or (h, w, 3), values in [0, 255]

    Raises
    ------
    ValueError
        Naming the file: missing, a folder, not an image, damaged, or over Pillow's
        decompression-bomb limit (``PIL.Image.MAX_IMAGE_PIXELS``).
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                image.load()
                opacity = None
                if image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info:
                    if alpha:
                        opacity = image.convert("RGBA").getchannel("A")
                        if size is not None and tuple(image.size) != tuple(size):
                            opacity = opacity.resize(tuple(size), Image.LANCZOS)
                        opacity = numpy.asarray(opacity, dtype=numpy.float64) / 255.0
                    image = _without_alpha(image)
                if image.mode in ("I", "F") or image.mode.startswith("I;16"):
                    image = _deep_to_float(image)
                elif image.mode not in ("L", "RGB"):
                    image = image.convert("RGB")
                if not colour and image.mode == "RGB":
                    image = image.convert("L")
                if size is not None and tuple(image.size) != tuple(size):
                    image = image.resize(tuple(size), Image.LANCZOS)
                pixels = numpy.asarray(image, dtype=numpy.float64)
    except FileNotFoundError:
        raise ValueError("no image file at %s; check the path" % path) from None
    except IsADirectoryError:
        raise ValueError("%s is a folder, not an image; name an image file in it" % path) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ValueError("%s is larger than Pillow reads safely (over %d pixels: a "
                         "decompression bomb?); shrink it first"
                         % (path, Image.MAX_IMAGE_PIXELS)) from None
    except UnidentifiedImageError:
        raise ValueError("%s is not an image Pillow can read; give a PNG, JPEG, TIFF, ... file"
                         % path) from None
    except (OSError, ValueError, SyntaxError, EOFError, MemoryError) as error:
        raise ValueError("cannot read image %s: %s; is it a whole image file?"
                         % (path, error or type(error).__name__)) from None
    if colour and pixels.ndim == 2:
        pixels = numpy.repeat(pixels[:, :, None], 3, axis=2)
    return (pixels, opacity) if alpha else pixels


# ---------------------------------------------------------------------------------------
# tiling


def scale_to_unit_interval(x, eps=1e-8):
    """``(x - min) / (max - min + eps)``: ``x`` mapped into [0, 1] (a new array)."""
    x = numpy.asarray(x)
    x_min = x.min()
    return (x - x_min) / (x.max() - x_min + eps)


def check_pair(name, value, minimum):
    """``value`` as a tuple of two ints >= ``minimum``, or a ValueError naming it."""
    try:
        pair = tuple(int(v) for v in value)
    except TypeError:
        raise ValueError("%s must be a pair of integers, got %r" % (name, value)) from None
    if len(pair) != 2 or min(pair) < minimum:
        raise ValueError("%s must be two integers >= %d, got %r" % (name, minimum, value))
    return pair


def tile_raster_images(X, img_shape, tile_shape, tile_spacing=(0, 0),
                       scale_rows_to_unit_interval=True, output_pixel_vals=True):
    """Lay out the rows of ``X`` as images on a grid, for viewing filters or examples.

    Parameters
    ----------
    X : ndarray, shape (n_images, h * w), or a 4-tuple of such arrays (or None)
        Each row is one image of shape ``img_shape`` flattened in C order.  A 4-tuple gives
        the red, green, blue and alpha channels; a channel that is None is filled with 0
        (alpha with 255, or 1.0 when ``output_pixel_vals`` is False, i.e. opaque).
    img_shape : (h, w)
    tile_shape : (rows, cols)
        The grid.  Images are placed row-major: image ``i`` goes to grid cell
        ``(i // cols, i % cols)``.  Cells beyond ``n_images`` stay 0; images beyond
        ``rows * cols`` are not shown.
    tile_spacing : (sh, sw)
        Blank pixels (value 0) between neighbouring tiles; none around the border.
    scale_rows_to_unit_interval : bool
        Scale each image independently to [0, 1] with :func:`scale_to_unit_interval`
        before placing it (each channel separately in the 4-tuple form).
    output_pixel_vals : bool
        Return uint8 pixel values: the [0, 1] value times 255, rounded to the nearest
        integer and clipped to [0, 255].  Otherwise the values are placed unchanged and the
        result has ``X``'s dtype.

    Returns
    -------
    ndarray, shape (rows * (h + sh) - sh, cols * (w + sw) - sw)
        with a trailing axis of 4 (RGBA) in the 4-tuple form.

    Notes
    -----
    The tutorials' version converted to uint8 by truncation, which turns the brightest
    pixel of a scaled float64 image (255 * (1 - 1e-8)) into 254; rounding gives 255
    whatever the float type.
    """
    img_shape = check_pair("img_shape", img_shape, 1)
    tile_shape = check_pair("tile_shape", tile_shape, 1)
    tile_spacing = check_pair("tile_spacing", tile_spacing, 0)
    (h, w), (rows, cols), (sh, sw) = img_shape, tile_shape, tile_spacing
    out_shape = (rows * (h + sh) - sh, cols * (w + sw) - sw)

    if isinstance(X, (tuple, list)):
        if len(X) != 4:
            raise ValueError("the channel form of X must have 4 entries (R, G, B, A), got %d"
                             % len(X))
        channels = [None if c is None else numpy.asarray(c) for c in X]
        present = [c for c in channels if c is not None]
        if output_pixel_vals:
            dtype = numpy.uint8
        elif present:
            dtype = present[0].dtype
        else:
            dtype = numpy.float64
        out = numpy.zeros(out_shape + (4,), dtype=dtype)
        for i, channel in enumerate(channels):
            if channel is None:
                # an absent colour channel is black; an absent alpha channel is opaque
                if i == 3:
                    out[:, :, i] = 255 if output_pixel_vals else 1
            else:
                out[:, :, i] = tile_raster_images(
                    channel, img_shape, tile_shape, tile_spacing,
                    scale_rows_to_unit_interval, output_pixel_vals)
        return out

    X = numpy.asarray(X)
    if X.ndim != 2:
        raise ValueError("X must be a matrix of shape (n_images, h*w), got shape %s"
                         % (X.shape,))
    if X.shape[1] != h * w:
        raise ValueError("X has rows of length %d but img_shape %s needs h*w = %d"
                         % (X.shape[1], img_shape, h * w))

    out = numpy.zeros(out_shape, dtype=numpy.uint8 if output_pixel_vals else X.dtype)
    n_shown = min(X.shape[0], rows * cols)
    for i in range(n_shown):
        image = X[i].reshape(h, w)
        if scale_rows_to_unit_interval:
            image = scale_to_unit_interval(image)
        if output_pixel_vals:
            image = numpy.clip(numpy.rint(numpy.asarray(image, dtype=numpy.float64) * 255),
                               0, 255)
        top = (i // cols) * (h + sh)
        left = (i % cols) * (w + sw)
        out[top:top + h, left:left + w] = image
    return out


def grid_shape(n):
    """A near-square (rows, cols) grid holding ``n`` tiles: cols = ceil(sqrt(n))."""
    if n < 1:
        raise ValueError("need at least one tile, got %d" % n)
    cols = int(math.ceil(math.sqrt(n)))
    rows = int(math.ceil(n / cols))
    return rows, cols
