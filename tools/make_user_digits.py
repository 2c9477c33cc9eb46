#!/usr/bin/env python
"""Make the user-style digit pictures of notebooks/digits/ (notebook 6 measures predict.py's
preprocessing on them).

Pictures the way people make them, not the way MNIST was made: digits 0-9 drawn with a pen
of three widths, printed in six fonts, dark on light and light on dark, on transparent
backgrounds, on a photographed-paper background (uneven grey, noise, JPEG), on canvases
that are square, landscape or portrait, with the digit at various sizes and places.  Each
file is ``<style>_<digit>.<ext>``; everything comes from one seed, so running this again
writes the same files.

The ``print-<weight>-<serif|sans>-<font>`` styles are digits printed on light paper in
system fonts of four weights (light, regular, bold, black), serif and sans (``print-tight-``:
cut out close to the glyph, as from a scanned page; ``print-square-``: centred on a square,
much as MNIST's digits are), from Debian's
font packages (:data:`SYSTEM_FONTS` says which package holds which file; install them with
``apt-get install fonts-dejavu fonts-liberation fonts-freefont-ttf fonts-lato``).  A style
whose font is not installed is skipped with one line; each of these styles has its own
random stream, so the others come out the same either way.

    python tools/make_user_digits.py [--out notebooks/digits] [--seed 20261201]
"""
import argparse
import math
import os
import sys

import numpy
from PIL import Image, ImageDraw, ImageFilter, ImageFont

#: Drawn strokes: each digit as polylines in a unit box (x right, y down), arcs sampled.
SUPERSAMPLE = 4


def _arc(cx, cy, rx, ry, start, stop, n=24):
    """Points of an elliptic arc, angles in degrees (0 = right, 90 = down, as y points down)."""
    return [(cx + rx * math.cos(math.radians(t)), cy + ry * math.sin(math.radians(t)))
            for t in numpy.linspace(start, stop, n)]


def strokes(digit):
    """The strokes of ``digit`` (a list of polylines) in the unit box."""
    if digit == 0:
        return [_arc(0.5, 0.5, 0.3, 0.45, -90, 272, 40)]
    if digit == 1:
        return [[(0.32, 0.22), (0.52, 0.05), (0.52, 0.95)]]
    if digit == 2:
        return [_arc(0.5, 0.3, 0.27, 0.25, 190, 395) + [(0.2, 0.95), (0.82, 0.95)]]
    if digit == 3:
        return [_arc(0.5, 0.28, 0.24, 0.22, 200, 450) + _arc(0.5, 0.72, 0.27, 0.24, -90, 160)]
    if digit == 4:
        return [[(0.66, 0.95), (0.66, 0.05), (0.18, 0.66), (0.86, 0.66)]]
    if digit == 5:
        return [[(0.78, 0.05), (0.33, 0.05), (0.3, 0.45)] + _arc(0.5, 0.67, 0.27, 0.27, -135, 155)]
    if digit == 6:
        return [[(0.74, 0.07), (0.5, 0.2), (0.33, 0.42)] + _arc(0.5, 0.7, 0.25, 0.25, 200, 560)]
    if digit == 7:
        return [[(0.18, 0.05), (0.82, 0.05), (0.42, 0.95)]]
    if digit == 8:
        return [_arc(0.5, 0.27, 0.21, 0.22, 90, 452), _arc(0.5, 0.72, 0.26, 0.24, -90, 272)]
    if digit == 9:
        return [_arc(0.5, 0.3, 0.25, 0.25, 0, 362), [(0.75, 0.3), (0.7, 0.62), (0.6, 0.95)]]
    raise ValueError("digit must be 0..9, got %r" % (digit,))


def _placement(rng, canvas, fill):
    """``(left, top, height)`` of a digit box filling ``fill`` of the canvas height, placed
    at random (a unit box is 0.6 as wide as it is high)."""
    width, height = canvas
    box_h = fill * height
    box_w = 0.6 * box_h
    left = rng.uniform(0.05 * width, width - box_w - 0.05 * width)
    top = rng.uniform(0.05 * height, height - box_h - 0.05 * height)
    return left, top, box_h


