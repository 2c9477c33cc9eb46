#!/usr/bin/env python
"""Classify images with a trained model from a run folder.

    python scripts/predict.py runs/mlp-20261128-120000 my_digit.png other.jpg
    python scripts/predict.py runs/mlp-20261128-120000 --test-index 0 1 2

Images are turned into what the model was trained on (dltut.preprocess): the ink, light
on dark (the opacity where the background is transparent, else the grey level, inverted
when the picture is dark on light), with the background removed and the strongest strokes
at 1; then framed the way MNIST's digits were (cropped, fitted into 20x20 keeping the
aspect ratio, centre of mass at the centre of 28x28) with the strokes thinned or thickened
toward MNIST's pen width (--fit frame: the strokes as they are), or with --fit resize the
whole picture resized.  notebooks/06_your_own_digit.ipynb shows the steps and measures the
ways (tools/measure_user_digits.py too).  A model
trained under either floatX works under either.  Every failure is one line on stderr (exit 2
for a bad input, see dltut.cli.supervised).
"""
import os
import sys

try:
    import dltut  # noqa: F401  (sets up Theano's BLAS before numpy/Theano load)
    from dltut.cli.common import CLIError, OneLineParser, report_failures
except KeyboardInterrupt:  # Ctrl-C while Python starts: one line, no traceback
    print("predict.py: interrupted while starting; nothing was written: run it again",
          file=sys.stderr)
    sys.exit(130)

PROG = "predict.py"


def load_image(path, image_shape, invert="auto", fit="mnist", deskew=False):
    """An image file as a flat float array in [0, 1] of ``h*w`` values, light-on-dark."""
    from dltut.preprocess import preprocess
    try:
        return preprocess(path, tuple(image_shape), fit=fit, invert=invert, deskew=deskew)
    except ValueError as error:
        raise CLIError("%s: %s" % (path, error) if str(path) not in str(error)
                       else str(error)) from None


def load_model(run_dir):
    """``(predict_fn, spec, meta)`` for the best model saved in ``run_dir``."""
    import numpy
    import theano
    import theano.tensor as T
    from dltut.models import build_model, size_of
    from dltut.runs.rundir import BEST_MODEL, RunDir
    if not os.path.isdir(run_dir):
        raise CLIError("no run folder at %s; check the path (a run folder holds best_model.npz)"
                       % run_dir)
    run = RunDir(run_dir)
    path = run.file(BEST_MODEL)
    values, meta = run.load_params(BEST_MODEL)
    spec = meta.get("model")
    if not spec:
        raise CLIError("%s does not say which model it holds (no 'model' in its meta); use a "
                       "best_model.npz a dltut run wrote" % path)
    try:
        parameters, _ = size_of(spec)
    except ValueError as error:
        raise CLIError("%s describes a model dltut cannot build (%s); use a best_model.npz a "
                       "dltut run wrote" % (path, error)) from None
    if parameters != sum(value.size for value in values):
        raise CLIError("%s is damaged: its model (%s) has %d parameters but it holds %d; restore "
                       "it from a copy or train the run again"
                       % (path, spec.get("name"), parameters, sum(v.size for v in values)))
    if not all(numpy.isfinite(value).all() for value in values):
        raise CLIError("%s holds NaN or infinite parameters (its run diverged); retrain with a "
                       "smaller --learning-rate" % path)
    x = T.matrix("x")
    try:
        model = build_model(spec, numpy.random.RandomState(0), x)
    except (KeyError, TypeError, ValueError) as error:
        raise CLIError("%s describes a model dltut cannot build (%s)" % (path, error)) from None
    # a model saved under the other floatX: its values in this one (float32 -> float64 is
    # exact; float64 -> float32 rounds each weight to 7 digits, far below what moves a class)
    values = [numpy.asarray(value, dtype=theano.config.floatX) for value in values]
    try:
        model.set_params_values(values)
    except ValueError as error:
        raise CLIError("%s does not fit the model it describes: %s" % (path, error)) from None
    predict = theano.function([x], model.p_y_given_x, name="predict")
    return predict, spec, meta


