"""dltut.preprocess (a picture -> the row a model takes) and predict.py with models saved under
either floatX."""
import os
import re

import numpy
import pytest
from PIL import Image

import theano
from _cli import call
from dltut.runs import checkpoint as ckpt
from dltut.preprocess import (MNIST_BOX, centre_of_mass, fit_mnist, fit_resize, ink_box,
                              ink_image, preprocess)

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def digit_like(height=60, width=90, top=10, left=50, h=30, w=12, value=1.0):
    """A picture with an ``h`` x ``w`` block of ink (an "1" with a foot) at (top, left)."""
    ink = numpy.zeros((height, width))
    ink[top:top + h, left:left + w // 3] = value
    ink[top + h - 3:top + h, left:left + w] = value
    return ink


def save(tmp_path, name, array, mode):
    path = tmp_path / name
    Image.fromarray(array, mode=mode).save(str(path))
    return path


def test_fit_mnist_crops_keeps_the_aspect_ratio_and_centres_the_mass():
    ink = digit_like()
    field = fit_mnist(ink)
    assert field.shape == (28, 28)
    top, bottom, left, right = ink_box(field)
    assert bottom - top == MNIST_BOX                      # the longer side fills the box
    assert abs((right - left) - 12 * MNIST_BOX / 30) <= 1.5  # 30x12 keeps its 5:2 ratio
    row, col = centre_of_mass(field)
    assert abs(row - 14) <= 0.5 and abs(col - 14) <= 0.5  # where MNIST has its centres
    # the same digit anywhere on any canvas gives the same field
    moved = numpy.zeros((200, 120))
    moved[150:180, 3:15] = ink[10:40, 50:62]
    numpy.testing.assert_allclose(fit_mnist(moved), field, atol=1e-6)


def test_an_mnist_digit_blown_up_on_a_large_canvas_comes_back_nearly_as_it_was():
    """MNIST's framing applied to MNIST's own framing: an independent reference."""
    digit = numpy.zeros((28, 28))
    digit[4:24, 11:18] = 1.0        # a 20-high bar, centred like MNIST's digits
    digit[4:8, 8:18] = 1.0
    big = numpy.kron(digit, numpy.ones((5, 5)))  # 140x140, nearest neighbour
    canvas = numpy.zeros((300, 200))
    canvas[100:240, 30:170] = big
    again = fit_mnist(canvas)
    # up to a pixel's move (the centre of mass is placed to the nearest pixel)
    best = max(numpy.corrcoef(numpy.roll(again, (dr, dc), axis=(0, 1)).ravel(), digit.ravel())[0, 1]
               for dr in (-1, 0, 1) for dc in (-1, 0, 1))
    assert best > 0.95


def test_ink_is_the_same_whatever_way_the_picture_was_made(tmp_path):
    ink = (digit_like() * 255).astype(numpy.uint8)
    light = save(tmp_path, "light.png", ink, "L")                   # chalk on a blackboard
    dark = save(tmp_path, "dark.png", 255 - ink, "L")               # pen on paper
    for colour in (0, 255):                                         # ink on transparency
        rgba = numpy.zeros(ink.shape + (4,), numpy.uint8)
        rgba[..., :3] = colour
        rgba[..., 3] = ink
        save(tmp_path, "alpha%d.png" % colour, rgba, "RGBA")
    # paper photographed: uneven light, grain, grey ink
    yy, xx = numpy.mgrid[0:60, 0:90]
    paper = 200 + 30 * xx / 90 - 20 * yy / 60 + numpy.random.RandomState(0).normal(0, 3, (60, 90))
    photo = numpy.clip(paper * (1 - 0.7 * digit_like()), 0, 255).astype(numpy.uint8)
    save(tmp_path, "photo.png", photo, "L")
    reference = preprocess(light)
    for name in ("dark.png", "alpha0.png", "alpha255.png", "photo.png"):
        row = preprocess(tmp_path / name)
        assert numpy.abs(row - reference).max() < (0.25 if name == "photo.png" else 1e-6), name
    assert reference.max() == 1.0 and reference.min() == 0.0


def test_ink_image_removes_the_background_and_stretches_faint_ink():
    grey = numpy.full((40, 40), 230.0)
    grey[10:30, 18:22] = 180.0  # faint pencil on paper
    ink = ink_image(grey)
    assert ink[0, 0] == 0.0 and ink[20, 20] == 1.0
    with pytest.raises(ValueError, match="blank"):
        ink_image(numpy.full((10, 10), 255.0))
    with pytest.raises(ValueError, match="invert"):
        ink_image(grey, invert="sometimes")


def test_fit_resize_is_the_whole_picture_resized():
    ink = digit_like()
    field = fit_resize(ink)
    assert field.shape == (28, 28)
    resized = Image.fromarray(ink.astype(numpy.float32), mode="F").resize((28, 28), Image.LANCZOS)
    numpy.testing.assert_allclose(field, numpy.clip(numpy.asarray(resized), 0, 1), atol=1e-6)


def test_preprocess_names_a_bad_fit_and_shows_its_steps(tmp_path):
    path = save(tmp_path, "d.png", (digit_like() * 255).astype(numpy.uint8), "L")
    with pytest.raises(ValueError, match="fit must be one of mnist, frame, resize"):
        preprocess(path, fit="stretch")
    with pytest.raises(ValueError, match="deskewing needs the digit framed"):
        preprocess(path, fit="resize", deskew=True)
    steps = []
    row = preprocess(path, steps=steps)
    names = [name.split(",")[0].split(":")[0] for name, _ in steps]
    assert re.match(r"strokes \d\.\d -> \d\.\d px wide$", names[3]), names
    assert names[:3] + names[4:] == ["as read", "ink", "cropped to the ink",
                                     "scaled to fit 20x20", "MNIST's framing"]
    numpy.testing.assert_array_equal(steps[-1][1].reshape(-1), row)


# ---------------------------------------------------------------------------- predict.py
def numpy_mlp(values, rows):
    W1, b1, W2, b2 = (numpy.asarray(v, numpy.float64) for v in values)
    z = numpy.tanh(rows @ W1 + b1) @ W2 + b2
    e = numpy.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("saved", ["float32", "float64"])
def test_predict_uses_a_model_saved_under_either_floatx(saved, tmp_path):
    """A float32-trained model used to fail under float64 ("has dtype float64, the value has
    dtype float32"); both work under both now, with the same prediction."""
    rng = numpy.random.RandomState(0)
    values = [rng.normal(0, 0.1, (784, 7)), numpy.zeros(7), rng.normal(0, 1, (7, 10)),
              rng.normal(0, 0.1, 10)]
    values = [v.astype(saved) for v in values]
    run = tmp_path / "run"
    spec = {"name": "MLP", "n_in": 784, "n_hidden": [7], "n_out": 10, "activation": "tanh",
            "init": "glorot"}
    ckpt.save_params(run / "best_model.npz", values, {"model": spec, "floatX": saved})
    picture = save(tmp_path, "seven.png", (255 - digit_like() * 255).astype(numpy.uint8), "L")
    code, out, err = call("predict", [run, picture])
    assert code == 0, err
    cls, p = re.search(r"class (\d+), probability ([\d.]+)", out).groups()
    expected = numpy_mlp(values, preprocess(picture).reshape(1, -1))[0]
    assert int(cls) == int(expected.argmax()), (out, theano.config.floatX)
    assert abs(float(p) - expected.max()) < 1e-4 + 5e-5


def test_predict_says_which_picture_is_blank(tmp_path):
    run = tmp_path / "run"
    spec = {"name": "LogisticRegression", "n_in": 784, "n_out": 10}
    ckpt.save_params(run / "best_model.npz", [numpy.zeros((784, 10)), numpy.zeros(10)],
                     {"model": spec})
    blank = save(tmp_path, "blank.png", numpy.full((30, 30), 255, numpy.uint8), "L")
    code, out, err = call("predict", [run, blank])
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "blank.png" in err and "blank" in err, err


def test_predict_refuses_deskew_with_resize_in_one_line(tmp_path):
    run = tmp_path / "run"
    spec = {"name": "LogisticRegression", "n_in": 784, "n_out": 10}
    ckpt.save_params(run / "best_model.npz", [numpy.zeros((784, 10)), numpy.zeros(10)],
                     {"model": spec})
    picture = save(tmp_path, "seven.png", (255 - digit_like() * 255).astype(numpy.uint8), "L")
    code, out, err = call("predict", [run, picture, "--fit", "resize", "--deskew"])
    assert code == 2 and out == "" and err.count("\n") == 1, err
    assert "--fit resize --deskew" in err and "deskewing needs the digit framed" in err
    code, out, err = call("predict", [run, picture, "--fit", "frame", "--deskew"])
    assert code == 0 and "class" in out, err


def test_the_user_style_pictures_are_what_their_generator_makes(tmp_path):
    import sys
    sys.path.insert(0, os.path.join(ROOT, "tools"))
    import make_user_digits
    skipped = []
    paths = make_user_digits.make(str(tmp_path), seed=20261201, say=skipped.append)
    missing = make_user_digits.missing_fonts()
    assert skipped == list(missing.values())  # one line per style whose font is absent
    committed = os.path.join(ROOT, "notebooks", "digits")
    expected = [name for name in os.listdir(committed)
                if make_user_digits.style_of(name) not in missing]
    assert sorted(os.path.basename(p) for p in paths) == sorted(expected)
    for path in paths[::13]:
        made = numpy.asarray(Image.open(path))
        kept = numpy.asarray(Image.open(os.path.join(committed, os.path.basename(path))))
        assert made.shape == kept.shape and numpy.abs(made.astype(int) - kept).max() <= 2


def test_a_picture_inked_up_to_its_edges_is_kept_whole():
    """Nothing stands out from the border: removing it as background would leave a blank."""
    grey = numpy.random.RandomState(0).uniform(0, 255, (28, 28))
    ink = ink_image(grey, invert=False)
    assert ink.max() == 1.0 and (ink > 0).mean() > 0.95
    numpy.testing.assert_allclose(ink, numpy.clip(grey / 255.0 / numpy.percentile(
        grey[grey > 0] / 255.0, 99.0), 0, 1))


# ------------------------------------------------------------------- strokes and slant
def drawn_seven(pen, size=200):
    """A "7" drawn with a round pen ``pen`` pixels wide on a ``size`` square, light on dark
    (the same strokes at any pen width)."""
    from PIL import ImageDraw
    image = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(image)
    points = [(0.25 * size, 0.15 * size), (0.75 * size, 0.15 * size), (0.42 * size, 0.85 * size)]
    draw.line(points, fill=255, width=pen, joint="curve")
    for x, y in (points[0], points[-1]):
        draw.ellipse([x - pen / 2, y - pen / 2, x + pen / 2, y + pen / 2], fill=255)
    return numpy.asarray(image, dtype=numpy.float64) / 255.0


def mean_width(field):
    """A stroke width measured independently of dltut.preprocess: twice the ink's area over
    its outline's length (the total of the grey-level gradient's magnitude), as a band
    ``w`` wide and ``L`` long has area ``w L`` and two edges ``L`` long."""
    rows, cols = numpy.gradient(numpy.asarray(field, dtype=numpy.float64))
    return 2.0 * field.sum() / numpy.hypot(rows, cols).sum()


@pytest.fixture(scope="module")
def mnist_sevens(mnist_path):
    from dltut.data import load_dataset
    _, _, (test_x, test_y) = load_dataset(str(mnist_path))
    return numpy.asarray(test_x[test_y == 7][:300], dtype=numpy.float64)


def test_stroke_normalisation_brings_thick_and_thin_pens_to_mnists_width(mnist_sevens):
    widths = [mean_width(row.reshape(28, 28)) for row in mnist_sevens]
    low, median, high = numpy.percentile(widths, [5, 50, 95])
    for pen in (4, 40):  # a fine pen (0.6 px at MNIST's scale) and a marker (4 px)
        ink = drawn_seven(pen)
        before = mean_width(fit_mnist(ink))        # MNIST's framing alone
        after = mean_width(preprocess_ink(ink))    # what preprocess does by default
        assert not low <= before <= high and low <= after <= high, (pen, before, after)
        assert abs(after - median) < 0.6 * abs(before - median), (pen, before, after, median)
    # and the fine and the thick "7" come out more alike than they went in
    thin, thick = preprocess_ink(drawn_seven(4)), preprocess_ink(drawn_seven(40))
    alike = numpy.corrcoef(thin.ravel(), thick.ravel())[0, 1]
    assert alike > 0.8 and alike > numpy.corrcoef(fit_mnist(drawn_seven(4)).ravel(),
                                                  fit_mnist(drawn_seven(40)).ravel())[0, 1] + 0.1


def preprocess_ink(ink, **kwargs):
    """:func:`preprocess` of a picture whose ink is ``ink`` (written to a PNG and read back)."""
    import tempfile
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "ink.png")
        Image.fromarray(numpy.round(ink * 255).astype(numpy.uint8), mode="L").save(path)
        return preprocess(path, **kwargs).reshape(28, 28)


