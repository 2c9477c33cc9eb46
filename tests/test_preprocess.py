"""dltut.preprocess (a picture -> the row a model takes) and predict.py with models saved under
either floatX."""
import os
import re

import numpy
import pytest
from PIL import Image

import theano
from _cli import call
from dltut import checkpoint as ckpt
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
    with pytest.raises(ValueError, match="fit must be one of mnist, resize"):
        preprocess(path, fit="stretch")
    steps = []
    row = preprocess(path, steps=steps)
    names = [name.split(",")[0].split(":")[0] for name, _ in steps]
    assert names == ["as read", "ink", "cropped to the ink", "scaled to fit 20x20",
                     "MNIST's framing"]
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


def test_the_user_style_pictures_are_what_their_generator_makes(tmp_path):
    import sys
    sys.path.insert(0, os.path.join(ROOT, "tools"))
    import make_user_digits
    paths = make_user_digits.make(str(tmp_path), seed=20261201)
    committed = os.path.join(ROOT, "notebooks", "digits")
    assert sorted(os.path.basename(p) for p in paths) == sorted(os.listdir(committed))
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