def draw_pen(rng, digit, canvas, width_fraction, fill):
    """A drawn digit: an "L" image, ink 255 on 0, with a slight random slant and wobble."""
    s = SUPERSAMPLE
    w, h = canvas
    image = Image.new("L", (w * s, h * s), 0)
    draw = ImageDraw.Draw(image)
    left, top, box_h = _placement(rng, canvas, fill)
    slant, angle = rng.uniform(-0.15, 0.25), math.radians(rng.uniform(-6, 6))
    pen = max(1, int(round(width_fraction * box_h * s)))
    for line in strokes(digit):
        points = []
        for x, y in line:
            x, y = x + slant * (0.5 - y), y  # italic-like slant
            x, y = (x - 0.5) * math.cos(angle) - (y - 0.5) * math.sin(angle) + 0.5, \
                   (x - 0.5) * math.sin(angle) + (y - 0.5) * math.cos(angle) + 0.5
            x += rng.normal(0, 0.006)
            y += rng.normal(0, 0.006)
            points.append(((left + 0.6 * box_h * x) * s, (top + box_h * y) * s))
        draw.line(points, fill=255, width=pen, joint="curve")
        for x, y in (points[0], points[-1]):  # round pen ends
            draw.ellipse([x - pen / 2, y - pen / 2, x + pen / 2, y + pen / 2], fill=255)
    return image.resize(canvas, Image.LANCZOS)


#: System fonts of the ``print-*`` styles: file name -> (folder, the Debian package with it).
SYSTEM_FONTS = {
    "Lato-Thin.ttf": ("/usr/share/fonts/truetype/lato", "fonts-lato"),
    "Lato-Light.ttf": ("/usr/share/fonts/truetype/lato", "fonts-lato"),
    "DejaVuSans-ExtraLight.ttf": ("/usr/share/fonts/truetype/dejavu", "fonts-dejavu-extra"),
    "LiberationSans-Regular.ttf": ("/usr/share/fonts/truetype/liberation", "fonts-liberation"),
    "LiberationSerif-Regular.ttf": ("/usr/share/fonts/truetype/liberation", "fonts-liberation"),
    "FreeSerif.ttf": ("/usr/share/fonts/truetype/freefont", "fonts-freefont-ttf"),
    "FreeSans.ttf": ("/usr/share/fonts/truetype/freefont", "fonts-freefont-ttf"),
    "LiberationSans-Bold.ttf": ("/usr/share/fonts/truetype/liberation", "fonts-liberation"),
    "LiberationSerif-Bold.ttf": ("/usr/share/fonts/truetype/liberation", "fonts-liberation"),
    "FreeSerifBold.ttf": ("/usr/share/fonts/truetype/freefont", "fonts-freefont-ttf"),
    "DejaVuSerif-Bold.ttf": ("/usr/share/fonts/truetype/dejavu", "fonts-dejavu-core"),
    "DejaVuSans-Bold.ttf": ("/usr/share/fonts/truetype/dejavu", "fonts-dejavu-core"),
    "DejaVuSerif.ttf": ("/usr/share/fonts/truetype/dejavu", "fonts-dejavu-core"),
    "Lato-Heavy.ttf": ("/usr/share/fonts/truetype/lato", "fonts-lato"),
    "Lato-Black.ttf": ("/usr/share/fonts/truetype/lato", "fonts-lato"),
}


def font_path(name):
    """A TrueType font: a system one of :data:`SYSTEM_FONTS`, else one shipped with
    matplotlib (the first six fonts' styles need no system fonts)."""
    if name in SYSTEM_FONTS:
        return os.path.join(SYSTEM_FONTS[name][0], name)
    import matplotlib
    return os.path.join(matplotlib.get_data_path(), "fonts", "ttf", name)


def draw_font(rng, digit, canvas, font, fill):
    """A printed digit: an "L" image, ink 255 on 0, the glyph's height ``fill`` of the canvas."""
    s = SUPERSAMPLE
    w, h = canvas
    image = Image.new("L", (w * s, h * s), 0)
    draw = ImageDraw.Draw(image)
    size = int(fill * h * s * 1.35)  # digits are about 0.73 em high in these fonts
    face = ImageFont.truetype(font_path(font), size)
    box = draw.textbbox((0, 0), str(digit), font=face)
    glyph_w, glyph_h = box[2] - box[0], box[3] - box[1]
    x = rng.uniform(0.05 * w * s, w * s - glyph_w - 0.05 * w * s) - box[0]
    y = rng.uniform(0.05 * h * s, h * s - glyph_h - 0.05 * h * s) - box[1]
    draw.text((x, y), str(digit), fill=255, font=face)
    return image.resize(canvas, Image.LANCZOS)


def draw_font_tight(rng, digit, font):
    """A printed digit cut out close to its edges (as from a scanned page): an "L" image,
    ink 255 on 0, the glyph 40-120 pixels high with a margin of 3-15 % of that around it."""
    s = SUPERSAMPLE
    glyph_h = rng.uniform(40, 120)
    face = ImageFont.truetype(font_path(font), int(glyph_h * s * 1.35))
    box = ImageDraw.Draw(Image.new("L", (1, 1))).textbbox((0, 0), str(digit), font=face)
    margins = rng.uniform(0.03, 0.15, size=4) * (box[3] - box[1])
    w = int(round((box[2] - box[0] + margins[0] + margins[1]) / s))
    h = int(round((box[3] - box[1] + margins[2] + margins[3]) / s))
    image = Image.new("L", (w * s, h * s), 0)
    ImageDraw.Draw(image).text((margins[0] - box[0], margins[2] - box[1]), str(digit),
                               fill=255, font=face)
    return image.resize((w, h), Image.LANCZOS)