def class_names(meta):
    from dltut.data import FASHION_MNIST_CLASSES
    if meta.get("dataset") == "fashion-mnist":
        return list(FASHION_MNIST_CLASSES)
    return None


def build_parser():
    from dltut.preprocess import FITS
    parser = OneLineParser(
        prog=PROG, description="Classify images (or test-set examples) with a trained model.")
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a run folder holding best_model.npz")
    parser.add_argument("images", metavar="IMAGE", nargs="*", help="PNG/JPEG files to classify")
    parser.add_argument("--test-index", type=int, nargs="+", metavar="N", default=[],
                        help="classify test-set examples N of the run's dataset instead")
    parser.add_argument("--invert", choices=("auto", "yes", "no"), default="auto",
                        help="whether images are dark ink on a light background (auto: when "
                             "the border is light; ignored for transparent backgrounds, where "
                             "the opacity is the ink) (default: auto)")
    parser.add_argument("--fit", choices=FITS, default="mnist",
                        help="mnist: crop the ink, fit it into 20x20 keeping its aspect ratio "
                             "and centre its mass in 28x28, as MNIST was made, with the "
                             "strokes thinned or thickened toward MNIST's pen width; frame: "
                             "the same without changing the strokes; resize: resize the whole "
                             "picture (default: mnist)")
    parser.add_argument("--deskew", action="store_true",
                        help="straighten a slanted digit (by its image moments) before "
                             "framing it (not with --fit resize)")
    return parser


def test_examples(meta, indices):
    """``(rows, labels, truths)`` of test-set examples of the run's dataset."""
    from dltut.data import load_dataset
    dataset = meta.get("dataset", "mnist")
    if not isinstance(dataset, str):
        raise CLIError("the run's best_model.npz names its dataset as %r, not a name or path; "
                       "give images instead of --test-index" % (dataset,))
    _, _, (test_x, test_y) = load_dataset(dataset)
    rows, labels, truths = [], [], []
    for index in indices:
        if not 0 <= index < len(test_y):
            raise CLIError("--test-index %d is outside the test set (0..%d); give one in that range"
                           % (index, len(test_y) - 1))
        rows.append(test_x[index])
        labels.append("test[%d]" % index)
        truths.append(int(test_y[index]))
    return rows, labels, truths


def predict_main(argv):
    import numpy
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.images and not args.test_index:
        parser.error("give at least one IMAGE or --test-index N")
    from dltut.models import image_shape_of
    predict, spec, meta = load_model(args.run_dir)
    names = class_names(meta)
    rows, labels, truths = [], [], []
    if args.images:
        shape = image_shape_of(spec)
        if shape is None or shape[0] != 1:
            raise CLIError("this model does not take greyscale square images (%s)" % spec)
        invert = {"auto": "auto", "yes": True, "no": False}[args.invert]
        from dltut.preprocess import check_fit
        try:
            check_fit(args.fit, args.deskew)
        except ValueError as error:
            raise CLIError("--fit %s --deskew: %s" % (args.fit, error)) from None
        for path in args.images:
            rows.append(load_image(path, shape[1:], invert, args.fit, args.deskew))
            labels.append(path)
            truths.append(None)
    if args.test_index:
        more = test_examples(meta, args.test_index)
        for kept, new in zip((rows, labels, truths), more):
            kept.extend(new)
    import theano
    probabilities = predict(numpy.asarray(rows, dtype=theano.config.floatX))
    if not numpy.isfinite(probabilities).all():
        raise CLIError("the model in %s gives non-finite probabilities; retrain it with a "
                       "smaller --learning-rate" % args.run_dir)
    for label, truth, p in zip(labels, truths, probabilities):
        best = int(numpy.argmax(p))
        name = " (%s)" % names[best] if names else ""
        line = "%s: class %d%s, probability %.4f" % (label, best, name, p[best])
        if truth is not None:
            line += ", true class %d%s" % (truth, "" if truth == best else "  <- wrong")
        print(line)
    return 0


def main(argv=None):
    return report_failures(PROG, predict_main, argv)


if __name__ == "__main__":
    sys.exit(main())
