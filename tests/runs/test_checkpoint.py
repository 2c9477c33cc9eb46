"""Tests for dltut.runs.checkpoint with real models: round trips, corrupt files, wrong shapes."""
import os

import numpy
import pytest
import theano
import theano.tensor as T

from dltut.models import LeNet5, MLP, build_model
from dltut.runs.checkpoint import (CheckpointError, load_into, load_params, read_records,
                                   save_params)

FLOATX = theano.config.floatX


def small_lenet(seed):
    return LeNet5(numpy.random.RandomState(seed), T.matrix("x"), nkerns=(2, 3), n_hidden=5,
                  image_shape=(12, 12), filter_size=3)


@pytest.fixture
def saved_mlp(tmp_path):
    """An MLP with non-trivial values everywhere, saved with its spec; (model, path)."""
    model = MLP(numpy.random.RandomState(1), T.matrix("x"), 6, [5, 4], 3)
    rng = numpy.random.RandomState(2)
    model.set_params_values([numpy.asarray(rng.randn(*v.shape), dtype=FLOATX)
                             for v in model.get_params_values()])
    path = tmp_path / "params.npz"
    save_params(path, model.get_params_values(), meta={"spec": model.spec(), "epoch": 3})
    return model, path


@pytest.mark.parametrize("make", [
    lambda seed: MLP(numpy.random.RandomState(seed), T.matrix("x"), 6, [5, 4], 3),
    small_lenet,
], ids=["mlp", "lenet"])
def test_round_trip_into_a_fresh_model(tmp_path, make):
    source, target = make(1), make(2)
    before = target.get_params_values()
    assert not numpy.array_equal(before[0], source.get_params_values()[0])
    path = tmp_path / "sub" / "model.npz"  # the folder is created
    save_params(path, source.get_params_values(), meta={"spec": source.spec()})
    meta = load_into(target, path)
    assert meta == {"spec": source.spec()}
    for got, want in zip(target.get_params_values(), source.get_params_values()):
        assert got.dtype == want.dtype == FLOATX
        numpy.testing.assert_array_equal(got, want)
    # nothing but the file was left in the folder (atomic write cleaned up after itself)
    assert os.listdir(path.parent) == ["model.npz"]


def test_load_params_returns_values_in_order_and_meta(saved_mlp):
    model, path = saved_mlp
    values, meta = load_params(str(path))  # a str path works as well as a Path
    assert meta == {"spec": model.spec(), "epoch": 3}
    assert len(values) == len(model.params) == 6
    for got, want in zip(values, model.get_params_values()):
        numpy.testing.assert_array_equal(got, want)


def test_rebuild_from_spec_then_load(saved_mlp):
    model, path = saved_mlp
    _, meta = load_params(path)
    rebuilt = build_model(meta["spec"], numpy.random.RandomState(99), T.matrix("x"))
    load_into(rebuilt, path)
    x = numpy.asarray(numpy.random.RandomState(3).randn(4, 6), dtype=FLOATX)
    f = theano.function([model.input], model.p_y_given_x)
    g = theano.function([rebuilt.input], rebuilt.p_y_given_x)
    numpy.testing.assert_array_equal(f(x), g(x))


def test_save_overwrites(saved_mlp):
    model, path = saved_mlp
    values = [v + 1 for v in model.get_params_values()]
    save_params(path, values)
    loaded, meta = load_params(path)
    assert meta == {}
    numpy.testing.assert_array_equal(loaded[0], values[0])


def test_garbage_file(tmp_path):
    path = tmp_path / "garbage.npz"
    path.write_bytes(numpy.random.RandomState(0).bytes(300))
    with pytest.raises(CheckpointError, match="garbage.npz"):
        load_params(path)


@pytest.mark.parametrize("keep", [0.5, 0.9, 0.99])
def test_truncated_file(saved_mlp, keep):
    model, path = saved_mlp
    data = path.read_bytes()
    path.write_bytes(data[:int(len(data) * keep)])
    with pytest.raises(CheckpointError, match=str(path.name)) as info:
        load_into(model, path)
    assert str(path) in str(info.value)


def test_bytes_flipped_inside_the_archive(saved_mlp):
    model, path = saved_mlp
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle:middle + 16] = bytes(b ^ 0xFF for b in data[middle:middle + 16])
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="params.npz"):
        load_into(model, path)


def test_empty_and_missing_file(tmp_path):
    empty = tmp_path / "empty.npz"
    empty.write_bytes(b"")
    with pytest.raises(CheckpointError, match="empty.npz"):
        load_params(empty)
    with pytest.raises(CheckpointError, match="missing.npz"):
        load_params(tmp_path / "missing.npz")


def test_npz_without_params(tmp_path):
    path = tmp_path / "other.npz"
    numpy.savez(path, weights=numpy.zeros(3))
    with pytest.raises(CheckpointError, match="other.npz"):
        load_params(path)


def test_plain_npy_file_is_a_checkpoint_error(tmp_path):
    """A valid .npy array (not an .npz archive) is not a parameter file."""
    path = tmp_path / "array.npy"
    numpy.save(path, numpy.zeros(3))
    with pytest.raises(CheckpointError, match="array.npy"):
        load_params(path)


def test_wrong_shape_model(saved_mlp):
    _, path = saved_mlp
    other = MLP(numpy.random.RandomState(1), T.matrix("x"), 6, [5, 7], 3)
    before = other.get_params_values()
    with pytest.raises(CheckpointError, match=r"params.npz.*\(5, 7\).*\(5, 4\)"):
        load_into(other, path)
    # nothing was half loaded
    for got, want in zip(other.get_params_values(), before):
        numpy.testing.assert_array_equal(got, want)


def test_wrong_model_kind(saved_mlp):
    _, path = saved_mlp
    with pytest.raises(CheckpointError, match="8 parameters but 6"):
        load_into(small_lenet(0), path)


def test_wrong_dtype(tmp_path):
    model = MLP(numpy.random.RandomState(1), T.matrix("x"), 6, 5, 3)
    other = "float32" if FLOATX == "float64" else "float64"
    path = tmp_path / "other_dtype.npz"
    save_params(path, [v.astype(other) for v in model.get_params_values()])
    with pytest.raises(CheckpointError, match="dtype"):
        load_into(model, path)


def test_read_records_names_the_bad_line(tmp_path):
    path = tmp_path / "history.jsonl"
    path.write_text('{"epoch": 1}\n\n{"epoch": 2}\n')
    assert read_records(str(path)) == [{"epoch": 1}, {"epoch": 2}]
    path.write_text('{"epoch": 1}\n{"epoch": \n')
    with pytest.raises(CheckpointError, match="line 2 is not JSON"):
        read_records(str(path))
    path.write_text('{"epoch": 1}\n[2]\n')
    with pytest.raises(CheckpointError, match="line 2 is not a JSON object"):
        read_records(str(path))