def slant(image):
    """Image moments: how many columns the ink drifts per row (covariance over row variance)."""
    rows, cols = numpy.indices(image.shape)
    total = image.sum()
    r0, c0 = (rows * image).sum() / total, (cols * image).sum() / total
    return ((rows - r0) * (cols - c0) * image).sum() / ((rows - r0) ** 2 * image).sum()


def test_deskew_straightens_a_sheared_stroke():
    ink = numpy.zeros((120, 120))
    for row in range(20, 100):     # a bar 8 wide leaning right by 0.4 column per row
        left = int(round(60 - 0.4 * (row - 60)))
        ink[row, left - 4:left + 4] = 1.0
    assert slant(ink) < -0.35
    from dltut.preprocess import deskew
    assert abs(slant(deskew(ink))) < 0.02
    upright = preprocess_ink(ink, deskew=True)
    assert abs(slant(upright)) < 0.05 and abs(slant(preprocess_ink(ink))) > 0.3
    # a bar already upright stays so (and as wide)
    bar = numpy.zeros((120, 120))
    bar[20:100, 56:64] = 1.0
    assert abs(slant(deskew(bar))) < 1e-9 and abs(deskew(bar).sum() - bar.sum()) < 1e-6


def test_mnists_own_digits_pass_through_the_default_nearly_unchanged(mnist_path, tmp_path):
    """The stroke normalisation leaves a digit already like MNIST's as it is: on MNIST's own
    test digits (written as 8-bit pictures) the default preprocessing and MNIST's framing
    alone agree, and MNIST's stroke widths are those the module was given."""
    from dltut.data import load_dataset
    from dltut.preprocess import MNIST_STROKE_WIDTHS, mnist_stroke_widths
    (train_x, _), _, (test_x, _) = load_dataset(str(mnist_path))
    measured = mnist_stroke_widths(train_x[::10])      # 5 000 of the training digits
    # (the widths come in steps of about 1/4 pixel: distances on the fine grid)
    numpy.testing.assert_allclose(measured, MNIST_STROKE_WIDTHS, atol=0.25)
    correlations = []
    for k, row in enumerate(test_x[:200]):
        digit = numpy.clip(numpy.round(row.reshape(28, 28) * 255), 0, 255).astype(numpy.uint8)
        path = save(tmp_path, "%d.png" % k, digit, "L")
        new, framed = preprocess(path), preprocess(path, fit="frame")
        correlations.append(numpy.corrcoef(new, framed)[0, 1])
    correlations = numpy.array(correlations)
    assert numpy.mean(correlations == 1.0) > 0.5      # MNIST's usual widths: left alone
    assert numpy.percentile(correlations, 5) > 0.9    # the others barely changed
