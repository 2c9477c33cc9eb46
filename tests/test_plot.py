"""Tests for dltut.plot and the figure scripts (scripts/conv_demo.py, scripts/plot_run.py)."""
import importlib.util
import json
import os

import dltut  # noqa: F401  (first: Theano set-up)
import numpy
import pytest
from PIL import Image

from dltut import plot

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_script(name):
    """Import scripts/<name>.py as a module (scripts/ is not a package)."""
    spec = importlib.util.spec_from_file_location(
        "script_" + name, os.path.join(REPO, "scripts", name + ".py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def conv_demo():
    return load_script("conv_demo")


@pytest.fixture(scope="module")
def plot_run():
    return load_script("plot_run")


def png_size(path):
    assert os.path.getsize(path) > 0
    with Image.open(path) as image:
        assert image.format == "PNG"
        return image.size  # (width, height)


# ---------------------------------------------------------------------------------------
# tile_raster_images

# two 2x3 images, rows are flattened in C order
TWO_IMAGES = numpy.array([[0., 1., 2., 3., 4., 5.],
                          [10., 10., 10., 10., 10., 20.]])


def test_tile_unscaled_float_layout_and_spacing():
    out = plot.tile_raster_images(TWO_IMAGES, (2, 3), (2, 2), tile_spacing=(1, 2),
                                  scale_rows_to_unit_interval=False, output_pixel_vals=False)
    # (2*(2+1)-1, 2*(3+2)-2) = (5, 8)
    assert out.shape == (5, 8)
    assert out.dtype == TWO_IMAGES.dtype
    expected = numpy.zeros((5, 8))
    expected[0:2, 0:3] = [[0, 1, 2], [3, 4, 5]]          # image 0: row 0, col 0
    expected[0:2, 5:8] = [[10, 10, 10], [10, 10, 20]]    # image 1: row 0, col 1
    numpy.testing.assert_array_equal(out, expected)      # row 1 of the grid stays 0


def test_tile_scaled_float_rows_scaled_independently():
    out = plot.tile_raster_images(TWO_IMAGES, (2, 3), (1, 2),
                                  scale_rows_to_unit_interval=True, output_pixel_vals=False)
    assert out.shape == (2, 6)
    eps = 1e-8
    numpy.testing.assert_allclose(out[:, :3], numpy.arange(6.).reshape(2, 3) / (5 + eps))
    numpy.testing.assert_allclose(out[:, 3:], [[0, 0, 0], [0, 0, 10 / (10 + eps)]])


def test_tile_uint8_pixels():
    out = plot.tile_raster_images(TWO_IMAGES, (2, 3), (1, 2))
    assert out.dtype == numpy.uint8
    # image 0 scaled to k/5, times 255 = 0, 51, 102, ...; brightest pixel is 255
    numpy.testing.assert_array_equal(out[:, :3], [[0, 51, 102], [153, 204, 255]])
    numpy.testing.assert_array_equal(out[:, 3:], [[0, 0, 0], [0, 0, 255]])


def test_tile_uint8_unscaled_values_clipped():
    X = numpy.array([[0.0, 0.5, 1.0, 2.0]])
    out = plot.tile_raster_images(X, (2, 2), (1, 1), scale_rows_to_unit_interval=False)
    numpy.testing.assert_array_equal(out, [[0, 128], [255, 255]])


def test_tile_positions_row_major_and_extra_tiles_zero():
    # five 1x1 "images" with values 1..5 on a 2x3 grid with spacing 1
    X = numpy.arange(1., 6.).reshape(5, 1)
    out = plot.tile_raster_images(X, (1, 1), (2, 3), (1, 1),
                                  scale_rows_to_unit_interval=False, output_pixel_vals=False)
    assert out.shape == (3, 5)
    numpy.testing.assert_array_equal(out, [[1, 0, 2, 0, 3],
                                           [0, 0, 0, 0, 0],
                                           [4, 0, 5, 0, 0]])


def test_tile_more_images_than_tiles_shows_the_first():
    X = numpy.arange(1., 6.).reshape(5, 1)
    out = plot.tile_raster_images(X, (1, 1), (1, 2), scale_rows_to_unit_interval=False,
                                  output_pixel_vals=False)
    numpy.testing.assert_array_equal(out, [[1, 2]])


def test_tile_float32_brightest_pixel_is_255():
    X = TWO_IMAGES.astype(numpy.float32)
    out = plot.tile_raster_images(X, (2, 3), (1, 2))
    assert out.max() == 255
    out_f = plot.tile_raster_images(X, (2, 3), (1, 2), output_pixel_vals=False)
    assert out_f.dtype == numpy.float32


def test_tile_rgba_tuple():
    red = TWO_IMAGES
    out = plot.tile_raster_images((red, None, red, None), (2, 3), (1, 2), (0, 1))
    assert out.shape == (2, 7, 4)
    assert out.dtype == numpy.uint8
    single = plot.tile_raster_images(red, (2, 3), (1, 2), (0, 1))
    numpy.testing.assert_array_equal(out[:, :, 0], single)
    numpy.testing.assert_array_equal(out[:, :, 2], single)
    assert (out[:, :, 1] == 0).all()
    assert (out[:, :, 3] == 255).all()      # missing alpha: opaque

    out_f = plot.tile_raster_images((red, None, None, None), (2, 3), (1, 2),
                                    scale_rows_to_unit_interval=False, output_pixel_vals=False)
    assert out_f.dtype == red.dtype
    assert (out_f[:, :, 3] == 1).all()
    numpy.testing.assert_array_equal(out_f[:, 0:3, 0], [[0, 1, 2], [3, 4, 5]])


@pytest.mark.parametrize("kwargs, message", [
    (dict(X=numpy.zeros((2, 5)), img_shape=(2, 3), tile_shape=(1, 2)), "h\\*w = 6"),
    (dict(X=numpy.zeros(6), img_shape=(2, 3), tile_shape=(1, 2)), "n_images"),
    (dict(X=numpy.zeros((2, 6)), img_shape=(2, 3), tile_shape=(0, 2)), "tile_shape"),
    (dict(X=numpy.zeros((2, 6)), img_shape=(2, 3, 1), tile_shape=(1, 2)), "img_shape"),
    (dict(X=(numpy.zeros((2, 6)),), img_shape=(2, 3), tile_shape=(1, 2)), "4 entries"),
])
def test_tile_shape_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        plot.tile_raster_images(**kwargs)


# ---------------------------------------------------------------------------------------
# filters and learning curves


def test_save_filters_dense(tmp_path):
    W = numpy.random.RandomState(0).uniform(-1, 1, size=(784, 10))   # logistic regression
    path = plot.save_filters(W, tmp_path / "sub" / "filters.png", scale=2)
    assert path == os.fspath(tmp_path / "sub" / "filters.png")
    # 10 filters -> 3 x 4 grid of 28x28 with spacing 1, upscaled 2x
    assert png_size(path) == (2 * (4 * 29 - 1), 2 * (3 * 29 - 1))
    with Image.open(path) as image:
        assert image.mode == "L"
        pixels = numpy.asarray(image)
    # column 0 of W is the top-left filter
    expected = plot.tile_raster_images(W.T[:1], (28, 28), (1, 1))
    numpy.testing.assert_array_equal(pixels[0:56:2, 0:56:2], expected)


def test_save_filters_conv_default_scale(tmp_path):
    W = numpy.random.RandomState(1).randn(20, 1, 5, 5)               # LeNet5 first layer
    path = plot.save_filters(W, tmp_path / "conv.png")
    scale = 8   # ceil(MIN_FILTER_PIXELS / 5)
    assert png_size(path) == (scale * (5 * 6 - 1), scale * (4 * 6 - 1))


def test_filter_rows_conv_channels():
    W = numpy.arange(2 * 3 * 2 * 2, dtype=float).reshape(2, 3, 2, 2)
    rows, shape = plot.filter_rows(W)
    assert shape == (2, 2)
    numpy.testing.assert_array_equal(rows, W.mean(axis=1).reshape(2, 4))
    rows0, _ = plot.filter_rows(W, channel=0)
    numpy.testing.assert_array_equal(rows0, W[:, 0].reshape(2, 4))


def test_filter_rows_errors():
    with pytest.raises(ValueError, match="not a square"):
        plot.filter_rows(numpy.zeros((500, 10)))
    with pytest.raises(ValueError, match="image_shape"):
        plot.filter_rows(numpy.zeros((784, 10)), image_shape=(20, 20))
    with pytest.raises(ValueError, match="got shape"):
        plot.filter_rows(numpy.zeros((3, 3, 3)))


def make_history(n=6, with_cost=True):
    history = []
    best = None
    for epoch in range(1, n + 1):
        valid = 0.1 / epoch + (0.02 if epoch == 4 else 0.0)
        is_best = best is None or valid < best
        best = valid if is_best else best
        history.append({
            "iteration": epoch * 100, "epoch": epoch, "learning_rate": 0.1,
            "train_cost": (1.0 / epoch) if with_cost else None,
            "validation_error": valid,
            "test_error": (valid * 1.1) if is_best else None,
        })
    return history


@pytest.mark.parametrize("with_cost", [True, False])
def test_save_learning_curves(tmp_path, with_cost):
    path = plot.save_learning_curves(make_history(with_cost=with_cost),
                                     tmp_path / "curves.png", title="MLP")
    assert png_size(path) == (800, 600)


def test_save_learning_curves_several_validations_per_epoch(tmp_path):
    history = make_history()
    for i, record in enumerate(history):
        record["epoch"] = 1 + i // 2
    assert png_size(plot.save_learning_curves(history, tmp_path / "c.png")) == (800, 600)


def test_save_learning_curves_empty(tmp_path):
    with pytest.raises(ValueError, match="empty"):
        plot.save_learning_curves([], tmp_path / "c.png")


def tick_values(axis):
    """The tick locations an axis draws (those within its limits)."""
    low, high = sorted(axis.get_view_interval())
    return [t for t in axis.get_majorticklocs() if low - 1e-9 <= t <= high + 1e-9]


@pytest.mark.parametrize("n_epochs, per_epoch", [(5, 1), (2, 1), (1, 1), (74, 1), (3, 2)])
def test_learning_curves_tick_whole_epochs_and_iterations_only(n_epochs, per_epoch):
    history = make_history(n_epochs * per_epoch)
    for i, record in enumerate(history):
        record["epoch"], record["iteration"] = 1 + i // per_epoch, 3 * (i + 1)
    fig = plot.draw_learning_curves(plot.new_figure(plot.CURVES_FIGSIZE, plot.CURVES_DPI),
                                    history)
    fig.canvas.draw()
    for ax in fig.axes:
        ticks = tick_values(ax.xaxis)
        assert len(ticks) >= 2, ticks
        assert all(float(t).is_integer() for t in ticks), ticks
        step = ticks[1] - ticks[0]  # evenly spaced, 1, 2 or 5 times a power of ten (not 8)
        assert numpy.allclose(numpy.diff(ticks), step), ticks
        assert step / 10 ** numpy.floor(numpy.log10(step)) in (1, 2, 5), ticks
    # one validation an epoch: the axis is the epoch
    assert fig.axes[1].get_xlabel() == ("epoch" if per_epoch == 1 else "iteration (minibatches)")


def templates_W(n_classes=10, seed=7):
    W = numpy.random.RandomState(seed).normal(0, 0.1, size=(784, n_classes))
    W[5, 3] = 50.0  # one outlier must not wash out the colour scale
    return W


def test_class_templates_figure_is_labelled():
    fig = plot.draw_class_templates(plot.new_figure((1, 1), plot.TEMPLATES_DPI), templates_W(),
                                    title="templates")
    fig.canvas.draw()
    assert tuple(fig.get_size_inches() * fig.dpi) == (1100, 450)
    images = [ax for ax in fig.axes if ax.images]
    assert [ax.get_title() for ax in images] == ["class %d" % k for k in range(10)]
    colour_bars = [ax for ax in fig.axes if ax not in images]
    assert len(colour_bars) == 1 and colour_bars[0].get_ylabel() == "weight"
    assert fig.get_suptitle() == "templates"
    # each image is its column of W as 28 x 28, on one symmetric scale shared by all
    W = templates_W()
    for k, ax in enumerate(images):
        numpy.testing.assert_array_equal(ax.images[0].get_array(), W[:, k].reshape(28, 28))
        low, high = ax.images[0].get_clim()
        assert low == -high and high == numpy.percentile(numpy.abs(W), 99.5) < 1.0


def test_save_class_templates_size(tmp_path):
    assert png_size(plot.save_class_templates(templates_W(), tmp_path / "t.png")) == (1100, 450)
    assert png_size(plot.save_class_templates(templates_W(12), tmp_path / "12.png")) == (1100, 625)
    assert png_size(plot.save_class_templates(numpy.zeros((784, 10)), tmp_path / "0.png")) == (
        1100, 450)
    with pytest.raises(ValueError, match="n_in, n_classes"):
        plot.save_class_templates(numpy.zeros((10, 1, 5, 5)), tmp_path / "conv.png")


def test_save_conv_demo_figure(tmp_path):
    rng = numpy.random.RandomState(2)
    path = plot.save_conv_demo_figure(rng.rand(20, 16, 3), rng.rand(1, 2, 12, 8),
                                      rng.rand(1, 2, 6, 4), tmp_path / "demo.png")
    assert png_size(path) == (1200, 600)


def test_importing_plot_does_not_load_pyplot():
    # saving figures must never choose a backend behind a notebook's back
    import subprocess
    import sys

    code = ("import sys, dltut.plot as p, numpy;"
            "p.save_learning_curves([dict(iteration=1, epoch=1, validation_error=0.5)], "
            "sys.argv[1]);"
            "print('matplotlib.pyplot' in sys.modules)")
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        result = subprocess.run([sys.executable, "-c", code, os.path.join(tmp, "c.png")],
                                cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


# ---------------------------------------------------------------------------------------
# conv_demo


def write_colour_image(path, height=40, width=30, mode="RGB"):
    rng = numpy.random.RandomState(5)
    pixels = rng.randint(0, 256, size=(height, width, 3)).astype(numpy.uint8)
    Image.fromarray(pixels, "RGB").convert(mode).save(path)
    return pixels


def test_conv_demo_small_image(conv_demo, tmp_path, capsys):
    image_path = tmp_path / "small.png"
    write_colour_image(image_path)
    out = tmp_path / "figs" / "demo.png"
    assert conv_demo.main([str(image_path), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "(1, 3, 40, 30)" in printed
    assert "(1, 2, 32, 22)" in printed
    assert "(1, 2, 16, 11)" in printed
    assert png_size(out) == (1200, 600)


@pytest.mark.parametrize("mode", ["RGBA", "L"])
def test_conv_demo_rgba_and_grey(conv_demo, tmp_path, mode):
    image_path = tmp_path / ("img_%s.png" % mode)
    pixels = write_colour_image(image_path, mode=mode)
    img = conv_demo.load_image(str(image_path))
    assert img.shape == (40, 30, 3)
    if mode == "RGBA":
        numpy.testing.assert_allclose(img, pixels / 256.0, rtol=1e-6)
    else:
        numpy.testing.assert_array_equal(img[:, :, 0], img[:, :, 2])


def test_conv_demo_filters_are_the_tutorials(conv_demo):
    import theano

    W, b = conv_demo.make_filters(numpy.random.RandomState(23455))
    rng = numpy.random.RandomState(23455)
    bound = 1.0 / numpy.sqrt(3 * 9 * 9)
    W_ref = rng.uniform(low=-bound, high=bound, size=(2, 3, 9, 9))
    b_ref = rng.uniform(low=-0.5, high=0.5, size=(2,))
    assert W.shape == (2, 3, 9, 9) and b.shape == (2,)
    assert W.dtype == b.dtype == theano.config.floatX
    numpy.testing.assert_allclose(W, W_ref, rtol=1e-6)
    numpy.testing.assert_allclose(b, b_ref, rtol=1e-6)


def test_conv_demo_matches_numpy_reference(conv_demo, tmp_path):
    from scipy.signal import convolve

    image_path = tmp_path / "small.png"
    write_colour_image(image_path)
    img = conv_demo.load_image(str(image_path))
    W, b = conv_demo.make_filters(numpy.random.RandomState(23455))
    filtered, pooled = conv_demo.build_demo_function(W, b)(conv_demo.image_to_input(img))
    assert filtered.shape == (1, 2, 32, 22) and pooled.shape == (1, 2, 16, 11)

    x = img.astype(numpy.float64).transpose(2, 0, 1)            # (3, 40, 30)
    Wd, bd = W.astype(numpy.float64), b.astype(numpy.float64)
    # Theano's conv2d flips the filter: a true convolution, summed over input channels
    conv = numpy.array([sum(convolve(x[c], Wd[k, c], mode="valid") for c in range(3))
                        for k in range(2)])                      # (2, 32, 22)
    sigmoid = lambda z: 1.0 / (1.0 + numpy.exp(-z))  # noqa: E731
    conv_act = sigmoid(conv + bd[:, None, None])
    pooled_ref = sigmoid(conv.reshape(2, 16, 2, 11, 2).max(axis=(2, 4)) + bd[:, None, None])

    tol = dict(rtol=1e-4, atol=1e-5)
    # one block by hand, written out: output pixel (k=1, i=3, j=5)
    k, i, j = 1, 3, 5
    patch = x[:, i:i + 9, j:j + 9]
    by_hand = sigmoid((patch * Wd[k, :, ::-1, ::-1]).sum() + bd[k])
    numpy.testing.assert_allclose(filtered[0, k, i, j], by_hand, **tol)
    numpy.testing.assert_allclose(filtered[0], conv_act, **tol)
    numpy.testing.assert_allclose(pooled[0], pooled_ref, **tol)


def test_conv_demo_default_image_and_default_out(conv_demo, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert conv_demo.main([]) == 0
    printed = capsys.readouterr().out
    with Image.open(conv_demo.default_image_path()) as image:
        width, height = image.size
    assert (height, width) == (600, 512)   # grace_hopper.jpg
    assert "(1, 3, 600, 512)" in printed
    assert "(1, 2, 592, 504)" in printed
    assert "(1, 2, 296, 252)" in printed
    assert png_size(tmp_path / "runs" / "conv_demo.png") == (1200, 600)
    assert sorted(os.listdir(tmp_path)) == ["runs"]


@pytest.mark.parametrize("content", [b"this is not an image\n", None, "dir", "tiny"])
def test_conv_demo_bad_image(conv_demo, tmp_path, capsys, content):
    path = tmp_path / "bad.jpg"
    if content == "dir":
        path.mkdir()
    elif content == "tiny":
        write_colour_image(path, height=8, width=30)
    elif content is not None:
        path.write_bytes(content)
    out = tmp_path / "demo.png"
    assert conv_demo.main([str(path), "--out", str(out)]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("conv_demo: error:")
    assert "Traceback" not in captured.err
    assert not out.exists()


# ---------------------------------------------------------------------------------------
# plot_run


def save_npz(path, values, model_name):
    arrays = {"param_%03d" % i: v for i, v in enumerate(values)}
    arrays["meta"] = numpy.array(json.dumps({"model": {"name": model_name}}))
    numpy.savez(path, **arrays)


def make_run(run_dir, values, model_name="MLP", snapshots=()):
    run_dir.mkdir()
    (run_dir / "config.json").write_text(json.dumps({"model": model_name}))
    history = make_history()
    for record in history:
        record.update(minibatch=100, elapsed=1.0, validation_error_all=[0.1],
                      test_error_all=None)
    (run_dir / "history.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in history))
    (run_dir / "summary.json").write_text(json.dumps({"best_validation_error": 0.02}))
    save_npz(run_dir / "best_model.npz", values, model_name)
    save_npz(run_dir / "checkpoint.npz", values, model_name)
    if snapshots:
        (run_dir / "snapshots").mkdir()
        for epoch in snapshots:
            save_npz(run_dir / "snapshots" / ("epoch_%04d.npz" % epoch), values, model_name)
    return run_dir


def mlp_values(rng):
    # params order of the MLP: hidden W (784, n_hidden), hidden b, logreg W, logreg b
    return [rng.randn(784, 12), numpy.zeros(12), rng.randn(12, 10), numpy.zeros(10)]


def test_plot_run_mlp_with_snapshots(plot_run, tmp_path, capsys):
    run = make_run(tmp_path / "run", mlp_values(numpy.random.RandomState(3)),
                   snapshots=(5, 10))
    assert plot_run.main([str(run), "--snapshots"]) == 0
    printed = capsys.readouterr().out
    names = ["learning_curves.png", "filters.png",
             "filters_epoch_0005.png", "filters_epoch_0010.png"]
    for name in names:
        assert os.fspath(run / name) in printed
    assert png_size(run / "learning_curves.png") == (800, 600)
    # 12 filters -> 3 x 4 grid of 28x28, spacing 1, upscaled 2x
    assert png_size(run / "filters.png") == (2 * (4 * 29 - 1), 2 * (3 * 29 - 1))
    assert png_size(run / "filters_epoch_0010.png") == png_size(run / "filters.png")


@pytest.mark.parametrize("model_name, values, size", [
    ("LogisticRegression", [templates_W(), numpy.zeros(10)], (1100, 450)),  # draw_class_templates
    ("LeNet5", [numpy.ones((20, 1, 5, 5)), numpy.zeros(20)], (8 * (5 * 6 - 1), 8 * (4 * 6 - 1))),
])
def test_plot_run_other_models(plot_run, tmp_path, capsys, model_name, values, size):
    run = make_run(tmp_path / "run", values, model_name)
    assert plot_run.main([str(run)]) == 0
    assert png_size(run / "filters.png") == size
    assert not (run / "filters_epoch_0005.png").exists()


def test_plot_run_logistic_regression_snapshots_are_class_templates(plot_run, tmp_path):
    run = make_run(tmp_path / "run", [templates_W(), numpy.zeros(10)], "LogisticRegression",
                   snapshots=(5,))
    assert plot_run.main([str(run), "--snapshots"]) == 0
    assert png_size(run / "filters_epoch_0005.png") == png_size(run / "filters.png") == (1100, 450)


def test_plot_run_undrawable_first_param(plot_run, tmp_path, capsys):
    run = make_run(tmp_path / "run", [numpy.ones((500, 10)), numpy.zeros(10)])
    assert plot_run.main([str(run)]) == 0
    assert "not drawable" in capsys.readouterr().out
    assert (run / "learning_curves.png").exists() and not (run / "filters.png").exists()


def test_plot_run_param_order(plot_run, tmp_path):
    path = tmp_path / "p.npz"
    values = [numpy.full((2,), float(i)) for i in range(12)]
    save_npz(path, values, "MLP")
    loaded, meta = plot_run.load_params(str(path))
    assert [v[0] for v in loaded] == list(range(12))
    assert meta == {"model": {"name": "MLP"}}


@pytest.mark.parametrize("damage", ["no_dir", "no_history", "empty_history", "bad_json",
                                    "no_model", "bad_model"])
def test_plot_run_broken_folder(plot_run, tmp_path, capsys, damage):
    run = tmp_path / "run"
    if damage != "no_dir":
        make_run(run, mlp_values(numpy.random.RandomState(4)))
    if damage == "no_history":
        (run / "history.jsonl").unlink()
    elif damage == "empty_history":
        (run / "history.jsonl").write_text("\n")
    elif damage == "bad_json":
        with open(run / "history.jsonl", "a") as f:
            f.write("{not json\n")
    elif damage == "no_model":
        (run / "best_model.npz").unlink()
    elif damage == "bad_model":
        (run / "best_model.npz").write_bytes(b"garbage")
    assert plot_run.main([str(run)]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("plot_run: error:")
    assert "Traceback" not in captured.err


def test_piano_roll_figure_puts_time_across_and_pitch_up(tmp_path):
    roll = numpy.zeros((20, 88))
    roll[5:10, 60 - 21] = 1
    path = plot.save_piano_roll(roll, str(tmp_path / "roll.png"), dt=0.5, title="a C")
    assert png_size(path)[0] > 300
    fig = plot.new_figure(plot.PIANO_ROLL_FIGSIZE, plot.PIANO_ROLL_DPI)
    ax = plot.draw_piano_roll(fig.add_subplot(1, 1, 1), roll, dt=0.5)
    image = ax.get_images()[0]
    assert image.get_extent() == [0, 10.0, 21, 109]           # 20 steps of 0.5 s; MIDI 21-108
    shown = image.get_array()
    assert shown.shape == (88, 20) and shown[60 - 21, 5] == 1 and shown.sum() == 5
    with pytest.raises(ValueError, match=r"roll has shape \(20, 12\)"):
        plot.draw_piano_roll(ax, numpy.zeros((20, 12)))
