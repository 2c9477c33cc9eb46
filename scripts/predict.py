#!/usr/bin/env python
"""Classify images with a trained model from a run folder.

    python scripts/predict.py runs/mlp-20261128-120000 my_digit.png other.jpg
    python scripts/predict.py runs/mlp-20261128-120000 --test-index 0 1 2

Images are turned into what the model was trained on: greyscale, resized to the model's
input size, scaled to [0, 1), and inverted when they are dark ink on a light background
(MNIST digits are light on dark).
"""
import argparse
import os
import sys

import dltut  # noqa: F401  (sets up Theano's BLAS before numpy/Theano load)

EXIT_ERROR = 2


class PredictError(Exception):
    """Reported as one line on stderr, exit code 2."""


def load_image(path, image_shape, invert="auto"):
    """An image file as a flat float array in [0, 1) of ``h*w`` values, light-on-dark."""
    import numpy
    from PIL import Image, UnidentifiedImageError
    height, width = image_shape
    try:
        with Image.open(path) as image:
            grey = image.convert("L").resize((width, height), Image.LANCZOS)
    except FileNotFoundError:
        raise PredictError("no image file at %s" % path) from None
    except (UnidentifiedImageError, OSError, ValueError) as error:
        raise PredictError("%s is not a readable image (%s)" % (path, error)) from None
    pixels = numpy.asarray(grey, dtype="float64") / 256.0
    if invert == "auto":
        # MNIST digits are light strokes on a dark background: a light border means the
        # picture is the other way round (dark ink on paper).
        border = numpy.concatenate([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]])
        invert = border.mean() > 0.5
    if invert:
        pixels = (255.0 / 256.0) - pixels
    return pixels.reshape(-1)


def load_model(run_dir):
    """``(predict_fn, spec, meta)`` for the best model saved in ``run_dir``."""
    import numpy
    import theano
    import theano.tensor as T
    from dltut.checkpoint import CheckpointError, load_into, load_params
    from dltut.models import build_model
    path = os.path.join(run_dir, "best_model.npz")
    if not os.path.isdir(run_dir):
        raise PredictError("no run folder at %s" % run_dir)
    try:
        _, meta = load_params(path)
        spec = meta.get("model")
        if not spec:
            raise PredictError("%s does not say which model it holds (no 'model' in its meta)" % path)
        x = T.matrix("x")
        model = build_model(spec, numpy.random.RandomState(0), x)
        load_into(model, path)
    except CheckpointError as error:
        raise PredictError(str(error)) from None
    except (KeyError, TypeError, ValueError) as error:
        raise PredictError("%s describes a model dltut cannot build (%s)" % (path, error)) from None
    predict = theano.function([x], model.p_y_given_x, name="predict")
    return predict, spec, meta


def class_names(meta):
    from dltut.data import FASHION_MNIST_CLASSES
    if meta.get("dataset") == "fashion-mnist":
        return list(FASHION_MNIST_CLASSES)
    return None


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="predict.py", description="Classify images (or test-set examples) with a trained model.")
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a run folder holding best_model.npz")
    parser.add_argument("images", metavar="IMAGE", nargs="*", help="PNG/JPEG files to classify")
    parser.add_argument("--test-index", type=int, nargs="+", metavar="N", default=[],
                        help="classify test-set examples N of the run's dataset instead")
    parser.add_argument("--invert", choices=("auto", "yes", "no"), default="auto",
                        help="invert images (auto: when the border is light)")
    args = parser.parse_args(argv)
    if not args.images and not args.test_index:
        parser.error("give at least one IMAGE or --test-index N")
    try:
        import numpy
        from dltut.models import image_shape_of
        predict, spec, meta = load_model(args.run_dir)
        names = class_names(meta)
        rows, labels, truths = [], [], []
        if args.images:
            shape = image_shape_of(spec)
            if shape is None or shape[0] != 1:
                raise PredictError("this model does not take greyscale square images (%s)" % spec)
            invert = {"auto": "auto", "yes": True, "no": False}[args.invert]
            for path in args.images:
                rows.append(load_image(path, shape[1:], invert))
                labels.append(path)
                truths.append(None)
        if args.test_index:
            from dltut.data import DatasetError, load_dataset
            try:
                _, _, (test_x, test_y) = load_dataset(meta.get("dataset", "mnist"))
            except DatasetError as error:
                raise PredictError(str(error)) from None
            for index in args.test_index:
                if not 0 <= index < len(test_y):
                    raise PredictError("--test-index %d is outside the test set (0..%d)"
                                       % (index, len(test_y) - 1))
                rows.append(test_x[index])
                labels.append("test[%d]" % index)
                truths.append(int(test_y[index]))
        import theano
        probabilities = predict(numpy.asarray(rows, dtype=theano.config.floatX))
    except PredictError as error:
        print("predict.py: error: %s" % error, file=sys.stderr)
        return EXIT_ERROR
    for label, truth, p in zip(labels, truths, probabilities):
        best = int(numpy.argmax(p))
        name = " (%s)" % names[best] if names else ""
        line = "%s: class %d%s, probability %.4f" % (label, best, name, p[best])
        if truth is not None:
            line += ", true class %d%s" % (truth, "" if truth == best else "  <- wrong")
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
