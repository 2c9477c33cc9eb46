"""The convolution and pooling demonstration from the LeNet tutorial.

Two random 9x9 filters over the three colour channels of a photograph, then a 2x2 max
pool, each followed by the bias and a sigmoid.  Random filters already act much like edge
detectors.  With no IMAGE, a colour photograph shipped with matplotlib is used, so the demo
works offline.

    python scripts/conv_demo.py [IMAGE] [--out PATH] [--show]
"""
import os
import sys

try:
    import dltut  # noqa: F401  (first: sets up Theano's BLAS flags before theano is imported)
    from dltut.cli.common import EXIT_IO, CLIError, OneLineParser, report_failures, seed_int
    import numpy
except KeyboardInterrupt:  # Ctrl-C while Python starts: one line, no traceback
    print("conv_demo: interrupted while starting; nothing was written: run it again",
          file=sys.stderr)
    sys.exit(130)

PROG = "conv_demo"

#: The tutorial's seed for the demo's filters and biases.
SEED = 23455
#: Filter bank: 2 feature maps, 3 input channels (RGB), 9x9 filters.
FILTER_SHAPE = (2, 3, 9, 9)
#: Max-pooling window.
POOL_SHAPE = (2, 2)
#: The default image: a colour photograph among matplotlib's sample data.
DEFAULT_IMAGE = "grace_hopper.jpg"
#: Where the figure goes unless --out says otherwise (relative to the current directory).
DEFAULT_OUT = os.path.join("runs", "conv_demo.png")


class ImageError(CLIError):
    """An input file that cannot be used as an image for the demo."""


def default_image_path():
    """Path of matplotlib's sample photograph :data:`DEFAULT_IMAGE`."""
    from matplotlib import cbook

    return os.fspath(cbook.get_sample_data(DEFAULT_IMAGE, asfileobj=False))


def load_image(path):
    """Read ``path`` as an RGB image: floatX array of shape (height, width, 3), value / 256.

    Transparency is put on white, greyscale is repeated over the three channels, other
    modes are converted (see :func:`dltut.plot.read_image`).  Raises :class:`ImageError`
    for anything that is not a readable image or is smaller than one filter.
    """
    from dltut.init import floatX
    from dltut.plot import read_image

    try:
        pixels = read_image(path, colour=True)
    except ValueError as error:
        raise ImageError(str(error)) from None
    height, width = pixels.shape[:2]
    fh, fw = FILTER_SHAPE[2:]
    if height < fh + 1 or width < fw + 1:
        raise ImageError("%s is %dx%d pixels; the demo needs at least %dx%d"
                         % (path, height, width, fh + 1, fw + 1))
    # dimensions are (height, width, channel), values in [0, 1)
    return floatX(pixels) / 256.0


def make_filters(rng):
    """The tutorial's random filters and biases, drawn from ``rng`` in the tutorial's order.

    Returns
    -------
    W : floatX ndarray, shape (2, 3, 9, 9), uniform in +-1/sqrt(3*9*9) (fan-in bound)
    b : floatX ndarray, shape (2,), uniform in +-0.5 (random, not zero, to "simulate"
        learned biases)
    """
    from dltut.init import floatX

    w_bound = numpy.sqrt(numpy.prod(FILTER_SHAPE[1:]))
    W = floatX(rng.uniform(low=-1.0 / w_bound, high=1.0 / w_bound, size=FILTER_SHAPE))
    b = floatX(rng.uniform(low=-0.5, high=0.5, size=FILTER_SHAPE[:1]))
    return W, b


def build_demo_function(W, b):
    """Compile ``input -> (conv_activations, pooled_activations)``.

    input (1, 3, h, w) -> conv2d (1, 2, h-8, w-8) -> sigmoid(. + b)
                          -> pool_2d 2x2 (1, 2, (h-8)//2, (w-8)//2) -> sigmoid(. + b)
    Theano's conv2d is a true convolution (the filter is flipped).
    """
    import theano
    from theano import tensor as T
    from theano.tensor.nnet import conv2d, sigmoid
    from theano.tensor.signal.pool import pool_2d

    input = T.tensor4(name="input")
    W_shared = theano.shared(numpy.asarray(W, dtype=input.dtype), name="W")
    b_shared = theano.shared(numpy.asarray(b, dtype=input.dtype), name="b")
    conv_out = conv2d(input, W_shared)  # (1, 3, h, w) -> (1, 2, h-8, w-8)
    pooled_out = pool_2d(input=conv_out, ws=POOL_SHAPE, ignore_border=True)  # -> halves
    b_broadcast = b_shared.dimshuffle("x", 0, "x", "x")
    conv_activations = sigmoid(conv_out + b_broadcast)
    pooled_activations = sigmoid(pooled_out + b_broadcast)
    return theano.function([input], [conv_activations, pooled_activations])


def image_to_input(img):
    """(height, width, 3) -> the 4-D input (1, 3, height, width)."""
    height, width, channels = img.shape
    return img.transpose(2, 0, 1).reshape(1, channels, height, width)


def build_parser():
    parser = OneLineParser(
        prog=PROG,
        description="Apply two random 9x9 filters and 2x2 max pooling to a colour image "
                    "(the LeNet tutorial's demonstration) and save the 2x3 figure.")
    parser.add_argument("image", nargs="?", default=None,
                        help="image file (default: matplotlib's sample photograph %s)"
                             % DEFAULT_IMAGE)
    parser.add_argument("--out", default=DEFAULT_OUT,
                        help="the PNG file to write the figure to (default: %(default)s)")
    parser.add_argument("--show", action="store_true",
                        help="also show the figure in a window, if there is a display "
                             "(default: off)")
    parser.add_argument("--seed", type=seed_int, default=SEED,
                        help="seed for the random filters, 0..2**32-1 (default: %(default)s)")
    return parser


def demo_main(argv):
    args = build_parser().parse_args(argv)
    from dltut import plot

    if os.path.isdir(args.out) or args.out.endswith(("/", os.sep)):
        raise CLIError("--out %s is a folder; name the file to write, e.g. --out %s"
                       % (args.out, os.path.join(args.out, os.path.basename(DEFAULT_OUT))))
    path = args.image if args.image is not None else default_image_path()
    img = load_image(path)

    W, b = make_filters(numpy.random.RandomState(args.seed))
    f = build_demo_function(W, b)
    input_img = image_to_input(img)
    filtered_img, pooled_img = f(input_img)
    print("image:    %s (%d x %d pixels, height x width)" % ((path,) + img.shape[:2]))
    print("input:   ", input_img.shape)
    print("filtered:", filtered_img.shape, "2 feature maps")
    print("pooled:  ", pooled_img.shape, "2 feature maps")

    try:
        out = plot.save_conv_demo_figure(img, filtered_img, pooled_img, args.out)
    except OSError as error:
        raise CLIError("cannot write %s (%s); choose another --out"
                       % (args.out, error.strerror or error), EXIT_IO) from None
    print("wrote", out)
    if args.show:
        if plot.has_display():
            plt = plot.pyplot()
            fig = plt.figure(figsize=plot.CONV_DEMO_FIGSIZE)
            plot.draw_conv_demo(fig, img, filtered_img, pooled_img)
            fig.tight_layout()
            plt.show()
        else:
            print("conv_demo: no display to show the figure on; see %s" % out,
                  file=sys.stderr)
    return 0


def main(argv=None):
    return report_failures(PROG, demo_main, argv)


if __name__ == "__main__":
    sys.exit(main())
