#!/usr/bin/env python
"""Count how many of the user-style pictures (notebooks/digits/) trained models read right,
per kind of picture, with each of dltut.preprocess's ways of fitting a picture.

    python tools/measure_user_digits.py RUN_DIR [RUN_DIR ...] [--digits notebooks/digits]
        [--fits mnist frame resize] [--deskew] [--by-style]

RUN_DIRs are run folders of scripts/mlp.py, scripts/convolutional_mlp.py, ... (their
best_model.npz, read as scripts/predict.py reads it).  Prints a Markdown table: one row per
kind of picture (:data:`KINDS`), for each model one column per fit, "right/pictures".
"""
import argparse
import collections
import glob
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.join(HERE, "..", "scripts"), HERE]

import dltut  # noqa: E402,F401  (Theano set-up first)

#: Kind of picture -> the styles of tools/make_user_digits.py it holds.
KINDS = collections.OrderedDict([
    ("pen, thin", ["pen-thin"]),
    ("pen, medium", ["pen-medium"]),
    ("pen, thick", ["pen-thick"]),
    ("chalk (light on dark)", ["chalk"]),
    ("transparent (black or white ink)", ["transparent-black", "transparent-white"]),
    ("photographed paper", ["paper-photo"]),
    ("printed, light sans", ["print-light-sans-lato-thin", "print-light-sans-lato",
                             "print-light-sans-dejavu"]),
    ("printed, regular sans", ["font-sans", "font-mono", "print-regular-sans-liberation",
                               "print-regular-sans-free"]),
    ("printed, regular serif", ["font-serif", "font-stix", "font-cm",
                                "print-regular-serif-liberation", "print-regular-serif-free"]),
    ("printed, bold sans", ["font-sans-bold", "print-bold-sans-liberation"]),
    ("printed, bold serif", ["print-bold-serif-liberation", "print-bold-serif-free",
                             "print-bold-serif-dejavu"]),
    ("printed, black sans", ["print-black-sans-lato-heavy", "print-black-sans-lato"]),
    ("printed, cut out tight (bold sans, serif)", [
        "print-tight-bold-sans-dejavu", "print-tight-bold-sans-liberation",
        "print-tight-regular-serif-dejavu", "print-tight-regular-serif-liberation"]),
    ("printed, centred on a square (bold, serif, light)", [
        "print-square-bold-sans-dejavu", "print-square-regular-serif-dejavu",
        "print-square-bold-sans-liberation", "print-square-regular-serif-liberation",
        "print-square-bold-serif-liberation", "print-square-light-sans-lato"]),
])


def kind_of(style):
    for kind, styles in KINDS.items():
        if style in styles:
            return kind
    return "other (%s)" % style


def main(argv=None):
    import numpy
    import theano
    from dltut.preprocess import FITS, preprocess
    from make_user_digits import label_of, style_of
    from predict import load_model
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", metavar="RUN_DIR")
    parser.add_argument("--digits", default=os.path.join(HERE, "..", "notebooks", "digits"))
    parser.add_argument("--fits", nargs="+", default=["frame", "resize", "mnist"], choices=FITS)
    parser.add_argument("--deskew", action="store_true", help="also each fit but resize deskewed")
    parser.add_argument("--by-style", action="store_true", help="a row per style too")
    args = parser.parse_args(argv)
    paths = sorted(glob.glob(os.path.join(args.digits, "*.png"))
                   + glob.glob(os.path.join(args.digits, "*.jpg")))
    labels = numpy.array([label_of(p) for p in paths])
    styles = [style_of(p) for p in paths]
    ways = [(fit, False) for fit in args.fits]
    if args.deskew:
        ways += [(fit, True) for fit in args.fits if fit != "resize"]
    rows = {way: numpy.array([preprocess(p, fit=way[0], deskew=way[1]) for p in paths],
                             dtype=theano.config.floatX) for way in ways}
    right = {}
    names = []
    for run in args.runs:
        predict, spec, _ = load_model(run)
        names.append(spec["name"])
        for way in ways:
            right[(spec["name"], way)] = predict(rows[way]).argmax(axis=1) == labels
    groups = collections.OrderedDict((kind, []) for kind in KINDS)
    for i, style in enumerate(styles):
        groups.setdefault(kind_of(style), []).append(i)
    if args.by_style:
        for style in sorted(set(styles)):
            groups["  " + style] = [i for i, s in enumerate(styles) if s == style]
    way_names = ["%s%s" % (fit, "+deskew" if skew else "") for fit, skew in ways]
    print("| kind of picture | n | " + " | ".join("%s %s" % (n, w) for n in names
                                                  for w in way_names) + " |")
    print("|---|---:|" + "---:|" * (len(names) * len(ways)))
    groups["all"] = list(range(len(paths)))
    for kind, members in groups.items():
        if not members:
            continue
        cells = [str(int(right[(n, way)][members].sum())) for n in names for way in ways]
        print("| %s | %d | %s |" % (kind, len(members), " | ".join(cells)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