def draw_font_square(rng, digit, font):
    """A printed digit centred on a square 28-120 pixels wide, 55-80 % of its height (much as
    MNIST's digits sit in theirs): an "L" image, ink 255 on 0."""
    s = SUPERSAMPLE
    side = int(rng.uniform(28, 120))
    face = ImageFont.truetype(font_path(font), int(rng.uniform(0.55, 0.8) * side * s * 1.35))
    box = ImageDraw.Draw(Image.new("L", (1, 1))).textbbox((0, 0), str(digit), font=face)
    image = Image.new("L", (side * s, side * s), 0)
    ImageDraw.Draw(image).text(((side * s - box[2] - box[0]) / 2.0,
                                (side * s - box[3] - box[1]) / 2.0), str(digit),
                               fill=255, font=face)
    return image.resize((side, side), Image.LANCZOS)


#: style -> how its pictures are made: ("pen", stroke width as a fraction of the digit's
#: height) or ("font", file), and how the ink is put on the canvas.
STYLES = {
    "pen-thin": (("pen", 0.03), "dark-on-light"),
    "pen-medium": (("pen", 0.08), "dark-on-light"),
    "pen-thick": (("pen", 0.16), "dark-on-light"),
    "chalk": (("pen", 0.08), "light-on-dark"),
    "font-sans": (("font", "DejaVuSans.ttf"), "dark-on-light"),
    "font-sans-bold": (("font", "DejaVuSans-Bold.ttf"), "dark-on-light"),
    "font-serif": (("font", "DejaVuSerif.ttf"), "dark-on-light"),
    "font-mono": (("font", "DejaVuSansMono.ttf"), "dark-on-light"),
    "font-stix": (("font", "STIXGeneral.ttf"), "dark-on-light"),
    "font-cm": (("font", "cmr10.ttf"), "light-on-dark"),
    "transparent-black": (("pen", 0.08), "black-on-transparent"),
    "transparent-white": (("pen", 0.1), "white-on-transparent"),
    "paper-photo": (("pen", 0.07), "paper"),
}
#: Printed on light paper in system fonts of four weights, serif and sans (each its own
#: random stream; skipped where the font is not installed).
PRINT_STYLES = {
    "print-light-sans-lato-thin": (("font", "Lato-Thin.ttf"), "print"),
    "print-light-sans-lato": (("font", "Lato-Light.ttf"), "print"),
    "print-light-sans-dejavu": (("font", "DejaVuSans-ExtraLight.ttf"), "print"),
    "print-regular-sans-liberation": (("font", "LiberationSans-Regular.ttf"), "print"),
    "print-regular-sans-free": (("font", "FreeSans.ttf"), "print"),
    "print-regular-serif-liberation": (("font", "LiberationSerif-Regular.ttf"), "print"),
    "print-regular-serif-free": (("font", "FreeSerif.ttf"), "print"),
    "print-bold-sans-liberation": (("font", "LiberationSans-Bold.ttf"), "print"),
    "print-bold-serif-liberation": (("font", "LiberationSerif-Bold.ttf"), "print"),
    "print-bold-serif-free": (("font", "FreeSerifBold.ttf"), "print"),
    "print-bold-serif-dejavu": (("font", "DejaVuSerif-Bold.ttf"), "print"),
    "print-black-sans-lato-heavy": (("font", "Lato-Heavy.ttf"), "print"),
    "print-black-sans-lato": (("font", "Lato-Black.ttf"), "print"),
    "print-tight-bold-sans-dejavu": (("font-tight", "DejaVuSans-Bold.ttf"), "print"),
    "print-tight-regular-serif-dejavu": (("font-tight", "DejaVuSerif.ttf"), "print"),
    "print-tight-bold-sans-liberation": (("font-tight", "LiberationSans-Bold.ttf"), "print"),
    "print-tight-regular-serif-liberation": (("font-tight", "LiberationSerif-Regular.ttf"),
                                             "print"),
    "print-square-bold-sans-dejavu": (("font-square", "DejaVuSans-Bold.ttf"), "print"),
    "print-square-regular-serif-dejavu": (("font-square", "DejaVuSerif.ttf"), "print"),
    "print-square-bold-sans-liberation": (("font-square", "LiberationSans-Bold.ttf"), "print"),
    "print-square-regular-serif-liberation": (("font-square", "LiberationSerif-Regular.ttf"),
                                              "print"),
    "print-square-bold-serif-liberation": (("font-square", "LiberationSerif-Bold.ttf"),
                                           "print"),
    "print-square-light-sans-lato": (("font-square", "Lato-Light.ttf"), "print"),
}

#: Canvas shapes (width, height) a picture is drawn on, chosen at random.
CANVASES = ((96, 96), (128, 96), (96, 128), (160, 120), (120, 120))


def compose(ink, how, rng):
    """The picture file's image from an ink mask (``L``, 255 = full ink)."""
    if how == "dark-on-light":
        return Image.eval(ink, lambda v: 255 - v)
    if how == "light-on-dark":
        return ink
    if how == "print":  # printed on light paper: off-white, a little grain, near-black ink
        paper, dark = rng.uniform(225, 250), rng.uniform(15, 60)
        mask = numpy.asarray(ink, dtype=numpy.float64) / 255.0
        grey = paper + rng.normal(0, 2.0, size=mask.shape)
        grey = grey * (1 - mask) + dark * mask
        return Image.fromarray(numpy.clip(numpy.round(grey), 0, 255).astype(numpy.uint8), mode="L")
    if how in ("black-on-transparent", "white-on-transparent"):
        colour = 0 if how.startswith("black") else 255
        picture = Image.new("LA", ink.size, (colour, 0))
        picture.putalpha(ink)
        return picture
    if how == "paper":  # a photographed page: uneven light, grain, blue-black ink, JPEG
        w, h = ink.size
        yy, xx = numpy.mgrid[0:h, 0:w]
        light = 200 + 35 * (xx / w) - 25 * (yy / h) + rng.normal(0, 4, size=(h, w))
        mask = numpy.asarray(ink, dtype=numpy.float64) / 255.0
        grey = light * (1 - 0.75 * mask)
        rgb = numpy.stack([grey * 0.92, grey * 0.95, grey], axis=2)
        picture = Image.fromarray(numpy.clip(rgb, 0, 255).astype(numpy.uint8), mode="RGB")
        return picture.filter(ImageFilter.GaussianBlur(0.6))
    raise ValueError("unknown way of putting ink on a canvas: %r" % (how,))


def missing_fonts():
    """``{style: line}`` for the :data:`PRINT_STYLES` whose font is not installed."""
    missing = {}
    for style, ((_, name), _) in PRINT_STYLES.items():
        if not os.path.isfile(font_path(name)):
            missing[style] = ("skipping %s: %s is absent (apt-get install %s)"
                              % (style, font_path(name), SYSTEM_FONTS[name][1]))
    return missing


def make(out, seed, say=print):
    """Write every picture into ``out``; returns the list of paths.  ``say`` gets one line
    for each style skipped because its font is not installed."""
    rng = numpy.random.RandomState(seed)
    os.makedirs(out, exist_ok=True)
    paths = []
    missing = missing_fonts()
    for line in missing.values():
        say(line)
    styles = [(style, spec, rng) for style, spec in STYLES.items()]
    styles += [(style, spec, numpy.random.RandomState([seed, k]))
               for k, (style, spec) in enumerate(PRINT_STYLES.items()) if style not in missing]
    for style, ((kind, what), how), rng in styles:
        for digit in range(10):
            canvas = CANVASES[rng.randint(len(CANVASES))]
            fill = rng.uniform(0.45, 0.85)
            if kind == "pen":
                ink = draw_pen(rng, digit, canvas, what, fill)
            elif kind == "font-tight":
                ink = draw_font_tight(rng, digit, what)
            elif kind == "font-square":
                ink = draw_font_square(rng, digit, what)
            else:
                ink = draw_font(rng, digit, canvas, what, fill)
            picture = compose(ink, how, rng)
            ext = "jpg" if how == "paper" else "png"
            path = os.path.join(out, "%s_%d.%s" % (style, digit, ext))
            if ext == "jpg":
                picture.save(path, quality=80)
            else:
                picture.save(path, optimize=True)
            paths.append(path)
    return paths


def label_of(path):
    """The digit a file of :func:`make` shows (from its name, ``<style>_<digit>.<ext>``)."""
    return int(os.path.splitext(os.path.basename(path))[0].rsplit("_", 1)[1])


def style_of(path):
    return os.path.splitext(os.path.basename(path))[0].rsplit("_", 1)[0]


def main(argv=None):
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join(here, "..", "notebooks", "digits"),
                        help="folder to write into (default: notebooks/digits)")
    parser.add_argument("--seed", type=int, default=20261201, help="default: %(default)s")
    args = parser.parse_args(argv)
    paths = make(args.out, args.seed)
    size = sum(os.path.getsize(p) for p in paths)
    print("wrote %d pictures (%d styles x 10 digits, %.0f KB) to %s"
          % (len(paths), len(paths) // 10, size / 1024.0, os.path.normpath(args.out)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
